package dspquality

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Rate is the sample rate of every signal in the harness.
const Rate = 48000

// FrameLen is one 10 ms DSP block at Rate.
const FrameLen = Rate / 100

// dB converts a power ratio to decibels, with a floor so silence stays finite.
func dB(power float64) float64 {
	return 10 * math.Log10(math.Max(power, 1e-20))
}

// fromDB converts decibels to an amplitude factor.
func fromDB(db float64) float64 { return math.Pow(10, db/20) }

func energy(x []float64) float64 {
	var e float64
	for _, v := range x {
		e += v * v
	}
	return e
}

func rms(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	return math.Sqrt(energy(x) / float64(len(x)))
}

func scale(x []float64, g float64) {
	for i := range x {
		x[i] *= g
	}
}

// addInto adds src*g into dst, starting at dst[at]; src past dst's end is
// dropped.
func addInto(dst, src []float64, at int, g float64) {
	for i, v := range src {
		j := at + i
		if j < 0 {
			continue
		}
		if j >= len(dst) {
			return
		}
		dst[j] += g * v
	}
}

func toFloat32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func toFloat64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// whiteNoise is Gaussian noise of unit RMS.
func whiteNoise(n int, rng *rand.Rand) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// pinkNoise is Voss-McCartney pink noise (16 octave rows plus a white row),
// normalised to unit RMS. Its spectrum falls 3 dB per octave from about
// 1.5 Hz to Nyquist.
func pinkNoise(n int, rng *rand.Rand) []float64 {
	const rows = 16
	var row [rows]float64
	var sum float64
	for i := range row {
		row[i] = rng.Float64()*2 - 1
		sum += row[i]
	}
	x := make([]float64, n)
	for i := range x {
		// The row to refresh is the number of trailing zeros of the
		// counter, so row k changes every 2^k samples.
		c := uint32(i + 1)
		k := 0
		for c&1 == 0 && k < rows-1 {
			c >>= 1
			k++
		}
		sum -= row[k]
		row[k] = rng.Float64()*2 - 1
		sum += row[k]
		x[i] = sum + rng.Float64()*2 - 1
	}
	removeDC(x)
	scale(x, 1/math.Max(rms(x), 1e-12))
	return x
}

func removeDC(x []float64) {
	if len(x) == 0 {
		return
	}
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	for i := range x {
		x[i] -= m
	}
}

// nextFFTLen is the smallest 2^a*3^b*5^c >= n, sizes gonum's FFT handles fast.
func nextFFTLen(n int) int {
	best := 1
	for best < n {
		best <<= 1
	}
	for p5 := 1; p5 < best; p5 *= 5 {
		for p3 := p5; p3 < best; p3 *= 3 {
			p := p3
			for p < n {
				p <<= 1
			}
			if p < best {
				best = p
			}
		}
	}
	return best
}

// convolve returns the full linear convolution of x and h (len(x)+len(h)-1)
// computed with one FFT.
func convolve(x, h []float64) []float64 {
	if len(x) == 0 || len(h) == 0 {
		return nil
	}
	n := len(x) + len(h) - 1
	m := nextFFTLen(n)
	fft := fourier.NewFFT(m)
	xp := make([]float64, m)
	copy(xp, x)
	hp := make([]float64, m)
	copy(hp, h)
	X := fft.Coefficients(nil, xp)
	H := fft.Coefficients(nil, hp)
	for i := range X {
		X[i] *= H[i]
	}
	y := fft.Sequence(xp, X)
	inv := 1 / float64(m)
	out := make([]float64, n)
	for i := range out {
		out[i] = y[i] * inv
	}
	return out
}

// xcorr returns c[k] = sum_n a[n]*b[n+k] for k in [minLag, maxLag], computed
// with one FFT.
func xcorr(a, b []float64, minLag, maxLag int) []float64 {
	span := max(-minLag, maxLag, 0)
	m := nextFFTLen(max(len(a), len(b)) + span + 1)
	fft := fourier.NewFFT(m)
	ap := make([]float64, m)
	copy(ap, a)
	bp := make([]float64, m)
	copy(bp, b)
	A := fft.Coefficients(nil, ap)
	B := fft.Coefficients(nil, bp)
	for i := range A {
		A[i] = complex(real(A[i]), -imag(A[i])) * B[i]
	}
	c := fft.Sequence(ap, A)
	out := make([]float64, maxLag-minLag+1)
	for k := minLag; k <= maxLag; k++ {
		out[k-minLag] = c[((k%m)+m)%m] / float64(m)
	}
	return out
}

// sincTable is a Kaiser-windowed sinc kernel sampled at sincPhases points per
// input sample, used for fractional delays (the echo path's drifting bulk
// delay). Cutoff is 0.95 of Nyquist so the kernel stays band-limited.
type sincTable struct {
	half  int // taps each side
	table []float64
}

const sincPhases = 512

func newSincTable(half int) *sincTable {
	const cutoff = 0.95
	beta := 8.6 // about 90 dB stopband
	t := &sincTable{half: half, table: make([]float64, 2*half*sincPhases+1)}
	i0b := besselI0(beta)
	for i := range t.table {
		u := float64(i)/sincPhases - float64(half)
		r := u / float64(half)
		w := besselI0(beta*math.Sqrt(math.Max(0, 1-r*r))) / i0b
		s := cutoff
		if u != 0 {
			s = math.Sin(math.Pi*cutoff*u) / (math.Pi * u)
		}
		t.table[i] = s * w
	}
	return t
}

// at evaluates the kernel at offset u (in samples), linear in the table.
func (t *sincTable) at(u float64) float64 {
	p := (u + float64(t.half)) * sincPhases
	if p < 0 || p >= float64(len(t.table)-1) {
		return 0
	}
	i := int(p)
	f := p - float64(i)
	return t.table[i]*(1-f) + t.table[i+1]*f
}

// sample interpolates x at fractional position pos.
func (t *sincTable) sample(x []float64, pos float64) float64 {
	c := int(math.Floor(pos))
	var y float64
	for k := c - t.half + 1; k <= c+t.half; k++ {
		if k < 0 || k >= len(x) {
			continue
		}
		y += x[k] * t.at(pos-float64(k))
	}
	return y
}

// variableDelay returns y[n] = x(n - d(n)) with band-limited interpolation:
// a bulk delay that can drift by fractions of a sample or jump.
func variableDelay(x []float64, d func(n int) float64) []float64 {
	t := newSincTable(24)
	y := make([]float64, len(x))
	for n := range y {
		y[n] = t.sample(x, float64(n)-d(n))
	}
	return y
}

func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// biquad is a direct-form-I second-order section (RBJ cookbook), used to
// shape room responses and loudspeakers.
type biquad struct{ b0, b1, b2, a1, a2 float64 }

func highpass(fc, q float64) biquad {
	w := 2 * math.Pi * fc / Rate
	al := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + al
	return biquad{(1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, -2 * c / a0, (1 - al) / a0}
}

func lowpass(fc, q float64) biquad {
	w := 2 * math.Pi * fc / Rate
	al := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + al
	return biquad{(1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0, -2 * c / a0, (1 - al) / a0}
}

func (f biquad) apply(x []float64) {
	var x1, x2, y1, y2 float64
	for i, v := range x {
		y := f.b0*v + f.b1*x1 + f.b2*x2 - f.a1*y1 - f.a2*y2
		x2, x1 = x1, v
		y2, y1 = y1, y
		x[i] = y
	}
}
