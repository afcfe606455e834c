package mixer

import (
	"fmt"

	"github.com/openmcu/mcu/media"
)

// FrameScaler scales whole frames with the compositor's filters, for
// example the composed 720p canvas into the 360p and 180p renditions, which
// is cheaper than composing each rendition (exact 2:1 takes a fast path).
// It keeps its tables while the sizes stay the same and then does not
// allocate. It is not safe for concurrent use.
type FrameScaler struct {
	fit   FitMode
	bg    [3]byte
	ts    tileScaler
	built bool
	sc    *scratch
}

// NewFrameScaler makes a scaler that keeps the aspect ratio by fit, painting
// letterbox bars with background (YUV).
func NewFrameScaler(fit FitMode, background [3]byte) *FrameScaler {
	return &FrameScaler{fit: fit, bg: background, sc: new(scratch)}
}

// Scale draws src into the whole of dst, which must have even dimensions.
// dst takes src's PTS.
func (s *FrameScaler) Scale(dst, src *media.VideoFrame) error {
	if dst == nil || dst.Width%2 != 0 || dst.Height%2 != 0 {
		return fmt.Errorf("scale target must have even size: %w", ErrInvalidCanvas)
	}
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCanvas, err)
	}
	if err := src.Validate(); err != nil {
		return err
	}
	if src.Width > MaxSourceWidth {
		return fmt.Errorf("source width %d above %d: %w", src.Width, MaxSourceWidth, media.ErrInvalidVideoFrame)
	}
	k := scaleKey{sw: src.Width, sh: src.Height, tw: dst.Width, th: dst.Height, fit: s.fit}
	if !s.built || s.ts.key != k {
		s.ts.build(k)
		s.built = true
	}
	s.ts.draw(dst, 0, 0, src, s.bg, s.sc)
	dst.PTS = src.PTS
	return nil
}
