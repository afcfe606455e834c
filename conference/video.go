package conference

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
)

// VideoConfig holds the server's video defaults.
type VideoConfig struct {
	// Width, Height and FPS are the default canvas of a room.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	FPS    int `yaml:"fps"`
	// Bitrate is the default H.264 bitrate of the composite, bits/s.
	Bitrate int `yaml:"bitrate"`
	// Preset is the x264 preset of the composite encoder.
	Preset string `yaml:"preset"`
	// StallTimeout turns a participant whose video stopped into a
	// placeholder tile.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// Focus tunes which active speaker the speaker and PIP layouts show.
	Focus mixer.FocusConfig `yaml:"focus"`
}

// DefaultVideoConfig is 1280x720 at 15 fps and 1.5 Mb/s, x264 veryfast, a
// 3 s stall timeout.
func DefaultVideoConfig() VideoConfig {
	return VideoConfig{Width: 1280, Height: 720, FPS: 15, Bitrate: 1_500_000, Preset: "veryfast",
		StallTimeout: 3 * time.Second, Focus: mixer.DefaultFocusConfig()}
}

// Validate reports the first setting that cannot work.
func (c VideoConfig) Validate() error {
	if err := validateVideo("video", VideoSettings{Width: c.Width, Height: c.Height, FPS: c.FPS, Bitrate: c.Bitrate}); err != nil {
		return err
	}
	if c.StallTimeout < 0 {
		return fmt.Errorf("video.stall_timeout %v negative: %w", c.StallTimeout, ErrInvalidArgument)
	}
	if err := c.Focus.Validate(); err != nil {
		return fmt.Errorf("video.focus: %w: %w", err, ErrInvalidArgument)
	}
	enc := codec.DefaultH264EncoderConfig()
	enc.Preset = c.Preset
	if err := enc.Validate(); err != nil {
		return fmt.Errorf("video.preset: %w: %w", err, ErrInvalidArgument)
	}
	return nil
}

// VideoSettings configures a room's composite video. Zero fields take the
// server defaults.
type VideoSettings struct {
	Width, Height, FPS int
	Bitrate            int
	Layout             mixer.Layout
}

// VideoStats reports a room's composite video.
type VideoStats struct {
	Frames    uint64 // composite frames encoded
	Keyframes uint64
	// ComposeAvg and EncodeAvg are the mean wall time per composite frame.
	ComposeAvg, EncodeAvg time.Duration
}

func validateVideo(field string, v VideoSettings) error {
	switch {
	case v.Width < 16 || v.Width > 4096 || v.Width%2 != 0:
		return fmt.Errorf("%s.width %d must be even and in 16..4096: %w", field, v.Width, ErrInvalidArgument)
	case v.Height < 16 || v.Height > 2304 || v.Height%2 != 0:
		return fmt.Errorf("%s.height %d must be even and in 16..2304: %w", field, v.Height, ErrInvalidArgument)
	case v.FPS < 1 || v.FPS > 60:
		return fmt.Errorf("%s.fps %d out of 1..60: %w", field, v.FPS, ErrInvalidArgument)
	case v.Bitrate < 50_000 || v.Bitrate > 20_000_000:
		return fmt.Errorf("%s.bitrate %d out of 50000..20000000: %w", field, v.Bitrate, ErrInvalidArgument)
	}
	if err := v.Layout.Validate(); err != nil {
		return fmt.Errorf("%s.layout: %v: %w", field, err, ErrInvalidArgument)
	}
	return nil
}

// videoEndpoint is the video part of a participant's connection.
type videoEndpoint interface {
	HasVideo() bool
	SendVideo(au []byte, ts90k uint32, keyframe bool)
	RequestKeyframe()
}

// videoIn is one participant's decoded video. The endpoint's receive
// goroutine decodes into back and swaps it with ready; the room's video
// goroutine swaps ready with front. Three frames, so neither side ever
// waits for the other to finish with a picture.
type videoIn struct {
	decMu  sync.Mutex // guards dec, back and closed
	dec    codec.VideoDecoder
	codec  string
	back   *media.VideoFrame
	closed bool

	mu      sync.Mutex
	ready   *media.VideoFrame
	readyAt time.Time
	fresh   bool

	// video-goroutine-owned
	front   *media.VideoFrame
	frontAt time.Time
	has     bool

	frames, decodeErrors atomic.Uint64
}

