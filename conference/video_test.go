package conference

import (
	"fmt"
	"testing"
	"time"

	"github.com/openmcu/mcu/media"
)

// nullVideoEndpoint takes the composite and counts it.
type nullVideoEndpoint struct {
	frames, bytes, keyframes int
	keyReqs                  int
}

func (e *nullVideoEndpoint) HasVideo() bool { return true }
func (e *nullVideoEndpoint) SendVideo(au []byte, _ uint32, key bool) {
	e.frames++
	e.bytes += len(au)
	if key {
		e.keyframes++
	}
}
func (e *nullVideoEndpoint) RequestKeyframe() { e.keyReqs++ }

// newVideoBench builds a room with n participants whose decoded pictures
// (flat colours, 640x360) are already in place, and a video pipe driven
// from the test goroutine.
func newVideoBench(tb testing.TB, n, w, h int) (*videoPipe, []*participant, *nullVideoEndpoint) {
	tb.Helper()
	cfg := DefaultConfig()
	m := &Manager{cfg: cfg, rooms: map[string]*room{}}
	m.metrics = newMetrics(m)
	r, err := newRoom("video", AudioSettings{MaxActiveSpeakers: 3, OpusBitrate: cfg.OpusBitrate},
		VideoSettings{Width: w, Height: h, FPS: 30, Bitrate: 1_500_000}, &m.cfg, m.metrics,
		func() (audioEncoder, error) { return m.newEncoder(cfg.OpusBitrate) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.closeEncoders)
	start := time.Now()
	r.anchor.Store(&clockAnchor{wall: start})
	ep := &nullVideoEndpoint{}
	var parts []*participant
	for i := 0; i < n; i++ {
		p := newParticipant(fmt.Sprintf("p%d", i), "", r)
		p.vep = ep
		v := &p.video
		for _, f := range []**media.VideoFrame{&v.back, &v.ready, &v.front} {
			*f = media.NewVideoFrame(640, 360)
			(*f).Fill(byte(40+i*20), byte(90+i*10), byte(200-i*10))
		}
		v.readyAt, v.fresh = start, true
		parts = append(parts, p)
	}
	r.parts = parts
	r.publishParts()
	vp := newVideoPipe(r)
	tb.Cleanup(vp.close)
	return vp, parts, ep
}

// refresh marks every participant's picture as newly decoded, as the
// ingest goroutines would.
func refresh(parts []*participant, now time.Time) {
	for _, p := range parts {
		v := &p.video
		v.mu.Lock()
		v.back, v.ready = v.ready, v.back
		v.readyAt, v.fresh = now, true
		v.mu.Unlock()
	}
}

// TestVideoFrameZeroAllocs guards the compose, encode and send path: after
// warm-up a composite frame allocates nothing on the Go heap.
func TestVideoFrameZeroAllocs(t *testing.T) {
	vp, parts, ep := newVideoBench(t, 4, 640, 360)
	now := time.Now()
	for i := 0; i < 3; i++ {
		now = now.Add(33 * time.Millisecond)
		refresh(parts, now)
		vp.frame(now)
	}
	// A receiver's PLI 100 ms after the first keyframe is honoured only
	// once a second has passed since it (coalescing), and exactly once.
	parts[0].keyReq.Store(true)
	allocs := testing.AllocsPerRun(30, func() {
		now = now.Add(40 * time.Millisecond)
		refresh(parts, now)
		vp.frame(now)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per composite frame, want 0", allocs)
	}
	if ep.frames != 34*4 || ep.keyframes != 2*4 {
		t.Fatalf("sent %d frames (%d keyframes) to 4 receivers, want %d (%d)", ep.frames, ep.keyframes, 34*4, 2*4)
	}
}

// BenchmarkVideoFrame measures one composite frame (compose, encode once,
// hand to every receiver) for 4 and 9 inputs at 720p.
func BenchmarkVideoFrame(b *testing.B) {
	for _, n := range []int{4, 9, 16} {
		b.Run(fmt.Sprintf("%dinputs_720p", n), func(b *testing.B) {
			vp, parts, _ := newVideoBench(b, n, 1280, 720)
			now := time.Now()
			vp.frame(now)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now = now.Add(33 * time.Millisecond)
				refresh(parts, now)
				vp.frame(now)
			}
			b.StopTimer()
			s := vp.r.vstats.snapshot()
			b.ReportMetric(float64(s.ComposeAvg.Microseconds()), "compose-µs/frame")
			b.ReportMetric(float64(s.EncodeAvg.Microseconds()), "encode-µs/frame")
		})
	}
	// Nine inputs, three receivers on each default rendition: compose the
	// 720p canvas, scale to 360p and 180p, encode all three.
	b.Run("9inputs_720p_3renditions", func(b *testing.B) {
		vp, parts, _ := newVideoBench(b, 9, 1280, 720)
		vp.r.video.Renditions = DefaultVideoConfig().Renditions
		vp.close()
		vp = newVideoPipe(vp.r)
		b.Cleanup(vp.close)
		now := time.Now()
		for i, p := range parts {
			p.HandleBandwidthEstimate([]uint64{5_000_000, 600_000, 200_000}[i%3], now.Add(time.Hour))
		}
		vp.frame(now)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			now = now.Add(33 * time.Millisecond)
			refresh(parts, now)
			vp.frame(now)
		}
		b.StopTimer()
		s := vp.r.vstats.snapshot()
		if s.RenditionFrames[2] == 0 {
			b.Fatal("180p not encoded")
		}
		b.ReportMetric(float64(s.ComposeAvg.Microseconds()), "compose-µs/frame")
		b.ReportMetric(float64(s.EncodeAvg.Microseconds()), "scale+encode-µs/frame")
	})
}
