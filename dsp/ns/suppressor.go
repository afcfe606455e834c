// Package ns is a single-channel noise suppressor for 48 kHz speech.
//
// Analysis uses 20 ms sqrt-Hann windows with 50% overlap (one 10 ms frame
// per hop), so the added delay is exactly one frame: 480 samples, 10 ms.
//
// Noise tracking and speech presence run in perceptual bands (about 0.7 ERB
// wide, single bins at the bottom), which is cheaper than per bin and, with
// several bins per band, far less noisy. Per band, minimum-controlled
// recursive averaging (MCRA) with an IMCRA-style second pass finds where
// speech is absent: a first minimum search over the smoothed band power
// gives a rough speech/noise decision; a second minimum search over the
// noise-only frames alone gives an unbiased floor, from which a soft speech
// presence probability is taken. The noise estimate is a recursive average
// steered by that probability, so it follows the mean, not the minimum.
// DC and 50 Hz carry no voice and are always cut to the floor.
//
// The gain stays per bin so that speech harmonics are resolved: a
// decision-directed a-priori SNR per bin against the interpolated band
// noise, a Wiener gain, and an OM-LSA-style blend towards the gain floor
// weighted by the band's a-posteriori speech presence probability.
// Band-level presence, the a-priori SNR floor and the decision-directed
// smoothing keep musical noise down.
package ns

import (
	"math"
	"sync"
)

const (
	// FrameSize is the number of samples Process takes: 10 ms at 48 kHz.
	FrameSize = 480
	fftSize   = 2 * FrameSize
	bins      = fftSize/2 + 1
	binHz     = 48000.0 / fftSize
	// maxBands bounds the band tables; the ERB spacing gives fewer.
	maxBands = 64
	// lowBins (0 and 50 Hz) carry no speech and are always cut to the floor.
	lowBins = 2
	// minBandBins keeps low bands wide enough for a steady noise estimate;
	// the gain stays per bin, so harmonics are still resolved.
	minBandBins = 3
	// bandERB is each band's width in ERB (bands are never under one bin).
	bandERB = 0.7
)

// Config tunes the suppressor. Zero values are not defaults: start from
// DefaultConfig.
type Config struct {
	// MaxAttenuationDB is the gain floor as a positive dB figure (e.g. 25
	// means noise-only bins are cut by 25 dB, never more).
	MaxAttenuationDB float64 `yaml:"max_attenuation_db"`
	// DDAlpha is the decision-directed smoothing factor (0.9..0.99).
	DDAlpha float64 `yaml:"dd_alpha"`
	// MinWindowFrames is the minimum-search sub-window, in 10 ms frames: the
	// noise estimate follows a rising noise floor within 1..2 windows.
	MinWindowFrames int `yaml:"min_window_frames"`
	// PresenceThreshold is the ratio of smoothed band power to its minimum
	// above which a band counts as speech in the first (rough) pass.
	PresenceThreshold float64 `yaml:"presence_threshold"`
}

// DefaultConfig returns the tuned defaults.
func DefaultConfig() Config {
	return Config{
		MaxAttenuationDB:  30,
		DDAlpha:           0.85,
		MinWindowFrames:   100,
		PresenceThreshold: 5,
	}
}

// Stats reports what the suppressor is doing.
type Stats struct {
	// NoiseFloorDBFS is the estimated noise level (20 log10 RMS).
	NoiseFloorDBFS float64
	// SpeechPresence is the mean speech presence probability of the last frame.
	SpeechPresence float64
	// GainDB is the power-weighted gain applied to the last frame.
	GainDB float64
	// DelaySamples is the added delay (always FrameSize).
	DelaySamples int
}

// Suppressor is one channel's noise suppressor. Not safe for concurrent use.
type Suppressor struct {
	cfg Config
	*tables
	own *Scratch         // nil for NewExternal
	in  [fftSize]float64 // last two frames of input
	ola [FrameSize]float64

	prevSpk [bins]float64 // |G_H1 Y|^2 of the previous frame, for DD

	bpow    [maxBands]float64 // mean |Y|^2 per bin in the band
	smooth  [maxBands]float64 // S: time-smoothed band power
	smin    [maxBands]float64 // first-pass minimum of S
	stmp    [maxBands]float64
	smooth2 [maxBands]float64 // S~: smoothed over speech-absent frames only
	smin2   [maxBands]float64 // second-pass minimum
	stmp2   [maxBands]float64
	bnoise  [maxBands]float64 // noise estimate (before bias)
	bq      [maxBands]float64 // a-priori speech absence probability
	bp      [maxBands]float64 // a-posteriori speech presence probability

	gmin   float64
	count  int
	frames int
	stats  Stats
}

