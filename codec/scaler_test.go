package codec

import (
	"errors"
	"testing"

	"github.com/openmcu/mcu/media"
)

func TestScalerKeepsColourAndLayout(t *testing.T) {
	tests := []struct{ sw, sh, dw, dh int }{
		{1280, 720, 640, 360},
		{1920, 1080, 320, 180},
		{640, 480, 213, 160}, // odd width: chroma 107
		{320, 180, 1280, 720},
	}
	for _, tc := range tests {
		src := media.NewVideoFrame(tc.sw, tc.sh)
		// Left half red, right half blue: the split must stay in the middle.
		for y := 0; y < tc.sh; y++ {
			for x := 0; x < tc.sw; x++ {
				src.Y[y*src.StrideY+x] = map[bool]byte{true: redY, false: 41}[x < tc.sw/2]
			}
		}
		for y := 0; y < (tc.sh+1)/2; y++ {
			for x := 0; x < (tc.sw+1)/2; x++ {
				left := x < tc.sw/4
				src.U[y*src.StrideC+x] = map[bool]byte{true: redU, false: 240}[left]
				src.V[y*src.StrideC+x] = map[bool]byte{true: redV, false: 110}[left]
			}
		}
		src.PTS = 1234
		s, err := NewScaler(tc.sw, tc.sh, tc.dw, tc.dh)
		if err != nil {
			t.Fatal(err)
		}
		dst := media.NewVideoFrame(tc.dw, tc.dh)
		if err := s.Scale(dst, src); err != nil {
			t.Fatal(err)
		}
		at := func(x, y int) [3]byte {
			return [3]byte{dst.Y[y*dst.StrideY+x], dst.U[(y/2)*dst.StrideC+x/2], dst.V[(y/2)*dst.StrideC+x/2]}
		}
		near := func(got [3]byte, y, u, v int) bool {
			d := func(a byte, b int) bool { return int(a)-b <= 3 && b-int(a) <= 3 }
			return d(got[0], y) && d(got[1], u) && d(got[2], v)
		}
		if l := at(tc.dw/4, tc.dh/2); !near(l, redY, redU, redV) {
			t.Errorf("%dx%d->%dx%d: left %v, want red", tc.sw, tc.sh, tc.dw, tc.dh, l)
		}
		if r := at(3*tc.dw/4, tc.dh/2); !near(r, 41, 240, 110) {
			t.Errorf("%dx%d->%dx%d: right %v, want blue", tc.sw, tc.sh, tc.dw, tc.dh, r)
		}
		if dst.PTS != 1234 {
			t.Errorf("PTS %v, want 1234", dst.PTS)
		}
		allocs := testing.AllocsPerRun(5, func() { _ = s.Scale(dst, src) })
		if allocs != 0 {
			t.Errorf("Scale allocates %.1f times, want 0", allocs)
		}
		if err := s.Scale(src, dst); !errors.Is(err, ErrFrameGeometry) && tc.sw != tc.dw {
			t.Errorf("swapped frames: %v, want ErrFrameGeometry", err)
		}
		_ = s.Close()
		_ = s.Close()
		if err := s.Scale(dst, src); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
	if _, err := NewScaler(0, 10, 10, 10); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero width: %v, want ErrInvalidConfig", err)
	}
}

func BenchmarkScale(b *testing.B) {
	for _, tc := range []struct {
		name           string
		sw, sh, dw, dh int
	}{{"1280x720-to-640x360", 1280, 720, 640, 360}, {"640x360-to-426x240", 640, 360, 426, 240}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := NewScaler(tc.sw, tc.sh, tc.dw, tc.dh)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			src, dst := media.NewVideoFrame(tc.sw, tc.sh), media.NewVideoFrame(tc.dw, tc.dh)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Scale(dst, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
