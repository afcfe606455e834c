// Package record writes a room's composite to files and streams it live
// over RTMP. It takes the packets the room already encoded (the shared
// mix's Opus, the top rendition's H.264) and muxes them without
// re-encoding the picture, on its own goroutine, so the room's tick never
// waits for the disk or the network. A stream's audio is transcoded to AAC
// there too, since FLV cannot carry Opus.
package record

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

// Format is a recording's container.
type Format int

// Formats.
const (
	FormatMP4 Format = iota + 1
	FormatMKV
	FormatOgg // audio only
	FormatFLV // H.264 and AAC, for RTMP
)

func (f Format) String() string {
	switch f {
	case FormatMP4:
		return "mp4"
	case FormatMKV:
		return "mkv"
	case FormatOgg:
		return "ogg"
	case FormatFLV:
		return "flv"
	}
	return "unknown"
}

func (f Format) container() string {
	switch f {
	case FormatMP4:
		return codec.FormatMP4
	case FormatMKV:
		return codec.FormatMKV
	case FormatOgg:
		return codec.FormatOgg
	case FormatFLV:
		return codec.FormatFLV
	}
	return ""
}

// Config describes one recording.
type Config struct {
	// Path is the output file.
	Path string
	// URL, instead of Path, streams live to rtmp:// or rtmps:// (FLV).
	URL    string
	Format Format
	// AudioOnly leaves the picture out (always true for Ogg).
	AudioOnly bool
	// Width, Height and FPS are the recorded rendition's geometry.
	Width, Height, FPS int
	// QueuePackets bounds what may wait for the disk (default 512: about 4 s
	// of audio and video).
	QueuePackets int
	// FragmentDuration is how often the file is made playable on disk
	// (default 1 s).
	FragmentDuration time.Duration
	// ReconnectFor is how long a stream keeps trying to reconnect before
	// it fails (default 30 s); attempts back off from ReconnectMin,
	// doubling to ReconnectMax (0.5 s and 5 s).
	ReconnectFor, ReconnectMin, ReconnectMax time.Duration
	// IOTimeout bounds each network read or write of a stream (5 s).
	IOTimeout time.Duration
	// AACBitrate is a stream's audio bitrate (96 kb/s).
	AACBitrate int
}

// DefaultConfig returns a Config for an MP4 of a 1280x720 at 30 fps composite.
func DefaultConfig() Config {
	return Config{Format: FormatMP4, Width: 1280, Height: 720, FPS: 30, QueuePackets: 512,
		FragmentDuration: time.Second, ReconnectFor: 30 * time.Second,
		ReconnectMin: 500 * time.Millisecond, ReconnectMax: 5 * time.Second,
		IOTimeout: 5 * time.Second, AACBitrate: codec.DefaultAACEncoderConfig().Bitrate}
}

// ValidateURL accepts rtmp:// and rtmps:// URLs with a host.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: url: %v", ErrInvalidConfig, err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return fmt.Errorf("%w: url scheme %q (want rtmp or rtmps)", ErrInvalidConfig, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: url has no host", ErrInvalidConfig)
	}
	return nil
}

// Option sets an optional hook of a Recorder.
type Option func(*Recorder)

// WithKeyframeRequest is called, from the writer goroutine, when a stream
// is about to reconnect: its new session must start at a keyframe.
func WithKeyframeRequest(f func()) Option { return func(r *Recorder) { r.askKey = f } }

// WithReconnecting is called, from the writer goroutine, when a stream
// loses its connection (or cannot make the first one) and starts retrying.
func WithReconnecting(f func(error)) Option { return func(r *Recorder) { r.onLost = f } }

// OpenFunc opens a muxer; codec.NewMuxer in production, a fake in tests.
type OpenFunc func(codec.MuxerConfig) (codec.Muxer, error)

// OpenLibav opens a libavformat muxer.
func OpenLibav(c codec.MuxerConfig) (codec.Muxer, error) { return codec.NewMuxer(c) }

type item struct {
	video bool
	key   bool
	pos   time.Duration
	wall  time.Time
	data  []byte
}

// stopGrace is how long Stop lets a stream's writer finish before it
// interrupts the network I/O it may be blocked in.
const stopGrace = time.Second

// maxLag is how far the room clock may trail the wall clock before the
// recording inserts the difference as a gap at once (the room stalled).
const maxLag = 100 * time.Millisecond

// driftWindow is how many audio packets the drift estimate looks at. A late
// tick only ever adds lag, so the smallest lag over the window is the
// drift between the room clock and the wall clock, without the jitter.
const driftWindow = 50

