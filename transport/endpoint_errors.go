package transport

import "errors"

var (
	// ErrInvalidConfig means a transport setting cannot work.
	ErrInvalidConfig = errors.New("invalid transport config")
	// ErrInvalidSDP means an offer could not be parsed or negotiated.
	ErrInvalidSDP = errors.New("invalid SDP")
	// ErrNoAudio means the offer has no Opus audio section we can answer.
	ErrNoAudio = errors.New("offer has no Opus audio")
	// ErrEndpointClosed means the endpoint was closed.
	ErrEndpointClosed = errors.New("endpoint closed")
)
