package codec

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/openmcu/mcu/media"
)

// h264NALTypes lists the nal_unit_type of every NAL unit in an Annex-B
// access unit.
func h264NALTypes(au []byte) []byte {
	var types []byte
	for _, nal := range annexBNALs(au) {
		types = append(types, nal[0]&0x1f)
	}
	return types
}

func hasNAL(au []byte, t byte) bool {
	for _, x := range h264NALTypes(au) {
		if x == t {
			return true
		}
	}
	return false
}

// paintPattern fills f with a solid colour and a small bar that moves with
// i, so P-frames carry some motion.
func paintPattern(f *media.VideoFrame, i int, y, u, v byte) {
	f.Fill(y, u, v)
	x0 := (i * 8) % (f.Width - 32)
	for row := 0; row < 16; row++ {
		for x := x0; x < x0+32; x++ {
			f.Y[row*f.StrideY+x] = 235
		}
	}
}

func newTestEncoder(t *testing.T, w, h, bps int) *H264Encoder {
	t.Helper()
	cfg := DefaultH264EncoderConfig()
	cfg.Width, cfg.Height, cfg.Bitrate = w, h, bps
	e, err := NewH264Encoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestH264EncoderRoundTrip(t *testing.T) {
	const w, h = 640, 360
	const y, u, v = 145, 54, 34 // BT.601 green
	e := newTestEncoder(t, w, h, 500_000)
	d, err := NewVideoDecoder("h264")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src := media.NewVideoFrame(w, h)
	out := &media.VideoFrame{}
	buf := make([]byte, MaxH264FrameBytes(w, h))
	for i := range 30 {
		paintPattern(src, i, y, u, v)
		force := i == 17
		n, key, err := e.Encode(buf, src, force)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if n == 0 {
			t.Fatalf("frame %d: no output (zerolatency must not delay)", i)
		}
		au := buf[:n]
		wantKey := i == 0 || force
		if key != wantKey || hasNAL(au, 5) != wantKey {
			t.Fatalf("frame %d: keyframe=%v IDR NAL=%v, want %v (NALs %v)", i, key, hasNAL(au, 5), wantKey, h264NALTypes(au))
		}
		if wantKey && (!hasNAL(au, 7) || !hasNAL(au, 8)) {
			t.Fatalf("frame %d: keyframe without SPS/PPS (NALs %v)", i, h264NALTypes(au))
		}
		if i == 0 {
			checkConstrainedBaseline(t, au, 31)
		}
		ok, err := d.Decode(au, out)
		if err != nil || !ok {
			t.Fatalf("frame %d: decode ok=%v err=%v", i, ok, err)
		}
		if out.Width != w || out.Height != h {
			t.Fatalf("decoded %dx%d", out.Width, out.Height)
		}
		// The moving bar sits in the top 16 rows, outside the measured centre.
		checkColour(t, out, y, u, v, 3)
	}
}

// checkConstrainedBaseline parses the SPS header bytes: profile_idc 66 with
// constraint_set1 is what browsers call constrained baseline (42e0xx/42c0xx).
func checkConstrainedBaseline(t *testing.T, au []byte, level byte) {
	t.Helper()
	for _, nal := range annexBNALs(au) {
		if nal[0]&0x1f != 7 {
			continue
		}
		if len(nal) < 4 {
			t.Fatalf("short SPS %x", nal)
		}
		profile, flags, lvl := nal[1], nal[2], nal[3]
		if profile != 66 || flags&0x40 == 0 {
			t.Fatalf("SPS profile_idc %d constraint flags %#x: want 66 with constraint_set1", profile, flags)
		}
		if lvl != level {
			t.Fatalf("SPS level_idc %d, want %d", lvl, level)
		}
		return
	}
	t.Fatal("no SPS in the first access unit")
}

func TestH264EncoderSetBitrate(t *testing.T) {
	const w, h = 320, 180
	e := newTestEncoder(t, w, h, 1_000_000)
	src := media.NewVideoFrame(w, h)
	buf := make([]byte, MaxH264FrameBytes(w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	run := func() int {
		total := 0
		for range 30 {
			for i := range src.Y {
				src.Y[i] = byte(rng.IntN(256)) // noise: rate control must bite
			}
			n, _, err := e.Encode(buf, src, false)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		return total
	}
	run() // settle after the first keyframe
	high := run()
	if err := e.SetBitrate(150_000); err != nil {
		t.Fatal(err)
	}
	run() // the VBV drains
	low := run()
	t.Logf("bytes per second of noise at 1 Mb/s: %d, at 150 kb/s: %d", high, low)
	if low*3 > high {
		t.Fatalf("SetBitrate had little effect: %d -> %d bytes/s", high, low)
	}
	if got := low * 8; got > 150_000*3/2 {
		t.Fatalf("%d b/s after SetBitrate(150k)", got)
	}
	if err := e.SetBitrate(1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetBitrate(1): %v, want ErrInvalidConfig", err)
	}
}

func TestH264EncoderErrorsAndAllocs(t *testing.T) {
	const w, h = 320, 180
	e := newTestEncoder(t, w, h, 300_000)
	src := media.NewVideoFrame(w, h)
	buf := make([]byte, MaxH264FrameBytes(w, h))
	i := 0
	allocs := testing.AllocsPerRun(20, func() {
		paintPattern(src, i, 90, 100, 200)
		i++
		if _, _, err := e.Encode(buf, src, i%7 == 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Encode allocates %.1f times per frame, want 0", allocs)
	}
	if _, _, err := e.Encode(buf, media.NewVideoFrame(w+2, h), false); !errors.Is(err, ErrFrameGeometry) {
		t.Errorf("wrong size: %v, want ErrFrameGeometry", err)
	}
	if _, _, err := e.Encode(buf[:10], src, true); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("tiny buffer: %v, want ErrBufferTooSmall", err)
	}
	bad := []func(*H264EncoderConfig){
		func(c *H264EncoderConfig) { c.Width = 641 },
		func(c *H264EncoderConfig) { c.Preset = "warp" },
		func(c *H264EncoderConfig) { c.Bitrate = 0 },
		func(c *H264EncoderConfig) { c.FPS = 0 },
		func(c *H264EncoderConfig) { c.KeyframeInterval = 0 },
	}
	for i, mod := range bad {
		cfg := DefaultH264EncoderConfig()
		mod(&cfg)
		if _, err := NewH264Encoder(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("bad config %d: %v, want ErrInvalidConfig", i, err)
		}
	}
	_ = e.Close()
	_ = e.Close()
	if _, _, err := e.Encode(buf, src, false); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestH264Level(t *testing.T) {
	for _, tc := range []struct{ w, h, fps, want int }{
		{320, 180, 30, 31}, {1280, 720, 30, 31}, {1280, 720, 60, 40}, {1920, 1080, 30, 40}, {1920, 1080, 60, 42},
	} {
		if got := h264Level(tc.w, tc.h, tc.fps); got != tc.want {
			t.Errorf("h264Level(%d, %d, %d) = %d, want %d", tc.w, tc.h, tc.fps, got, tc.want)
		}
	}
}

func BenchmarkH264Encode(b *testing.B) {
	for _, tc := range []struct {
		w, h   int
		bps    int
		preset string
	}{
		{1280, 720, 1_500_000, "veryfast"},
		{1280, 720, 1_500_000, "superfast"},
		{1280, 720, 1_500_000, "ultrafast"},
		{640, 360, 500_000, "veryfast"},
		{320, 180, 150_000, "veryfast"},
	} {
		b.Run(strconv.Itoa(tc.w)+"x"+strconv.Itoa(tc.h)+"/"+tc.preset, func(b *testing.B) {
			cfg := DefaultH264EncoderConfig()
			cfg.Width, cfg.Height, cfg.Bitrate, cfg.Preset = tc.w, tc.h, tc.bps, tc.preset
			e, err := NewH264Encoder(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			// 30 frames of a real moving picture, decoded from ffmpeg's testsrc2.
			frames := decodedFrames(b, tc.w, tc.h, 30)
			buf := make([]byte, MaxH264FrameBytes(tc.w, tc.h))
			b.ReportAllocs()
			b.ResetTimer()
			i, bytes := 0, 0
			for b.Loop() {
				n, _, err := e.Encode(buf, frames[i%len(frames)], false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += n
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
			b.ReportMetric(float64(bytes*8)/float64(b.N)*30/1000, "kb/s@30fps")
		})
	}
}

// decodedFrames returns n I420 frames of ffmpeg's moving testsrc2 pattern.
func decodedFrames(tb testing.TB, w, h, n int) []*media.VideoFrame {
	tb.Helper()
	aus := h264AUs(tb, "testsrc2=s="+strconv.Itoa(w)+"x"+strconv.Itoa(h)+":r=30", n, "-qp", "10")
	d, err := NewVideoDecoder("h264")
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	var frames []*media.VideoFrame
	for _, au := range aus {
		f := &media.VideoFrame{}
		if ok, err := d.Decode(au, f); err != nil || !ok {
			tb.Fatalf("decode: ok=%v err=%v", ok, err)
		}
		frames = append(frames, f)
	}
	return frames
}
