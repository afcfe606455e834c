package mixer

import "errors"

// Sentinel errors of the video compositor and its layouts. They live apart
// from errors.go, which belongs to the audio mixer.
var (
	// ErrInvalidLayout means a layout cannot be placed: unknown kind or fit,
	// or a custom region out of range.
	ErrInvalidLayout = errors.New("invalid video layout")
	// ErrInvalidCanvas means the canvas frame does not match the compositor's
	// configured size or is not a valid even-sized I420 frame.
	ErrInvalidCanvas = errors.New("invalid video canvas")
)
