package conference

import (
	"testing"
	"time"
)

// rendEndpoint records which rendition each composite frame came from.
type rendEndpoint struct {
	vp   *videoPipe
	got  []int // rendition per frame sent
	keys []bool
}

func (e *rendEndpoint) HasVideo() bool { return true }
func (e *rendEndpoint) SendVideo(au []byte, _ uint32, key bool) {
	idx := -1
	for i := range e.vp.rends {
		if b := e.vp.rends[i].buf; len(b) > 0 && &b[0] == &au[0] {
			idx = i
		}
	}
	e.got, e.keys = append(e.got, idx), append(e.keys, key)
}
func (e *rendEndpoint) RequestKeyframe() {}

func TestPickRendition(t *testing.T) {
	rs := []rendition{{cfg: Rendition{1280, 720, 1_500_000}}, {cfg: Rendition{640, 360, 500_000}}, {cfg: Rendition{320, 180, 150_000}}}
	tests := []struct {
		name string
		cur  int
		est  uint64
		have bool
		want int
	}{
		{"no estimate: top", -1, 0, false, 0},
		{"plenty", 0, 5_000_000, true, 0},
		{"300k from top", 0, 300_000, true, 2},
		{"exactly 360p stays", 1, 500_000, true, 1},
		{"up to 360p needs headroom", 2, 560_000, true, 2},
		{"up to 360p with headroom", 2, 580_000, true, 1},
		{"below the ladder", 2, 100_000, true, -1},
		{"back on needs headroom", -1, 160_000, true, -1},
		{"back on", -1, 180_000, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickRendition(rs, tc.cur, tc.est, tc.have); got != tc.want {
				t.Fatalf("pickRendition(cur %d, %d) = %d, want %d", tc.cur, tc.est, got, tc.want)
			}
		})
	}
}

// TestVideoPipeRenditions drives the pipe with three receivers: one
// without an estimate (top), one on the middle rendition, one below the
// ladder. It checks that only renditions in use are encoded, that a
// receiver moves up only at the new rendition's keyframe, and that keyframe
// requests are coalesced per rendition.
func TestVideoPipeRenditions(t *testing.T) {
	if got := deriveRenditions(320, 180, 300_000); len(got) != 3 || got[1] != (Rendition{160, 90, 100_000}) ||
		got[2] != (Rendition{80, 44, 50_000}) {
		t.Fatalf("deriveRenditions = %v", got)
	}
	vp, parts, _ := newVideoBench(t, 3, 320, 180)
	vp.r.video.Renditions = deriveRenditions(320, 180, 300_000)
	vp.close()
	vp = newVideoPipe(vp.r)
	t.Cleanup(vp.close)
	eps := make([]*rendEndpoint, 3)
	for i, p := range parts {
		eps[i] = &rendEndpoint{vp: vp}
		p.vep = eps[i]
	}
	now := time.Now()
	parts[1].HandleBandwidthEstimate(120_000, now) // fits 160x90
	parts[2].HandleBandwidthEstimate(30_000, now)  // below 80x44
	step := func(n int) {
		for i := 0; i < n; i++ {
			now = now.Add(40 * time.Millisecond)
			refresh(parts, now)
			parts[1].HandleBandwidthEstimate(parts[1].remb.Load(), now)
			parts[2].HandleBandwidthEstimate(parts[2].remb.Load(), now)
			vp.frame(now)
		}
	}
	step(5)
	if s := vp.r.vstats.snapshot(); s.RenditionFrames != [maxRenditions]uint64{5, 5, 0, 0} {
		t.Fatalf("frames per rendition %v, want [5 5 0 0]", s.RenditionFrames)
	}
	if eps[0].got[0] != 0 || !eps[0].keys[0] || eps[1].got[0] != 1 || !eps[1].keys[0] || len(eps[2].got) != 0 {
		t.Fatalf("first frames: p0 %v %v, p1 %v %v, p2 %v", eps[0].got, eps[0].keys, eps[1].got, eps[1].keys, eps[2].got)
	}

	// p1's bandwidth grows: it keeps 160x90 until the top rendition's
	// next keyframe, which the 1 s coalescing delays, then switches with it.
	parts[1].remb.Store(2_000_000)
	// Two PLIs from p0 within a second: one keyframe, shared with p1's
	// switch.
	parts[0].HandleKeyframeRequest()
	step(10)
	parts[0].HandleKeyframeRequest()
	step(20)
	e := eps[1]
	sw := -1
	for i := 1; i < len(e.got); i++ {
		if e.got[i] != e.got[i-1] {
			if sw >= 0 || e.got[i] != 0 || !e.keys[i] {
				t.Fatalf("p1 renditions %v keyframes %v: want one switch 1 -> 0 at a keyframe", e.got, e.keys)
			}
			sw = i
		}
	}
	if sw < 0 {
		t.Fatalf("p1 never switched: %v", e.got)
	}
	// The switch waits for the coalescing second after the frame-1 keyframe.
	if sw < 20 || sw > 27 {
		t.Errorf("p1 switched at frame %d, want about 25 (1 s after the first keyframe)", sw)
	}
	keys := 0
	for _, k := range eps[0].keys {
		if k {
			keys++
		}
	}
	if keys != 2 {
		t.Errorf("p0 got %d keyframes, want 2 (the first, one for both PLIs and the switch)", keys)
	}
	s := vp.r.vstats.snapshot()
	if s.RenditionFrames[1] != uint64(sw+1) {
		t.Errorf("160x90 encoded %d frames; it is unused after p1's switch at frame %d", s.RenditionFrames[1], sw)
	}
	if len(eps[2].got) != 0 {
		t.Errorf("p2, below the ladder, got %d frames", len(eps[2].got))
	}

	// p2's bandwidth returns: it gets the smallest rendition, starting at a
	// keyframe.
	parts[2].remb.Store(60_000)
	step(30)
	if len(eps[2].got) == 0 || eps[2].got[0] != 2 || !eps[2].keys[0] {
		t.Fatalf("p2 after its bandwidth returned: renditions %v keyframes %v", eps[2].got, eps[2].keys)
	}
	// Two renditions in use, one scaled from the canvas: still no
	// allocation per frame (the recording endpoints' slices have room).
	for _, e := range eps {
		e.got, e.keys = make([]int, 0, 64), make([]bool, 0, 64)
	}
	if allocs := testing.AllocsPerRun(20, func() { step(1) }); allocs != 0 {
		t.Errorf("%.1f allocations per frame with renditions, want 0", allocs)
	}
}

