package conference_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
)

// newVideoManager returns a manager and its close, to defer after goleak's
// check is deferred (t.Cleanup would run after the check).
func newVideoManager(t *testing.T) (*conference.Manager, func()) {
	t.Helper()
	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	}
}

// sizeWatch polls the receiver's decoded composite and tracks the longest
// gap between two decoded pictures, to catch a freeze at a switch.
type sizeWatch struct {
	rx      *client.Participant
	lastAt  time.Time
	maxGap  time.Duration
	w, h    int
	decoded uint64
}

func (s *sizeWatch) poll() {
	f, at := s.rx.LatestVideoFrame()
	if f == nil {
		return
	}
	if !s.lastAt.IsZero() && at.After(s.lastAt) {
		s.maxGap = max(s.maxGap, at.Sub(s.lastAt))
	}
	s.lastAt, s.w, s.h = at, f.Width, f.Height
	s.decoded = s.rx.VideoStats().FramesDecoded
}

// waitSize polls until the receiver decodes w x h pictures.
func (s *sizeWatch) waitSize(t *testing.T, w, h int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		s.poll()
		if s.w == w && s.h == h {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("receiver still decodes %dx%d after %v, want %dx%d (%+v)", s.w, s.h, timeout, w, h, s.rx.VideoStats())
	return 0
}

// TestVideoRenditionsFollowREMB: a receiver whose REMB caps it at 300 kb/s
// moves from 1280x720 to a rendition that fits (320x180 at 150 kb/s) without
// a freeze, back to 1280x720 when the cap lifts, and below the smallest
// rendition gets no video while its audio continues.
func TestVideoRenditionsFollowREMB(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m, closeM := newVideoManager(t)
	defer closeM()
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "b"}); err != nil { // default 720p ladder
		t.Fatal(err)
	}
	rx := joinVideoPeer(t, m, "b", "ann", "h264", yuvRed, true)
	tx := joinVideoPeer(t, m, "b", "bob", "h264", yuvGreen, false)
	defer func() {
		_ = rx.p.Close()
		_ = tx.p.Close()
	}()
	w := &sizeWatch{rx: rx.p}
	took := w.waitSize(t, 1280, 720, 10*time.Second)
	t.Logf("no REMB: 1280x720 after %v", took)

	plis := rx.p.VideoStats().PLIsSent
	w.maxGap = 0
	rx.p.SetREMB(300_000)
	took = w.waitSize(t, 320, 180, 5*time.Second)
	t.Logf("REMB 300 kb/s: 320x180 after %v, longest gap between decoded frames %v", took, w.maxGap)
	if info, err := m.GetRoom("b"); err != nil || info.Participants[0].VideoRendition != 2 ||
		info.Participants[0].BandwidthEstimate != 300_000 || info.Participants[1].VideoRendition != -1 {
		t.Errorf("GetRoom: %+v, %v; want ann on rendition 2 at 300 kb/s, bob (no receive) on -1", info.Participants, err)
	}
	gap := w.maxGap

	w.maxGap = 0
	rx.p.SetREMB(5_000_000)
	took = w.waitSize(t, 1280, 720, 5*time.Second)
	t.Logf("REMB 5 Mb/s: back to 1280x720 after %v, longest gap %v", took, w.maxGap)
	// Switches wait for the new rendition's keyframe while the old one keeps
	// flowing: the decoder never loses the picture, so it never asks for a
	// keyframe. (The gap bound is loose: -race makes 720p composing slow.)
	if s := rx.p.VideoStats(); s.PLIsSent != plis || s.DecodeErrors != 0 {
		t.Errorf("receiver lost the picture at a switch: %d keyframe requests, %d decode errors", s.PLIsSent-plis, s.DecodeErrors)
	}
	if gap = max(gap, w.maxGap); gap > time.Second {
		t.Errorf("video froze for %v around a rendition switch", gap)
	}

	rx.p.SetREMB(80_000)
	// The REMB reaches the server, the server holds the picture for 1.5 s
	// in case the estimate was a dip, and in-flight frames land.
	time.Sleep(2500 * time.Millisecond)
	v0, a0 := rx.p.VideoStats().FramesDecoded, rx.p.Stats().PacketsReceived
	time.Sleep(2 * time.Second)
	v1, a1 := rx.p.VideoStats().FramesDecoded, rx.p.Stats().PacketsReceived
	t.Logf("REMB 80 kb/s: %d video frames, %d audio packets in 2 s", v1-v0, a1-a0)
	if v1 != v0 {
		t.Errorf("receiver below the smallest rendition decoded %d video frames", v1-v0)
	}
	if a1-a0 < 80 {
		t.Errorf("audio stalled with the video: %d packets in 2 s", a1-a0)
	}

	rx.p.SetREMB(400_000) // 360p needs 500 kb/s: 180p, with headroom
	took = w.waitSize(t, 320, 180, 5*time.Second)
	t.Logf("REMB 400 kb/s: video back at 320x180 after %v", took)

	info, err := m.GetRoom("b")
	if err != nil {
		t.Fatal(err)
	}
	vs := info.VideoStats
	t.Logf("room: %d composite frames, per rendition %v, %d keyframes, compose %v encode %v (all renditions) per frame; receiver %+v",
		vs.Frames, vs.RenditionFrames, vs.Keyframes, vs.ComposeAvg, vs.EncodeAvg, rx.p.VideoStats())
	// bob receives nothing and ann never needed 360p: that size was never encoded.
	if vs.RenditionFrames[1] != 0 {
		t.Errorf("640x360 encoded %d frames with no receiver", vs.RenditionFrames[1])
	}
	if s := rx.p.VideoStats(); s.DecodeErrors != 0 {
		t.Errorf("%d decode errors across switches", s.DecodeErrors)
	}
}

