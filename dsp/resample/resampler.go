// Package resample converts mono float32 audio between sample rates with a
// band-limited, Kaiser-windowed sinc interpolator in polyphase form.
//
// The resampler is exact-ratio (inRate/outRate reduced to L/M) and streaming:
// it keeps its history between calls. Output sample k sits at input time
// k*inRate/outRate, so the output is aligned with the input and the only cost
// of the filter is that output k can be produced once input up to
// k*inRate/outRate+Latency() has arrived. Flush drains that tail with zeros.
package resample

import (
	"fmt"
	"math"
)

// Quality picks the filter's stopband attenuation and passband width.
type Quality int

// Qualities, cheapest first.
const (
	// QualityLow: 60 dB stopband, passband to 80% of the lower Nyquist.
	QualityLow Quality = iota
	// QualityMedium: 80 dB stopband, passband to 85% of the lower Nyquist.
	QualityMedium
	// QualityHigh: 100 dB stopband, passband to 90% of the lower Nyquist.
	QualityHigh
)

type qualityParams struct {
	atten   float64 // stopband attenuation, dB
	rolloff float64 // passband edge as a fraction of the lower Nyquist
}

var qualities = [...]qualityParams{
	QualityLow:    {60, 0.80},
	QualityMedium: {80, 0.85},
	QualityHigh:   {100, 0.90},
}

// Resampler is a streaming rational-ratio resampler. It is not safe for
// concurrent use.
type Resampler struct {
	inRate, outRate int
	l, m            int       // out/in = l/m, reduced
	taps            int       // taps per phase (even)
	half            int       // taps/2: input samples needed on each side
	table           []float32 // l phases of taps coefficients
	buf             []float32 // pending input; buf[0] is input index base
	base            int64     // absolute input index of buf[0]
	pos             int64     // integer part of the next output's input time
	phase           int       // next output's fractional time, in 1/l
	fed             int64     // input samples received so far
}