// Recorder is one running recording. Push methods are safe to call from
// the room's audio and video goroutines and never block.
//
// A file fails on the first error or when its queue overflows. A stream
// instead reconnects: while it is down (or too slow) packets are dropped
// and counted, the room never waits, and after ReconnectFor without a
// connection it fails with ErrStreamLost.
type Recorder struct {
	cfg    Config
	open   OpenFunc
	stream bool
	askKey func()
	onLost func(error)
	intr   *codec.Interrupt

	queue    chan *item
	free     chan *item
	overflow chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	ended    atomic.Bool
	err      error // set before done closes

	// writer goroutine only
	mux       codec.Muxer
	silence   []byte
	started   bool
	start     time.Duration
	startWall time.Time
	// offset is how far the room clock fell behind the wall clock (a
	// stalled room restarts its clock): the recording keeps wall time.
	offset       time.Duration
	minLag       time.Duration // smallest audio lag in this drift window
	lagN         int
	nextAudio    time.Duration
	lastVideo    time.Duration
	haveVideo    bool
	audioStarted bool
	everStarted  bool
	// a stream's audio: Opus decoded, re-encoded as AAC
	dec     *codec.OpusDecoder
	aac     *codec.AACEncoder
	pcm     []float32
	zeros   []float32
	aacBase time.Duration // position of the AAC timeline's sample 0
	emitAAC func([]byte, int64) error
	// a stream's reconnection
	wantOpen bool // a connection attempt is due
	needKey  bool // video was dropped: wait for a keyframe
	lostAt   time.Time
	lastErr  error
	backoff  time.Duration
	retry    *time.Timer
	giveUp   *time.Timer
	// Stats, readable after Done.
	audioPkts, silencePkts, videoPkts int

	dropped    atomic.Uint64
	gap        atomic.Bool // the push side dropped a packet
	reconnects atomic.Int64
}

// New validates cfg and starts the writer goroutine. onEnd, if not nil, is
// called once from that goroutine when the recording ends (before Stop
// returns): err is nil after
// a clean Stop, otherwise the reason it failed.
func New(cfg Config, open OpenFunc, onEnd func(error), opts ...Option) (*Recorder, error) {
	if (cfg.Path == "") == (cfg.URL == "") {
		return nil, fmt.Errorf("%w: exactly one of path and url", ErrInvalidConfig)
	}
	if cfg.Format.container() == "" {
		return nil, fmt.Errorf("%w: format %d", ErrInvalidConfig, cfg.Format)
	}
	if cfg.URL != "" {
		if err := ValidateURL(cfg.URL); err != nil {
			return nil, err
		}
		if cfg.Format != FormatFLV {
			return nil, fmt.Errorf("%w: a stream is FLV, not %s", ErrInvalidConfig, cfg.Format)
		}
	}
	def := DefaultConfig()
	for _, d := range []struct{ v, def *time.Duration }{{&cfg.ReconnectFor, &def.ReconnectFor},
		{&cfg.ReconnectMin, &def.ReconnectMin}, {&cfg.ReconnectMax, &def.ReconnectMax}, {&cfg.IOTimeout, &def.IOTimeout}} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	if cfg.AACBitrate <= 0 {
		cfg.AACBitrate = def.AACBitrate
	}
	if cfg.Format == FormatOgg {
		cfg.AudioOnly = true
	}
	if !cfg.AudioOnly && (cfg.Width <= 0 || cfg.Height <= 0 || cfg.FPS <= 0) {
		return nil, fmt.Errorf("%w: video geometry %dx%d@%d", ErrInvalidConfig, cfg.Width, cfg.Height, cfg.FPS)
	}
	if cfg.QueuePackets <= 0 {
		cfg.QueuePackets = DefaultConfig().QueuePackets
	}
	if cfg.FragmentDuration <= 0 {
		cfg.FragmentDuration = time.Second
	}
	if open == nil {
		open = OpenLibav
	}
	sil, err := silencePacket()
	if err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, open: open, silence: sil, stream: cfg.URL != "",
		queue:    make(chan *item, cfg.QueuePackets),
		free:     make(chan *item, cfg.QueuePackets),
		overflow: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	if cfg.Format == FormatFLV {
		if r.dec, err = codec.NewOpusDecoder(); err != nil {
			return nil, fmt.Errorf("record: opus decoder: %w", err)
		}
		// Checked here so a bad bitrate is a config error, not a failure.
		a, err := codec.NewAACEncoder(codec.AACEncoderConfig{Bitrate: cfg.AACBitrate})
		if err != nil {
			_ = r.dec.Close()
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		_ = a.Close()
		r.pcm, r.zeros = make([]float32, media.FrameSamples), make([]float32, media.FrameSamples)
		r.emitAAC = r.writeAAC
	}
	if r.stream {
		r.intr = codec.NewInterrupt()
		r.wantOpen, r.lostAt = true, time.Now()
	}
	for range cfg.QueuePackets {
		r.free <- &item{}
	}
	go r.run(onEnd)
	return r, nil
}

// silencePacket encodes 20 ms of digital silence once; gaps are filled with
// it so the audio track keeps the room's duration.
func silencePacket() ([]byte, error) {
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		return nil, fmt.Errorf("record: silence encoder: %w", err)
	}
	defer enc.Close()
	buf := make([]byte, 1500)
	n, err := enc.Encode(make([]float32, media.FrameSamples), buf)
	if err != nil {
		return nil, fmt.Errorf("record: silence: %w", err)
	}
	return buf[:n:n], nil
}

