package codec

import (
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// Muxer writes already-encoded audio (Opus or AAC, 48 kHz mono) and video
// (H.264 annex-B access units) into a container or a live stream. Timestamps are positions from
// the start of the recording. It is not safe for concurrent use.
type Muxer interface {
	WriteAudio(pkt []byte, pts, dur time.Duration) error
	WriteVideo(au []byte, pts time.Duration, key bool) error
	// Close finalises the file (trailer) and closes it.
	Close() error
}

// Container formats a Muxer can write.
const (
	FormatMP4 = "mp4"
	FormatMKV = "matroska"
	FormatOgg = "ogg"
	// FormatFLV is for RTMP streams (H.264 and AAC).
	FormatFLV = "flv"
)

// Audio codecs a Muxer can carry.
const (
	AudioOpus = "opus"
	AudioAAC  = "aac"
)

// MuxerConfig describes a Muxer's output.
type MuxerConfig struct {
	// Path is the file to write (created or truncated), or a network URL
	// such as rtmp://host/app/stream.
	Path string
	// Format is FormatMP4, FormatMKV, FormatOgg (audio only) or FormatFLV.
	Format string
	// AudioCodec is AudioOpus (the default) or AudioAAC, whose
	// AudioSpecificConfig is AudioExtra.
	AudioCodec string
	AudioExtra []byte
	// IOTimeout bounds each network read or write (libavformat's
	// rw_timeout), so a hung server is an error rather than a hang.
	IOTimeout time.Duration
	// Interrupt, required for a network URL, aborts its blocking I/O.
	Interrupt *Interrupt
	// Video adds an H.264 stream; VideoExtra is its SPS and PPS in annex-B
	// (taken from the first keyframe), Width/Height/FPS its geometry.
	Video              bool
	Width, Height, FPS int
	VideoExtra         []byte
	// FragmentDuration bounds what a crash can lose: MP4 fragments and MKV
	// clusters are cut at least this often (default 1 s).
	FragmentDuration time.Duration
}

// ErrMuxer wraps libavformat failures.
var ErrMuxer = errors.New("muxer")

// LibavMuxer is a Muxer on libavformat through go-astiav. It writes as it
// goes: fragmented MP4, MKV clusters and Ogg pages are flushed to the file,
// so a killed process leaves a playable file.
type LibavMuxer struct {
	fc          *astiav.FormatContext
	io          *astiav.IOContext
	pkt         *astiav.Packet
	audio       *astiav.Stream
	video       *astiav.Stream
	audioTB     astiav.Rational
	videoTB     astiav.Rational
	frameDur    int64
	wroteHeader bool
	network     bool // pb was opened by openNetwork
	failed      bool // a write failed: the trailer is not attempted
}

// OpusHead is the Opus identification header (RFC 7845) for 48 kHz mono,
// which every container here stores as the stream's extradata.
func opusHead() []byte {
	return []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1,
		0x38, 0x01, // pre-skip 312
		0x80, 0xbb, 0x00, 0x00, // 48000 Hz
		0, 0, // output gain
		0} // mapping family 0
}