// New returns a resampler from inRate to outRate (Hz). Rates from 8 kHz to
// 192 kHz are accepted; any pair works, the ratio is reduced exactly.
func New(inRate, outRate int, q Quality) (*Resampler, error) {
	for _, r := range []int{inRate, outRate} {
		if r < 8000 || r > 192000 {
			return nil, fmt.Errorf("%w: %d Hz", ErrUnsupportedRate, r)
		}
	}
	if q < 0 || int(q) >= len(qualities) {
		return nil, fmt.Errorf("%w: %d", ErrUnknownQuality, q)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{inRate: inRate, outRate: outRate, l: outRate / g, m: inRate / g}
	p := qualities[q]
	// Design in input-sample time. The lower Nyquist bounds the band: the
	// passband ends at rolloff*fn and the stopband starts at fn, so neither
	// aliases (down) nor images (up) fall below fn.
	fn := 0.5 * float64(min(inRate, outRate))
	fc := 0.5 * (1 + p.rolloff) * fn / float64(inRate) // cutoff, cycles per input sample
	dw := 2 * math.Pi * (1 - p.rolloff) * fn / float64(inRate)
	n := (p.atten - 7.95) / (2.285 * dw) // Kaiser's length estimate
	r.half = int(math.Ceil(n/2)) + 1
	r.taps = 2 * r.half
	beta := kaiserBeta(p.atten)
	i0b := besselI0(beta)
	r.table = make([]float32, r.l*r.taps)
	w := float64(r.half)
	for ph := 0; ph < r.l; ph++ {
		row := r.table[ph*r.taps : (ph+1)*r.taps]
		frac := float64(ph) / float64(r.l)
		sum := 0.0
		coef := make([]float64, r.taps)
		for j := range coef {
			// Output at time i+frac uses input i-half+1+j at distance tau.
			tau := frac + float64(r.half-1-j)
			x := tau / w
			if x <= -1 || x >= 1 {
				continue
			}
			win := besselI0(beta*math.Sqrt(1-x*x)) / i0b
			coef[j] = 2 * fc * sinc(2*fc*tau) * win
			sum += coef[j]
		}
		// Exact unity DC gain on every phase keeps DC and low tones steady.
		for j, c := range coef {
			row[j] = float32(c / sum)
		}
	}
	r.buf = make([]float32, 0, 4*r.taps+8192)
	r.Reset()
	return r, nil
}

// Reset forgets all history, as if newly constructed.
func (r *Resampler) Reset() {
	// The first output (time 0) needs inputs -half+1..half; the negative ones
	// are the zeros before the stream starts.
	r.buf = r.buf[:r.half-1]
	clear(r.buf)
	r.base = -int64(r.half - 1)
	r.pos, r.phase, r.fed = 0, 0, 0
}

// Latency is the filter's one-sided length in input samples: output for input
// time t is available once input t+Latency has been given.
func (r *Resampler) Latency() int { return r.half }

// LatencySeconds is Latency in seconds.
func (r *Resampler) LatencySeconds() float64 { return float64(r.half) / float64(r.inRate) }

// Ratio returns the reduced out/in ratio l/m.
func (r *Resampler) Ratio() (l, m int) { return r.l, r.m }

// MaxOut bounds the outputs one Process call with n new input samples can
// produce; size dst with it to drain everything in one call.
func (r *Resampler) MaxOut(n int) int {
	return int((int64(n)+int64(r.taps))*int64(r.l)/int64(r.m)) + 2
}

// OutputLen is the exact number of samples a whole stream of n input samples
// becomes after Process and Flush: ceil(n*out/in).
func (r *Resampler) OutputLen(n int) int {
	return int((int64(n)*int64(r.l) + int64(r.m) - 1) / int64(r.m))
}

// Process appends src to the history and writes as many outputs as are ready
// (up to len(dst)) into dst, returning the count. Input that could not be
// turned into output because dst was full stays buffered: call again with an
// empty src to collect it. After the buffer has grown to the caller's chunk
// size, Process does not allocate.
func (r *Resampler) Process(dst, src []float32) int {
	r.fed += int64(len(src))
	r.buf = append(r.buf, src...)
	return r.drain(dst, r.base+int64(len(r.buf)))
}

// Flush feeds the zeros that follow the end of the stream and writes the
// remaining outputs, so that the total equals OutputLen(all input). dst must
// have room for MaxOut(0) samples to finish in one call.
func (r *Resampler) Flush(dst []float32) int {
	total := (r.fed*int64(r.l) + int64(r.m) - 1) / int64(r.m)
	done := r.outputsDone()
	if done >= total {
		return 0
	}
	need := r.base + int64(len(r.buf))
	for range r.half + 1 {
		r.buf = append(r.buf, 0)
	}
	end := need + int64(r.half) + 1
	want := int(total - done)
	if want < len(dst) {
		dst = dst[:want]
	}
	n := r.drain(dst, end)
	return n
}

// outputsDone is the number of outputs produced so far.
func (r *Resampler) outputsDone() int64 {
	// pos*l + phase = k*m for output k.
	return (r.pos*int64(r.l) + int64(r.phase)) / int64(r.m)
}

// drain computes outputs while input up to pos+half is present (index < avail).
func (r *Resampler) drain(dst []float32, avail int64) int {
	n := 0
	taps := r.taps
	for n < len(dst) && r.pos+int64(r.half) < avail {
		start := int(r.pos - int64(r.half) + 1 - r.base)
		x := r.buf[start : start+taps]
		h := r.table[r.phase*taps : r.phase*taps+taps]
		dst[n] = dot(h, x)
		n++
		r.phase += r.m
		for r.phase >= r.l {
			r.phase -= r.l
			r.pos++
		}
	}
	// Drop input no future output will touch.
	keep := int(r.pos - int64(r.half) + 1 - r.base)
	if keep > 0 {
		m := copy(r.buf, r.buf[keep:])
		r.buf = r.buf[:m]
		r.base += int64(keep)
	}
	return n
}

func dot(h, x []float32) float32 {
	x = x[:len(h)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(h); i += 4 {
		s0 += h[i] * x[i]
		s1 += h[i+1] * x[i+1]
		s2 += h[i+2] * x[i+2]
		s3 += h[i+3] * x[i+3]
	}
	for ; i < len(h); i++ {
		s0 += h[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiserBeta is Kaiser's empirical beta for a given attenuation in dB.
func kaiserBeta(a float64) float64 {
	switch {
	case a > 50:
		return 0.1102 * (a - 8.7)
	case a >= 21:
		return 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	default:
		return 0
	}
}

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-16 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
