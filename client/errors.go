package client

import "errors"

// Sentinel errors; returned errors wrap them with %w.
var (
	// ErrClosed means the participant was closed.
	ErrClosed = errors.New("client: participant closed")
	// ErrState means a call came in the wrong order (Accept before Offer,
	// a second Offer, ...).
	ErrState = errors.New("client: call out of order")
	// ErrConnectionFailed means ICE or DTLS failed, or the peer went away.
	ErrConnectionFailed = errors.New("client: connection failed")
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("client: invalid configuration")
	// ErrSDP means the remote answer was rejected by pion.
	ErrSDP = errors.New("client: bad session description")
)
