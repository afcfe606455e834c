// Package vad estimates, per 10 ms frame at 48 kHz, the probability that the
// frame holds speech, and a smoothed level.
//
// It is deliberately cheap (no FFT, about 2 µs a frame): the room runs it on
// every participant. Features:
//   - the energy of the 300–4000 Hz speech band over an adaptive noise floor
//     (fast to fall, slow to rise, so it follows the floor under speech);
//   - the share of the frame's energy inside that band (a coarse spectral
//     shape cue: white or high-frequency noise puts most energy outside it,
//     voiced speech most inside);
//   - frame-to-frame variability, since stationary noise does not fluctuate
//     the way syllables do.
//
// Speech() adds a hangover so that word endings and short gaps count.
package vad

import "math"

// FrameSize is the number of samples Process expects (10 ms at 48 kHz).
const FrameSize = 480

// Config tunes the detector.
type Config struct {
	// ThresholdDB is the band SNR at which the probability crosses 0.5.
	ThresholdDB float64 `yaml:"threshold_db"`
	// MinLevelDBFS: frames whose speech-band level is below this are never
	// speech, whatever their SNR (digital silence, dither).
	MinLevelDBFS float64 `yaml:"min_level_dbfs"`
	// HangoverFrames keeps Speech() true this many frames after the last
	// frame with probability above 0.5.
	HangoverFrames int `yaml:"hangover_frames"`
	// LevelTimeConstantMs smooths LevelDBFS.
	LevelTimeConstantMs float64 `yaml:"level_time_constant_ms"`
	// NoiseRiseDBPerSec bounds how fast the noise floor estimate may rise.
	NoiseRiseDBPerSec float64 `yaml:"noise_rise_db_per_sec"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ThresholdDB:         4,
		MinLevelDBFS:        -65,
		HangoverFrames:      20,
		LevelTimeConstantMs: 100,
		NoiseRiseDBPerSec:   3,
	}
}

type biquad struct{ b0, b1, b2, a1, a2, z1, z2 float64 }

func (f *biquad) run(x float64) float64 {
	y := f.b0*x + f.z1
	f.z1 = f.b1*x - f.a1*y + f.z2
	f.z2 = f.b2*x - f.a2*y
	return y
}

// butter2 designs an RBJ second-order Butterworth high- or low-pass.
func butter2(fc float64, high bool) biquad {
	w := 2 * math.Pi * fc / 48000
	al := math.Sin(w) / math.Sqrt2 // Q = 1/sqrt2
	c := math.Cos(w)
	a0 := 1 + al
	var b0, b1 float64
	if high {
		b0, b1 = (1+c)/2, -(1 + c)
	} else {
		b0, b1 = (1-c)/2, 1-c
	}
	return biquad{b0: b0 / a0, b1: b1 / a0, b2: b0 / a0, a1: -2 * c / a0, a2: (1 - al) / a0}
}

// Detector is one stream's voice activity detector. Not safe for concurrent use.
type Detector struct {
	cfg        Config
	hp, lp     biquad // 12 dB/octave band edges are enough for a feature
	noiseDB    float64
	bandDB     float64 // last frame's speech-band level
	prevBandDB float64
	flux       float64
	prob       float32
	hang       int
	speech     bool
	levelPow   float64
	levelAlpha float64
	frames     int
}

// New returns a detector.
func New(cfg Config) *Detector {
	d := &Detector{cfg: cfg}
	d.levelAlpha = math.Exp(-10 / math.Max(cfg.LevelTimeConstantMs, 1))
	d.Reset()
	return d
}

// Reset clears all state.
func (d *Detector) Reset() {
	d.hp, d.lp = butter2(300, true), butter2(4000, false)
	d.noiseDB = -90
	d.bandDB, d.prevBandDB = -120, -120
	d.flux, d.prob, d.hang, d.speech = 0, 0, 0, false
	d.levelPow = 0
	d.frames = 0
}

// Process analyses one 480-sample frame (not modified) and returns the
// speech probability in [0, 1].
func (d *Detector) Process(frame []float32) float32 {
	var eb, et float64
	for _, v := range frame {
		x := float64(v)
		if x != x || x > 1e6 || x < -1e6 {
			x = 0
		}
		et += x * x
		y := d.lp.run(d.hp.run(x))
		eb += y * y
	}
	n := float64(len(frame))
	if n == 0 {
		return d.prob
	}
	d.levelPow = d.levelAlpha*d.levelPow + (1-d.levelAlpha)*et/n
	bandDB := 10 * math.Log10(eb/n+1e-14)
	d.bandDB = bandDB
	ratio := eb / (et + 1e-14)

	// Noise floor: follows drops at once-ish, rises slowly (through speech).
	if d.frames == 0 {
		d.noiseDB = bandDB
	} else if bandDB < d.noiseDB {
		d.noiseDB += 0.3 * (bandDB - d.noiseDB)
	} else {
		d.noiseDB += math.Min(bandDB-d.noiseDB, d.cfg.NoiseRiseDBPerSec/100)
	}
	d.frames++
	snr := bandDB - d.noiseDB
	// Level fluctuation (syllabic modulation), smoothed.
	d.flux = 0.8*d.flux + 0.2*math.Abs(bandDB-d.prevBandDB)
	d.prevBandDB = bandDB

	score := (snr - d.cfg.ThresholdDB) / 2.5
	score += 2 * (ratio - 0.3) // most energy in the speech band
	score += 0.3 * math.Min(d.flux-1, 3)
	p := 1 / (1 + math.Exp(-score))
	if bandDB < d.cfg.MinLevelDBFS {
		p = 0
	}
	d.prob = float32(p)
	if p > 0.5 {
		d.hang = d.cfg.HangoverFrames
		d.speech = true
	} else if d.hang > 0 {
		d.hang--
	} else {
		d.speech = false
	}
	return d.prob
}

// Probability is the last frame's speech probability.
func (d *Detector) Probability() float32 { return d.prob }

// Speech reports speech in the last frame, with hangover.
func (d *Detector) Speech() bool { return d.speech }

// LevelDBFS is the smoothed full-band RMS level, 20 log10 RMS (a full-scale
// sine is -3 dBFS), floored at -120.
func (d *Detector) LevelDBFS() float64 {
	return math.Max(10*math.Log10(d.levelPow+1e-12), -120)
}

// BandLevelDBFS is the last frame's 300–4000 Hz level, comparable with
// NoiseFloorDBFS.
func (d *Detector) BandLevelDBFS() float64 { return d.bandDB }

// NoiseFloorDBFS is the tracked speech-band noise floor.
func (d *Detector) NoiseFloorDBFS() float64 { return d.noiseDB }
