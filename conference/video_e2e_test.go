package conference_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
)

// colorSource is a flat-colour VideoSource whose colour the test changes.
type colorSource struct {
	w, h int
	yuv  atomic.Uint32
}

func newColorSource(w, h int, c [3]byte) *colorSource {
	s := &colorSource{w: w, h: h}
	s.set(c)
	return s
}

func (s *colorSource) set(c [3]byte) {
	s.yuv.Store(uint32(c[0])<<16 | uint32(c[1])<<8 | uint32(c[2]))
}
func (s *colorSource) Size() (int, int) { return s.w, s.h }
func (s *colorSource) Fill(f *media.VideoFrame) {
	v := s.yuv.Load()
	f.Fill(byte(v>>16), byte(v>>8), byte(v))
}

// BT.601 limited-range colours, far apart from each other and from the
// placeholder palette.
var (
	yuvRed     = [3]byte{81, 90, 240}
	yuvGreen   = [3]byte{145, 54, 34}
	yuvBlue    = [3]byte{41, 240, 110}
	yuvYellow  = [3]byte{210, 16, 146}
	yuvMagenta = [3]byte{106, 202, 222}
)

type videoPeer struct {
	id  string
	src *colorSource
	p   *client.Participant
}

func joinVideoPeer(t *testing.T, m *conference.Manager, room, id, codec string, c [3]byte, receive bool) *videoPeer {
	t.Helper()
	src := newColorSource(320, 180, c)
	cfg := client.DefaultConfig()
	cfg.Video = &client.VideoConfig{Source: src, Receive: receive, FPS: 15, Bitrate: 200_000, Codec: codec}
	return &videoPeer{id: id, src: src, p: connect(t, m, room, id, cfg)}
}

// sample averages a 6x6 block of f around (x, y) (even coordinates).
func sample(f *media.VideoFrame, x, y int) [3]byte {
	var sy, su, sv int
	for dy := -3; dy < 3; dy++ {
		for dx := -3; dx < 3; dx++ {
			px, py := x+dx, y+dy
			sy += int(f.Y[py*f.StrideY+px])
			su += int(f.U[(py/2)*f.StrideC+px/2])
			sv += int(f.V[(py/2)*f.StrideC+px/2])
		}
	}
	return [3]byte{byte(sy / 36), byte(su / 36), byte(sv / 36)}
}

func near(a, b [3]byte, tol int) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
			return false
		}
	}
	return true
}

// expectation is a colour at a point of the composite.
type expectation struct {
	what string
	x, y int
	c    [3]byte
}

// tileChecks computes where each participant's colour must be for layout
// l: the tile centre (placeholders: a point clear of the initials).
func tileChecks(l mixer.Layout, w, h int, ids, speakers []string, colors map[string][3]byte, placeholders map[string]bool) []expectation {
	var out []expectation
	for _, tile := range l.Place(nil, w, h, ids, speakers) {
		e := expectation{what: tile.ParticipantID, x: (tile.X + tile.W/2) &^ 1, y: (tile.Y + tile.H/2) &^ 1, c: colors[tile.ParticipantID]}
		if placeholders[tile.ParticipantID] {
			e.what += " (placeholder)"
			e.x, e.y = (tile.X+tile.W/10)&^1, (tile.Y+tile.H/10)&^1
			e.c = mixer.PlaceholderColor(tile.ParticipantID)
		}
		out = append(out, e)
	}
	return out
}

