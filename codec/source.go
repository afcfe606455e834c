package codec

/*
#cgo pkg-config: libavformat libavcodec libavutil libswresample
#include <stdlib.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/time.h>
#include <libswresample/swresample.h>

// mcu_intr is a source's interrupt state in C memory: stop is set from any
// goroutine, deadline (av_gettime_relative µs, 0 for none) by the reader
// before each blocking call. libavformat polls the callback while it waits.
typedef struct { int stop; int64_t deadline; } mcu_intr;

static int mcu_intr_cb(void *opaque) {
	mcu_intr *i = opaque;
	if (__atomic_load_n(&i->stop, __ATOMIC_ACQUIRE)) return 1;
	int64_t d = __atomic_load_n(&i->deadline, __ATOMIC_ACQUIRE);
	return d > 0 && av_gettime_relative() > d;
}
static void mcu_intr_attach(AVFormatContext *fc, mcu_intr *i) {
	fc->interrupt_callback.callback = mcu_intr_cb;
	fc->interrupt_callback.opaque = i;
}
static void mcu_intr_stop(mcu_intr *i) { __atomic_store_n(&i->stop, 1, __ATOMIC_RELEASE); }
static int mcu_intr_stopped(mcu_intr *i) { return __atomic_load_n(&i->stop, __ATOMIC_ACQUIRE); }
static void mcu_intr_deadline(mcu_intr *i, int64_t after_us) {
	__atomic_store_n(&i->deadline, after_us > 0 ? av_gettime_relative() + after_us : 0, __ATOMIC_RELEASE);
}
static int mcu_intr_expired(mcu_intr *i) {
	int64_t d = __atomic_load_n(&i->deadline, __ATOMIC_ACQUIRE);
	return d > 0 && av_gettime_relative() > d;
}

// mcu_swr_open converts frames shaped like f to 48 kHz mono float.
static SwrContext *mcu_swr_open(const AVFrame *f) {
	AVChannelLayout in = {0};
	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels <= 0) {
		av_channel_layout_default(&in, f->ch_layout.nb_channels > 0 ? f->ch_layout.nb_channels : 1);
	} else if (av_channel_layout_copy(&in, &f->ch_layout) < 0) {
		return NULL;
	}
	AVChannelLayout out = AV_CHANNEL_LAYOUT_MONO;
	SwrContext *s = NULL;
	int r = swr_alloc_set_opts2(&s, &out, AV_SAMPLE_FMT_FLT, 48000, &in, f->format, f->sample_rate, 0, NULL);
	av_channel_layout_uninit(&in);
	if (r < 0 || s == NULL) return NULL;
	if (swr_init(s) < 0) {
		swr_free(&s);
		return NULL;
	}
	return s;
}
static int mcu_swr_convert(SwrContext *s, float *out, int cap, const AVFrame *f) {
	uint8_t *o[1] = {(uint8_t *)out};
	return swr_convert(s, o, cap, (const uint8_t **)f->extended_data, f->nb_samples);
}
static void mcu_swr_free(SwrContext *s) { swr_free(&s); }
static int mcu_frame_channels(const AVFrame *f) { return f->ch_layout.nb_channels; }
*/
import "C"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Source transports for RTSP.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// SourceConfig describes a pulled stream.
type SourceConfig struct {
	// URL is rtsp://, rtsps://, rtmp:// or rtmps://.
	URL string
	// Transport is TransportTCP (the default) or TransportUDP, for RTSP
	// only. A "transport" query parameter in the URL sets it too, and is
	// removed before the URL is opened.
	Transport string
	// OpenTimeout bounds connecting and probing the streams (default 10 s).
	OpenTimeout time.Duration
	// ReadTimeout is how long a read may wait for the next packet before
	// the source counts as lost (default 5 s).
	ReadTimeout time.Duration
}

// sourceSchemes are the only URL schemes a source may use. libavformat
// is also restricted to the network protocols they need, so a URL can
// never reach a local file or another protocol.
var sourceSchemes = map[string]bool{"rtsp": true, "rtsps": true, "rtmp": true, "rtmps": true}

// sourceProtocols is libavformat's protocol_whitelist for every source.
const sourceProtocols = "tcp,udp,rtp,srtp,tls,rtmp,rtmps"

