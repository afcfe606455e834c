package conference

import (
	"math"
	"sync/atomic"

	"github.com/openmcu/mcu/media"
)

// pcmFIFO carries decoded audio from a source's goroutine (the one
// producer) to the room tick (the one consumer), lock-free. The source
// pushes whatever its decoder produced; the tick pops one 20 ms frame.
//
// The source runs on its own clock, so the depth drifts. The tick keeps it
// near target by reading slightly faster or slower than real time: it
// resamples by up to fifoMaxAdjust with a cubic interpolator, steered by
// the smoothed depth. Dropping or repeating whole samples, even with a
// crossfade, shifts the phase in steps, and a steady tone then grows
// sidebands: a 1 kHz tone drifting 0.5% measured -36 dB outside ±50 Hz
// with 1-sample cuts and a 2.5 ms crossfade, -18 dB with 4-sample ones,
// against -68 dB resampled. A continuous rate change only moves the pitch
// by the drift itself. Within a small
// dead band nothing is resampled and samples pass through untouched.
//
// Bursts (a server flushing its buffer, the packets read while probing)
// are beyond what resampling absorbs: when the depth stayed above target
// by more than grossSlack for fifoBurstPops ticks in a row, the excess is
// cut at once with a short crossfade; a burst before playing starts is
// skipped. A source that runs dry plays silence until target is buffered
// again (an underrun).
type pcmFIFO struct {
	buf  []float32 // power-of-two length
	mask uint64
	w, r atomic.Uint64 // samples written and read, ever

	// consumer-owned
	target, grossSlack int
	priming            bool
	avgDepth           float64 // smoothed depth in samples
	phase              float64 // read position past r, in [0, 1)
	prev               float32 // the sample before r, for the interpolator
	highPops           int     // consecutive pops with a burst's depth
	highMin            int     // the lowest depth during them
	fade               []float32
	fadeIn             bool // the next played frame starts after an underrun

	overflow, underruns atomic.Uint64 // samples, events
	// dropped and inserted count the samples that drift correction took
	// out or added: resampled away or cut.
	dropped, inserted atomic.Uint64
}

const (
	// fifoBurstPops: a depth this many ticks (200 ms) beyond the slack is
	// a burst, not jitter.
	fifoBurstPops = 10
	// fifoCapacity is the most a FIFO holds (about 680 ms); the producer
	// drops what does not fit.
	fifoCapacity = 1 << 15
	// fifoMaxAdjust bounds the resampling: 1% is 17 cents of pitch, far
	// more than any real clock drifts.
	fifoMaxAdjust = 0.01
	// fifoTau: a depth error of e seconds is corrected at rate e/tau.
	// A 0.5% drift then settles 10 ms (plus the dead band) off target.
	fifoTau = 2.0
	// fifoSmoothing is the depth average's weight per pop, a 0.5 s time
	// constant: it rides over the producer's chunking, and with tau = 4x
	// its time constant the loop is critically damped.
	fifoSmoothing = 1.0 / 25
	// fifoDeadBand: depth errors this small are left alone (5 ms).
	fifoDeadBand = media.SampleRate / 200
	// fifoFade is the crossfade of a cut: 2.5 ms.
	fifoFade = media.SampleRate / 400
)

