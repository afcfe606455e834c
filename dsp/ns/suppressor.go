// Package ns is a single-channel noise suppressor for 48 kHz speech.
//
// Analysis uses 20 ms sqrt-Hann windows with 50% overlap (one 10 ms frame
// per hop), so the added delay is exactly one frame: 480 samples, 10 ms.
// The noise power spectrum is tracked without a VAD by minimum-controlled
// recursive averaging (MCRA): a smoothed periodogram is compared with its
// running minimum to estimate per-bin speech presence, and the noise estimate
// is only updated where speech is absent. The gain is optimally modified:
// a Wiener gain from the decision-directed a-priori SNR, weighted by the
// a-posteriori speech presence probability towards a gain floor (OM-LSA
// style). Decision-directed smoothing, the
// a-priori SNR floor and the presence weighting keep musical noise down.
package ns

import (
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

const (
	// FrameSize is the number of samples Process takes: 10 ms at 48 kHz.
	FrameSize = 480
	fftSize   = 2 * FrameSize
	bins      = fftSize/2 + 1
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
	// PresenceThreshold is the ratio of smoothed power to its minimum above
	// which a bin counts as speech for noise tracking.
	PresenceThreshold float64 `yaml:"presence_threshold"`
}

// DefaultConfig returns the tuned defaults.
func DefaultConfig() Config {
	return Config{
		MaxAttenuationDB:  30,
		DDAlpha:           0.92,
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
	cfg    Config
	fft    *fourier.FFT
	window [fftSize]float64
	in     [fftSize]float64 // last two frames of input
	ola    [FrameSize]float64
	td     [fftSize]float64
	spec   []complex128

	pow     [bins]float64 // |Y|^2 this frame
	smooth  [bins]float64 // S: time-frequency smoothed power
	smin    [bins]float64 // running minimum of S
	stmp    [bins]float64
	presIdx [bins]float64 // MCRA speech presence (smoothed indicator)
	noise   [bins]float64 // lambda_d
	prevSpk [bins]float64 // |G Y|^2 of the previous frame, for DD
	gain    [bins]float64

	gmin   float64
	count  int
	frames int
	stats  Stats
}

// New returns a suppressor.
func New(cfg Config) *Suppressor {
	s := &Suppressor{cfg: cfg, fft: fourier.NewFFT(fftSize), spec: make([]complex128, bins)}
	for i := range s.window {
		s.window[i] = math.Sin(math.Pi * float64(i) / fftSize) // sqrt of periodic Hann
	}
	s.gmin = math.Pow(10, -cfg.MaxAttenuationDB/20)
	if s.cfg.MinWindowFrames < 1 {
		s.cfg.MinWindowFrames = 1
	}
	s.Reset()
	return s
}

// Reset clears all state.
func (s *Suppressor) Reset() {
	clear(s.in[:])
	clear(s.ola[:])
	for k := range bins {
		s.smooth[k], s.smin[k], s.stmp[k] = 0, 0, 0
		s.presIdx[k], s.noise[k], s.prevSpk[k] = 0, 0, 0
		s.gain[k] = 1
	}
	s.count, s.frames = 0, 0
	s.stats = Stats{NoiseFloorDBFS: -150, DelaySamples: FrameSize}
}

// Stats returns the last frame's figures.
func (s *Suppressor) Stats() Stats { return s.stats }

// DelaySamples is the fixed delay Process adds.
func (s *Suppressor) DelaySamples() int { return FrameSize }

// Process suppresses noise in one 480-sample frame in place. The output is
// delayed by FrameSize samples.
func (s *Suppressor) Process(frame []float32) {
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
	for i := range s.td {
		s.td[i] = s.in[i] * s.window[i]
	}
	s.fft.Coefficients(s.spec, s.td[:])
	for k, c := range s.spec {
		s.pow[k] = real(c)*real(c) + imag(c)*imag(c)
	}
	s.estimateNoise()
	s.computeGain()
	var num, den float64
	for k := range s.spec {
		g := s.gain[k]
		s.spec[k] = complex(real(s.spec[k])*g, imag(s.spec[k])*g)
		num += g * g * s.pow[k]
		den += s.pow[k]
	}
	s.fft.Sequence(s.td[:], s.spec)
	const norm = 1.0 / fftSize
	for i := range FrameSize {
		frame[i] = float32(s.ola[i] + s.td[i]*s.window[i]*norm)
		s.ola[i] = s.td[FrameSize+i] * s.window[FrameSize+i] * norm
	}
	s.frames++
	if den > 0 {
		s.stats.GainDB = 10 * math.Log10(num/den+1e-30)
	} else {
		s.stats.GainDB = 0
	}
}

// estimateNoise runs MCRA on the power spectrum.
func (s *Suppressor) estimateNoise() {
	const (
		alphaS = 0.8  // periodogram time smoothing
		alphaP = 0.2  // speech presence smoothing
		alphaD = 0.95 // noise averaging where speech is absent
	)
	first := s.frames == 0
	s.count++
	reset := s.count >= s.cfg.MinWindowFrames
	if reset {
		s.count = 0
	}
	delta := s.cfg.PresenceThreshold
	for k := range bins {
		// Frequency smoothing over three bins (edges mirror).
		l, r := k-1, k+1
		if l < 0 {
			l = 1
		}
		if r >= bins {
			r = bins - 2
		}
		sf := 0.25*s.pow[l] + 0.5*s.pow[k] + 0.25*s.pow[r]
		if first {
			s.smooth[k], s.smin[k], s.stmp[k], s.noise[k] = sf, sf, sf, s.pow[k]
			continue
		}
		sk := alphaS*s.smooth[k] + (1-alphaS)*sf
		s.smooth[k] = sk
		if reset {
			s.smin[k] = min(s.stmp[k], sk)
			s.stmp[k] = sk
		} else {
			s.smin[k] = min(s.smin[k], sk)
			s.stmp[k] = min(s.stmp[k], sk)
		}
		ind := 0.0
		if sk > delta*s.smin[k] {
			ind = 1
		}
		p := alphaP*s.presIdx[k] + (1-alphaP)*ind
		s.presIdx[k] = p
		ad := alphaD + (1-alphaD)*p
		s.noise[k] = ad*s.noise[k] + (1-ad)*s.pow[k]
	}
	var tot float64
	for k := range bins {
		w := 2.0
		if k == 0 || k == bins-1 {
			w = 1
		}
		tot += w * s.noise[k]
	}
	// Parseval with the sqrt-Hann window (mean square 0.5).
	ms := tot / (fftSize * fftSize * 0.5)
	s.stats.NoiseFloorDBFS = 10 * math.Log10(ms+1e-15)
}

// computeGain runs the decision-directed a-priori SNR and the
// presence-weighted Wiener gain.
// Smoothing the gains across frequency was measured to cost about 0.5 dB of
// segSNR for no audible gain, so it is left out; the presence weighting and
// the a-priori SNR floor already hold musical noise down.
func (s *Suppressor) computeGain() {
	const (
		xiMin    = 0.003 // -25 dB a-priori SNR floor
		gammaMax = 1e5
		eps      = 1e-12
		qMin     = 0.05
		qMax     = 0.95
	)
	alpha := s.cfg.DDAlpha
	var psum float64
	for k := range bins {
		lam := s.noise[k] + eps
		inv := 1 / lam
		gamma := s.pow[k] * inv
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
		gw := xi / (1 + xi)
		// A-posteriori speech presence: q is the a-priori absence
		// probability taken from MCRA's smoothed indicator.
		q := 1 - s.presIdx[k]
		if q < qMin {
			q = qMin
		} else if q > qMax {
			q = qMax
		}
		v := gamma * gw
		p := 1 / (1 + q/(1-q)*(1+xi)*fastExpNeg(v))
		psum += p
		g := p*gw + (1-p)*s.gmin
		s.gain[k] = g
		s.prevSpk[k] = gw * gw * s.pow[k]
	}
	s.stats.SpeechPresence = psum / bins
}

// fastExpNeg is exp(-v) for v >= 0 to about 2e-6 relative, several times
// cheaper than math.Exp: 2^-t = 2^-i * 2^-f with the fraction by polynomial.
func fastExpNeg(v float64) float64 {
	if v >= 60 {
		return 0
	}
	t := v * math.Log2E
	i := int(t)
	x := -(t - float64(i)) * math.Ln2 // (-ln2, 0]
	p := 1 + x*(1+x*(0.5+x*(1.0/6+x*(1.0/24+x*(1.0/120+x*(1.0/720+x*(1.0/5040)))))))
	return p * math.Float64frombits(uint64(1023-i)<<52)
}
