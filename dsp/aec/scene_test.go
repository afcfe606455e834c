package aec

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Synthetic scenes: speech-like signals, rooms and delays, generated in the
// tests so nothing external is needed.

const fs = 48000

// speechLike returns n samples of a speech-like signal: voiced syllables
// (harmonic series with a gliding pitch and random formants, from a
// per-syllable wavetable), some noise-like fricatives and pauses, scaled to
// rms over the whole signal.
func speechLike(seed uint64, n int, rms float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]float64, n)
	const tableLen = 2048
	table := make([]float64, tableLen)
	pos := int(0.05 * fs * rng.Float64())
	for pos < n {
		if rng.Float64() < 0.25 {
			// Fricative: first-differenced noise burst.
			l := int((0.04 + 0.08*rng.Float64()) * fs)
			prev := 0.0
			for i := 0; i < l && pos+i < n; i++ {
				w := rng.NormFloat64()
				env := math.Sin(math.Pi * float64(i) / float64(l))
				out[pos+i] += 0.25 * env * (w - 0.7*prev)
				prev = w
			}
			pos += l
		}
		// Voiced syllable.
		l := int((0.12 + 0.23*rng.Float64()) * fs)
		f0 := 90 + 130*rng.Float64()
		glide := 1 + 0.4*(rng.Float64()-0.5)
		f1 := 300 + 600*rng.Float64()
		f2 := 900 + 1600*rng.Float64()
		f3 := 2500 + 1000*rng.Float64()
		clear(table)
		for h := 1; float64(h)*f0 < 7000; h++ {
			f := float64(h) * f0
			a := math.Exp(-sq((f-f1)/150)) + 0.6*math.Exp(-sq((f-f2)/200)) + 0.3*math.Exp(-sq((f-f3)/300)) + 0.02
			a /= math.Sqrt(float64(h))
			ph := rng.Float64() * 2 * math.Pi
			for i := range table {
				table[i] += a * math.Sin(2*math.Pi*float64(h*i)/tableLen+ph)
			}
		}
		phase := 0.0
		for i := 0; i < l && pos+i < n; i++ {
			t := float64(i) / float64(l)
			f := f0 * (1 + (glide-1)*t)
			phase += f / fs
			phase -= math.Floor(phase)
			x := phase * tableLen
			k := int(x)
			fr := x - float64(k)
			v := table[k]*(1-fr) + table[(k+1)%tableLen]*fr
			env := math.Min(1, math.Min(t*8, (1-t)*5))
			out[pos+i] += env * v
		}
		pos += l
		// Pause; now and then a long one.
		if rng.Float64() < 0.15 {
			pos += int((0.3 + 0.3*rng.Float64()) * fs)
		} else {
			pos += int((0.03 + 0.15*rng.Float64()) * fs)
		}
	}
	var e float64
	for _, v := range out {
		e += v * v
	}
	g := rms / math.Sqrt(e/float64(n)+1e-20)
	res := make([]float32, n)
	for i, v := range out {
		res[i] = float32(v * g)
	}
	return res
}

func sq(x float64) float64 { return x * x }

// roomIR returns an impulse response with a unit direct path at tap 0, two
// early reflections and an exponentially decaying noise tail reaching
// -60 dB at t60, with the tail 3 dB below the direct path, scaled for erlDB.
func roomIR(seed uint64, t60, erlDB float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := int(t60 * fs)
	h := make([]float64, n)
	var e float64
	start := int(0.002 * fs)
	for i := start; i < n; i++ {
		h[i] = rng.NormFloat64() * math.Exp(-6.9*float64(i-start)/(t60*fs))
		e += h[i] * h[i]
	}
	g := math.Sqrt(0.5 / e)
	for i := range h {
		h[i] *= g
	}
	h[0] = 1
	h[149] += 0.4
	h[274] -= 0.3
	s := math.Pow(10, -erlDB/20)
	for i := range h {
		h[i] *= s
	}
	return h
}

// convolve returns x*h (length len(x)) by FFT overlap-add.
func convolve(x []float64, h []float64) []float64 {
	nfft := 1
	for nfft < 2*len(h) {
		nfft <<= 1
	}
	blk := nfft - len(h) + 1
	f := fourier.NewFFT(nfft)
	hb := make([]float64, nfft)
	copy(hb, h)
	H := f.Coefficients(nil, hb)
	out := make([]float64, len(x)+nfft)
	buf := make([]float64, nfft)
	X := make([]complex128, len(H))
	for s := 0; s < len(x); s += blk {
		clear(buf)
		copy(buf, x[s:min(s+blk, len(x))])
		f.Coefficients(X, buf)
		for k := range X {
			X[k] *= H[k]
		}
		f.Sequence(buf, X)
		for i, v := range buf {
			out[s+i] += v / float64(nfft)
		}
	}
	return out[:len(x)]
}

type sceneSpec struct {
	name       string
	seconds    float64
	delayMs    float64 // stream lag of the direct path
	driftEvery int     // the delay grows by one sample every driftEvery samples (0: none)
	jumpAt     float64 // seconds; 0: none
	jumpMs     float64
	t60        float64
	erlDB      float64
	farRMS     float64
	nearRMS    float64 // near-end talker, 0: none
	nearStart  float64 // seconds
	noEcho     bool
	seed       uint64
}

type scene struct {
	spec  sceneSpec
	far   []float32
	near  []float32
	clean []float32 // near-end talker alone
	echo  []float32
	delay []int // true delay per sample
}

