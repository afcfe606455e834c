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
	// Renditions is the default ladder, largest first; the first must be
	// Width x Height at Bitrate. Empty derives half and quarter size at a
	// third and a tenth of the bitrate.
	Renditions []Rendition `yaml:"renditions"`
	// Focus tunes which active speaker the speaker and PIP layouts show.
	Focus mixer.FocusConfig `yaml:"focus"`
	// IgnoreBandwidth gives every receiver the top rendition whatever its
	// REMB says. For deployments whose receivers' estimates are not to be
	// trusted (browsers on CPU-starved hosts estimate from queueing delay).
	IgnoreBandwidth bool `yaml:"ignore_bandwidth"`
}

// Rendition is one encoded size of a room's composite.
type Rendition struct {
	Width   int `yaml:"width"`
	Height  int `yaml:"height"`
	Bitrate int `yaml:"bitrate"` // bits/s
}

// maxRenditions bounds a room's rendition ladder.
const maxRenditions = 4

// DefaultVideoConfig is 1280x720 at 15 fps and 1.5 Mb/s, x264 veryfast, a
// 3 s stall timeout, renditions 1280x720 @ 1.5 Mb/s, 640x360 @ 500 kb/s and
// 320x180 @ 150 kb/s.
func DefaultVideoConfig() VideoConfig {
	return VideoConfig{Width: 1280, Height: 720, FPS: 15, Bitrate: 1_500_000, Preset: "veryfast",
		StallTimeout: 3 * time.Second, Focus: mixer.DefaultFocusConfig(),
		Renditions: []Rendition{{1280, 720, 1_500_000}, {640, 360, 500_000}, {320, 180, 150_000}}}
}

// deriveRenditions is the ladder for a canvas without explicit renditions:
// the canvas, half size at a third of its bitrate and quarter size at a
// tenth, leaving out sizes below 16 pixels.
func deriveRenditions(w, h, bitrate int) []Rendition {
	out := []Rendition{{w, h, bitrate}}
	for _, d := range [...]struct{ div, rate int }{{2, 3}, {4, 10}} {
		rw, rh := (w/d.div)&^1, (h/d.div)&^1
		if rw < 16 || rh < 16 {
			break
		}
		out = append(out, Rendition{rw, rh, max(bitrate/d.rate, 50_000)})
	}
	return out
}

// validateRenditions checks a ladder: 1..maxRenditions sizes, largest
// first, each strictly smaller than the one before.
func validateRenditions(field string, rs []Rendition) error {
	if len(rs) == 0 || len(rs) > maxRenditions {
		return fmt.Errorf("%s: %d renditions, want 1..%d: %w", field, len(rs), maxRenditions, ErrInvalidArgument)
	}
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := validateVideo(f, VideoSettings{Width: r.Width, Height: r.Height, FPS: 1, Bitrate: r.Bitrate}); err != nil {
			return err
		}
		if i > 0 && (r.Width > rs[i-1].Width || r.Height > rs[i-1].Height || r.Width*r.Height >= rs[i-1].Width*rs[i-1].Height) {
			return fmt.Errorf("%s %dx%d not smaller than the rendition before: %w", f, r.Width, r.Height, ErrInvalidArgument)
		}
	}
	return nil
}