// waitComposite polls the receiver's latest decoded picture until every
// expectation holds, and fails with the last mismatch after timeout.
func waitComposite(t *testing.T, rx *client.Participant, want []expectation, timeout time.Duration) time.Duration {
	t.Helper()
	const tol = 14
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		f, _ := rx.LatestVideoFrame()
		if f != nil {
			last = ""
			for _, e := range want {
				if got := sample(f, e.x, e.y); !near(got, e.c, tol) {
					last = fmt.Sprintf("%s at (%d,%d): got YUV %v, want %v", e.what, e.x, e.y, got, e.c)
					break
				}
			}
			if last == "" {
				return time.Since(start)
			}
		} else {
			last = "no composite decoded yet"
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("composite after %v: %s (receiver %+v)", timeout, last, rx.VideoStats())
	return 0
}

// TestVideoCompositeEndToEnd joins four real pion participants, each
// sending its own flat colour (three in H.264, one in VP8), into one room. One of them decodes
// the composite and checks every tile's colour through grid, speaker and
// custom layouts, then a sender stops and turns into its placeholder while
// another sender's change of colour still comes through.
func TestVideoCompositeEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	cfg.Video.StallTimeout = 1500 * time.Millisecond
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	}()
	const w, h, fps = 640, 360, 15
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "v",
		Video: &conference.VideoSettings{Width: w, Height: h, FPS: fps, Bitrate: 800_000}}); err != nil {
		t.Fatal(err)
	}

	ids := []string{"ann", "bob", "cy", "dee"}
	colors := map[string][3]byte{"ann": yuvRed, "bob": yuvGreen, "cy": yuvBlue, "dee": yuvYellow}
	for _, id := range ids {
		for _, c := range []([3]byte){yuvRed, yuvGreen, yuvBlue, yuvYellow, yuvMagenta} {
			if near(mixer.PlaceholderColor(id), c, 30) {
				t.Fatalf("placeholder colour of %s is too close to a test colour", id)
			}
		}
	}
	peers := map[string]*videoPeer{}
	defer func() { // before the manager closes and goleak looks
		for _, p := range peers {
			_ = p.p.Close()
		}
	}()
	codecs := map[string]string{"ann": "h264", "bob": "h264", "cy": "vp8", "dee": "h264"}
	for i, id := range ids {
		peers[id] = joinVideoPeer(t, m, "v", id, codecs[id], colors[id], i == 0)
	}
	rx := peers["ann"].p

	grid := mixer.Layout{Kind: mixer.LayoutGrid}
	took := waitComposite(t, rx, tileChecks(grid, w, h, ids, nil, colors, nil), 15*time.Second)
	t.Logf("grid: every tile right %v after the last join", took)

	// Frame rate of the composite as received.
	before := rx.VideoStats().FramesDecoded
	time.Sleep(2 * time.Second)
	rate := float64(rx.VideoStats().FramesDecoded-before) / 2
	t.Logf("receiver decodes %.1f composite frames/s (room %d fps)", rate, fps)
	if rate < fps*0.6 {
		t.Errorf("composite at %.1f fps, want about %d", rate, fps)
	}

	speaker := mixer.Layout{Kind: mixer.LayoutSpeaker}
	if err := m.SetLayout("v", speaker); err != nil {
		t.Fatal(err)
	}
	took = waitComposite(t, rx, tileChecks(speaker, w, h, ids, nil, colors, nil), 5*time.Second)
	t.Logf("speaker layout in place after %v (nobody speaking)", took)

	// cy starts talking: the audio side's active speaker takes the focus.
	peers["cy"].p.SetSource(client.ToneSource(440, 0.3))
	took = waitComposite(t, rx, tileChecks(speaker, w, h, ids, []string{"cy"}, colors, nil), 5*time.Second)
	t.Logf("cy, speaking, has the large tile after %v", took)
	peers["cy"].p.SetSource(nil)

	custom := mixer.Layout{Kind: mixer.LayoutCustom, Custom: []mixer.Region{
		{X: 0, Y: 0, W: 0.5, H: 0.5, Participant: "dee"},
		{X: 0.5, Y: 0, W: 0.5, H: 0.5, Participant: "cy"},
		{X: 0, Y: 0.5, W: 0.5, H: 0.5, Participant: "bob"},
		{X: 0.5, Y: 0.5, W: 0.5, H: 0.5, Participant: "ann"},
	}}
	if err := m.SetLayout("v", custom); err != nil {
		t.Fatal(err)
	}
	took = waitComposite(t, rx, tileChecks(custom, w, h, ids, nil, colors, nil), 5*time.Second)
	t.Logf("custom layout in place after %v", took)

	// dee stops sending: after the stall timeout her tile is a placeholder,
	// while bob's new colour still comes through.
	peers["dee"].p.SetVideoPaused(true)
	stalledAt := time.Now()
	peers["bob"].src.set(yuvMagenta)
	colors["bob"] = yuvMagenta
	waitComposite(t, rx, tileChecks(custom, w, h, ids, nil, colors, map[string]bool{"dee": true}), 6*time.Second)
	t.Logf("dee is a placeholder %v after she stopped (stall timeout %v)", time.Since(stalledAt), cfg.Video.StallTimeout)
	before = rx.VideoStats().FramesDecoded
	time.Sleep(time.Second)
	if got := rx.VideoStats().FramesDecoded - before; float64(got) < fps*0.6 {
		t.Errorf("composite stalled with the sender: %d frames in 1 s", got)
	}

	info, err := m.GetRoom("v")
	if err != nil {
		t.Fatal(err)
	}
	vs := info.VideoStats
	t.Logf("room: %d composite frames (%d keyframes), compose %v + encode %v per %dx%d frame; receiver %+v",
		vs.Frames, vs.Keyframes, vs.ComposeAvg, vs.EncodeAvg, w, h, rx.VideoStats())
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "mcu_room_video_frames_total" {
			exported = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if exported == 0 || exported > float64(vs.Frames)+30 {
		t.Errorf("mcu_room_video_frames_total = %v, room stats say %d", exported, vs.Frames)
	}
	for _, p := range info.Participants {
		if p.ID != "dee" && p.VideoFrames == 0 {
			t.Errorf("%s: no video decoded by the server", p.ID)
		}
	}
	// A layout without cy: her video is no longer decoded. Back in the
	// layout, she shows again from the next keyframe.
	videoFrames := func(id string) uint64 {
		info, err := m.GetRoom("v")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range info.Participants {
			if p.ID == id {
				return p.VideoFrames
			}
		}
		t.Fatalf("%s not in the room", id)
		return 0
	}
	withoutCy := mixer.Layout{Kind: mixer.LayoutCustom,
		Custom: append(append([]mixer.Region(nil), custom.Custom[0]), custom.Custom[2:]...)}
	if err := m.SetLayout("v", withoutCy); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	hiddenFrom := videoFrames("cy")
	time.Sleep(time.Second)
	if got := videoFrames("cy") - hiddenFrom; got > 1 {
		t.Errorf("cy is not in the layout but %d of her frames were decoded in 1 s", got)
	}
	if err := m.SetLayout("v", custom); err != nil {
		t.Fatal(err)
	}
	took = waitComposite(t, rx, tileChecks(custom, w, h, ids, nil, colors, map[string]bool{"dee": true}), 5*time.Second)
	t.Logf("cy shows again %v after returning to the layout", took)

	if err := m.SetLayout("v", mixer.Layout{Kind: mixer.LayoutCustom}); err == nil {
		t.Error("SetLayout accepted a custom layout without regions")
	}
	if err := m.SetLayout("nope", grid); err == nil {
		t.Error("SetLayout accepted an unknown room")
	}
}