// WantsVideo reports whether the recording takes the picture.
func (r *Recorder) WantsVideo() bool { return !r.cfg.AudioOnly }

// Config returns the recording's settings.
func (r *Recorder) Config() Config { return r.cfg }

// PushAudio queues one 20 ms Opus packet at room-clock position pos,
// produced at wall time now.
func (r *Recorder) PushAudio(pkt []byte, pos time.Duration, now time.Time) bool {
	return r.push(false, false, pkt, pos, now)
}

// PushVideo queues one H.264 access unit at room-clock position pos,
// produced at wall time now.
func (r *Recorder) PushVideo(au []byte, pos time.Duration, now time.Time, key bool) bool {
	if r.cfg.AudioOnly {
		return false
	}
	return r.push(true, key, au, pos, now)
}

func (r *Recorder) push(video, key bool, data []byte, pos time.Duration, now time.Time) bool {
	if r.ended.Load() {
		return false
	}
	var it *item
	select {
	case it = <-r.free:
	default:
		if r.stream {
			// A stream drops rather than fails: it may be reconnecting.
			r.dropped.Add(1)
			r.gap.Store(true)
			return false
		}
		select {
		case r.overflow <- struct{}{}:
		default:
		}
		return false
	}
	it.video, it.key, it.pos, it.wall = video, key, pos, now
	it.data = append(it.data[:0], data...) // reuses the item's buffer
	r.queue <- it                          // never blocks: items <= capacity
	return true
}

// Stop ends the recording cleanly, finalising the file, and waits for the
// writer. It returns the recording's error, if it had failed.
func (r *Recorder) Stop() error {
	r.stopOnce.Do(func() { close(r.stop) })
	if r.stream {
		t := time.NewTimer(stopGrace)
		select {
		case <-r.done:
		case <-t.C:
			r.intr.Trigger() // blocked on a hung server
		}
		t.Stop()
	}
	<-r.done
	return r.err
}

// Done is closed when the recording has ended.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Err is why the recording ended, nil for a clean stop; valid after Done.
func (r *Recorder) Err() error {
	<-r.done
	return r.err
}

// Dropped counts packets a stream dropped while down or too slow.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Reconnects counts the times a stream lost its connection (or failed to
// make its first one) and started reconnecting.
func (r *Recorder) Reconnects() int { return int(r.reconnects.Load()) }

// Stats reports packets written: audio from the room, silence filled in,
// video. Valid after Done.
func (r *Recorder) Stats() (audio, silence, video int) {
	<-r.done
	return r.audioPkts, r.silencePkts, r.videoPkts
}