// ParseSourceURL checks a source URL and resolves its transport: the
// explicit transport wins over a ?transport= hint, and TCP is the default.
// It returns the URL to open (without the hint) and the transport.
func ParseSourceURL(raw, transport string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: url: %v", ErrInvalidConfig, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if !sourceSchemes[scheme] {
		return "", "", fmt.Errorf("%w: url scheme %q: want rtsp, rtsps, rtmp or rtmps", ErrInvalidConfig, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", "", fmt.Errorf("%w: url has no host", ErrInvalidConfig)
	}
	q := u.Query()
	hint := strings.ToLower(q.Get("transport"))
	if q.Has("transport") {
		q.Del("transport")
		u.RawQuery = q.Encode()
	}
	if transport == "" {
		transport = hint
	}
	switch transport {
	case "":
		transport = TransportTCP
	case TransportTCP, TransportUDP:
	default:
		return "", "", fmt.Errorf("%w: transport %q: want tcp or udp", ErrInvalidConfig, transport)
	}
	if transport == TransportUDP && !strings.HasPrefix(scheme, "rtsp") {
		return "", "", fmt.Errorf("%w: transport udp is for rtsp only", ErrInvalidConfig)
	}
	return u.String(), transport, nil
}

// SourceHandler receives what a SourceReader reads. Slices are only valid
// during the call.
type SourceHandler interface {
	// SourceAudio gets decoded audio: 48 kHz mono.
	SourceAudio(pcm []float32)
	// SourceVideo gets one access unit: H.264 in annex-B (with SPS and PPS
	// before every keyframe) or a VP8 frame; codec is "h264" or "vp8".
	SourceVideo(au []byte, codec string, keyframe bool, pts time.Duration)
}

// SourceInfo describes the opened streams.
type SourceInfo struct {
	Format     string
	AudioCodec string // empty: no audio stream we can decode
	SampleRate int
	Channels   int
	VideoCodec string // empty: no H.264 or VP8 stream
	Width      int
	Height     int
}

// SourceReader demuxes a network stream with libavformat and decodes its
// audio. Open and ReadPacket block and belong to one goroutine; Interrupt
// may be called from any goroutine until Close, and makes a blocked call
// return ErrInterrupted.
type SourceReader struct {
	cfg       SourceConfig
	url       string
	transport string
	intr      *C.mcu_intr

	fc   *astiav.FormatContext
	cfc  *C.AVFormatContext
	pkt  *astiav.Packet
	cpkt *C.AVPacket
	info SourceInfo

	audioIdx int
	adec     *astiav.CodecContext
	aframe   *astiav.Frame
	swr      *C.SwrContext
	swrFmt   [3]int // format, rate, channels the converter was built for
	pcm      []float32

	videoIdx   int
	videoCodec string
	videoTB    astiav.Rational
	bsf        *astiav.BitStreamFilterContext
	bsfPkt     *astiav.Packet
	bsfCpkt    *C.AVPacket
	extra      []byte // annex-B SPS/PPS put before keyframes when not in-band
	au         []byte

	// AudioErrors counts audio packets the decoder rejected.
	AudioErrors uint64
}