// tables are the windows and band layout, the same for every suppressor:
// built once and shared, since every participant runs one.
type tables struct {
	window [fftSize]float64
	synth  [fftSize]float64 // window / fftSize: the inverse is unnormalised

	// Band layout: band b covers bins [lo[b], lo[b+1]); per bin, the
	// interpolation between the centres of bands ib[k] and ib[k]+1.
	nb    int
	lo    [maxBands + 1]int
	width [maxBands]float64
	ib    [bins]int32
	iw    [bins]float64
	// bias is the ratio of a band's mean noise power to the minimum of its
	// smoothed power: larger for narrow bands, whose power varies more.
	bias [maxBands]float64
}

var sharedTables = sync.OnceValue(func() *tables {
	t := &tables{}
	for i := range t.window {
		t.window[i] = math.Sin(math.Pi * float64(i) / fftSize) // sqrt of periodic Hann
		t.synth[i] = t.window[i] / fftSize
	}
	t.layoutBands()
	return t
})

// Scratch is a suppressor's per-frame working memory (transform buffers,
// spectrum, per-bin SNR), nothing of which survives a frame. Suppressors
// run one after another on one goroutine can share one (see NewExternal):
// more than half of a suppressor's memory.
type Scratch struct {
	fft  *realFFT
	spec [bins]complex128
	pow  [bins]float64 // |Y|^2 this frame
	xi   [bins]float64
	td   [fftSize]float64 // inverse transform output
}

// NewScratch returns working memory for ProcessWith.
func NewScratch() *Scratch { return &Scratch{fft: newRealFFT(fftSize)} }

// New returns a suppressor with its own scratch.
func New(cfg Config) *Suppressor {
	s := NewExternal(cfg)
	s.own = NewScratch()
	return s
}

// NewExternal returns a suppressor without scratch of its own: it must be
// run with ProcessWith.
func NewExternal(cfg Config) *Suppressor {
	s := &Suppressor{cfg: cfg, tables: sharedTables()}
	if !(cfg.MaxAttenuationDB >= 0) {
		cfg.MaxAttenuationDB = 0
	}
	s.gmin = math.Pow(10, -cfg.MaxAttenuationDB/20)
	if s.cfg.MinWindowFrames < 1 {
		s.cfg.MinWindowFrames = 1
	}
	if !(s.cfg.DDAlpha >= 0 && s.cfg.DDAlpha < 1) {
		s.cfg.DDAlpha = DefaultConfig().DDAlpha
	}
	if !(s.cfg.PresenceThreshold > 1) {
		s.cfg.PresenceThreshold = DefaultConfig().PresenceThreshold
	}
	s.Reset()
	return s
}

// layoutBands splits 0..24 kHz into bands bandERB wide on the ERB-rate
// scale, at least one bin each, and precomputes the per-bin interpolation.
func (s *tables) layoutBands() {
	erb := func(f float64) float64 { return 21.4 * math.Log10(1+0.00437*f) }
	inv := func(e float64) float64 { return (math.Pow(10, e/21.4) - 1) / 0.00437 }
	// The first band holds DC and 50 Hz, below any voice: it only feeds the
	// noise floor figure, and its bins always get the floor gain.
	nb, lo := lowBins, lowBins
	for b := range lowBins {
		s.lo[b+1] = b + 1
	}
	for lo < bins && nb < maxBands {
		hi := int(math.Round(inv(erb(float64(lo)*binHz)+bandERB) / binHz))
		if hi < lo+minBandBins {
			hi = lo + minBandBins
		}
		if hi > bins || nb == maxBands-1 {
			hi = bins
		}
		// Do not leave a sliver at the top.
		if bins-hi < (hi-lo)/2 {
			hi = bins
		}
		nb++
		s.lo[nb] = hi
		lo = hi
	}
	s.nb = nb
	centre := make([]float64, nb)
	for b := range nb {
		w := float64(s.lo[b+1] - s.lo[b])
		s.width[b] = w
		centre[b] = float64(s.lo[b]+s.lo[b+1]-1) / 2
		// The minimum of the smoothed band power sits below its mean by a
		// factor that shrinks with the bins averaged (minimum statistics);
		// an empirical fit is enough since it only gates the decision.
		s.bias[b] = 1 + 1.6/math.Sqrt(w)
	}
	b := 0
	for k := range bins {
		fk := float64(k)
		for b < nb-2 && fk > centre[b+1] {
			b++
		}
		w := 0.0
		if nb > 1 {
			w = (fk - centre[b]) / (centre[b+1] - centre[b])
		}
		s.ib[k] = int32(b)
		s.iw[k] = min(1, max(0, w))
	}
}

