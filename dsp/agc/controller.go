// Package agc is an automatic gain control for 48 kHz speech: it brings the
// level of active speech to a target and never lets the output clip.
//
// The speech level is measured only inside talkspurts: a talkspurt starts
// when the internal voice activity detector (dsp/vad) has held speech for
// several frames in a row and lasts while it holds speech, so noise-only
// input never moves the gain. Inside one, every frame clearly above the
// detector's noise floor counts, quiet syllables included, so a quiet
// talker's level does not read high. The level is a plain mean over the
// first 1.5 s of measured speech, then a recursive average with that memory
// (restarted when a short average stays 6 dB away, i.e. the talker changed).
// The gain slews towards target-level: until the controller has reached the
// target once it may rise fast (so a quiet talker is right within 2 s),
// afterwards at most RiseDBPerSec; it falls at FallDBPerSec. A per-sample
// peak limiter with instant attack and smooth release (no lookahead, so no
// delay) keeps every output sample within LimitDBFS, and a final clamp makes
// |y| <= 1 certain.
package agc

import (
	"math"

	"github.com/openmcu/mcu/dsp/vad"
)

// maxIn bounds accepted input samples; anything else (NaN, Inf) is zeroed.
const maxIn = 1e3

// measureSNRDB is how far above the detector's noise floor a frame inside a
// talkspurt must be to count towards the speech level.
const measureSNRDB = 6

// levelFrames is the memory of the speech level estimate, in measured frames.
const levelFrames = 150

// shortFrames is the memory of the short level estimate that detects a new
// level, and how long it must disagree with the long one.
const shortFrames = 40

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
// 45 dB/s rise until first converged and 6 dB/s after, peaks limited at -1 dBFS.
func DefaultConfig() Config {
	return Config{
		TargetDBFS:          -18,
		MaxGainDB:           30,
		MinGainDB:           -20,
		RiseDBPerSec:        6,
		InitialRiseDBPerSec: 45,
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
	nLevel    int     // frames measured, up to levelFrames
	shortPow  float64 // the same with a short memory
	off       int     // measured frames with the two apart by more than 6 dB
	run       int     // consecutive speech frames
	spurt     bool    // inside a talkspurt that had a run of speech
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
	c.levelPow, c.shortPow, c.off, c.haveLevel, c.nLevel, c.run, c.spurt, c.converged = 0, 0, 0, false, 0, 0, false, false
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
	clean := true
	for _, v := range frame {
		x := float64(v)
		if !(x >= -maxIn && x <= maxIn) { // NaN, Inf, garbage
			clean = false
			continue
		}
		pow += x * x
		if a := math.Abs(x); a > peak {
			peak = a
		}
	}
	pow /= float64(len(frame))
	if p > 0.5 {
		c.run++
	} else {
		c.run = 0
	}
	dt := float64(len(frame)) / 48000
	// A talkspurt starts with a run of speech frames (not a stray
	// detection) and lasts while the detector holds speech. Inside it, every
	// frame clearly above the noise floor measures the level: gating on the
	// per-frame decision instead would drop the quieter syllables of a quiet
	// talker, whose level would then read high. The first frames set the
	// level outright so that convergence is fast.
	if c.run >= 5 {
		c.spurt = true
	} else if !c.det.Speech() {
		c.spurt = false
	}
	if c.spurt && pow > 0 && c.det.BandLevelDBFS() > c.det.NoiseFloorDBFS()+measureSNRDB {
		// A plain mean over the first levelFrames measured frames, then a
		// recursive average with that memory: fast to settle, and steady
		// enough not to follow single words.
		c.nLevel = min(c.nLevel+1, levelFrames)
		c.levelPow += (pow - c.levelPow) / float64(c.nLevel)
		if !c.haveLevel {
			c.shortPow = pow
		}
		c.shortPow += (pow - c.shortPow) * (1.0 / shortFrames)
		c.haveLevel = true
		// A talker that stays 6 dB away from the long estimate has changed
		// (or a new one speaks): restart the mean from the short estimate
		// rather than wait out the long memory of the old level.
		if c.shortPow > 4*c.levelPow || 4*c.shortPow < c.levelPow {
			c.off++
		} else {
			c.off = 0
		}
		if c.off >= shortFrames {
			c.levelPow, c.nLevel, c.off = c.shortPow, shortFrames, 0
		}
	}
	prev := c.gainDB
	if c.haveLevel && c.spurt {
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
	if clean && env > 1-1e-6 && peak*max(g0, next) <= c.limit {
		// The usual case: the limiter is at rest and no sample reaches the
		// ceiling, so it would do nothing; skip its per-sample recursion.
		env = 1
		for i, v := range frame {
			frame[i] = float32(float64(v) * (g0 + step*float64(i+1)))
		}
	} else {
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
			if env < minEnv {
				minEnv = env
			}
			y *= env
			if y > 1 {
				y = 1
			} else if y < -1 {
				y = -1
			}
			frame[i] = float32(y)
		}
	}
	c.limEnv = env
	c.gainLin = next
	c.stats.GainDB = c.gainDB
	c.stats.LimiterGainDB = 20 * math.Log10(minEnv)
	c.stats.Speech = c.det.Speech()
	c.stats.Converged = c.converged
}