// NewSourceReader validates cfg. Nothing is opened until Open.
func NewSourceReader(cfg SourceConfig) (*SourceReader, error) {
	u, tr, err := ParseSourceURL(cfg.URL, cfg.Transport)
	if err != nil {
		return nil, err
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	intr := (*C.mcu_intr)(C.calloc(1, C.size_t(unsafe.Sizeof(C.mcu_intr{}))))
	if intr == nil {
		return nil, fmt.Errorf("%w: calloc", ErrCodecFailure)
	}
	return &SourceReader{cfg: cfg, url: u, transport: tr, intr: intr, audioIdx: -1, videoIdx: -1}, nil
}

// Interrupt makes the blocked or next Open or ReadPacket fail with
// ErrInterrupted. It is sticky.
func (s *SourceReader) Interrupt() {
	if s.intr != nil {
		C.mcu_intr_stop(s.intr)
	}
}

func (s *SourceReader) setDeadline(d time.Duration) {
	C.mcu_intr_deadline(s.intr, C.int64_t(d.Microseconds()))
}

// blockedErr turns a libav error of a blocking call into ours.
func (s *SourceReader) blockedErr(what string, err error, timeout time.Duration) error {
	switch {
	case C.mcu_intr_stopped(s.intr) != 0:
		return ErrInterrupted
	case C.mcu_intr_expired(s.intr) != 0 || errors.Is(err, astiav.ErrEtimedout):
		return fmt.Errorf("%w: %s: nothing for %v", ErrSourceTimeout, what, timeout)
	case errors.Is(err, astiav.ErrEof):
		return fmt.Errorf("%w: %s: end of stream", ErrSourceEnded, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrSource, what, err)
}

// formatContextOf returns the AVFormatContext behind fc; astiav v0.16.0
// does not export it. Its FormatContext holds the C pointer as its only
// field; the layout is checked through the public API.
func formatContextOf(fc *astiav.FormatContext) *C.AVFormatContext {
	c := *(**C.AVFormatContext)(unsafe.Pointer(fc))
	if c == nil {
		return nil
	}
	old := fc.Flags()
	fc.SetFlags(astiav.FormatContextFlags(0x5a5a0))
	ok := c.flags == 0x5a5a0
	fc.SetFlags(old)
	if !ok {
		return nil
	}
	return c
}

// Open connects, reads the stream headers and prepares the decoders.
func (s *SourceReader) Open() error {
	if s.fc != nil {
		return fmt.Errorf("%w: source already open", ErrInvalidConfig)
	}
	if C.mcu_intr_stopped(s.intr) != 0 {
		return ErrInterrupted
	}
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return fmt.Errorf("%w: allocating format context", ErrCodecFailure)
	}
	cfc := formatContextOf(fc)
	if cfc == nil {
		fc.Free()
		return fmt.Errorf("%w: unexpected astiav.FormatContext layout", ErrCodecFailure)
	}
	C.mcu_intr_attach(cfc, s.intr)

	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) { _ = opts.Set(k, v, astiav.NewDictionaryFlags()) }
	set("protocol_whitelist", sourceProtocols)
	set("analyzeduration", "1500000")
	set("probesize", "1000000")
	readUS := fmt.Sprint(s.cfg.ReadTimeout.Microseconds())
	var format *astiav.InputFormat
	if strings.HasPrefix(strings.ToLower(s.url), "rtsp") {
		format = astiav.FindInputFormat("rtsp")
		set("rtsp_transport", s.transport)
		// RTSP's socket I/O timeout (it replaced stimeout in FFmpeg 5).
		set("timeout", readUS)
	} else {
		format = astiav.FindInputFormat("flv")
		// Not "timeout": for RTMP that means listen for a connection.
		set("rw_timeout", readUS)
	}
	s.setDeadline(s.cfg.OpenTimeout)
	if err := fc.OpenInput(s.url, format, opts); err != nil {
		// avformat_open_input has freed the context; Free forgets astiav's
		// handle (avformat_free_context(NULL) is a no-op).
		fc.Free()
		return s.blockedErr("open", err, s.cfg.OpenTimeout)
	}
	s.fc, s.cfc = fc, cfc
	if err := fc.FindStreamInfo(nil); err != nil {
		return s.blockedErr("probe", err, s.cfg.OpenTimeout)
	}
	s.setDeadline(0)
	s.info.Format = fc.InputFormat().Name()
	s.pkt = astiav.AllocPacket()
	if s.pkt == nil {
		return fmt.Errorf("%w: allocating packet", ErrCodecFailure)
	}
	if s.cpkt = avPacketOf(s.pkt); s.cpkt == nil {
		return fmt.Errorf("%w: unexpected astiav.Packet layout", ErrCodecFailure)
	}
	s.pickStreams()
	if s.audioIdx < 0 && s.videoIdx < 0 {
		return fmt.Errorf("%w: no audio or H.264/VP8 video stream", ErrSource)
	}
	return nil
}

