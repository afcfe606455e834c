package conference

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/openmcu/mcu/internal/audiotest"
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
		// Push at the same average rate, 960 per pop, with little enough
		// jitter that the depth stays within the resampler's dead band:
		// samples pass through untouched.
		if i%2 == 0 {
			f.push(ramp(chunk[:1097], &next))
		} else {
			f.push(ramp(chunk[:2*960-1097], &next))
		}
	}
	if f.dropped.Load() != 0 || f.inserted.Load() != 0 || f.underruns.Load() != 0 || f.overflow.Load() != 0 {
		t.Fatalf("steady stream: dropped %d, underruns %d, overflow %d", f.dropped.Load(), f.underruns.Load(), f.overflow.Load())
	}
}

// driftSource pushes a 1 kHz tone in 1024-sample chunks (AAC's frame) on a
// clock running ppm parts per million fast (negative: slow) against the
// tick's.
type driftSource struct {
	f     *pcmFIFO
	ratio float64 // source samples per tick sample
	owed  float64
	n     int // source samples made
	chunk []float32
}

func (s *driftSource) tick() {
	s.owed += s.ratio * media.FrameSamples
	for s.owed >= float64(len(s.chunk)) {
		for i := range s.chunk {
			s.chunk[i] = float32(0.5 * math.Sin(2*math.Pi*1000*float64(s.n)/media.SampleRate))
			s.n++
		}
		s.f.push(s.chunk)
		s.owed -= float64(len(s.chunk))
	}
}

// outOfBandDB is the energy of x outside lo..hi Hz relative to its total,
// with a Blackman-Harris window (sidelobes below -92 dB).
func outOfBandDB(x []float32, lo, hi float64) float64 {
	n := len(x)
	seq := make([]float64, n)
	for i, v := range x {
		a := 2 * math.Pi * float64(i) / float64(n-1)
		w := 0.35875 - 0.48829*math.Cos(a) + 0.14128*math.Cos(2*a) - 0.01168*math.Cos(3*a)
		seq[i] = float64(v) * w
	}
	coef := fourier.NewFFT(n).Coefficients(nil, seq)
	var in, out float64
	for k, c := range coef {
		p := real(c)*real(c) + imag(c)*imag(c)
		if hz := float64(k) * media.SampleRate / float64(n); hz >= lo && hz <= hi {
			in += p
		} else {
			out += p
		}
	}
	return 10 * math.Log10(out/(in+out))
}

