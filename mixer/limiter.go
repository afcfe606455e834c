package mixer

import "math"

// LimiterConfig shapes the output limiter.
type LimiterConfig struct {
	// KneeDBFS is where gain reduction starts.
	KneeDBFS float64 `yaml:"knee_dbfs"`
	// CeilingDBFS is the level the output approaches but never reaches.
	CeilingDBFS float64 `yaml:"ceiling_dbfs"`
	// ReleaseMs is how fast the gain recovers after a peak.
	ReleaseMs float64 `yaml:"release_ms"`
}

// DefaultLimiterConfig keeps peaks under -1 dBFS with a soft knee from -6 dBFS.
func DefaultLimiterConfig() LimiterConfig {
	return LimiterConfig{KneeDBFS: -6, CeilingDBFS: -1, ReleaseMs: 80}
}

// Limiter is a soft-knee peak limiter with instant attack: the gain for a
// sample is computed from an envelope that already includes that sample, so
// the output never exceeds the ceiling, however many voices add up. It is a
// plain value: copying it copies its state, which lets a new mix continue
// exactly where another left off.
type Limiter struct {
	knee, ceiling, release float32
	env                    float32
}

// NewLimiter returns a limiter for 48 kHz audio.
func NewLimiter(cfg LimiterConfig) Limiter {
	knee := float32(math.Pow(10, cfg.KneeDBFS/20))
	ceiling := float32(math.Pow(10, cfg.CeilingDBFS/20))
	if knee >= ceiling {
		knee = ceiling * 0.5
	}
	release := float32(math.Exp(-1 / (cfg.ReleaseMs / 1000 * 48000)))
	return Limiter{knee: knee, ceiling: ceiling, release: release}
}

// Process limits dst in place.
func (l *Limiter) Process(dst []float32) {
	env := l.env
	for i, x := range dst {
		a := x
		if a < 0 {
			a = -a
		}
		if a > env {
			env = a
		} else {
			env = env*l.release + a*(1-l.release)
		}
		if env > l.knee {
			// The clamp only absorbs float rounding: |x| <= env.
			dst[i] = min(max(x*l.curve(env)/env, -l.ceiling), l.ceiling)
		}
	}
	l.env = env
	// Keep denormals out of the envelope during long silences.
	if l.env < 1e-9 {
		l.env = 0
	}
}

// curve maps an envelope above the knee smoothly onto (knee, ceiling): slope 1
// at the knee, approaching the ceiling asymptotically.
func (l *Limiter) curve(env float32) float32 {
	span := l.ceiling - l.knee
	return l.ceiling - span*float32(math.Exp(float64(-(env-l.knee)/span)))
}

// GainReductionDB reports the current gain reduction (0 when idle).
func (l *Limiter) GainReductionDB() float64 {
	if l.env <= l.knee {
		return 0
	}
	return 20 * math.Log10(float64(l.curve(l.env)/l.env))
}