func TestResolveVideoRenditions(t *testing.T) {
	def := DefaultVideoConfig()
	tests := []struct {
		name    string
		in      *VideoSettings
		want    []Rendition
		wantErr bool
	}{
		{"defaults take the server ladder", nil, def.Renditions, false},
		{"own canvas derives", &VideoSettings{Width: 640, Height: 360, Bitrate: 900_000},
			[]Rendition{{640, 360, 900_000}, {320, 180, 300_000}, {160, 90, 90_000}}, false},
		{"explicit", &VideoSettings{Renditions: []Rendition{{960, 540, 1_000_000}, {480, 270, 300_000}}},
			[]Rendition{{960, 540, 1_000_000}, {480, 270, 300_000}}, false},
		{"canvas must match the first", &VideoSettings{Width: 1280, Renditions: []Rendition{{960, 540, 1_000_000}}}, nil, true},
		{"growing ladder", &VideoSettings{Renditions: []Rendition{{320, 180, 150_000}, {640, 360, 500_000}}}, nil, true},
		{"odd size", &VideoSettings{Renditions: []Rendition{{640, 360, 500_000}, {321, 180, 150_000}}}, nil, true},
		{"too many", &VideoSettings{Renditions: make([]Rendition, 5)}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveVideo(tc.in, def)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(got.Renditions) != len(tc.want) {
				t.Fatalf("renditions %v, want %v", got.Renditions, tc.want)
			}
			for i := range tc.want {
				if got.Renditions[i] != tc.want[i] {
					t.Fatalf("renditions %v, want %v", got.Renditions, tc.want)
				}
			}
			if top := got.Renditions[0]; got.Width != top.Width || got.Height != top.Height || got.Bitrate != top.Bitrate {
				t.Fatalf("canvas %dx%d @ %d differs from the first rendition %v", got.Width, got.Height, got.Bitrate, top)
			}
		})
	}
	bad := DefaultVideoConfig()
	bad.Renditions[0].Bitrate = 2_000_000
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepted a ladder whose first rendition is not the canvas")
	}
	if err := DefaultVideoConfig().Validate(); err != nil {
		t.Errorf("default video config: %v", err)
	}
}

// TestRenditionHoldAndProbe: a dip in the estimate does not cost the
// picture, a sustained one does; an estimate limited only by what we send
// gets a probe one rendition up.
func TestRenditionHoldAndProbe(t *testing.T) {
	rs := []rendition{{cfg: Rendition{1280, 720, 1_500_000}}, {cfg: Rendition{640, 360, 500_000}}, {cfg: Rendition{320, 180, 150_000}}}
	t0 := time.Unix(1_700_000_000, 0)
	step := func(rx *rxState, est uint64, at time.Duration) int {
		rx.target = rx.choose(rs, pickRendition(rs, rx.cur, est, true), est, true, t0.Add(at))
		rx.cur = rx.target // the switch lands at once here
		return rx.cur
	}

	rx := &rxState{cur: 0}
	if got := step(rx, 300_000, 0); got != 0 {
		t.Fatalf("a fresh dip moved the receiver to %d", got)
	}
	if got := step(rx, 2_000_000, time.Second); got != 0 {
		t.Fatalf("after the dip: %d", got)
	}
	step(rx, 300_000, 2*time.Second)
	if got := step(rx, 300_000, 2*time.Second+downgradeHold); got != 2 {
		t.Fatalf("a sustained low estimate left the receiver on %d, want 2", got)
	}

	// On 180p at 150 kb/s the browser reports 1.5x that: limited by us.
	at := 4 * time.Second
	step(rx, 225_000, at)
	if got := step(rx, 225_000, at+probeAfter-time.Second); got != 2 {
		t.Fatalf("probed too early: %d", got)
	}
	if got := step(rx, 225_000, at+probeAfter); got != 1 {
		t.Fatalf("no probe after %v: rendition %d, want 1", probeAfter, got)
	}
	// The link cannot carry 360p: the estimate stays low and it goes back.
	at += probeAfter
	step(rx, 200_000, at+time.Millisecond)
	if got := step(rx, 200_000, at+time.Millisecond+downgradeHold); got != 2 {
		t.Fatalf("after a failed probe: rendition %d, want 2", got)
	}
}