// NewMuxer opens cfg.Path and writes the container header.
func NewMuxer(cfg MuxerConfig) (*LibavMuxer, error) {
	if cfg.FragmentDuration <= 0 {
		cfg.FragmentDuration = time.Second
	}
	if cfg.Format == FormatOgg && cfg.Video {
		return nil, fmt.Errorf("%w: ogg is audio only", ErrInvalidConfig)
	}
	if cfg.AudioCodec == "" {
		cfg.AudioCodec = AudioOpus
	}
	if cfg.AudioCodec != AudioOpus && cfg.AudioCodec != AudioAAC {
		return nil, fmt.Errorf("%w: audio codec %q", ErrInvalidConfig, cfg.AudioCodec)
	}
	if cfg.AudioCodec == AudioAAC && len(cfg.AudioExtra) == 0 {
		return nil, fmt.Errorf("%w: aac needs its AudioSpecificConfig", ErrInvalidConfig)
	}
	if cfg.Format == FormatFLV && cfg.AudioCodec != AudioAAC {
		return nil, fmt.Errorf("%w: flv carries aac, not %s", ErrInvalidConfig, cfg.AudioCodec)
	}
	if isNetworkURL(cfg.Path) && cfg.Interrupt == nil {
		return nil, fmt.Errorf("%w: a network output needs an Interrupt", ErrInvalidConfig)
	}
	if cfg.Video && (len(cfg.VideoExtra) == 0 || cfg.Width <= 0 || cfg.Height <= 0 || cfg.FPS <= 0) {
		return nil, fmt.Errorf("%w: video needs SPS/PPS, size and frame rate", ErrInvalidConfig)
	}
	fc, err := astiav.AllocOutputFormatContext(nil, cfg.Format, cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: format %q: %v", ErrMuxer, cfg.Format, err)
	}
	m := &LibavMuxer{fc: fc, audioTB: astiav.NewRational(1, 48000), videoTB: astiav.NewRational(1, 90000)}
	ok := false
	defer func() {
		if !ok {
			m.free()
		}
	}()
	if cfg.Video {
		s := fc.NewStream(nil)
		if s == nil {
			return nil, fmt.Errorf("%w: new video stream", ErrMuxer)
		}
		cp := s.CodecParameters()
		cp.SetCodecType(astiav.MediaTypeVideo)
		cp.SetCodecID(astiav.CodecIDH264)
		cp.SetWidth(cfg.Width)
		cp.SetHeight(cfg.Height)
		if err := cp.SetExtraData(cfg.VideoExtra); err != nil {
			return nil, fmt.Errorf("%w: extradata: %v", ErrMuxer, err)
		}
		s.SetTimeBase(m.videoTB)
		s.SetAvgFrameRate(astiav.NewRational(cfg.FPS, 1))
		m.video = s
		m.frameDur = int64(90000 / cfg.FPS)
	}
	s := fc.NewStream(nil)
	if s == nil {
		return nil, fmt.Errorf("%w: new audio stream", ErrMuxer)
	}
	cp := s.CodecParameters()
	cp.SetCodecType(astiav.MediaTypeAudio)
	cp.SetSampleRate(48000)
	cp.SetChannelLayout(astiav.ChannelLayoutMono)
	extra := opusHead()
	if cfg.AudioCodec == AudioAAC {
		cp.SetCodecID(astiav.CodecIDAac)
		cp.SetFrameSize(AACFrameSamples)
		extra = cfg.AudioExtra
	} else {
		cp.SetCodecID(astiav.CodecIDOpus)
		cp.SetFrameSize(960)
	}
	if err := cp.SetExtraData(extra); err != nil {
		return nil, fmt.Errorf("%w: extradata: %v", ErrMuxer, err)
	}
	s.SetTimeBase(m.audioTB)
	m.audio = s

	if isNetworkURL(cfg.Path) {
		if err := openNetwork(fc, cfg.Path, cfg.IOTimeout, cfg.Interrupt); err != nil {
			return nil, fmt.Errorf("%w: connect %s: %v", ErrMuxer, cfg.Path, err)
		}
		m.network = true
	} else {
		io, err := astiav.OpenIOContext(cfg.Path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
		if err != nil {
			return nil, fmt.Errorf("%w: open %s: %v", ErrMuxer, cfg.Path, err)
		}
		m.io = io
		fc.SetPb(io)
	}

	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) { _ = opts.Set(k, v, astiav.NewDictionaryFlags()) }
	set("flush_packets", "1")
	set("strict", "experimental")
	switch cfg.Format {
	case FormatMP4:
		set("movflags", "frag_keyframe+empty_moov+default_base_moof")
		set("frag_duration", fmt.Sprint(cfg.FragmentDuration.Microseconds()))
	case FormatMKV:
		set("cluster_time_limit", fmt.Sprint(cfg.FragmentDuration.Milliseconds()))
	case FormatOgg:
		set("page_duration", fmt.Sprint(cfg.FragmentDuration.Microseconds()))
	case FormatFLV:
		if m.network {
			set("flvflags", "no_duration_filesize") // a stream cannot seek back
		}
	}
	if err := fc.WriteHeader(opts); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMuxer, err)
	}
	m.wroteHeader = true
	m.pkt = astiav.AllocPacket()
	ok = true
	return m, nil
}

func (m *LibavMuxer) write(s *astiav.Stream, tb astiav.Rational, data []byte, pts, dur int64, key bool) error {
	if m.fc == nil {
		return fmt.Errorf("%w: closed", ErrMuxer)
	}
	m.pkt.Unref()
	if err := m.pkt.FromData(data); err != nil {
		return fmt.Errorf("%w: packet: %v", ErrMuxer, err)
	}
	m.pkt.SetStreamIndex(s.Index())
	m.pkt.SetPts(pts)
	m.pkt.SetDts(pts)
	m.pkt.SetDuration(dur)
	if key {
		m.pkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	} else {
		m.pkt.SetFlags(astiav.NewPacketFlags())
	}
	m.pkt.RescaleTs(tb, s.TimeBase())
	if err := m.fc.WriteInterleavedFrame(m.pkt); err != nil {
		m.failed = true
		return fmt.Errorf("%w: write: %v", ErrMuxer, err)
	}
	return nil
}

// WriteAudio writes one Opus or AAC packet lasting dur.
func (m *LibavMuxer) WriteAudio(pkt []byte, pts, dur time.Duration) error {
	return m.write(m.audio, m.audioTB, pkt, pts.Nanoseconds()*48/1_000_000, dur.Nanoseconds()*48/1_000_000, true)
}

// WriteVideo writes one H.264 access unit.
func (m *LibavMuxer) WriteVideo(au []byte, pts time.Duration, key bool) error {
	if m.video == nil {
		return fmt.Errorf("%w: no video stream", ErrMuxer)
	}
	return m.write(m.video, m.videoTB, au, pts.Nanoseconds()*9/100_000, m.frameDur, key)
}

// Close writes the trailer and closes the file.
func (m *LibavMuxer) Close() error {
	if m.fc == nil {
		return nil
	}
	var err error
	if m.wroteHeader && !m.failed {
		if e := m.fc.WriteTrailer(); e != nil {
			err = fmt.Errorf("%w: trailer: %v", ErrMuxer, e)
		}
	}
	m.free()
	return err
}

func (m *LibavMuxer) free() {
	if m.pkt != nil {
		m.pkt.Free()
		m.pkt = nil
	}
	if m.io != nil {
		_ = m.io.Close()
		m.io = nil
	}
	if m.network {
		closeNetwork(m.fc)
		m.network = false
	}
	if m.fc != nil {
		m.fc.Free()
		m.fc = nil
	}
}