// Reset clears all state.
func (s *Suppressor) Reset() {
	clear(s.in[:])
	clear(s.ola[:])
	clear(s.prevSpk[:])
	for b := range maxBands {
		s.bpow[b], s.smooth[b], s.smin[b], s.stmp[b] = 0, 0, 0, 0
		s.smooth2[b], s.smin2[b], s.stmp2[b], s.bnoise[b] = 0, 0, 0, 0
		s.bq[b], s.bp[b] = 1, 0
	}
	s.count, s.frames = 0, 0
	s.stats = Stats{NoiseFloorDBFS: -150, DelaySamples: FrameSize}
}

// Stats returns the last frame's figures.
func (s *Suppressor) Stats() Stats { return s.stats }

// DelaySamples is the fixed delay Process adds.
func (s *Suppressor) DelaySamples() int { return FrameSize }

// Process suppresses noise in one 480-sample frame in place. The output is
// delayed by FrameSize samples. The suppressor must have its own scratch
// (New).
func (s *Suppressor) Process(frame []float32) {
	if s.own == nil {
		panic("ns: a suppressor from NewExternal needs ProcessWith")
	}
	s.ProcessWith(frame, s.own)
}

// ProcessWith is Process with the given working memory, which must not be
// in use by another suppressor at the same time.
func (s *Suppressor) ProcessWith(frame []float32, sc *Scratch) {
	if len(frame) != FrameSize {
		panic("ns: frame must have 480 samples")
	}
	copy(s.in[:FrameSize], s.in[FrameSize:])
	for i, v := range frame {
		x := float64(v)
		if x != x || x > 1e6 || x < -1e6 { // keep NaN/Inf out of the state
			x = 0
		}
		s.in[FrameSize+i] = x
	}
	sc.fft.forward(sc.spec[:], s.in[:], s.window[:])
	for b := range s.nb {
		var e float64
		for k := s.lo[b]; k < s.lo[b+1]; k++ {
			c := sc.spec[k]
			p := real(c)*real(c) + imag(c)*imag(c)
			sc.pow[k] = p
			e += p
		}
		s.bpow[b] = e / s.width[b]
	}
	s.estimateNoise()
	s.computeGain(sc) // also applies the gain to sc.spec
	s.updateNoise()
	sc.fft.inverse(sc.td[:], sc.spec[:])
	for i := range FrameSize {
		y := s.ola[i] + sc.td[i]*s.synth[i]
		// The gain is at most 1, but overlap-add of a modified spectrum can
		// still overshoot full scale by a little.
		if y > 1 {
			y = 1
		} else if y < -1 {
			y = -1
		}
		frame[i] = float32(y)
		s.ola[i] = sc.td[FrameSize+i] * s.synth[FrameSize+i]
	}
	s.frames++
}

// estimateNoise tracks the band noise power with two-pass (IMCRA-style)
// minimum-controlled recursive averaging.
func (s *Suppressor) estimateNoise() {
	const (
		alphaS = 0.8  // band power time smoothing
		gamma0 = 4.6  // second pass: Y/min above this is certainly speech
		zeta0  = 1.67 // second pass: S/min above this is certainly speech
	)
	first := s.frames == 0
	s.count++
	reset := s.count >= s.cfg.MinWindowFrames
	if reset {
		s.count = 0
	}
	delta := s.cfg.PresenceThreshold
	for b := range s.nb {
		pb := s.bpow[b]
		if first {
			s.smooth[b], s.smin[b], s.stmp[b] = pb, pb, pb
			s.smooth2[b], s.smin2[b], s.stmp2[b] = pb, pb, pb
			s.bnoise[b] = pb
			continue
		}
		bias := s.bias[b]
		// First pass: rough speech/noise decision against the minimum.
		sk := alphaS*s.smooth[b] + (1-alphaS)*pb
		s.smooth[b] = sk
		if reset {
			s.smin[b] = min(s.stmp[b], sk)
			s.stmp[b] = sk
		} else {
			s.smin[b] = min(s.smin[b], sk)
			s.stmp[b] = min(s.stmp[b], sk)
		}
		mb := s.smin[b]*bias + 1e-30
		absent := pb < delta*mb && sk < delta*mb
		// Second pass: smooth only the frames judged noise-only, so the
		// minimum is not dragged up by speech.
		if absent {
			s.smooth2[b] = alphaS*s.smooth2[b] + (1-alphaS)*pb
		}
		s2 := s.smooth2[b]
		if reset {
			s.smin2[b] = min(s.stmp2[b], s2)
			s.stmp2[b] = s2
		} else {
			s.smin2[b] = min(s.smin2[b], s2)
			s.stmp2[b] = min(s.stmp2[b], s2)
		}
		m2 := s.smin2[b]*bias + 1e-30
		// A-priori speech absence probability (IMCRA eq. 28, simplified).
		gmr := pb / m2
		zr := sk / m2
		q := 1.0
		if zr >= zeta0 || gmr >= gamma0 {
			q = 0
		} else if gmr > 1 {
			q = (gamma0 - gmr) / (gamma0 - 1)
		}
		s.bq[b] = q
	}
}

