package mixer

import (
	"fmt"
	"math"
	"testing"

	"github.com/openmcu/mcu/media"
)

// planeRamp is a linear function of the pixel centre; bilinear and area
// filters both reproduce it exactly apart from rounding.
type planeRamp struct{ base, dx, dy float64 }

func (r planeRamp) at(x, y float64, w, h int) float64 {
	return r.base + r.dx*x/float64(max(w-1, 1)) + r.dy*y/float64(max(h-1, 1))
}

func rampFrame(w, h int, ry, ru, rv planeRamp) *media.VideoFrame {
	f := media.NewVideoFrame(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f.Y[y*f.StrideY+x] = byte(math.Round(ry.at(float64(x), float64(y), w, h)))
		}
	}
	cw, ch := f.ChromaWidth(), f.ChromaHeight()
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			f.U[y*f.StrideC+x] = byte(math.Round(ru.at(float64(x), float64(y), cw, ch)))
			f.V[y*f.StrideC+x] = byte(math.Round(rv.at(float64(x), float64(y), cw, ch)))
		}
	}
	return f
}

// mapCentre is where output pixel i's centre falls in source pixel indices.
func mapCentre(i, n int, win0, winLen float64, srcLen int) float64 {
	u := win0 + (float64(i)+0.5)*winLen/float64(n) - 0.5
	return math.Min(math.Max(u, 0), float64(srcLen-1))
}

func TestScalePreservesGradient(t *testing.T) {
	ry := planeRamp{16, 150, 60}
	ru := planeRamp{16, 200, 20}
	rv := planeRamp{240, -180, -40}
	for _, tc := range []struct {
		sw, sh, tw, th int
		fit            FitMode
	}{
		{640, 360, 320, 180, FitLetterbox},   // 2x down
		{640, 360, 426, 240, FitLetterbox},   // 1.5x down
		{640, 360, 128, 72, FitLetterbox},    // 5x down
		{640, 360, 1280, 720, FitLetterbox},  // 2x up
		{320, 180, 1280, 720, FitLetterbox},  // 4x up
		{641, 361, 300, 170, FitCrop},        // odd source, cropped
		{640, 480, 1280, 720, FitCrop},       // up, fractional crop offset
		{1280, 720, 640, 480, FitLetterbox},  // 4:3 tile
		{1920, 1080, 1280, 720, FitCrop},     // 1.5x down, same aspect
		{176, 144, 640, 360, FitCrop},        // QCIF up
		{640, 360, 640, 360, FitLetterbox},   // identity copy
		{640, 360, 640, 360 - 2, FitCrop},    // near identity
		{1280, 720, 256, 144, FitLetterbox},  // 5x down
		{1280, 720, 1278, 718, FitLetterbox}, // 1.0016x down: area with 2 taps
	} {
		t.Run(fmt.Sprintf("%dx%d-%dx%d-%v", tc.sw, tc.sh, tc.tw, tc.th, tc.fit), func(t *testing.T) {
			src := rampFrame(tc.sw, tc.sh, ry, ru, rv)
			var s tileScaler
			k := scaleKey{tc.sw, tc.sh, tc.tw, tc.th, tc.fit}
			s.build(k)
			dst := media.NewVideoFrame(tc.tw, tc.th)
			s.draw(dst, 0, 0, src, [3]byte{16, 128, 128}, new(scratch))

			// The window the scaler reads, as the fit mode defines it.
			sw, sh := float64(tc.sw), float64(tc.sh)
			wx, wy, ww, wh := 0.0, 0.0, sw, sh
			if tc.fit == FitCrop {
				f := math.Max(float64(tc.tw)/sw, float64(tc.th)/sh)
				ww, wh = math.Min(float64(tc.tw)/f, sw), math.Min(float64(tc.th)/f, sh)
				wx, wy = (sw-ww)/2, (sh-wh)/2
			}
			worst := 0.0
			check := func(got byte, want float64) {
				worst = math.Max(worst, math.Abs(float64(got)-want))
			}
			for y := 0; y < s.dh; y++ {
				uy := mapCentre(y, s.dh, wy, wh, tc.sh)
				for x := 0; x < s.dw; x++ {
					ux := mapCentre(x, s.dw, wx, ww, tc.sw)
					check(dst.Y[(s.dy+y)*dst.StrideY+s.dx+x], ry.at(ux, uy, tc.sw, tc.sh))
				}
			}
			cw, ch := (tc.sw+1)/2, (tc.sh+1)/2
			for y := 0; y < s.dh/2; y++ {
				uy := mapCentre(y, s.dh/2, wy/2, wh/2, ch)
				for x := 0; x < s.dw/2; x++ {
					ux := mapCentre(x, s.dw/2, wx/2, ww/2, cw)
					off := (s.dy/2+y)*dst.StrideC + s.dx/2 + x
					check(dst.U[off], ru.at(ux, uy, cw, ch))
					check(dst.V[off], rv.at(ux, uy, cw, ch))
				}
			}
			if worst > 1.0 {
				t.Errorf("gradient off by %.2f levels (want <= 1)", worst)
			}
		})
	}
}