// A source drifting 0.5% either way is resampled so gently that a pure
// tone stays pure: no clicks, no sidebands, and the depth stays near its
// target without underruns or cuts.
func TestPCMFIFODriftIsInaudible(t *testing.T) {
	for _, c := range []struct {
		name  string
		ratio float64
	}{{"fast 0.5%", 1.005}, {"slow 0.5%", 0.995}, {"fast 0.1%", 1.001}, {"slow 0.1%", 0.999}} {
		t.Run(c.name, func(t *testing.T) {
			const target = 3 * media.FrameSamples
			f := newPCMFIFO(target)
			src := &driftSource{f: f, ratio: c.ratio, chunk: make([]float32, 1024)}
			frame := make([]float32, media.FrameSamples)
			const settle, measure = 10 * 50, 1<<19/media.FrameSamples + 1 // ticks: 10 s, then about 11 s
			out := make([]float32, 0, measure*media.FrameSamples)
			lo, hi, sum, played := math.MaxInt, 0, 0, 0
			for i := range settle + measure {
				src.tick()
				d := f.depth()
				if f.pop(frame) {
					played++
				} else if i > 10 {
					t.Fatalf("tick %d: no audio, depth %d", i, d)
				}
				if i >= settle {
					out = append(out, frame...)
					lo, hi, sum = min(lo, d), max(hi, d), sum+d
				}
			}
			mean := sum / measure
			db := outOfBandDB(out[:1<<19], 950, 1050)
			t.Logf("energy outside 1 kHz ±50 Hz: %.1f dB; depth %d..%d, mean %d (target %d); dropped %d, inserted %d",
				db, lo, hi, mean, target, f.dropped.Load(), f.inserted.Load())
			if db > -40 {
				t.Errorf("out-of-band energy %.1f dB, want below -40 dB", db)
			}
			// 0.5% drift settles 10 ms plus the 5 ms dead band off target;
			// 1024-sample chunks add their own ripple.
			if limit := media.SampleRate * 20 / 1000; abs(mean-target) > limit {
				t.Errorf("mean depth %d, want within %d of %d", mean, limit, target)
			}
			if f.underruns.Load() != 0 || f.overflow.Load() != 0 {
				t.Errorf("underruns %d, overflow %d", f.underruns.Load(), f.overflow.Load())
			}
			// Every sample is accounted for: what was read is what came out,
			// plus what resampling dropped, minus what it inserted.
			read := src.n - f.depth()
			net := int(f.dropped.Load()) - int(f.inserted.Load())
			if read != played*media.FrameSamples+net {
				t.Errorf("read %d samples, played %d, net dropped %d: counters do not add up", read, played*media.FrameSamples, net)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// A source clock beyond what resampling follows (2% fast) is held near
// the target by cuts.
func TestPCMFIFOFastSourceCuts(t *testing.T) {
	const target = 3 * media.FrameSamples
	f := newPCMFIFO(target)
	frame := make([]float32, media.FrameSamples)
	chunk := make([]float32, 979)
	next, maxDepth, played := 0, 0, 0
	for i := 0; i < 3000; i++ { // 60 s
		f.push(ramp(chunk, &next))
		if f.pop(frame) {
			played += len(frame)
		} else if i > 3 {
			t.Fatalf("pop %d: no audio", i)
		}
		maxDepth = max(maxDepth, f.depth())
	}
	if f.underruns.Load() != 0 || f.overflow.Load() != 0 {
		t.Fatalf("underruns %d, overflow %d", f.underruns.Load(), f.overflow.Load())
	}
	// 19 samples per pop too many: 57000 in all, minus what is queued.
	if d := int(f.dropped.Load()); d < 57000-target-f.grossSlack-2*media.FrameSamples || d > 57000 {
		t.Errorf("dropped %d samples, want about 57000", d)
	}
	if read := next - f.depth(); read != played+int(f.dropped.Load()-f.inserted.Load()) {
		t.Errorf("read %d, played %d, dropped %d, inserted %d: counters do not add up", read, played, f.dropped.Load(), f.inserted.Load())
	}
	if limit := target + f.grossSlack + 2*media.FrameSamples; maxDepth > limit {
		t.Errorf("depth reached %d samples, want at most %d", maxDepth, limit)
	}
}

// A burst (a server flushing 300 ms at once) is cut within about 200 ms,
// with a crossfade: the tone never jumps, and it keeps its pitch.
func TestPCMFIFOBurstIsCutSmoothly(t *testing.T) {
	const target = 3 * media.FrameSamples
	f := newPCMFIFO(target)
	src := &driftSource{f: f, ratio: 1, chunk: make([]float32, media.FrameSamples)}
	frame := make([]float32, media.FrameSamples)
	var out []float32
	for i := range 200 {
		src.tick()
		if i == 50 {
			for range 15 { // 300 ms extra
				src.owed += media.FrameSamples
				src.tick()
				src.owed -= media.FrameSamples
			}
		}
		f.pop(frame)
		out = append(out, frame...)
		if i == 65 {
			if d := f.depth(); d > target+f.grossSlack {
				t.Errorf("depth %d 300 ms after the burst", d)
			}
		}
	}
	if f.dropped.Load() < 10000 {
		t.Errorf("dropped only %d samples of a 14400-sample burst", f.dropped.Load())
	}
	// A 0.5 amplitude 1 kHz tone moves at most 0.065 per sample; a hard cut
	// would jump by up to 1.
	start := 10 * media.FrameSamples
	jump := 0.0
	for i := start + 1; i < len(out); i++ {
		jump = max(jump, math.Abs(float64(out[i]-out[i-1])))
	}
	t.Logf("dropped %d, largest step %.3f", f.dropped.Load(), jump)
	if jump > 0.08 {
		t.Errorf("largest sample step %.3f: the cut clicks", jump)
	}
	// Still a 1 kHz tone at -9 dBFS: the burst was cut, not resampled away
	// at a higher pitch.
	after := out[70*media.FrameSamples:]
	if got := audiotest.ToneDB(after, 1000, media.SampleRate); got < -9.5 {
		t.Errorf("1 kHz at %.1f dBFS after the burst, want -9", got)
	}
}

// A slow source beyond what resampling follows (2% slow) runs dry:
// silence, then the buffer primes again.
func TestPCMFIFOSlowSourceConceals(t *testing.T) {
	f := newPCMFIFO(3 * media.FrameSamples)
	frame := make([]float32, media.FrameSamples)
	chunk := make([]float32, 941)
	next, silent := 0, 0
	for i := 0; i < 3000; i++ {
		f.push(ramp(chunk, &next))
		if !f.pop(frame) {
			silent++
		}
	}
	// 19 samples per pop missing, of which resampling makes up 10: about
	// 27000 samples run short, and each underrun waits about 1900 (from
	// one frame left back up to the 3-frame target).
	t.Logf("%d underruns, %d silent frames, %d inserted", f.underruns.Load(), silent, f.inserted.Load())
	if u := f.underruns.Load(); u < 10 || u > 20 {
		t.Errorf("%d underruns, want about 15", u)
	}
	if silent > 60 {
		t.Errorf("%d silent frames", silent)
	}
}

// What piled up before playing starts (the packets read while probing) is
// skipped: playing starts at the target delay with the newest audio.
func TestPCMFIFOSkipsStartupBurst(t *testing.T) {
	const target = 3 * media.FrameSamples
	f := newPCMFIFO(target)
	next, want := 0, 0
	f.push(ramp(make([]float32, 24000), &next))
	frame := make([]float32, media.FrameSamples)
	if !f.pop(frame) {
		t.Fatal("no audio")
	}
	want = 24000 - target
	if !continuous(frame, &want) || f.depth() != target-media.FrameSamples || f.dropped.Load() != 24000-target {
		t.Errorf("first frame starts at %v, depth %d, dropped %d: want the newest %d samples", frame[0], f.depth(), f.dropped.Load(), target)
	}
}

func TestPCMFIFOOverflowAndNoAllocs(t *testing.T) {
	f := newPCMFIFO(3 * media.FrameSamples)
	f.push(make([]float32, fifoCapacity+100))
	if got := f.overflow.Load(); got != 100 {
		t.Fatalf("overflow %d samples, want 100", got)
	}
	frame := make([]float32, media.FrameSamples)
	// Pushing 2% more than is popped keeps the resampler and the cuts busy.
	in := make([]float32, media.FrameSamples*102/100)
	allocs := testing.AllocsPerRun(1000, func() {
		f.pop(frame)
		f.push(in)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per frame", allocs)
	}
}

// BenchmarkPCMFIFOResampling is one tick's push and pop while drift is
// corrected (the source 0.5% fast).
func BenchmarkPCMFIFOResampling(b *testing.B) {
	f := newPCMFIFO(3 * media.FrameSamples)
	in := audiotest.Tone(1000, 0.5, media.SampleRate, media.FrameSamples*1005/1000)
	frame := make([]float32, media.FrameSamples)
	for range 500 {
		f.push(in)
		f.pop(frame)
	}
	if f.adjust() == 0 {
		b.Fatal("not resampling")
	}
	b.ReportAllocs()
	for b.Loop() {
		f.push(in)
		f.pop(frame)
	}
}

// A source that runs dry and comes back neither clicks out nor in: the
// last samples fade out and the return fades in.
func TestPCMFIFOUnderrunFades(t *testing.T) {
	f := newPCMFIFO(3 * media.FrameSamples)
	frame := make([]float32, media.FrameSamples)
	const amp, freq = 0.5, 1000.0
	n := 0
	feed := func(samples int) {
		chunk := make([]float32, samples)
		for i := range chunk {
			chunk[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(n)/media.SampleRate))
			n++
		}
		f.push(chunk)
	}
	// The steepest step a clean 1 kHz tone takes between samples.
	maxStep := float32(amp * 2 * math.Pi * freq / media.SampleRate * 1.05)
	var out []float32
	feed(4 * media.FrameSamples)
	for range 10 { // plays, then runs dry mid-frame
		f.pop(frame)
		out = append(out, frame...)
		if len(out) == 2*media.FrameSamples {
			feed(media.FrameSamples + 333)
		}
	}
	feed(4 * media.FrameSamples) // back
	for range 4 {
		f.pop(frame)
		out = append(out, frame...)
	}
	if f.underruns.Load() == 0 {
		t.Fatal("no underrun happened")
	}
	for i := 1; i < len(out); i++ {
		if d := out[i] - out[i-1]; d > maxStep || -d > maxStep {
			t.Fatalf("sample %d jumps by %.3f (a clean tone moves at most %.3f)", i, d, maxStep)
		}
	}
}
