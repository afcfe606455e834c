package aec

import (
	"fmt"
	"time"
)

// Config tunes a Canceller. The zero value is not useful; start from DefaultConfig.
type Config struct {
	// MaxDelay is the largest bulk delay (far-end render to echo in the
	// near-end stream) the delay estimator searches.
	MaxDelay time.Duration `yaml:"max_delay"`
	// TailLength is the echo tail the adaptive filter covers after the
	// direct path.
	TailLength time.Duration `yaml:"tail_length"`
	// LinearBandHz is the upper edge of the band the adaptive filter models;
	// above it the echo is removed by suppression only (as WebRTC AEC3 does
	// for its upper bands). Lower is cheaper.
	LinearBandHz float64 `yaml:"linear_band_hz"`
	// Suppression enables the residual echo suppressor.
	Suppression bool `yaml:"suppression"`
	// MinGainDB is the suppressor's floor, in dB.
	MinGainDB float64 `yaml:"min_gain_db"`
}

// DefaultConfig returns the settings the server uses.
func DefaultConfig() Config {
	return Config{
		MaxDelay:     time.Second,
		TailLength:   250 * time.Millisecond,
		LinearBandHz: 8000,
		Suppression:  true,
		MinGainDB:    -60,
	}
}

// Validate reports whether cfg can be used as is.
func (c Config) Validate() error {
	switch {
	case c.MaxDelay < 0 || c.MaxDelay > 2*time.Second:
		return fmt.Errorf("%w: max_delay %v outside [0, 2s]", ErrInvalidConfig, c.MaxDelay)
	case c.TailLength < 20*time.Millisecond || c.TailLength > time.Second:
		return fmt.Errorf("%w: tail_length %v outside [20ms, 1s]", ErrInvalidConfig, c.TailLength)
	case c.LinearBandHz < 2000 || c.LinearBandHz > 24000:
		return fmt.Errorf("%w: linear_band_hz %v outside [2000, 24000]", ErrInvalidConfig, c.LinearBandHz)
	case c.MinGainDB > 0 || c.MinGainDB < -100:
		return fmt.Errorf("%w: min_gain_db %v outside [-100, 0]", ErrInvalidConfig, c.MinGainDB)
	}
	return nil
}
