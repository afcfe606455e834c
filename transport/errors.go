package transport

import "errors"

// Sentinel errors of the jitter buffer. Config validation wraps
// ErrInvalidConfig.
var (
	// ErrEmptyPayload means an RTP packet carried no payload.
	ErrEmptyPayload = errors.New("empty RTP payload")
	// ErrPayloadTooLarge means a payload exceeds MaxJitterPayload bytes.
	ErrPayloadTooLarge = errors.New("RTP payload too large")
)
