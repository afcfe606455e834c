// Package mixer mixes audio (mix-minus with a shared mix for listeners) and
// selects the active speakers. It is pure Go and allocation-free per frame.
package mixer

import "errors"

// ErrInvalidConfig means a mixer setting is out of range.
var ErrInvalidConfig = errors.New("invalid mixer config")
