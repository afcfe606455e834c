package conference

import (
	"sync/atomic"

	"github.com/openmcu/mcu/media"
)

// pcmFIFO carries decoded audio from a source's goroutine (the one
// producer) to the room tick (the one consumer), lock-free. The source
// pushes whatever its decoder produced; the tick pops one 20 ms frame.
//
// The source runs on its own clock, so the depth drifts. The tick keeps
// it near target: it plays only once target is buffered (after the start
// or an underrun, which it fills with silence), and when the depth has
// stayed above target by more than dropSlack for a whole window, it drops
// the excess at once. Bursts (a server flushing its buffer, or the
// packets read while probing) are dropped the same way, after one window.
type pcmFIFO struct {
	buf  []float32 // power-of-two length
	mask uint64
	w, r atomic.Uint64 // samples written and read, ever

	// consumer-owned
	target, slack int
	priming       bool
	minDepth      int // lowest depth seen in this window
	windowLeft    int // pops left in this window

	overflow, underruns, dropped atomic.Uint64 // samples, events, samples
}

const (
	// fifoWindowPops is the drift window: 1 s of ticks.
	fifoWindowPops = 50
	// fifoCapacity is the most a FIFO holds (about 680 ms); the producer
	// drops what does not fit.
	fifoCapacity = 1 << 15
)

func newPCMFIFO(targetSamples int) *pcmFIFO {
	f := &pcmFIFO{buf: make([]float32, fifoCapacity), mask: fifoCapacity - 1,
		target: targetSamples, slack: media.FrameSamples / 2, priming: true}
	f.resetWindow()
	return f
}

func (f *pcmFIFO) resetWindow() {
	f.minDepth, f.windowLeft = len(f.buf), fifoWindowPops
}

// push appends pcm; what does not fit is dropped and counted. Producer only.
func (f *pcmFIFO) push(pcm []float32) {
	w, r := f.w.Load(), f.r.Load()
	free := len(f.buf) - int(w-r)
	n := min(len(pcm), free)
	if n < len(pcm) {
		f.overflow.Add(uint64(len(pcm) - n))
	}
	for done := 0; done < n; {
		i := int(w+uint64(done)) & int(f.mask)
		done += copy(f.buf[i:], pcm[done:n])
	}
	f.w.Store(w + uint64(n))
}

// pop fills dst (one frame) and reports whether it holds audio; on false
// dst is silence. Consumer only; it never blocks or allocates.
func (f *pcmFIFO) pop(dst []float32) bool {
	r := f.r.Load()
	depth := int(f.w.Load() - r)
	if f.priming {
		if depth < f.target {
			clear(dst)
			return false
		}
		f.priming = false
		f.resetWindow()
	}
	if depth < len(dst) {
		f.underruns.Add(1)
		f.priming = true
		clear(dst)
		return false
	}
	f.minDepth = min(f.minDepth, depth)
	if f.windowLeft--; f.windowLeft == 0 {
		if excess := f.minDepth - f.target; excess > f.slack {
			r += uint64(excess)
			f.dropped.Add(uint64(excess))
		}
		f.resetWindow()
	}
	for done := 0; done < len(dst); {
		i := int(r+uint64(done)) & int(f.mask)
		done += copy(dst[done:], f.buf[i:])
	}
	f.r.Store(r + uint64(len(dst)))
	return true
}
