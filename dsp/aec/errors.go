package aec

import "errors"

// ErrInvalidConfig reports a Config that Validate rejects.
var ErrInvalidConfig = errors.New("aec: invalid config")
