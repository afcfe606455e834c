package dspquality

import "errors"

// Sentinel errors of the harness.
var (
	// ErrSynthesis means espeak-ng failed or produced unusable audio.
	ErrSynthesis = errors.New("dspquality: speech synthesis failed")
	// ErrEngine means an engine under test failed to start or to process.
	ErrEngine = errors.New("dspquality: engine failed")
)
