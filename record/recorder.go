// Package record writes a room's composite to files. It takes the packets
// the room already encoded (the shared mix's Opus, the top rendition's
// H.264) and muxes them without re-encoding, on its own goroutine, so the
// room's tick never waits for the disk.
package record

import (
	"fmt"
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
)

func (f Format) String() string {
	switch f {
	case FormatMP4:
		return "mp4"
	case FormatMKV:
		return "mkv"
	case FormatOgg:
		return "ogg"
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
	}
	return ""
}

// Config describes one recording.
type Config struct {
	// Path is the output file.
	Path   string
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
}

// DefaultConfig returns a Config for an MP4 of a 1280x720 at 30 fps composite.
func DefaultConfig() Config {
	return Config{Format: FormatMP4, Width: 1280, Height: 720, FPS: 30, QueuePackets: 512,
		FragmentDuration: time.Second}
}

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

// maxLag is how far the room clock may trail the wall clock before the
// recording inserts the difference as a gap at once (the room stalled).
const maxLag = 100 * time.Millisecond

// driftWindow is how many audio packets the drift estimate looks at. A late
// tick only ever adds lag, so the smallest lag over the window is the
// drift between the room clock and the wall clock, without the jitter.
const driftWindow = 50

// Recorder is one running recording. Push methods are safe to call from
// the room's audio and video goroutines and never block.
type Recorder struct {
	cfg  Config
	open OpenFunc

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
	offset    time.Duration
	minLag    time.Duration // smallest audio lag in this drift window
	lagN      int
	nextAudio time.Duration
	lastVideo time.Duration
	haveVideo bool
	// Stats, readable after Done.
	audioPkts, silencePkts, videoPkts int
}

// New validates cfg and starts the writer goroutine. onEnd, if not nil, is
// called once from that goroutine when the recording ends (before Stop
// returns): err is nil after
// a clean Stop, otherwise the reason it failed.
func New(cfg Config, open OpenFunc, onEnd func(error)) (*Recorder, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: path is empty", ErrInvalidConfig)
	}
	if cfg.Format.container() == "" {
		return nil, fmt.Errorf("%w: format %d", ErrInvalidConfig, cfg.Format)
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
	r := &Recorder{cfg: cfg, open: open, silence: sil,
		queue:    make(chan *item, cfg.QueuePackets),
		free:     make(chan *item, cfg.QueuePackets),
		overflow: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
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

// Stats reports packets written: audio from the room, silence filled in,
// video. Valid after Done.
func (r *Recorder) Stats() (audio, silence, video int) {
	<-r.done
	return r.audioPkts, r.silencePkts, r.videoPkts
}

func (r *Recorder) run(onEnd func(error)) {
	err := r.loop()
	r.ended.Store(true)
	if r.mux != nil {
		if cerr := r.mux.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%w: %v", ErrOutput, cerr)
		}
	}
	if err == nil && !r.started && !r.cfg.AudioOnly {
		err = ErrNoKeyframe
	}
	r.err = err
	// onEnd runs before done closes, so Stop returns after it.
	if onEnd != nil {
		onEnd(err)
	}
	close(r.done)
}

func (r *Recorder) loop() error {
	if r.cfg.AudioOnly {
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

func (r *Recorder) openMuxer(extra []byte) error {
	mc := codec.MuxerConfig{Path: r.cfg.Path, Format: r.cfg.Format.container(),
		FragmentDuration: r.cfg.FragmentDuration}
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
	if !r.started {
		switch {
		case r.cfg.AudioOnly && !it.video:
		case !r.cfg.AudioOnly && it.video && it.key:
			// A video recording starts at a keyframe, whose SPS/PPS
			// describe the stream.
			extra := parameterSets(it.data)
			if extra == nil {
				return nil
			}
			if err := r.openMuxer(extra); err != nil {
				return err
			}
		default:
			return nil
		}
		r.started, r.start, r.startWall, r.nextAudio = true, it.pos, it.wall, 0
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
		if r.haveVideo && pts <= r.lastVideo {
			return nil
		}
		r.haveVideo, r.lastVideo = true, pts
		r.videoPkts++
		if err := r.mux.WriteVideo(it.data, pts, it.key); err != nil {
			return fmt.Errorf("%w: %v", ErrOutput, err)
		}
		return nil
	}
	if r.audioPkts+r.silencePkts == 0 {
		r.nextAudio = pts
	}
	if pts < r.nextAudio-frame/2 {
		return nil // overlaps what is written
	}
	// Fill a gap (no packet from the room) with silence, so the audio keeps
	// the room's duration and stays aligned with the picture.
	for pts-r.nextAudio >= frame/2 {
		if err := r.mux.WriteAudio(r.silence, r.nextAudio, frame); err != nil {
			return fmt.Errorf("%w: %v", ErrOutput, err)
		}
		r.silencePkts++
		r.nextAudio += frame
	}
	if err := r.mux.WriteAudio(it.data, r.nextAudio, frame); err != nil {
		return fmt.Errorf("%w: %v", ErrOutput, err)
	}
	r.audioPkts++
	r.nextAudio += frame
	return nil
}
