package media

import (
	"errors"
	"testing"
)

func TestNewVideoFrameLayout(t *testing.T) {
	for _, tc := range []struct{ w, h, cw, ch int }{
		{1280, 720, 640, 360},
		{2, 2, 1, 1},
		{641, 361, 321, 181}, // odd sizes round chroma up
	} {
		f := NewVideoFrame(tc.w, tc.h)
		if f.ChromaWidth() != tc.cw || f.ChromaHeight() != tc.ch {
			t.Fatalf("%dx%d: chroma %dx%d, want %dx%d", tc.w, tc.h, f.ChromaWidth(), f.ChromaHeight(), tc.cw, tc.ch)
		}
		if len(f.Y) != tc.w*tc.h || len(f.U) != tc.cw*tc.ch || len(f.V) != tc.cw*tc.ch {
			t.Fatalf("%dx%d: plane lengths %d/%d/%d", tc.w, tc.h, len(f.Y), len(f.U), len(f.V))
		}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		if f.Y[0] != 16 || f.U[len(f.U)-1] != 128 || f.V[0] != 128 {
			t.Fatalf("new frame not black")
		}
		// Planes share one buffer but an append on Y must not clobber U.
		u0 := f.U[0]
		_ = append(f.Y, 99)
		if f.U[0] != u0 {
			t.Fatalf("append on Y overwrote U")
		}
	}
}

func TestVideoFrameFillAndCopy(t *testing.T) {
	f := NewVideoFrame(6, 4)
	f.Fill(200, 10, 240)
	for _, b := range f.Y {
		if b != 200 {
			t.Fatalf("Y not filled: %v", f.Y)
		}
	}
	for i := range f.U {
		if f.U[i] != 10 || f.V[i] != 240 {
			t.Fatalf("chroma not filled")
		}
	}
	// A frame with padding in its strides: Fill must leave the padding alone.
	p := &VideoFrame{Y: make([]byte, 8*4), U: make([]byte, 4*2), V: make([]byte, 4*2), StrideY: 8, StrideC: 4, Width: 6, Height: 4}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.Fill(1, 2, 3)
	if p.Y[6] != 0 || p.Y[5] != 1 || p.U[3] != 0 || p.U[2] != 2 {
		t.Fatalf("padding touched or picture not filled: %v %v", p.Y[:8], p.U[:4])
	}
	f.PTS = 42
	if err := p.CopyFrom(f); err != nil {
		t.Fatal(err)
	}
	if p.Y[0] != 200 || p.Y[6] != 0 || p.V[2] != 240 || p.PTS != 42 {
		t.Fatalf("copy wrong")
	}
	if err := p.CopyFrom(NewVideoFrame(4, 4)); !errors.Is(err, ErrInvalidVideoFrame) {
		t.Fatalf("size mismatch: got %v", err)
	}
}

func TestVideoFrameValidate(t *testing.T) {
	good := NewVideoFrame(4, 4)
	for name, f := range map[string]*VideoFrame{
		"nil":          nil,
		"zero size":    {},
		"short stride": {Y: good.Y, U: good.U, V: good.V, StrideY: 3, StrideC: 2, Width: 4, Height: 4},
		"short luma":   {Y: good.Y[:10], U: good.U, V: good.V, StrideY: 4, StrideC: 2, Width: 4, Height: 4},
		"short chroma": {Y: good.Y, U: good.U[:3], V: good.V, StrideY: 4, StrideC: 2, Width: 4, Height: 4},
	} {
		if err := f.Validate(); !errors.Is(err, ErrInvalidVideoFrame) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestVideoFramePool(t *testing.T) {
	p := NewVideoFramePool(64, 32, 2)
	a, b, c := p.Get(), p.Get(), p.Get()
	p.Put(a)
	p.Put(b)
	p.Put(c)                   // over the idle limit: dropped
	p.Put(NewVideoFrame(8, 8)) // wrong size: dropped
	if g := p.Get(); g != b {
		t.Fatalf("pool did not reuse the last frame put")
	}
	if g := p.Get(); g != a {
		t.Fatalf("pool did not reuse the first frame put")
	}
	p.Put(a)
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
		t.Fatalf("Get/Put allocates %v times", n)
	}
}