func (v *videoIn) init() {
	v.back, v.ready, v.front = &media.VideoFrame{}, &media.VideoFrame{}, &media.VideoFrame{}
}

// decode runs on the endpoint's video goroutine. It returns false when the
// stream needs a keyframe.
func (v *videoIn) decode(au []byte, codecName string, now time.Time) bool {
	v.decMu.Lock()
	defer v.decMu.Unlock()
	if v.closed {
		return true
	}
	if v.dec == nil || v.codec != codecName {
		if v.dec != nil {
			_ = v.dec.Close()
			v.dec = nil
		}
		d, err := codec.NewVideoDecoder(codecName)
		if err != nil {
			v.decodeErrors.Add(1)
			return true
		}
		v.dec, v.codec = d, codecName
	}
	ok, err := v.dec.Decode(au, v.back)
	if err != nil {
		v.decodeErrors.Add(1)
		return false
	}
	if !ok {
		return true
	}
	v.frames.Add(1)
	v.mu.Lock()
	v.back, v.ready = v.ready, v.back
	v.readyAt, v.fresh = now, true
	v.mu.Unlock()
	return true
}

// take returns the latest picture, or nil before the first one, with its
// PTS set to its arrival on the room clock. Only the video goroutine calls it.
func (v *videoIn) take(clockAt func(time.Time) time.Duration) *media.VideoFrame {
	v.mu.Lock()
	if v.fresh {
		v.front, v.ready = v.ready, v.front
		v.frontAt, v.fresh, v.has = v.readyAt, false, true
	}
	v.mu.Unlock()
	if !v.has {
		return nil
	}
	v.front.PTS = clockAt(v.frontAt)
	return v.front
}

func (v *videoIn) close() {
	v.decMu.Lock()
	defer v.decMu.Unlock()
	v.closed = true
	if v.dec != nil {
		_ = v.dec.Close()
		v.dec = nil
	}
}

// HandleVideo implements transport.VideoHandler: it decodes on the
// endpoint's goroutine, so a slow decoder only delays its own sender.
func (p *participant) HandleVideo(au []byte, codecName string, _ bool, _ uint32, now time.Time) {
	if !p.video.decode(au, codecName, now) && p.vep != nil {
		p.vep.RequestKeyframe()
	}
}

// HandleKeyframeRequest implements transport.VideoHandler: a receiver lost
// composite video; the room coalesces the requests.
func (p *participant) HandleKeyframeRequest() { p.room.videoKeyReq.Store(true) }

// clockAnchor ties the room clock to the wall clock: the audio tick at
// wall produces the frame at position clock.
type clockAnchor struct {
	wall  time.Time
	clock time.Duration
}

// clockAt is the room-clock position of wall time t.
func (r *room) clockAt(t time.Time) time.Duration {
	a := r.anchor.Load()
	if a == nil {
		return 0
	}
	return a.clock + t.Sub(a.wall)
}

// speakerPublishTicks spaces the active-speaker lists the audio tick hands
// the video goroutine (every 100 ms; the focus has its own hysteresis).
const speakerPublishTicks = 5