// pickStreams sets up the first audio stream we can decode and the first
// H.264 or VP8 stream. FLV can announce streams late, so ReadPacket calls
// it again for streams it has not seen.
func (s *SourceReader) pickStreams() {
	for _, st := range s.fc.Streams() {
		cp := st.CodecParameters()
		switch cp.MediaType() {
		case astiav.MediaTypeAudio:
			if s.audioIdx < 0 && s.openAudio(st) == nil {
				s.audioIdx = st.Index()
			}
		case astiav.MediaTypeVideo:
			if s.videoIdx < 0 && s.openVideo(st) == nil {
				s.videoIdx = st.Index()
			}
		}
	}
}

func (s *SourceReader) openAudio(st *astiav.Stream) error {
	cp := st.CodecParameters()
	c := astiav.FindDecoder(cp.CodecID())
	if c == nil {
		return ErrUnsupportedCodec
	}
	cc := astiav.AllocCodecContext(c)
	if cc == nil {
		return ErrCodecFailure
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return err
	}
	cc.SetThreadCount(1)
	if err := cc.Open(c, nil); err != nil {
		cc.Free()
		return err
	}
	s.adec = cc
	if s.aframe == nil {
		s.aframe = astiav.AllocFrame()
	}
	s.info.AudioCodec, s.info.SampleRate, s.info.Channels = cp.CodecID().Name(), cp.SampleRate(), cp.Channels()
	return nil
}

func (s *SourceReader) openVideo(st *astiav.Stream) error {
	cp := st.CodecParameters()
	switch cp.CodecID() {
	case astiav.CodecIDH264:
		s.videoCodec = "h264"
	case astiav.CodecIDVp8:
		s.videoCodec = "vp8"
	default:
		return ErrUnsupportedCodec
	}
	s.videoTB = st.TimeBase()
	extra := cp.ExtraData()
	if s.videoCodec == "h264" && len(extra) > 0 && extra[0] == 1 {
		// avcC (FLV, MP4): length-prefixed NAL units; libav's bitstream
		// filter rewrites them to annex-B with SPS/PPS before keyframes.
		f := astiav.FindBitStreamFilterByName("h264_mp4toannexb")
		if f == nil {
			return ErrUnsupportedCodec
		}
		bsf, err := astiav.AllocBitStreamFilterContext(f)
		if err != nil {
			return err
		}
		if err := cp.Copy(bsf.InputCodecParameters()); err != nil {
			bsf.Free()
			return err
		}
		bsf.SetInputTimeBase(s.videoTB)
		if err := bsf.Initialize(); err != nil {
			bsf.Free()
			return err
		}
		s.bsf, s.bsfPkt = bsf, astiav.AllocPacket()
		if s.bsfCpkt = avPacketOf(s.bsfPkt); s.bsfCpkt == nil {
			return ErrCodecFailure
		}
	} else if s.videoCodec == "h264" && isAnnexB(extra) {
		// RTSP's sprop-parameter-sets: senders do not always repeat them
		// in-band, and a decoder joining mid-stream needs them.
		s.extra = append([]byte(nil), extra...)
	}
	s.info.VideoCodec, s.info.Width, s.info.Height = s.videoCodec, cp.Width(), cp.Height()
	return nil
}

func isAnnexB(b []byte) bool {
	return len(b) > 4 && b[0] == 0 && b[1] == 0 && (b[2] == 1 || (b[2] == 0 && b[3] == 1))
}

// Info describes the streams Open found.
func (s *SourceReader) Info() SourceInfo { return s.info }

// ReadPacket reads one packet and hands its decoded audio or its video to
// h. Audio decode errors are counted, not returned: only the connection's
// errors end the stream.
func (s *SourceReader) ReadPacket(h SourceHandler) error {
	if s.fc == nil {
		return fmt.Errorf("%w: source not open", ErrInvalidConfig)
	}
	s.setDeadline(s.cfg.ReadTimeout)
	err := s.fc.ReadFrame(s.pkt)
	s.setDeadline(0)
	if err != nil {
		return s.blockedErr("read", err, s.cfg.ReadTimeout)
	}
	defer s.pkt.Unref()
	idx := s.pkt.StreamIndex()
	if idx != s.audioIdx && idx != s.videoIdx && (s.audioIdx < 0 || s.videoIdx < 0) && idx < s.fc.NbStreams() {
		s.pickStreams()
	}
	switch idx {
	case s.audioIdx:
		s.decodeAudio(h)
	case s.videoIdx:
		s.passVideo(h)
	}
	return nil
}

