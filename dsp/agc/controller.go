// Package agc is an automatic gain control for 48 kHz speech: it brings the
// level of active speech to a target and never lets the output clip.
//
// The speech level is measured only on frames an internal voice activity
// detector (dsp/vad) has held as speech for several frames in a row, so
// noise-only input never moves the gain. The gain slews towards
// target-level: while the controller has not yet reached the target once it
// may rise fast (so a quiet talker is right within 2 s), afterwards at most
// RiseDBPerSec; it falls at FallDBPerSec. A per-sample peak limiter with
// instant attack and smooth release (no lookahead, so no delay) keeps every
// output sample within LimitDBFS, and a final clamp makes |y| <= 1 certain.
package agc

import (
	"math"

	"github.com/openmcu/mcu/dsp/vad"
)

// maxIn bounds accepted input samples; anything else (NaN, Inf) is zeroed.
const maxIn = 1e3

// FrameSize is the number of samples Process takes (10 ms at 48 kHz).
const FrameSize = 480

// Config tunes the controller.
type Config struct {
	// TargetDBFS is the RMS level of active speech to reach (20 log10 RMS).
	TargetDBFS float64 `yaml:"target_dbfs"`
	// MaxGainDB and MinGainDB bound the slow gain.
	MaxGainDB float64 `yaml:"max_gain_db"`
	MinGainDB float64 `yaml:"min_gain_db"`
	// RiseDBPerSec is the steady-state rise rate.
	RiseDBPerSec float64 `yaml:"rise_db_per_sec"`
	// InitialRiseDBPerSec is the rise rate until the target is first reached.
	InitialRiseDBPerSec float64 `yaml:"initial_rise_db_per_sec"`
	// FallDBPerSec is the rate at which the gain comes down.
	FallDBPerSec float64 `yaml:"fall_db_per_sec"`
	// LimitDBFS is the peak ceiling of the limiter.
	LimitDBFS float64 `yaml:"limit_dbfs"`
	// VAD configures the internal speech detector.
	VAD vad.Config `yaml:"vad"`
}

// DefaultConfig returns the defaults: -18 dBFS target, +30 dB max gain,
// 6 dB/s rise, peaks limited at -1 dBFS.
func DefaultConfig() Config {
	return Config{
		TargetDBFS:          -18,
		MaxGainDB:           30,
		MinGainDB:           -20,
		RiseDBPerSec:        6,
		InitialRiseDBPerSec: 30,
		FallDBPerSec:        20,
		LimitDBFS:           -1,
		VAD:                 vad.DefaultConfig(),
	}
}

// Stats reports the controller's state.
type Stats struct {
	GainDB        float64 // slow gain
	LimiterGainDB float64 // lowest limiter gain in the last frame (<= 0)
	SpeechLevel   float64 // estimated input speech level, dBFS
	Speech        bool
	Converged     bool // the target has been reached once
}

// Controller is one stream's AGC. Not safe for concurrent use.
type Controller struct {
	cfg       Config
	det       *vad.Detector
	gainDB    float64
	gainLin   float64
	levelPow  float64 // input speech power estimate
	haveLevel bool
	run       int // consecutive speech frames
	converged bool
	limEnv    float64 // limiter gain envelope, <= 1
	limRel    float64
	limit     float64
	stats     Stats
}

// New returns a controller.
func New(cfg Config) *Controller {
	c := &Controller{cfg: cfg, det: vad.New(cfg.VAD)}
	c.limit = math.Pow(10, cfg.LimitDBFS/20)
	c.limRel = 1 - math.Exp(-1/(0.05*48000)) // 50 ms release
	c.Reset()
	return c
}

// Reset returns to 0 dB gain and forgets the speech level.
func (c *Controller) Reset() {
	c.det.Reset()
	c.gainDB, c.gainLin = 0, 1
	c.levelPow, c.haveLevel, c.run, c.converged = 0, false, 0, false
	c.limEnv = 1
	c.stats = Stats{SpeechLevel: -120}
}

// GainDB is the current slow gain.
func (c *Controller) GainDB() float64 { return c.gainDB }

// Stats returns the last frame's state.
func (c *Controller) Stats() Stats { return c.stats }

// Process applies the gain to one 480-sample frame in place.
func (c *Controller) Process(frame []float32) {
	p := c.det.Process(frame)
	var pow, peak float64
	for _, v := range frame {
		x := float64(v)
		if !(x >= -maxIn && x <= maxIn) { // NaN, Inf, garbage
			continue
		}
		pow += x * x
		peak = math.Max(peak, math.Abs(x))
	}
	pow /= float64(len(frame))
	if p > 0.5 {
		c.run++
	} else {
		c.run = 0
	}
	dt := float64(len(frame)) / 48000
	// Only frames inside a run of speech (not a stray detection) measure
	// the level; the first ones set it outright so that convergence is fast.
	if c.run >= 5 && pow > 0 {
		if !c.haveLevel {
			c.levelPow, c.haveLevel = pow, true
		} else {
			const a = 0.97 // about 330 ms of speech
			c.levelPow = a*c.levelPow + (1-a)*pow
		}
	}
	prev := c.gainDB
	if c.haveLevel && c.run > 0 {
		level := 10 * math.Log10(c.levelPow+1e-20)
		want := math.Min(math.Max(c.cfg.TargetDBFS-level, c.cfg.MinGainDB), c.cfg.MaxGainDB)
		d := want - c.gainDB
		rise := c.cfg.RiseDBPerSec
		if !c.converged {
			rise = c.cfg.InitialRiseDBPerSec
		}
		switch {
		case d > 0:
			c.gainDB += math.Min(d, rise*dt)
		case d < 0:
			c.gainDB += math.Max(d, -c.cfg.FallDBPerSec*dt)
		}
		if math.Abs(c.gainDB-want) < 1 {
			c.converged = true
		}
		c.stats.SpeechLevel = level
	}
	// Fall fast on peaks: a frame that would need more than 6 dB of limiting
	// pulls the slow gain down at once.
	if over := 20*math.Log10(peak*math.Pow(10, c.gainDB/20)/c.limit+1e-20) - 6; over > 0 {
		c.gainDB = math.Max(c.gainDB-over, c.cfg.MinGainDB)
	}
	next := math.Pow(10, c.gainDB/20)
	// Ramp the gain across the frame so gain steps make no clicks.
	g0 := math.Pow(10, prev/20)
	step := (next - g0) / float64(len(frame))
	env, minEnv := c.limEnv, 1.0
	for i, v := range frame {
		x := float64(v)
		if !(x >= -maxIn && x <= maxIn) {
			x = 0
		}
		y := x * (g0 + step*float64(i+1))
		// Limiter: instant attack, exponential release towards 1.
		env += (1 - env) * c.limRel
		if a := math.Abs(y); a*env > c.limit {
			env = c.limit / a
		}
		minEnv = math.Min(minEnv, env)
		y *= env
		if y > 1 {
			y = 1
		} else if y < -1 {
			y = -1
		}
		frame[i] = float32(y)
	}
	c.limEnv = env
	c.gainLin = next
	c.stats.GainDB = c.gainDB
	c.stats.LimiterGainDB = 20 * math.Log10(minEnv)
	c.stats.Speech = c.det.Speech()
	c.stats.Converged = c.converged
}