// publishSpeakers stores the active speakers, loudest first, for the video
// goroutine. It allocates only when the list changed.
func (r *room) publishSpeakers() {
	if r.tickN%speakerPublishTicks != 0 {
		return
	}
	r.activeScratch = r.activeScratch[:0]
	for _, p := range r.parts {
		if r.sel.IsActive(p.slot) {
			r.activeScratch = append(r.activeScratch, p)
		}
	}
	a := r.activeScratch
	for i := 1; i < len(a); i++ { // insertion sort: a handful of speakers
		for j := i; j > 0 && r.sel.Level(a[j].slot) > r.sel.Level(a[j-1].slot); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	if old := r.speakers.Load(); old != nil && len(*old) == len(a) {
		same := true
		for i, p := range a {
			if (*old)[i] != p.id {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	ids := make([]string, len(a))
	for i, p := range a {
		ids[i] = p.id
	}
	r.speakers.Store(&ids)
}

// publishParts hands the video goroutine the current participants. Called
// by the room goroutine whenever r.parts changes.
func (r *room) publishParts() {
	snap := append([]*participant(nil), r.parts...)
	r.vparts.Store(&snap)
}

// startVideo starts the video goroutine if it is not running. Room
// goroutine only.
func (r *room) startVideo() {
	if r.videoStop != nil {
		return
	}
	r.videoStop, r.videoDone = make(chan struct{}), make(chan struct{})
	go r.runVideo(r.videoStop, r.videoDone)
}

// stopVideo stops the video goroutine and waits for it. Room goroutine only.
func (r *room) stopVideo() {
	if r.videoStop == nil {
		return
	}
	close(r.videoStop)
	<-r.videoDone
	r.videoStop, r.videoDone = nil, nil
}

// keyframeInterval coalesces keyframe requests from receivers.
const keyframeInterval = time.Second

// videoPipe is the state of one running video goroutine: the canvas, the
// encoder (one rendition for now) and reused scratch.
type videoPipe struct {
	r        *room
	canvas   *media.VideoFrame
	enc      *codec.H264Encoder
	buf      []byte
	inputs   []mixer.VideoInput
	speakers []string
	focus    *mixer.FocusSelector
	lastKey  time.Time
	// receivers is how many participants took the last frame.
	receivers int
}

// runVideo composes, encodes once and sends the composite at the room's
// frame rate. Nothing is composed or encoded while no participant receives
// video, so audio-only rooms cost a timer wake-up per frame.
func (r *room) runVideo(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	vp := &videoPipe{r: r, inputs: make([]mixer.VideoInput, 0, 16), speakers: make([]string, 0, 17),
		focus: mixer.NewFocusSelector(r.cfg.Video.Focus)}
	defer func() {
		if vp.enc != nil {
			_ = vp.enc.Close()
		}
	}()
	period := time.Second / time.Duration(r.video.FPS)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := int64(1); ; n++ {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		vp.frame(time.Now())
		wait := time.Until(start.Add(time.Duration(n) * period))
		if wait < -5*period {
			// Far behind: skip frames rather than bursting them.
			start, n = time.Now(), 0
			wait = period
		}
		timer.Reset(max(wait, 0))
	}
}

// frame produces one composite frame.
func (vp *videoPipe) frame(now time.Time) {
	r := vp.r
	var parts []*participant
	if ps := r.vparts.Load(); ps != nil {
		parts = *ps
	}
	pos := r.clockAt(now)
	vp.inputs = vp.inputs[:0]
	receivers := 0
	for _, p := range parts {
		vp.inputs = append(vp.inputs, mixer.VideoInput{ParticipantID: p.id, DisplayName: p.name,
			Frame: p.video.take(r.clockAt)})
		if p.vep != nil && p.vep.HasVideo() {
			receivers++
		}
	}
	var active []string
	if s := r.speakers.Load(); s != nil {
		active = *s
	}
	vp.focus.Update(active, pos)
	vp.speakers = vp.focus.Speakers(vp.speakers[:0], active)
	// A new receiver needs a keyframe to start: give it one at once
	// rather than after its PLI and the coalescing interval.
	joined := receivers > vp.receivers
	vp.receivers = receivers
	if receivers == 0 {
		return
	}
	if vp.enc == nil && !vp.open() {
		return
	}
	t0 := time.Now()
	vp.canvas.PTS = pos
	if err := r.comp.Compose(vp.canvas, vp.inputs, vp.speakers); err != nil {
		return
	}
	t1 := time.Now()
	force := joined
	if r.videoKeyReq.Load() && (joined || now.Sub(vp.lastKey) >= keyframeInterval) {
		r.videoKeyReq.Store(false)
		force = true
	}
	n, key, err := vp.enc.Encode(vp.buf, vp.canvas, force)
	t2 := time.Now()
	if err != nil || n == 0 {
		return
	}
	if key {
		vp.lastKey = now
		r.vstats.keyframes.Add(1)
	}
	r.vstats.frames.Add(1)
	r.vstats.composeNs.Add(uint64(t1.Sub(t0)))
	r.vstats.encodeNs.Add(uint64(t2.Sub(t1)))
	// 90 kHz from the same origin as the audio's 48 kHz tick*960.
	ts := uint32(pos.Nanoseconds() * 9 / 100_000)
	for _, p := range parts {
		if p.vep != nil && p.vep.HasVideo() {
			p.vep.SendVideo(vp.buf[:n], ts, key)
		}
	}
}

// open allocates the canvas and encoder when the first receiver appears.
func (vp *videoPipe) open() bool {
	r := vp.r
	cfg := codec.DefaultH264EncoderConfig()
	cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate = r.video.Width, r.video.Height, r.video.FPS, r.video.Bitrate
	cfg.Preset = r.cfg.Video.Preset
	cfg.KeyframeInterval = 4 * r.video.FPS
	enc, err := codec.NewH264Encoder(cfg)
	if err != nil {
		return false
	}
	vp.enc = enc
	vp.canvas = media.NewVideoFrame(cfg.Width, cfg.Height)
	vp.buf = make([]byte, codec.MaxH264FrameBytes(cfg.Width, cfg.Height))
	return true
}

type videoCounters struct {
	frames, keyframes, composeNs, encodeNs atomic.Uint64
}

func (c *videoCounters) snapshot() VideoStats {
	s := VideoStats{Frames: c.frames.Load(), Keyframes: c.keyframes.Load()}
	if s.Frames > 0 {
		s.ComposeAvg = time.Duration(c.composeNs.Load() / s.Frames)
		s.EncodeAvg = time.Duration(c.encodeNs.Load() / s.Frames)
	}
	return s
}

// resolveVideo fills unset video settings from the server defaults and
// validates the result.
func resolveVideo(v *VideoSettings, def VideoConfig) (VideoSettings, error) {
	var s VideoSettings
	if v != nil {
		s = *v
	}
	if s.Width == 0 {
		s.Width = def.Width
	}
	if s.Height == 0 {
		s.Height = def.Height
	}
	if s.FPS == 0 {
		s.FPS = def.FPS
	}
	if s.Bitrate == 0 {
		s.Bitrate = def.Bitrate
	}
	if err := validateVideo("video", s); err != nil {
		return VideoSettings{}, err
	}
	s.Layout = s.Layout.Clone()
	return s, nil
}

// SetLayout changes a room's video layout from the next composite frame.
func (m *Manager) SetLayout(roomID string, l mixer.Layout) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("layout: %v: %w", err, ErrInvalidArgument)
	}
	r, err := m.room(roomID)
	if err != nil {
		return err
	}
	if err := r.comp.SetLayout(l); err != nil {
		return fmt.Errorf("layout: %v: %w", err, ErrInvalidArgument)
	}
	r.mu.Lock()
	r.video.Layout = l.Clone()
	r.mu.Unlock()
	return nil
}

// Layout types, re-exported so the API layer needs only this package.
type (
	Layout       = mixer.Layout
	LayoutRegion = mixer.Region
	LayoutKind   = mixer.LayoutKind
	FitMode      = mixer.FitMode
)

// Layout kinds and fit modes.
const (
	LayoutGrid    = mixer.LayoutGrid
	LayoutSpeaker = mixer.LayoutSpeaker
	LayoutPIP     = mixer.LayoutPIP
	LayoutCustom  = mixer.LayoutCustom
	FitLetterbox  = mixer.FitLetterbox
	FitCrop       = mixer.FitCrop
)

// ParseRegionBinding reads "speaker N" or a participant ID.
func ParseRegionBinding(s string) (participant string, speaker int) {
	return mixer.ParseRegionBinding(s)
}
