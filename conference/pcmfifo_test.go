package conference

import (
	"testing"

	"github.com/openmcu/mcu/media"
)

// ramp fills pcm with consecutive sample numbers from *next, so a test can
// see exactly which samples came out.
func ramp(pcm []float32, next *int) []float32 {
	for i := range pcm {
		pcm[i] = float32(*next)
		*next++
	}
	return pcm
}

// continuous reports whether frame continues from *want, and advances it.
func continuous(frame []float32, want *int) bool {
	ok := true
	for _, s := range frame {
		if int(s) != *want {
			ok = false
		}
		*want = int(s) + 1
	}
	return ok
}

func TestPCMFIFOPrimesThenPlaysInOrder(t *testing.T) {
	const target = 3 * media.FrameSamples
	f := newPCMFIFO(target)
	frame := make([]float32, media.FrameSamples)
	next, want := 0, 0
	// Not yet target deep: silence.
	f.push(ramp(make([]float32, 2*media.FrameSamples), &next))
	if f.pop(frame) {
		t.Fatal("played before the buffer reached its target")
	}
	for _, s := range frame {
		if s != 0 {
			t.Fatal("priming frame is not silence")
		}
	}
	// Odd-sized chunks, as a decoder hands them out (AAC at 44.1 kHz
	// resampled: 1114 or 1115 samples), wrap around the ring many times.
	chunk := make([]float32, 1115)
	f.push(ramp(chunk[:1000], &next))
	for i := 0; i < 2000; i++ {
		if !f.pop(frame) {
			t.Fatalf("pop %d: underrun with %d buffered", i, f.w.Load()-f.r.Load())
		}
		if !continuous(frame, &want) {
			t.Fatalf("pop %d: samples out of order", i)
		}
		// Push at the same average rate: 960 per pop.
		if i%8 != 7 {
			f.push(ramp(chunk[:1097], &next))
		} else {
			f.push(ramp(chunk[:960*8-1097*7], &next))
		}
	}
	if f.dropped.Load() != 0 || f.underruns.Load() != 0 || f.overflow.Load() != 0 {
		t.Fatalf("steady stream: dropped %d, underruns %d, overflow %d", f.dropped.Load(), f.underruns.Load(), f.overflow.Load())
	}
}

// A source clock 1% fast fills the buffer; the tick drops the excess
// once a window, so the depth stays near the target.
func TestPCMFIFOFastSourceDrops(t *testing.T) {
	const target = 3 * media.FrameSamples
	f := newPCMFIFO(target)
	frame := make([]float32, media.FrameSamples)
	chunk := make([]float32, 970)
	next := 0
	maxDepth := 0
	for i := 0; i < 3000; i++ { // 60 s
		f.push(ramp(chunk, &next))
		f.pop(frame)
		maxDepth = max(maxDepth, int(f.w.Load()-f.r.Load()))
	}
	if f.underruns.Load() != 0 || f.overflow.Load() != 0 {
		t.Fatalf("underruns %d, overflow %d", f.underruns.Load(), f.overflow.Load())
	}
	// 10 samples per pop too many: 30000 in all, minus what is queued.
	if d := f.dropped.Load(); d < 25000 || d > 30000 {
		t.Errorf("dropped %d samples, want about 30000", d)
	}
	if limit := target + media.FrameSamples + 600; maxDepth > limit {
		t.Errorf("depth reached %d samples, want at most %d", maxDepth, limit)
	}
}

// A slow source runs dry: silence, then the buffer primes again.
func TestPCMFIFOSlowSourceConceals(t *testing.T) {
	f := newPCMFIFO(3 * media.FrameSamples)
	frame := make([]float32, media.FrameSamples)
	chunk := make([]float32, 950)
	next, silent := 0, 0
	for i := 0; i < 3000; i++ {
		f.push(ramp(chunk, &next))
		if !f.pop(frame) {
			silent++
		}
	}
	// 10 samples per pop missing: about 30000 samples, re-primed each time
	// with 3 frames of silence.
	if u := f.underruns.Load(); u < 8 || u > 12 {
		t.Errorf("%d underruns, want about 10", u)
	}
	if silent > 60 {
		t.Errorf("%d silent frames", silent)
	}
}

func TestPCMFIFOOverflowAndNoAllocs(t *testing.T) {
	f := newPCMFIFO(3 * media.FrameSamples)
	f.push(make([]float32, fifoCapacity+100))
	if got := f.overflow.Load(); got != 100 {
		t.Fatalf("overflow %d samples, want 100", got)
	}
	frame := make([]float32, media.FrameSamples)
	in := make([]float32, media.FrameSamples)
	allocs := testing.AllocsPerRun(1000, func() {
		f.pop(frame)
		f.push(in)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per frame", allocs)
	}
}
