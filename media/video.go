package media

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrInvalidVideoFrame means a frame's planes do not match its size.
var ErrInvalidVideoFrame = errors.New("invalid video frame")

// VideoFrame is one I420 picture: a full-size luma plane and two chroma
// planes of half width and half height (rounded up for odd sizes). Canvases
// made by the server always have even sizes; decoded frames may be odd.
// Callers own frames and reuse them.
type VideoFrame struct {
	Y, U, V []byte
	// StrideY and StrideC are the byte distances between rows of the luma
	// and chroma planes.
	StrideY, StrideC int
	Width, Height    int
	// PTS is the frame's position on the room clock.
	PTS time.Duration
}

// NewVideoFrame returns a black (Y=16, U=V=128) frame whose three planes
// share one backing buffer. It panics if a dimension is not positive, like
// make does for a negative length.
func NewVideoFrame(w, h int) *VideoFrame {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("media: NewVideoFrame(%d, %d): non-positive size", w, h))
	}
	cw, ch := (w+1)/2, (h+1)/2
	ly, lc := w*h, cw*ch
	buf := make([]byte, ly+2*lc)
	f := &VideoFrame{
		// Full slice expressions keep one plane's appends off the next.
		Y:       buf[:ly:ly],
		U:       buf[ly : ly+lc : ly+lc],
		V:       buf[ly+lc:],
		StrideY: w,
		StrideC: cw,
		Width:   w,
		Height:  h,
	}
	f.Fill(16, 128, 128)
	return f
}

// ChromaWidth is the width of the U and V planes.
func (f *VideoFrame) ChromaWidth() int { return (f.Width + 1) / 2 }

// ChromaHeight is the height of the U and V planes.
func (f *VideoFrame) ChromaHeight() int { return (f.Height + 1) / 2 }

// Validate reports a frame whose strides or plane lengths cannot hold its
// size. Frames wrapped around decoder buffers should be checked once.
func (f *VideoFrame) Validate() error {
	if f == nil {
		return fmt.Errorf("nil frame: %w", ErrInvalidVideoFrame)
	}
	if f.Width <= 0 || f.Height <= 0 {
		return fmt.Errorf("size %dx%d: %w", f.Width, f.Height, ErrInvalidVideoFrame)
	}
	cw, ch := f.ChromaWidth(), f.ChromaHeight()
	if f.StrideY < f.Width || f.StrideC < cw {
		return fmt.Errorf("strides %d/%d too small for %dx%d: %w", f.StrideY, f.StrideC, f.Width, f.Height, ErrInvalidVideoFrame)
	}
	if len(f.Y) < f.StrideY*(f.Height-1)+f.Width {
		return fmt.Errorf("luma plane %d bytes too short: %w", len(f.Y), ErrInvalidVideoFrame)
	}
	need := f.StrideC*(ch-1) + cw
	if len(f.U) < need || len(f.V) < need {
		return fmt.Errorf("chroma planes %d/%d bytes too short: %w", len(f.U), len(f.V), ErrInvalidVideoFrame)
	}
	return nil
}

// Fill paints the whole frame one colour.
func (f *VideoFrame) Fill(y, u, v byte) {
	fillPlane(f.Y, f.StrideY, f.Width, f.Height, y)
	cw, ch := f.ChromaWidth(), f.ChromaHeight()
	fillPlane(f.U, f.StrideC, cw, ch, u)
	fillPlane(f.V, f.StrideC, cw, ch, v)
}

func fillPlane(p []byte, stride, w, h int, c byte) {
	if w <= 0 || h <= 0 {
		return
	}
	if stride == w {
		fillBytes(p[:w*h], c)
		return
	}
	first := p[:w]
	fillBytes(first, c)
	for r := 1; r < h; r++ {
		copy(p[r*stride:r*stride+w], first)
	}
}

// fillBytes sets every byte of b to c; doubling copies run at memmove speed,
// where a byte loop would not.
func fillBytes(b []byte, c byte) {
	if len(b) == 0 {
		return
	}
	b[0] = c
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// CopyFrom copies src's picture and PTS into f; both must have the same size.
func (f *VideoFrame) CopyFrom(src *VideoFrame) error {
	if src.Width != f.Width || src.Height != f.Height {
		return fmt.Errorf("copy %dx%d into %dx%d: %w", src.Width, src.Height, f.Width, f.Height, ErrInvalidVideoFrame)
	}
	for r := 0; r < f.Height; r++ {
		copy(f.Y[r*f.StrideY:r*f.StrideY+f.Width], src.Y[r*src.StrideY:])
	}
	cw, ch := f.ChromaWidth(), f.ChromaHeight()
	for r := 0; r < ch; r++ {
		copy(f.U[r*f.StrideC:r*f.StrideC+cw], src.U[r*src.StrideC:])
		copy(f.V[r*f.StrideC:r*f.StrideC+cw], src.V[r*src.StrideC:])
	}
	f.PTS = src.PTS
	return nil
}

// VideoFramePool recycles frames of one size. It holds at most a fixed
// number of idle frames, so memory stays bounded; Get allocates only when the
// pool is empty. It is safe for concurrent use.
type VideoFramePool struct {
	mu   sync.Mutex
	w, h int
	free []*VideoFrame
}

// NewVideoFramePool makes a pool of w x h frames that keeps up to maxIdle
// idle frames.
func NewVideoFramePool(w, h, maxIdle int) *VideoFramePool {
	if maxIdle < 1 {
		maxIdle = 1
	}
	return &VideoFramePool{w: w, h: h, free: make([]*VideoFrame, 0, maxIdle)}
}

// Size returns the pool's frame size.
func (p *VideoFramePool) Size() (w, h int) { return p.w, p.h }

// Get returns an idle frame (its old picture intact) or a new black one.
func (p *VideoFramePool) Get() *VideoFrame {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		f := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return f
	}
	p.mu.Unlock()
	return NewVideoFrame(p.w, p.h)
}

// Put returns a frame to the pool. Frames of another size, and frames beyond
// the idle limit, are dropped for the garbage collector.
func (p *VideoFramePool) Put(f *VideoFrame) {
	if f == nil || f.Width != p.w || f.Height != p.h {
		return
	}
	p.mu.Lock()
	if len(p.free) < cap(p.free) {
		p.free = append(p.free, f)
	}
	p.mu.Unlock()
}