func makeScene(s sceneSpec) scene {
	n := int(s.seconds*fs) / BlockSamples * BlockSamples
	far := speechLike(s.seed, n, s.farRMS)
	sc := scene{spec: s, far: far, near: make([]float32, n), clean: make([]float32, n), echo: make([]float32, n), delay: make([]int, n)}
	// Mild loudspeaker nonlinearity, then the room.
	nl := make([]float64, n)
	for i, v := range far {
		nl[i] = math.Tanh(0.5*float64(v)) / 0.5
	}
	wet := convolve(nl, roomIR(s.seed+1, s.t60, s.erlDB))
	d0 := int(s.delayMs * fs / 1000)
	for i := 0; i < n; i++ {
		d := d0
		if s.driftEvery > 0 {
			d += i / s.driftEvery
		}
		if s.jumpAt > 0 && float64(i) >= s.jumpAt*fs {
			d += int(s.jumpMs * fs / 1000)
		}
		sc.delay[i] = d
		if k := i - d; k >= 0 && !s.noEcho {
			sc.echo[i] = float32(wet[k])
		}
	}
	if s.nearRMS > 0 {
		talk := speechLike(s.seed+100, n, s.nearRMS)
		for i := int(s.nearStart * fs); i < n; i++ {
			sc.clean[i] = talk[i]
		}
	}
	rng := rand.New(rand.NewPCG(s.seed+2, 3))
	for i := range sc.near {
		sc.near[i] = sc.echo[i] + sc.clean[i] + float32(1e-3*rng.NormFloat64())
	}
	return sc
}

// run feeds the scene in the server's tick order (Process, Process, Render,
// Render) and returns the output, advanced by LatencySamples so that it
// lines up with the input, and a Stats snapshot per block.
func run(c *Canceller, sc scene) ([]float32, []Stats) {
	out, st, _ := runLinear(c, sc)
	return out, st
}

// runLinear is run that also returns, per sample, the adaptive filter's
// echo estimate (no latency: yhat belongs to the block just processed).
func runLinear(c *Canceller, sc scene) ([]float32, []Stats, []float32) {
	n := len(sc.near)
	y := make([]float32, n)
	out := make([]float32, n+LatencySamples)
	buf := make([]float32, BlockSamples)
	stats := make([]Stats, 0, n/BlockSamples)
	const tick = 2 * BlockSamples
	for t := 0; t+tick <= n; t += tick {
		for h := 0; h < 2; h++ {
			o := t + h*BlockSamples
			copy(buf, sc.near[o:o+BlockSamples])
			c.Process(buf)
			copy(out[o:], buf)
			for i, v := range c.yhat {
				y[o+i] = float32(v)
			}
			stats = append(stats, c.Stats())
		}
		c.Render(sc.far[t : t+BlockSamples])
		c.Render(sc.far[t+BlockSamples : t+tick])
	}
	return out[LatencySamples : n+LatencySamples], stats, y
}

// linERLE is echo power over residual echo power (echo - estimate) in
// [from, to) s: the linear filter alone, unaffected by noise, near end and
// suppression.
func linERLE(sc scene, y []float32, from, to float64) float64 {
	var pe, pr float64
	for i := int(from * fs); i < int(to*fs) && i < len(y); i++ {
		e := float64(sc.echo[i])
		r := e - float64(y[i])
		pe += e * e
		pr += r * r
	}
	return 10 * math.Log10((pe+1e-20)/(pr+1e-20))
}

func power(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e
}

// echoActive reports per block whether the echo in it is above -50 dBFS.
func echoActive(sc scene) []bool {
	nb := len(sc.near) / BlockSamples
	a := make([]bool, nb)
	for b := range a {
		a[b] = power(sc.echo[b*BlockSamples:(b+1)*BlockSamples])/BlockSamples > 1e-5
	}
	return a
}

// erleOver is 10 log10(near/out) over echo-active blocks in [from, to) s.
func erleOver(sc scene, out []float32, from, to float64) float64 {
	act := echoActive(sc)
	var pn, po float64
	for b := int(from * 100); b < int(to*100) && b < len(act); b++ {
		if !act[b] {
			continue
		}
		pn += power(sc.near[b*BlockSamples : (b+1)*BlockSamples])
		po += power(out[b*BlockSamples : (b+1)*BlockSamples])
	}
	return 10 * math.Log10((pn+1e-20)/(po+1e-20))
}

// timeTo returns the first time (s) from which the ERLE over every later
// 200 ms window, up to 1 s further, stays at or above db.
func timeTo(sc scene, out []float32, db float64) float64 {
	end := float64(len(out)) / fs
	for t := 0.0; t+1.2 < end; t += 0.05 {
		ok := true
		for w := t; w < t+1; w += 0.1 {
			if erleOver(sc, out, w, w+0.2) < db {
				ok = false
				break
			}
		}
		if ok {
			return t
		}
	}
	return math.Inf(1)
}

// firstFar returns the time of the first echo-active block.
func firstEcho(sc scene) float64 {
	for b, a := range echoActive(sc) {
		if a {
			return float64(b) / 100
		}
	}
	return 0
}

// sdr is the near-end talker's signal-to-distortion ratio in [from, to) s.
func sdr(clean, out []float32, from, to float64) float64 {
	var s, d float64
	for i := int(from * fs); i < int(to*fs) && i < len(out); i++ {
		s += float64(clean[i]) * float64(clean[i])
		e := float64(out[i]) - float64(clean[i])
		d += e * e
	}
	return 10 * math.Log10((s+1e-20)/(d+1e-20))
}