func (r *Recorder) run(onEnd func(error)) {
	err := r.loop()
	r.ended.Store(true)
	if err == nil && r.mux != nil && r.aac != nil {
		// A clean stop: write the encoder's last frames before the trailer.
		err = r.aac.Flush(r.emitAAC)
		if err != nil && r.stream {
			err = nil // the stream is over anyway; nothing to finalise
		}
	}
	if r.mux != nil {
		if cerr := r.mux.Close(); err == nil && cerr != nil && !r.stream {
			err = fmt.Errorf("%w: %v", ErrOutput, cerr)
		}
		r.mux = nil
	}
	switch {
	case err != nil || r.everStarted:
	case r.stream && r.lastErr != nil:
		// Stopped before it ever connected: say why.
		err = fmt.Errorf("%w: never connected to %s (last error: %v)", ErrStreamLost, r.cfg.URL, r.lastErr)
	case !r.cfg.AudioOnly:
		err = ErrNoKeyframe
	}
	r.closeSession()
	if r.dec != nil {
		_ = r.dec.Close()
	}
	for _, t := range []*time.Timer{r.retry, r.giveUp} {
		if t != nil {
			t.Stop()
		}
	}
	if r.intr != nil {
		r.intr.Free()
	}
	r.err = err
	// onEnd runs before done closes, so Stop returns after it.
	if onEnd != nil {
		onEnd(err)
	}
	close(r.done)
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func (r *Recorder) loop() error {
	if r.cfg.AudioOnly && !r.stream {
		if err := r.openMuxer(nil); err != nil {
			return err
		}
	}
	for {
		select {
		case it := <-r.queue:
			err := r.handle(it)
			r.free <- it
			if err != nil {
				return err
			}
		case <-r.overflow:
			return ErrOverflow
		case <-timerC(r.retry):
			r.retry = nil
			r.wantOpen = true
			if !r.cfg.AudioOnly && r.askKey != nil {
				r.askKey()
			}
		case <-timerC(r.giveUp):
			return r.lostErr()
		case <-r.stop:
			for {
				select {
				case it := <-r.queue:
					err := r.handle(it)
					r.free <- it
					if err != nil {
						return err
					}
				default:
					return nil
				}
			}
		}
	}
}

func (r *Recorder) lostErr() error {
	return fmt.Errorf("%w: no connection to %s for %v (last error: %v)", ErrStreamLost, r.cfg.URL,
		r.cfg.ReconnectFor, r.lastErr)
}

// outErr handles an output error: it ends a file; a stream drops its
// session and reconnects, failing only once ReconnectFor has passed.
func (r *Recorder) outErr(err error) error {
	if !r.stream {
		return err
	}
	if r.mux != nil {
		_ = r.mux.Close() // after a failed write it skips the trailer
		r.mux = nil
	}
	r.closeSession()
	r.started, r.wantOpen, r.lastErr = false, false, err
	now := time.Now()
	if r.giveUp == nil {
		// An outage begins: it has ReconnectFor to end.
		r.lostAt, r.backoff = now, r.cfg.ReconnectMin
		r.giveUp = time.NewTimer(r.cfg.ReconnectFor)
		r.reconnects.Add(1)
		if r.onLost != nil {
			r.onLost(err)
		}
	} else {
		r.backoff = min(2*r.backoff, r.cfg.ReconnectMax)
	}
	if now.Sub(r.lostAt) >= r.cfg.ReconnectFor {
		return r.lostErr()
	}
	r.retry = time.NewTimer(r.backoff)
	return nil
}

// connected ends an outage.
func (r *Recorder) connected() {
	if r.giveUp != nil {
		r.giveUp.Stop()
		r.giveUp = nil
	}
	r.backoff = r.cfg.ReconnectMin
}

// closeSession releases what belongs to one stream session.
func (r *Recorder) closeSession() {
	if r.aac != nil {
		_ = r.aac.Close()
		r.aac = nil
	}
}

func (r *Recorder) openMuxer(extra []byte) error {
	mc := codec.MuxerConfig{Path: r.cfg.Path, Format: r.cfg.Format.container(),
		FragmentDuration: r.cfg.FragmentDuration}
	if r.stream {
		mc.Path, mc.IOTimeout, mc.Interrupt = r.cfg.URL, r.cfg.IOTimeout, r.intr
	}
	if r.cfg.Format == FormatFLV {
		// Each session gets a fresh encoder: no audio from before a
		// reconnect leaks into the new one.
		a, err := codec.NewAACEncoder(codec.AACEncoderConfig{Bitrate: r.cfg.AACBitrate})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrOutput, err)
		}
		r.closeSession()
		r.aac = a
		mc.AudioCodec, mc.AudioExtra = codec.AudioAAC, a.ExtraData()
	}
	if !r.cfg.AudioOnly {
		mc.Video, mc.Width, mc.Height, mc.FPS, mc.VideoExtra = true, r.cfg.Width, r.cfg.Height, r.cfg.FPS, extra
	}
	m, err := r.open(mc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOutput, err)
	}
	r.mux = m
	return nil
}

