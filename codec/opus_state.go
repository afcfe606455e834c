package codec

/*
#cgo pkg-config: opus
#include <opus.h>
#include <string.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gopkg.in/hraban/opus.v2"
)

// encoderState returns the C state of a hraban encoder. Its first field is
// the *C.OpusEncoder (pinned module version; TestOpusEncoderCopyState
// guards the layout). The state lives in Go memory and libopus keeps it
// position independent (offsets, not pointers), so it can be copied.
func encoderState(e *opus.Encoder) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(e))
}

// CopyStateFrom makes e continue exactly where src is: the next packet e
// encodes decodes seamlessly after the packets src produced so far. The
// room uses it when a listener of the shared mix becomes an active speaker
// and gets a mix of their own, so their decoder sees no discontinuity.
// Settings such as bitrate are part of the state and are copied too.
func (e *OpusEncoder) CopyStateFrom(src any) error {
	s, ok := src.(*OpusEncoder)
	if !ok {
		return fmt.Errorf("%w: cannot copy state from %T", ErrInvalidConfig, src)
	}
	if e.enc == nil || s.enc == nil {
		return ErrClosed
	}
	if e == s {
		return nil
	}
	size := C.opus_encoder_get_size(C.int(opusChannels))
	C.memcpy(encoderState(e.enc), encoderState(s.enc), C.size_t(size))
	return nil
}
