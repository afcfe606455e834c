package aec

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// The canceller's FFT must give gonum's transform (same bin layout and
// scaling) to rounding.
func TestRealFFTMatchesGonum(t *testing.T) {
	g := fourier.NewFFT(fftN)
	f := newRealFFT(fftN)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		x := make([]float64, fftN)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		want := g.Coefficients(nil, x)
		got := make([]complex128, nBins)
		f.Coefficients(got, x)
		for k := range want {
			if d := math.Hypot(real(want[k]-got[k]), imag(want[k]-got[k])); d > 1e-11 {
				t.Fatalf("forward bin %d: got %v, want %v", k, got[k], want[k])
			}
		}
		// Inverse of arbitrary bins, with DC and Nyquist imaginary parts
		// that both transforms ignore.
		for k := range want {
			want[k] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		ws := g.Sequence(nil, want)
		gs := make([]float64, fftN)
		f.Sequence(gs, want)
		for i := range ws {
			if d := math.Abs(ws[i] - gs[i]); d > 1e-11 {
				t.Fatalf("inverse sample %d: got %v, want %v", i, gs[i], ws[i])
			}
		}
	}
}