func (s *SourceReader) decodeAudio(h SourceHandler) {
	if err := s.adec.SendPacket(s.pkt); err != nil {
		s.AudioErrors++
		return
	}
	for {
		err := s.adec.ReceiveFrame(s.aframe)
		if err != nil {
			if !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
				s.AudioErrors++
			}
			return
		}
		s.convertAudio(h)
		s.aframe.Unref()
	}
}

// convertAudio resamples and downmixes the decoded frame to 48 kHz mono.
// The converter is rebuilt only when the input's shape changes.
func (s *SourceReader) convertAudio(h SourceHandler) {
	f := (*C.AVFrame)(s.aframe.UnsafePointer())
	shape := [3]int{int(f.format), int(f.sample_rate), int(C.mcu_frame_channels(f))}
	if f.sample_rate <= 0 || f.nb_samples <= 0 {
		s.AudioErrors++
		return
	}
	if s.swr == nil || s.swrFmt != shape {
		if s.swr != nil {
			C.mcu_swr_free(s.swr)
		}
		if s.swr = C.mcu_swr_open(f); s.swr == nil {
			s.AudioErrors++
			return
		}
		s.swrFmt = shape
	}
	// Output bound: the input at 48 kHz plus the converter's buffered
	// samples; grows only when a larger frame arrives.
	need := int(f.nb_samples)*48000/int(f.sample_rate) + 256
	if len(s.pcm) < need {
		s.pcm = make([]float32, need*2)
	}
	n := C.mcu_swr_convert(s.swr, (*C.float)(unsafe.Pointer(&s.pcm[0])), C.int(len(s.pcm)), f)
	if n < 0 {
		s.AudioErrors++
		return
	}
	if n > 0 {
		h.SourceAudio(s.pcm[:n])
	}
}

func (s *SourceReader) passVideo(h SourceHandler) {
	if s.bsf == nil {
		s.emitVideo(h, s.cpkt)
		return
	}
	if err := s.bsf.SendPacket(s.pkt); err != nil {
		return
	}
	for s.bsf.ReceivePacket(s.bsfPkt) == nil {
		s.emitVideo(h, s.bsfCpkt)
		s.bsfPkt.Unref()
	}
}

func (s *SourceReader) emitVideo(h SourceHandler, p *C.AVPacket) {
	if p.data == nil || p.size <= 0 {
		return
	}
	data := unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.size))
	key := p.flags&C.AV_PKT_FLAG_KEY != 0
	if s.videoCodec == "h264" {
		key = key || hasIDR(data)
		if key && len(s.extra) > 0 {
			s.au = append(append(s.au[:0], s.extra...), data...)
			data = s.au
		}
	}
	var pts time.Duration
	if p.pts != C.AV_NOPTS_VALUE && s.videoTB.Den() > 0 {
		pts = time.Duration(int64(p.pts) * int64(time.Second) * int64(s.videoTB.Num()) / int64(s.videoTB.Den()))
	}
	h.SourceVideo(data, s.videoCodec, key, pts)
}

// hasIDR reports whether an annex-B access unit holds an IDR slice.
func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 {
			if au[i+3]&0x1f == 5 {
				return true
			}
			i += 2
		}
	}
	return false
}

// Close releases everything. It is safe to call more than once; no
// Interrupt may run concurrently with it.
func (s *SourceReader) Close() error {
	if s.swr != nil {
		C.mcu_swr_free(s.swr)
		s.swr = nil
	}
	if s.aframe != nil {
		s.aframe.Free()
		s.aframe = nil
	}
	if s.adec != nil {
		s.adec.Free()
		s.adec = nil
	}
	if s.bsf != nil {
		s.bsf.Free()
		s.bsf = nil
	}
	if s.bsfPkt != nil {
		s.bsfPkt.Free()
		s.bsfPkt, s.bsfCpkt = nil, nil
	}
	if s.pkt != nil {
		s.pkt.Free()
		s.pkt, s.cpkt = nil, nil
	}
	if s.fc != nil {
		s.fc.CloseInput()
		s.fc.Free()
		s.fc, s.cfc = nil, nil
	}
	if s.intr != nil {
		C.free(unsafe.Pointer(s.intr))
		s.intr = nil
	}
	return nil
}
