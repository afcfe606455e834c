package record

import "errors"

// Sentinel errors; a recording's failure reason wraps one of them.
var (
	// ErrInvalidConfig means a Config value is out of range.
	ErrInvalidConfig = errors.New("record: invalid configuration")
	// ErrOverflow means the writer fell behind the room and the queue filled.
	ErrOverflow = errors.New("record: writer fell behind (queue full)")
	// ErrOutput means the output could not be opened or written.
	ErrOutput = errors.New("record: output failed")
	// ErrNoKeyframe means a video recording stopped before any keyframe.
	ErrNoKeyframe = errors.New("record: no video keyframe arrived")
	// ErrStreamLost means a live stream could not reconnect in time.
	ErrStreamLost = errors.New("record: stream lost")
)
