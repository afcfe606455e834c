package codec

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrClosed means the codec was used after Close.
	ErrClosed = errors.New("codec: closed")
	// ErrInvalidConfig means a configuration value or argument is out of range.
	ErrInvalidConfig = errors.New("codec: invalid configuration")
	// ErrInvalidPacket means a packet is empty, truncated or otherwise malformed.
	ErrInvalidPacket = errors.New("codec: invalid packet")
	// ErrBufferTooSmall means the caller's destination buffer cannot hold the result.
	ErrBufferTooSmall = errors.New("codec: buffer too small")
	// ErrFrameSize means a PCM length is not a duration the codec can produce or take.
	ErrFrameSize = errors.New("codec: invalid frame size")
	// ErrCodecFailure means the underlying library failed for another reason.
	ErrCodecFailure = errors.New("codec: library failure")
)

// Sentinel errors of SourceReader.
var (
	// ErrSource means a pulled stream failed: refused, reset, unreadable.
	ErrSource = errors.New("codec: source failed")
	// ErrSourceTimeout means a pulled stream sent nothing for too long.
	ErrSourceTimeout = errors.New("codec: source timed out")
	// ErrSourceEnded means the server ended the stream.
	ErrSourceEnded = errors.New("codec: source ended")
	// ErrInterrupted means Interrupt stopped a blocking call.
	ErrInterrupted = errors.New("codec: interrupted")
)
