package codec

import "github.com/openmcu/mcu/media"

// VideoDecoder turns one compressed access unit (a whole VP8 frame, or an
// H.264 access unit in Annex-B) into an I420 picture. Implementations are
// not safe for concurrent use: one decoder belongs to one participant.
type VideoDecoder interface {
	// Decode decodes au into dst. ok is false when the decoder produced no
	// picture yet (it needs more data); dst is then left untouched. dst is
	// resized to the stream's size when that differs (the only allocation).
	Decode(au []byte, dst *media.VideoFrame) (ok bool, err error)
	// Close releases the decoder. It is safe to call more than once.
	Close() error
}

// VideoEncoder turns I420 pictures into compressed access units.
// Implementations are not safe for concurrent use.
type VideoEncoder interface {
	// Encode encodes src into dst and returns the number of bytes written
	// and whether the result is a keyframe. forceKeyframe asks for an IDR
	// (for a PLI/FIR, or a receiver switching renditions).
	Encode(dst []byte, src *media.VideoFrame, forceKeyframe bool) (n int, keyframe bool, err error)
	// SetBitrate changes the target bitrate in bits per second at runtime.
	SetBitrate(bps int) error
	// Close releases the encoder. It is safe to call more than once.
	Close() error
}

// Scaler resizes I420 pictures between two fixed sizes.
// Implementations are not safe for concurrent use.
type Scaler interface {
	// Scale writes src, resized, into dst. Both must have the sizes given
	// to the constructor.
	Scale(dst, src *media.VideoFrame) error
	// Close releases the scaler. It is safe to call more than once.
	Close() error
}

// ensureI420 makes f an I420 picture of w x h, reusing its planes when
// their lengths suffice (lengths, not capacities: planes may share one
// buffer) and allocating one fresh buffer otherwise.
func ensureI420(f *media.VideoFrame, w, h int) {
	if checkI420(f, w, h) {
		return
	}
	cw, ch := (w+1)/2, (h+1)/2
	ly, lc := w*h, cw*ch
	f.Width, f.Height = w, h
	f.StrideY, f.StrideC = w, cw
	if len(f.Y) >= ly && len(f.U) >= lc && len(f.V) >= lc {
		f.Y, f.U, f.V = f.Y[:ly:ly], f.U[:lc:lc], f.V[:lc:lc]
		return
	}
	buf := make([]byte, ly+2*lc)
	f.Y, f.U, f.V = buf[:ly:ly], buf[ly:ly+lc:ly+lc], buf[ly+lc:]
}

// checkI420 reports whether f holds a complete w x h I420 picture.
func checkI420(f *media.VideoFrame, w, h int) bool {
	if f == nil || f.Width != w || f.Height != h || w <= 0 || h <= 0 {
		return false
	}
	cw, ch := (w+1)/2, (h+1)/2
	return f.StrideY >= w && f.StrideC >= cw &&
		len(f.Y) >= f.StrideY*(h-1)+w &&
		len(f.U) >= f.StrideC*(ch-1)+cw &&
		len(f.V) >= f.StrideC*(ch-1)+cw
}