// TestDownscaleAveragesArea: one-pixel stripes downscaled 4x must average
// to flat grey; a plain bilinear sampler would alias them into stripes.
func TestDownscaleAveragesArea(t *testing.T) {
	const sw, sh = 640, 360
	src := media.NewVideoFrame(sw, sh)
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			if (x+y)%2 == 0 {
				src.Y[y*sw+x] = 235
			}
		}
	}
	for _, tw := range []int{160, 212, 94} {
		th := even(tw * 9 / 16)
		var s tileScaler
		s.build(scaleKey{sw, sh, tw, th, FitCrop})
		dst := media.NewVideoFrame(tw, th)
		s.draw(dst, 0, 0, src, [3]byte{}, new(scratch))
		lo, hi := 255, 0
		for _, v := range dst.Y {
			lo, hi = min(lo, int(v)), max(hi, int(v))
		}
		// Uneven ratios leave some beating, but far below the 16..235 swing.
		if hi-lo > 24 || lo < 100 || hi > 150 {
			t.Errorf("%dx%d: stripes became %d..%d, want flat ~125", tw, th, lo, hi)
		}
	}
}

func TestAxisWeightsSumToOne(t *testing.T) {
	for _, tc := range [][4]float64{{10, 640, 0, 640}, {1280, 320, 0, 320}, {7, 3, 0.5, 2}, {100, 101, 0, 101}, {3, 1, 0, 1}} {
		var a axisTable
		n, srcLen := int(tc[0]), int(tc[1])
		a.build(n, srcLen, tc[2], tc[3])
		for i := 0; i < n; i++ {
			sum := 0
			for _, w := range a.w[i*a.taps : (i+1)*a.taps] {
				if w < 0 {
					t.Fatalf("%v: negative weight", tc)
				}
				sum += int(w)
			}
			if sum != weightOne || int(a.start[i]) < 0 || int(a.start[i])+a.taps > srcLen {
				t.Fatalf("%v: output %d sums to %d, taps %d..%d", tc, i, sum, a.start[i], int(a.start[i])+a.taps)
			}
		}
	}
}

func TestFrameScalerRenditions(t *testing.T) {
	ry, ru, rv := planeRamp{16, 150, 60}, planeRamp{16, 200, 20}, planeRamp{240, -180, -40}
	src := rampFrame(1280, 720, ry, ru, rv)
	src.PTS = 1234
	fs := NewFrameScaler(FitLetterbox, [3]byte{16, 128, 128})
	for _, sz := range [][2]int{{640, 360}, {320, 180}, {640, 480}} {
		dst := media.NewVideoFrame(sz[0], sz[1])
		if err := fs.Scale(dst, src); err != nil {
			t.Fatal(err)
		}
		if dst.PTS != src.PTS {
			t.Errorf("PTS not carried")
		}
		// Compare with the scaler the compositor uses for the same geometry.
		var ts tileScaler
		ts.build(scaleKey{1280, 720, sz[0], sz[1], FitLetterbox})
		want := media.NewVideoFrame(sz[0], sz[1])
		ts.draw(want, 0, 0, src, [3]byte{16, 128, 128}, new(scratch))
		for i := range want.Y {
			if want.Y[i] != dst.Y[i] {
				t.Fatalf("%v: luma %d differs", sz, i)
			}
		}
		if n := testing.AllocsPerRun(5, func() { _ = fs.Scale(dst, src) }); n != 0 {
			t.Errorf("%v: %v allocs per Scale", sz, n)
		}
	}
	if err := fs.Scale(&media.VideoFrame{Width: 3, Height: 2}, src); err == nil {
		t.Errorf("odd target accepted")
	}
}

// TestHalveMatchesScalar checks the SWAR 2:1 path against plain arithmetic.
func TestHalveMatchesScalar(t *testing.T) {
	const sw, sh = 46, 10 // 23 outputs per row: SWAR blocks plus a tail
	src := make([]byte, sw*sh)
	for i := range src {
		src[i] = byte(i*37 + i*i*11)
	}
	dst := make([]byte, 23*5)
	halve(dst, 0, 23, 23, 5, src, sw, 0)
	for y := 0; y < 5; y++ {
		for x := 0; x < 23; x++ {
			a := int(src[2*y*sw+2*x]) + int(src[2*y*sw+2*x+1]) + int(src[(2*y+1)*sw+2*x]) + int(src[(2*y+1)*sw+2*x+1])
			if got, want := dst[y*23+x], byte((a+2)/4); got != want {
				t.Fatalf("(%d,%d): %d, want %d", x, y, got, want)
			}
		}
	}
}