// updateNoise averages the band noise where speech is absent, steered by
// this frame's presence probability, for the next frame.
func (s *Suppressor) updateNoise() {
	const alphaD = 0.95
	for b := range s.nb {
		p := s.bp[b]
		ad := alphaD + (1-alphaD)*p
		s.bnoise[b] = ad*s.bnoise[b] + (1-ad)*s.bpow[b]
	}
}

// computeGain spreads the band noise over the bins, runs the per-bin
// decision-directed a-priori SNR and Wiener gain, blends it towards the
// floor by the band's speech presence, and applies it to sc.spec. It also
// updates Stats.
func (s *Suppressor) computeGain(sc *Scratch) {
	const (
		xiMin    = 0.003 // -25 dB a-priori SNR floor
		gammaMax = 1e5
		eps      = 1e-20
		qMax     = 0.95
	)
	alpha := s.cfg.DDAlpha
	var tot float64
	for k := range bins {
		// Band noise interpolated between band centres.
		b := s.ib[k]
		w := s.iw[k]
		n := s.bnoise[b]
		if s.nb > 1 {
			n += w * (s.bnoise[b+1] - n)
		}
		tot += n
		inv := 1 / (n + eps)
		gamma := sc.pow[k] * inv
		if gamma > gammaMax {
			gamma = gammaMax
		}
		xi := alpha * s.prevSpk[k] * inv
		if gamma > 1 {
			xi += (1 - alpha) * (gamma - 1)
		}
		if xi < xiMin {
			xi = xiMin
		}
		sc.xi[k] = xi
	}
	// Parseval with the sqrt-Hann window (mean square 0.5); the DC and
	// Nyquist bins count once, the others twice.
	tot = 2*tot - s.bnoiseAt(0) - s.bnoiseAt(bins-1)
	s.stats.NoiseFloorDBFS = 10 * math.Log10(tot/(fftSize*fftSize*0.5)+1e-15)
	// Band speech presence from the band's mean a-priori and a-posteriori
	// SNR: one exponential per band instead of per bin.
	var psum float64
	for b := range s.nb {
		var xs float64
		for _, x := range sc.xi[s.lo[b]:s.lo[b+1]] {
			xs += x
		}
		xi := xs / s.width[b]
		gamma := s.bpow[b] / (s.bnoise[b] + eps)
		q := min(s.bq[b], qMax)
		p := 1.0
		if q > 0 {
			v := gamma * xi / (1 + xi)
			p = 1 / (1 + q/(1-q)*(1+xi)*fastExpNeg(v))
		}
		s.bp[b] = p
		psum += p * s.width[b]
	}
	var num, den float64
	for k := range bins {
		b := s.ib[k]
		w := s.iw[k]
		p := s.bp[b]
		if s.nb > 1 {
			p += w * (s.bp[b+1] - p)
		}
		xi := sc.xi[k]
		gw := xi / (1 + xi)
		g := p*gw + (1-p)*s.gmin
		if k < lowBins {
			g = s.gmin
		}
		pk := sc.pow[k]
		s.prevSpk[k] = gw * gw * pk
		sc.spec[k] = complex(real(sc.spec[k])*g, imag(sc.spec[k])*g)
		num += g * g * pk
		den += pk
	}
	s.stats.SpeechPresence = psum / bins
	if den > 0 {
		s.stats.GainDB = 10 * math.Log10(num/den+1e-30)
	} else {
		s.stats.GainDB = 0
	}
}

// bnoiseAt is the interpolated band noise at bin k.
func (s *Suppressor) bnoiseAt(k int) float64 {
	b := s.ib[k]
	n := s.bnoise[b]
	if s.nb > 1 {
		n += s.iw[k] * (s.bnoise[b+1] - n)
	}
	return n
}

// fastExpNeg is exp(-v) for v >= 0 to about 2e-6 relative, several times
// cheaper than math.Exp: 2^-t = 2^-i * 2^-f with the fraction by polynomial.
func fastExpNeg(v float64) float64 {
	if v >= 60 {
		return 0
	}
	if !(v > 0) {
		return 1
	}
	t := v * math.Log2E
	i := int(t)
	x := -(t - float64(i)) * math.Ln2 // (-ln2, 0]
	p := 1 + x*(1+x*(0.5+x*(1.0/6+x*(1.0/24+x*(1.0/120+x*(1.0/720+x*(1.0/5040)))))))
	return p * math.Float64frombits(uint64(1023-i)<<52)
}