func (r *Recorder) handle(it *item) error {
	if r.stream && r.mux == nil && !r.wantOpen {
		r.dropped.Add(1) // down, waiting to retry
		return nil
	}
	if !r.started {
		switch {
		case r.cfg.AudioOnly && !it.video:
			if r.stream {
				if err := r.openMuxer(nil); err != nil {
					r.dropped.Add(1)
					return r.outErr(err)
				}
			}
		case !r.cfg.AudioOnly && it.video && it.key:
			// A video recording starts at a keyframe, whose SPS/PPS
			// describe the stream.
			extra := parameterSets(it.data)
			if extra == nil {
				return r.skip()
			}
			if err := r.openMuxer(extra); err != nil {
				if r.stream {
					r.dropped.Add(1)
				}
				return r.outErr(err)
			}
		default:
			return r.skip()
		}
		if r.stream {
			r.connected()
			r.gap.Store(false)
		}
		r.started, r.everStarted, r.start, r.startWall = true, true, it.pos, it.wall
		r.offset, r.nextAudio, r.audioStarted, r.haveVideo, r.needKey = 0, 0, false, false, false
		r.lagN = 0
		// Audio ticks fall on a 20 ms grid; the first one at or after the
		// start begins the audio track.
	}
	const frame = media.FrameDuration
	pts := it.pos - r.start + r.offset
	if pts < 0 {
		return nil
	}
	// A room that stalls restarts its clock rather than bursting frames,
	// so its clock falls behind the wall clock. The recording keeps wall
	// time: the lost stretch becomes a gap, filled below.
	lag := it.wall.Sub(r.startWall) - pts
	if lag >= maxLag {
		skip := lag / frame * frame
		r.offset += skip
		pts += skip
		lag -= skip
		r.lagN = 0
	}
	// A slow drift either way is corrected a frame at a time, once per
	// window: a frame of silence when the room clock falls behind, a frame
	// dropped when it runs ahead. Audio and picture share the offset, so
	// they stay together.
	if !it.video {
		if r.lagN == 0 || lag < r.minLag {
			r.minLag = lag
		}
		if r.lagN++; r.lagN == driftWindow {
			r.lagN = 0
			if d := r.minLag / frame * frame; d != 0 {
				r.offset += d
				pts += d
			}
		}
	}
	if it.video {
		// Packets the push side dropped leave the decoder without its
		// references: wait for a keyframe, and ask for one.
		if r.stream && r.gap.Swap(false) && !r.needKey {
			r.needKey = true
			if r.askKey != nil {
				r.askKey()
			}
		}
		if r.needKey && !it.key {
			r.dropped.Add(1)
			return nil
		}
		r.needKey = false
		if r.haveVideo && pts <= r.lastVideo {
			return nil
		}
		r.haveVideo, r.lastVideo = true, pts
		r.videoPkts++
		if err := r.mux.WriteVideo(it.data, pts, it.key); err != nil {
			return r.outErr(fmt.Errorf("%w: %v", ErrOutput, err))
		}
		return nil
	}
	if !r.audioStarted {
		r.audioStarted, r.nextAudio, r.aacBase = true, pts, pts
	}
	if pts < r.nextAudio-frame/2 {
		return nil // overlaps what is written
	}
	// Fill a gap (no packet from the room) with silence, so the audio keeps
	// the room's duration and stays aligned with the picture.
	for pts-r.nextAudio >= frame/2 {
		if err := r.writeAudio(nil, r.nextAudio); err != nil {
			return r.outErr(fmt.Errorf("%w: %v", ErrOutput, err))
		}
		r.silencePkts++
		r.nextAudio += frame
	}
	if err := r.writeAudio(it.data, r.nextAudio); err != nil {
		return r.outErr(fmt.Errorf("%w: %v", ErrOutput, err))
	}
	r.audioPkts++
	r.nextAudio += frame
	return nil
}

// skip passes over a packet that cannot start the recording; a stream
// counts it as dropped.
func (r *Recorder) skip() error {
	if r.stream {
		r.dropped.Add(1)
	}
	return nil
}

// writeAudio writes 20 ms of audio at pts: the Opus packet pkt, or silence
// when pkt is nil. FLV takes it as AAC.
func (r *Recorder) writeAudio(pkt []byte, pts time.Duration) error {
	if r.aac == nil {
		if pkt == nil {
			pkt = r.silence
		}
		return r.mux.WriteAudio(pkt, pts, media.FrameDuration)
	}
	pcm := r.zeros
	if pkt != nil {
		// A packet that does not decode becomes silence.
		if n, err := r.dec.Decode(pkt, r.pcm); err == nil && n == len(r.pcm) {
			pcm = r.pcm
		}
	}
	return r.aac.Encode(pcm, r.emitAAC)
}

// aacFrame is one AAC packet's duration.
const aacFrame = codec.AACFrameSamples * time.Second / media.SampleRate

func (r *Recorder) writeAAC(pkt []byte, pts int64) error {
	return r.mux.WriteAudio(pkt, r.aacBase+time.Duration(pts)*time.Second/media.SampleRate, aacFrame)
}
