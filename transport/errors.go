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

// Sentinel errors of WebRTC endpoints and configuration.
var (
	// ErrInvalidConfig means a transport setting cannot work.
	ErrInvalidConfig = errors.New("invalid transport config")
	// ErrInvalidSDP means an offer could not be parsed or negotiated.
	ErrInvalidSDP = errors.New("invalid SDP")
	// ErrNoAudio means the offer has no Opus audio section we can answer.
	ErrNoAudio = errors.New("offer has no Opus audio")
	// ErrCloseTimeout means the connection did not finish closing in time;
	// its goroutines are abandoned.
	ErrCloseTimeout = errors.New("endpoint close timed out")
	// ErrEndpointClosed means the endpoint was closed.
	ErrEndpointClosed = errors.New("endpoint closed")
)

// Sentinel errors of plain RTP endpoints.
var (
	// ErrInvalidRTP means plain RTP parameters cannot work (codec, address, key).
	ErrInvalidRTP = errors.New("invalid RTP parameters")
	// ErrNoRTPPort means every port of the RTP range is taken.
	ErrNoRTPPort = errors.New("no free RTP port")
)