func newPCMFIFO(targetSamples int) *pcmFIFO {
	f := &pcmFIFO{buf: make([]float32, fifoCapacity), mask: fifoCapacity - 1,
		target: targetSamples, grossSlack: max(targetSamples/2, 2*media.FrameSamples), priming: true,
		fade: make([]float32, fifoFade)}
	for i := range f.fade {
		s := math.Sin(math.Pi / 2 * (float64(i) + 0.5) / fifoFade)
		f.fade[i] = float32(s * s)
	}
	return f
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

// at is the sample at absolute position i. Consumer only, for r <= i < w.
func (f *pcmFIFO) at(i uint64) float32 { return f.buf[i&f.mask] }

// depth is what the producer has written and the consumer not yet read.
func (f *pcmFIFO) depth() int { return int(f.w.Load() - f.r.Load()) }

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
		if excess := depth - f.target; excess > f.grossSlack {
			// A burst before playing (the packets read while probing a
			// stream): start at the target delay, not behind it.
			r += uint64(excess)
			depth = f.target
			f.dropped.Add(uint64(excess))
		}
		f.priming = false
		f.avgDepth, f.phase, f.prev, f.highPops = float64(depth), 0, 0, 0
	}
	f.avgDepth += (float64(depth) - f.avgDepth) * fifoSmoothing
	step := 1 + f.adjust()
	// The interpolator reads up to two samples past the last position.
	need := int(f.phase+step*float64(len(dst)-1)) + 3
	if depth < need {
		// Run dry: play what is left, faded out, rather than cut to
		// silence mid-wave (a click), and fade in when audio returns.
		f.underruns.Add(1)
		f.priming, f.fadeIn = true, true
		n := min(depth, len(dst))
		for i := range n {
			dst[i] = f.at(r + uint64(i))
		}
		clear(dst[n:])
		f.fadeOut(dst[:n])
		f.r.Store(r + uint64(n))
		return n > 0
	}
	if depth <= f.target+f.grossSlack {
		f.highPops = 0
	} else if f.highPops++; f.highPops == 1 || depth < f.highMin {
		f.highMin = depth
	}
	if f.highPops >= fifoBurstPops {
		// Cut what stayed queued all along: the audio then plays on at
		// the target delay.
		if excess := f.highMin - f.target; depth >= excess+fifoFade+need {
			f.cut(r, excess)
			r += uint64(excess)
			depth -= excess
			f.avgDepth = float64(depth)
			f.dropped.Add(uint64(excess))
		}
		f.highPops = 0
	}
	var used int
	if step == 1 && f.phase == 0 {
		for done := 0; done < len(dst); {
			i := int(r+uint64(done)) & int(f.mask)
			done += copy(dst[done:], f.buf[i:])
		}
		used = len(dst)
	} else {
		used = f.resample(dst, r, step)
	}
	if used > 0 {
		f.prev = f.at(r + uint64(used) - 1)
	}
	if f.fadeIn {
		f.fadeIn = false
		for i := range min(len(dst), len(f.fade)) {
			dst[i] *= f.fade[i]
		}
	}
	switch {
	case used > len(dst):
		f.dropped.Add(uint64(used - len(dst)))
	case used < len(dst):
		f.inserted.Add(uint64(len(dst) - used))
	}
	f.r.Store(r + uint64(used))
	return true
}

// fadeOut ramps the end of x down to silence over up to fifoFade samples.
func (f *pcmFIFO) fadeOut(x []float32) {
	k := min(len(x), len(f.fade))
	for j := range k {
		// Sample len(x)-k+j gets the rising ramp read backwards.
		x[len(x)-k+j] *= f.fade[(k-1-j)*len(f.fade)/k]
	}
}

// adjust is the resampling rate offset for the smoothed depth.
func (f *pcmFIFO) adjust() float64 {
	e := f.avgDepth - float64(f.target)
	switch {
	case e > fifoDeadBand:
		e -= fifoDeadBand
	case e < -fifoDeadBand:
		e += fifoDeadBand
	default:
		return 0
	}
	return max(-fifoMaxAdjust, min(fifoMaxAdjust, e/(fifoTau*media.SampleRate)))
}

// resample fills dst reading from r at step input samples per output
// sample (cubic Hermite), and returns how many whole samples it consumed.
func (f *pcmFIFO) resample(dst []float32, r uint64, step float64) int {
	pos := f.phase
	for i := range dst {
		k := int(pos)
		mu := float32(pos - float64(k))
		at := r + uint64(k)
		xm1 := f.prev
		if k > 0 {
			xm1 = f.at(at - 1)
		}
		x0, x1, x2 := f.at(at), f.at(at+1), f.at(at+2)
		c1 := 0.5 * (x1 - xm1)
		c2 := xm1 - 2.5*x0 + 2*x1 - 0.5*x2
		c3 := 0.5*(x2-xm1) + 1.5*(x0-x1)
		dst[i] = ((c3*mu+c2)*mu+c1)*mu + x0
		pos += step
	}
	used := int(pos)
	f.phase = pos - float64(used)
	return used
}

// cut removes n samples at r by crossfading the audio before the gap into
// the audio after it, in place: the fifoFade samples after the gap start
// as the ones at r and blend into their own.
func (f *pcmFIFO) cut(r uint64, n int) {
	for i, w := range f.fade {
		a, b := (r+uint64(i))&f.mask, (r+uint64(n+i))&f.mask
		f.buf[b] = f.buf[a]*(1-w) + f.buf[b]*w
	}
}
