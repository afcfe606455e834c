package codec

import "errors"

// Sentinel errors of the video codecs. They sit beside the shared ones in
// errors.go (ErrClosed, ErrInvalidConfig, ErrInvalidPacket,
// ErrBufferTooSmall, ErrCodecFailure), which the video code also wraps.
var (
	// ErrUnsupportedCodec means a codec name the video decoder does not know.
	ErrUnsupportedCodec = errors.New("codec: unsupported video codec")
	// ErrFrameGeometry means a picture's size or strides do not match what
	// the encoder or scaler was built for.
	ErrFrameGeometry = errors.New("codec: video frame size mismatch")
	// ErrDecode means the decoder rejected an access unit (corrupt data or a
	// missing reference); the caller should ask the sender for a keyframe.
	ErrDecode = errors.New("codec: video decode failed")
)
