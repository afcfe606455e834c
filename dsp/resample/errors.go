package resample

import "errors"

// ErrUnsupportedRate is returned for a rate outside 8000..192000 Hz.
var ErrUnsupportedRate = errors.New("resample: unsupported sample rate")

// ErrUnknownQuality is returned for a Quality value New does not know.
var ErrUnknownQuality = errors.New("resample: unknown quality")