// Validate reports the first setting that cannot work.
func (c VideoConfig) Validate() error {
	if err := validateVideo("video", VideoSettings{Width: c.Width, Height: c.Height, FPS: c.FPS, Bitrate: c.Bitrate}); err != nil {
		return err
	}
	if len(c.Renditions) > 0 {
		if err := validateRenditions("video.renditions", c.Renditions); err != nil {
			return err
		}
		if top := c.Renditions[0]; top.Width != c.Width || top.Height != c.Height || top.Bitrate != c.Bitrate {
			return fmt.Errorf("video.renditions[0] %dx%d @ %d differs from video width, height and bitrate: %w",
				top.Width, top.Height, top.Bitrate, ErrInvalidArgument)
		}
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
	// Renditions are the sizes encoded, largest first; the first is the
	// canvas (Width, Height and Bitrate, when set, must match it). Empty
	// takes the server's ladder when the canvas is the default, else
	// derives half and quarter size from the canvas.
	Renditions []Rendition
}

// VideoStats reports a room's composite video.
type VideoStats struct {
	Frames    uint64 // composite frames encoded
	Keyframes uint64 // keyframes over all renditions
	// RenditionFrames counts the frames encoded per rendition, largest first.
	RenditionFrames [maxRenditions]uint64
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
	decMu  sync.Mutex // guards dec, back, full, scaler and closed
	dec    codec.VideoDecoder
	codec  string
	back   *media.VideoFrame
	closed bool

	// Pictures larger than the canvas are scaled down on arrival, on the
	// sender's goroutine, so the room's compositor never touches more
	// pixels than the output has.
	maxW, maxH int
	full       *media.VideoFrame // decoder output before downscaling
	scaler     codec.Scaler
	scaleFrom  [2]int

	mu      sync.Mutex
	ready   *media.VideoFrame
	readyAt time.Time
	fresh   bool

	// video-goroutine-owned
	front   *media.VideoFrame
	frontAt time.Time
	has     bool

	frames, decodeErrors atomic.Uint64
	// hidden is set by the video goroutine when no tile shows this
	// participant; skipped remembers that decoding must restart at a keyframe.
	hidden, skipped atomic.Bool
}

func (v *videoIn) init(maxW, maxH int) {
	v.back, v.ready, v.front = &media.VideoFrame{}, &media.VideoFrame{}, &media.VideoFrame{}
	v.full = &media.VideoFrame{}
	v.maxW, v.maxH = maxW, maxH
}

// fitWithin is the largest even size with w:h's aspect inside maxW x maxH.
func fitWithin(w, h, maxW, maxH int) (int, int) {
	if w*maxH > h*maxW {
		return maxW &^ 1, max(2, (h*maxW/w)&^1)
	}
	return max(2, (w*maxH/h)&^1), maxH &^ 1
}

// shrink leaves in v.back the picture just decoded into v.full, scaled down
// to fit the canvas when it is larger. It allocates only when the source
// size changes.
func (v *videoIn) shrink() error {
	src := v.full
	if v.maxW <= 0 || (src.Width <= v.maxW && src.Height <= v.maxH) {
		v.back, v.full = v.full, v.back
		return nil
	}
	w, h := fitWithin(src.Width, src.Height, v.maxW, v.maxH)
	if v.scaler == nil || v.scaleFrom != [2]int{src.Width, src.Height} || v.back.Width != w || v.back.Height != h {
		if v.scaler != nil {
			_ = v.scaler.Close()
			v.scaler = nil
		}
		sc, err := codec.NewScaler(src.Width, src.Height, w, h)
		if err != nil {
			return err
		}
		v.scaler, v.scaleFrom = sc, [2]int{src.Width, src.Height}
		v.back = media.NewVideoFrame(w, h)
	}
	return v.scaler.Scale(v.back, src)
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
	ok, err := v.dec.Decode(au, v.full)
	if err != nil {
		v.decodeErrors.Add(1)
		return false
	}
	if !ok {
		return true
	}
	if err := v.shrink(); err != nil {
		v.decodeErrors.Add(1)
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
	if v.scaler != nil {
		_ = v.scaler.Close()
		v.scaler = nil
	}
}

// markVisible tells each participant whether the layout shows them, so
// the video of hidden ones is not decoded at all.
func markVisible(parts []*participant, tiles []mixer.Tile) {
	for _, p := range parts {
		shown := false
		for _, t := range tiles {
			if t.ParticipantID == p.id {
				shown = true
				break
			}
		}
		p.video.hidden.Store(!shown)
	}
}

// HandleVideo implements transport.VideoHandler: it decodes on the
// endpoint's goroutine, so a slow decoder only delays its own sender.
// Video the layout does not show is dropped undecoded; when it shows again,
// decoding resumes at a keyframe.
func (p *participant) HandleVideo(au []byte, codecName string, keyframe bool, _ uint32, now time.Time) {
	v := &p.video
	if v.hidden.Load() {
		v.skipped.Store(true)
		return
	}
	if v.skipped.Load() {
		if !keyframe {
			if p.vep != nil {
				p.vep.RequestKeyframe() // rate-limited by the endpoint
			}
			return
		}
		v.skipped.Store(false)
	}
	if !v.decode(au, codecName, now) && p.vep != nil {
		p.vep.RequestKeyframe()
	}
}

// HandleKeyframeRequest implements transport.VideoHandler: a receiver lost
// composite video; the video goroutine asks its rendition for a keyframe,
// coalesced per rendition.
func (p *participant) HandleKeyframeRequest() { p.keyReq.Store(true) }

// HandleBandwidthEstimate implements transport.BandwidthHandler: the
// receiver's REMB picks its rendition.
func (p *participant) HandleBandwidthEstimate(bps uint64, now time.Time) {
	p.remb.Store(bps)
	p.rembAt.Store(now.UnixNano())
}

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

// keyframeInterval coalesces keyframe requests per rendition.
const keyframeInterval = time.Second

// Rendition bandwidth choice: an estimate older than rembTimeout counts as
// none (the top rendition); moving up, or back on from audio only, needs
// upHeadroom more than the rendition's bitrate, so an estimate hovering at a
// boundary does not flip the receiver back and forth.
const (
	rembTimeout       = 5 * time.Second
	upHeadroomPercent = 115
	// downgradeHold: an estimate must stay too low this long before the
	// receiver moves down (or to audio only). Browsers' receive-side
	// estimates dip on a delay spike; one dip must not cost the picture.
	downgradeHold = 1500 * time.Millisecond
	// probeAfter: a receiver whose estimate sits near its cap of 1.5x what
	// it receives (so it is limited by what we send, not by the network)
	// is tried one rendition up after this long. If the link cannot carry
	// it, the estimate falls and it moves back down.
	probeAfter       = 8 * time.Second
	probeEstimatePct = 130
)

// rxState is the video goroutine's view of one receiver.
type rxState struct {
	seen bool
	// cur is the rendition the receiver gets, -1 for none; target is the
	// one it should get. It moves to target at target's next keyframe.
	cur, target int
	// downSince and calmSince time the hold before a downgrade and the
	// wait before probing up; zero when not running.
	downSince, calmSince time.Time
}

// choose applies the hold and the probe to pickRendition's answer.
func (rx *rxState) choose(rs []rendition, want int, est uint64, have bool, now time.Time) int {
	worse := rx.cur >= 0 && (want < 0 || want > rx.cur)
	if !worse {
		rx.downSince = time.Time{}
	} else {
		if rx.downSince.IsZero() {
			rx.downSince = now
		}
		if now.Sub(rx.downSince) < downgradeHold {
			want = rx.cur
		}
	}
	if have && rx.cur > 0 && want == rx.cur && est >= uint64(rs[rx.cur].cfg.Bitrate)*probeEstimatePct/100 {
		if rx.calmSince.IsZero() {
			rx.calmSince = now
		}
		if now.Sub(rx.calmSince) >= probeAfter {
			rx.calmSince = time.Time{}
			return rx.cur - 1
		}
	} else {
		rx.calmSince = time.Time{}
	}
	return want
}

// rendition is one encoded size of the composite.
type rendition struct {
	cfg    Rendition
	frame  *media.VideoFrame // scaled canvas; the canvas itself for the top
	scaler *mixer.FrameScaler
	enc    *codec.H264Encoder
	buf    []byte
	// per frame
	used, urgent bool
	n            int
	key          bool
	// across frames
	active   bool // encoded on the previous frame
	keyAsked bool // a receiver asked for a keyframe (coalesced)
	lastKey  time.Time
}

// videoPipe is the state of one running video goroutine: the canvas, one
// encoder per rendition in use and reused scratch.
type videoPipe struct {
	r        *room
	canvas   *media.VideoFrame
	rends    []rendition
	inputs   []mixer.VideoInput
	speakers []string
	focus    *mixer.FocusSelector
}

func newVideoPipe(r *room) *videoPipe {
	vp := &videoPipe{r: r, inputs: make([]mixer.VideoInput, 0, 16), speakers: make([]string, 0, 17),
		focus: mixer.NewFocusSelector(r.cfg.Video.Focus)}
	rs := r.video.Renditions
	if len(rs) == 0 {
		rs = []Rendition{{Width: r.video.Width, Height: r.video.Height, Bitrate: r.video.Bitrate}}
	}
	vp.rends = make([]rendition, len(rs))
	for i, c := range rs {
		vp.rends[i].cfg = c
	}
	return vp
}

func (vp *videoPipe) close() {
	for i := range vp.rends {
		if e := vp.rends[i].enc; e != nil {
			_ = e.Close()
			vp.rends[i].enc = nil
		}
	}
}

// runVideo composes, encodes once per rendition in use and sends the
// composite at the room's frame rate. Nothing is composed or encoded while
// no participant receives video, so audio-only rooms cost a timer wake-up
// per frame.
func (r *room) runVideo(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	vp := newVideoPipe(r)
	defer vp.close()
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

// pickRendition is the largest rendition estimate est (bits/s) carries,
// -1 for none; cur is where the receiver is now.
func pickRendition(rs []rendition, cur int, est uint64, have bool) int {
	if !have {
		return 0
	}
	for i := range rs {
		need := uint64(rs[i].cfg.Bitrate)
		if cur < 0 || i < cur {
			need = need * upHeadroomPercent / 100
		}
		if est >= need {
			return i
		}
	}
	return -1
}

// estimate is the receiver's last bandwidth estimate, if recent.
func (p *participant) estimate(now time.Time) (uint64, bool) {
	at := p.rembAt.Load()
	if at == 0 || now.Sub(time.Unix(0, at)) > rembTimeout {
		return 0, false
	}
	return p.remb.Load(), true
}

// frame produces one composite frame and its renditions.
func (vp *videoPipe) frame(now time.Time) {
	r := vp.r
	var parts []*participant
	if ps := r.vparts.Load(); ps != nil {
		parts = *ps
	}
	pos := r.clockAt(now)
	vp.inputs = vp.inputs[:0]
	for _, p := range parts {
		vp.inputs = append(vp.inputs, mixer.VideoInput{ParticipantID: p.id, DisplayName: p.name,
			Frame: p.video.take(r.clockAt)})
	}
	var active []string
	if s := r.speakers.Load(); s != nil {
		active = *s
	}
	vp.focus.Update(active, pos)
	vp.speakers = vp.focus.Speakers(vp.speakers[:0], active)

	rs := vp.rends
	for i := range rs {
		rs[i].used, rs[i].urgent, rs[i].n, rs[i].key = false, false, 0, false
	}
	anyUsed := false
	for _, p := range parts {
		if p.vep == nil || !p.vep.HasVideo() {
			continue
		}
		rx := &p.rx
		fresh := !rx.seen
		if fresh {
			rx.seen, rx.cur = true, -1
		}
		est, have := p.estimate(now)
		if r.cfg.Video.IgnoreBandwidth {
			have = false
		}
		rx.target = rx.choose(rs, pickRendition(rs, rx.cur, est, have), est, have, now)
		if rx.target < 0 {
			rx.cur = -1 // audio only from now on
		}
		keyReq := p.keyReq.Swap(false)
		if rx.cur >= 0 {
			rs[rx.cur].used = true
			if keyReq {
				rs[rx.cur].keyAsked = true
			}
		}
		if t := rx.target; t >= 0 && t != rx.cur {
			rs[t].used = true
			// A new receiver needs a keyframe to start: give it one at
			// once rather than after the coalescing interval.
			if fresh {
				rs[t].urgent = true
			} else {
				rs[t].keyAsked = true
			}
		}
		anyUsed = anyUsed || rx.target >= 0 || rx.cur >= 0
	}
	// A video recording takes the top rendition, watched or not, and a
	// new one starts at a keyframe.
	if r.recVideo.Load() {
		rs[0].used, anyUsed = true, true
		if r.recKey.Swap(false) {
			rs[0].urgent = true
		}
	}
	if !anyUsed {
		for i := range rs {
			rs[i].active = false
		}
		return
	}
	if vp.canvas == nil {
		vp.canvas = media.NewVideoFrame(rs[0].cfg.Width, rs[0].cfg.Height)
		rs[0].frame = vp.canvas
	}
	t0 := time.Now()
	vp.canvas.PTS = pos
	if err := r.comp.Compose(vp.canvas, vp.inputs, vp.speakers); err != nil {
		return
	}
	markVisible(parts, r.comp.Tiles())
	t1 := time.Now()
	// Each smaller rendition is scaled from the next larger one made this
	// frame: 2:1 steps take the scaler's fast path.
	src := vp.canvas
	for i := range rs {
		rd := &rs[i]
		if !rd.used {
			rd.active, rd.keyAsked = false, false
			continue
		}
		if rd.enc == nil && !vp.open(rd) {
			continue
		}
		if i > 0 {
			if err := rd.scaler.Scale(rd.frame, src); err != nil {
				continue
			}
		}
		src = rd.frame
		force := !rd.active || rd.urgent || (rd.keyAsked && now.Sub(rd.lastKey) >= keyframeInterval)
		n, key, err := rd.enc.Encode(rd.buf, rd.frame, force)
		if err != nil || n == 0 {
			rd.active = false
			continue
		}
		rd.active, rd.n, rd.key = true, n, key
		if key {
			rd.lastKey, rd.keyAsked = now, false
			r.vstats.keyframes.Add(1)
		}
		r.vstats.rendFrames[min(i, len(r.vstats.rendFrames)-1)].Add(1)
	}
	t2 := time.Now()
	r.vstats.frames.Add(1)
	r.vstats.composeNs.Add(uint64(t1.Sub(t0)))
	r.vstats.encodeNs.Add(uint64(t2.Sub(t1)))
	// 90 kHz from the same origin as the audio's 48 kHz tick*960, whatever
	// the rendition: a receiver's timestamps stay continuous across
	// switches.
	ts := uint32(pos.Nanoseconds() * 9 / 100_000)
	if rd := &rs[0]; rd.n > 0 && r.recVideo.Load() {
		if rp := r.recs.Load(); rp != nil {
			for _, rec := range *rp {
				rec.PushVideo(rd.buf[:rd.n], pos, now, rd.key)
			}
		}
	}
	for _, p := range parts {
		if p.vep == nil || !p.vep.HasVideo() {
			continue
		}
		rx := &p.rx
		if t := rx.target; t >= 0 && t != rx.cur && rs[t].n > 0 && rs[t].key {
			rx.cur = t // switch at the new rendition's keyframe: no freeze
			p.vrend.Store(int32(t))
		}
		if rx.cur < 0 {
			p.vrend.Store(-1)
			continue
		}
		if rd := &rs[rx.cur]; rd.n > 0 {
			p.vep.SendVideo(rd.buf[:rd.n], ts, rd.key)
		}
	}
}

// open allocates a rendition's encoder (and its frame and scaler) when a
// receiver first needs it.
func (vp *videoPipe) open(rd *rendition) bool {
	r := vp.r
	cfg := codec.DefaultH264EncoderConfig()
	cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate = rd.cfg.Width, rd.cfg.Height, r.video.FPS, rd.cfg.Bitrate
	cfg.Preset = r.cfg.Video.Preset
	cfg.KeyframeInterval = 4 * r.video.FPS
	enc, err := codec.NewH264Encoder(cfg)
	if err != nil {
		return false
	}
	rd.enc = enc
	if rd.frame == nil {
		rd.frame = media.NewVideoFrame(cfg.Width, cfg.Height)
		rd.scaler = mixer.NewFrameScaler(mixer.FitLetterbox, [3]byte{16, 128, 128})
	}
	rd.buf = make([]byte, codec.MaxH264FrameBytes(cfg.Width, cfg.Height))
	return true
}

type videoCounters struct {
	frames, keyframes, composeNs, encodeNs atomic.Uint64
	rendFrames                             [maxRenditions]atomic.Uint64
}

func (c *videoCounters) snapshot() VideoStats {
	s := VideoStats{Frames: c.frames.Load(), Keyframes: c.keyframes.Load()}
	for i := range c.rendFrames {
		s.RenditionFrames[i] = c.rendFrames[i].Load()
	}
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
	s.Renditions = append([]Rendition(nil), s.Renditions...)
	if len(s.Renditions) > 0 {
		if err := validateRenditions("video.renditions", s.Renditions); err != nil {
			return VideoSettings{}, err
		}
		top := s.Renditions[0]
		if (s.Width != 0 && s.Width != top.Width) || (s.Height != 0 && s.Height != top.Height) ||
			(s.Bitrate != 0 && s.Bitrate != top.Bitrate) {
			return VideoSettings{}, fmt.Errorf("video: width, height and bitrate differ from renditions[0]: %w", ErrInvalidArgument)
		}
		s.Width, s.Height, s.Bitrate = top.Width, top.Height, top.Bitrate
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
	if len(s.Renditions) == 0 {
		if s.Width == def.Width && s.Height == def.Height && s.Bitrate == def.Bitrate && len(def.Renditions) > 0 {
			s.Renditions = append(s.Renditions, def.Renditions...)
		} else {
			s.Renditions = deriveRenditions(s.Width, s.Height, s.Bitrate)
		}
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
