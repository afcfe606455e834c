package wav

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// with %w, and its message says what was found and what was wanted.
var (
	// ErrNotWAV means the stream does not start with a RIFF/WAVE header.
	ErrNotWAV = errors.New("wav: not a RIFF/WAVE file")
	// ErrUnsupportedFormat means the sample encoding is not one we read or write
	// (for example A-law, ADPCM or 12-bit PCM).
	ErrUnsupportedFormat = errors.New("wav: unsupported sample format")
	// ErrUnsupportedRate means the sample rate is outside MinSampleRate..MaxSampleRate.
	ErrUnsupportedRate = errors.New("wav: unsupported sample rate")
	// ErrUnsupportedChannels means the channel count is outside 1..MaxChannels.
	ErrUnsupportedChannels = errors.New("wav: unsupported channel count")
	// ErrMalformed means a chunk is present but inconsistent (short fmt chunk,
	// wrong block align, no fmt before data, no data chunk).
	ErrMalformed = errors.New("wav: malformed file")
	// ErrTruncated means the stream ended inside a header or before the
	// length the data chunk declares.
	ErrTruncated = errors.New("wav: truncated file")
	// ErrTooLarge means the audio does not fit the 4 GiB RIFF size fields.
	ErrTooLarge = errors.New("wav: data too large for a RIFF file")
	// ErrInvalidArgument means a caller passed inconsistent audio (for
	// example a sample count that is not a whole number of frames).
	ErrInvalidArgument = errors.New("wav: invalid argument")
	// ErrClosed means Write or Close was called on a closed Writer.
	ErrClosed = errors.New("wav: writer closed")
)
