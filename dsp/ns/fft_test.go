package ns

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// TestRealFFT checks the transform against a direct DFT, and the inverse
// against the input, for lengths that use every radix.
func TestRealFFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 4, 6, 10, 16, 24, 30, 40, 120, 960} {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		f := newRealFFT(n)
		got := make([]complex128, n/2+1)
		ones := make([]float64, n)
		for i := range ones {
			ones[i] = 1
		}
		f.forward(got, x, ones)
		var worst float64
		for k := range got {
			var want complex128
			for i, v := range x {
				want += complex(v, 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(k*i)/float64(n)))
			}
			worst = max(worst, cmplx.Abs(got[k]-want))
		}
		if worst > 1e-9*float64(n) {
			t.Errorf("n=%d: forward off by %g", n, worst)
		}
		back := make([]float64, n)
		f.inverse(back, got)
		for i := range x {
			if d := back[i]/float64(n) - x[i]; math.Abs(d) > 1e-12*float64(n) {
				t.Fatalf("n=%d: inverse sample %d off by %g", n, i, d)
			}
		}
	}
}

func BenchmarkRealFFT(b *testing.B) {
	f := newRealFFT(fftSize)
	x := make([]float64, fftSize)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	c := make([]complex128, bins)
	w := make([]float64, fftSize)
	for i := range w {
		w[i] = 1
	}
	b.ReportAllocs()
	for b.Loop() {
		f.forward(c, x, w)
		f.inverse(x, c)
	}
}

func BenchmarkGonumFFT(b *testing.B) {
	f := fourier.NewFFT(fftSize)
	x := make([]float64, fftSize)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	c := make([]complex128, bins)
	b.ReportAllocs()
	for b.Loop() {
		f.Coefficients(c, x)
		f.Sequence(x, c)
	}
}