// TestVideoLipSync: the RTCP sender reports of the composite audio and
// video put both on one clock. A receiver maps each packet's RTP timestamp
// to the sender's wall clock through its stream's last report; the delay
// from there to arrival must match between audio and video within 80 ms,
// or a receiver syncing by the reports plays them apart by the difference.
func TestVideoLipSync(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m, closeM := newVideoManager(t)
	defer closeM()
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "s",
		Video: &conference.VideoSettings{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	rx := joinVideoPeer(t, m, "s", "ann", "h264", yuvRed, true)
	defer func() { _ = rx.p.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		a, v := rx.p.AVSync()
		if a.SRs >= 1 && v.SRs >= 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no sender reports: audio %+v video %+v", a, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var da, dv []time.Duration
	for i := 0; i < 60; i++ {
		time.Sleep(50 * time.Millisecond)
		a, v := rx.p.AVSync()
		if d, ok := a.Delay(); ok {
			da = append(da, d)
		}
		if d, ok := v.Delay(); ok {
			dv = append(dv, d)
		}
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	if len(da) < 30 || len(dv) < 30 {
		t.Fatalf("%d audio and %d video samples", len(da), len(dv))
	}
	ma, mv := median(da), median(dv)
	a, v := rx.p.AVSync()
	off := ma - mv
	t.Logf("capture-to-arrival per the sender reports: audio %v, video %v, A/V offset %v (%d audio SRs, %d video SRs)",
		ma, mv, off, a.SRs, v.SRs)
	if off > 80*time.Millisecond || off < -80*time.Millisecond {
		t.Errorf("A/V offset %v beyond 80 ms", off)
	}
	// Both delays are real one-way delays on loopback: a report on a wrong
	// clock (or rate) shows here even if it shifted both streams alike.
	for _, d := range []time.Duration{ma, mv} {
		if d < -20*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("capture-to-arrival %v on loopback: the reports' clock is off", d)
		}
	}
}
