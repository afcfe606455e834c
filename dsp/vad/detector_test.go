package vad

import (
	"math"
	"testing"

	"github.com/openmcu/mcu/dsp/internal/dsptest"
)

// run returns per-frame probabilities and Speech() decisions.
func run(d *Detector, x []float32) ([]float32, []bool) {
	nf := len(x) / FrameSize
	p := make([]float32, nf)
	s := make([]bool, nf)
	for f := range nf {
		p[f] = d.Process(x[f*FrameSize : (f+1)*FrameSize])
		s[f] = d.Speech()
	}
	return p, s
}

func score(t *testing.T, name string, clean, x []float32) {
	t.Helper()
	mask := dsptest.ActiveMask(clean)
	mx := 0.0
	for f := range mask {
		var e float64
		for _, v := range clean[f*FrameSize : (f+1)*FrameSize] {
			e += float64(v) * float64(v)
		}
		mx = math.Max(mx, e)
	}
	p, _ := run(New(DefaultConfig()), x)
	var hit, nSpeech, fa, nNoise int
	for f := 50; f < len(mask); f++ { // first 0.5 s: floor settling
		// Loud speech frames (within 20 dB of the peak) must be found;
		// frames with no speech at all must not.
		var e float64
		for _, v := range clean[f*FrameSize : (f+1)*FrameSize] {
			e += float64(v) * float64(v)
		}
		switch {
		case e == 0:
			nNoise++
			if p[f] > 0.5 {
				fa++
			}
		case mask[f] && e > mx/100:
			nSpeech++
			if p[f] > 0.5 {
				hit++
			}
		}
	}
	hr, far := float64(hit)/float64(nSpeech), float64(fa)/float64(nNoise)
	t.Logf("%s: speech frames detected %.1f%%, noise frames flagged %.1f%%", name, 100*hr, 100*far)
	if hr < 0.75 || far > 0.05 {
		t.Errorf("%s: hit rate %.2f (want >= 0.75), false alarms %.2f (want <= 0.05)", name, hr, far)
	}
}

func corpus(t *testing.T) []float32 {
	var all []float32
	for i, s := range dsptest.Sentences[:3] {
		all = append(all, dsptest.Pad(dsptest.Speech(t, dsptest.Voices[i], s), 48000, 24000)...)
	}
	return dsptest.Scale(dsptest.Normalize(all), -28)
}

func TestSpeechInNoise(t *testing.T) {
	clean := corpus(t)
	n := len(clean)
	score(t, "clean", clean, clean)
	score(t, "white 10 dB", clean, dsptest.MixSNR(clean, dsptest.White(n, 1), 10))
	score(t, "pink 10 dB", clean, dsptest.MixSNR(clean, dsptest.Pink(n, 2), 10))
	score(t, "white 5 dB", clean, dsptest.MixSNR(clean, dsptest.White(n, 3), 5))
}

func TestSyntheticSpeech(t *testing.T) {
	clean := dsptest.Scale(dsptest.Synthetic(48000*6, 1), -25)
	score(t, "synthetic + pink 10 dB", clean, dsptest.MixSNR(clean, dsptest.Pink(len(clean), 5), 10))
}

func TestHangoverAndLevel(t *testing.T) {
	d := New(DefaultConfig())
	quiet := dsptest.Scale(dsptest.White(48000, 1), -70)
	run(d, quiet)
	if d.Speech() {
		t.Fatal("speech on quiet noise")
	}
	burst := dsptest.Scale(dsptest.Synthetic(48000, 2), -20)
	run(d, burst[:24000])
	if !d.Speech() {
		t.Fatal("no speech during a loud voiced burst")
	}
	if l := d.LevelDBFS(); l < -35 || l > -10 {
		t.Errorf("level %.1f dBFS during -20 dBFS speech", l)
	}
	// Hangover: Speech() survives a few frames of silence, then drops.
	run(d, make([]float32, FrameSize*5))
	if !d.Speech() {
		t.Error("hangover did not hold 50 ms")
	}
	run(d, make([]float32, FrameSize*200))
	if d.Speech() {
		t.Error("speech after 450 ms of silence")
	}
	if l := d.LevelDBFS(); l > -100 {
		t.Errorf("level %.1f dBFS after silence", l)
	}
}

func TestEdgeCases(t *testing.T) {
	n := 48000
	dc := make([]float32, n)
	sq := make([]float32, n)
	nan := make([]float32, n)
	for i := range n {
		dc[i] = 0.5
		sq[i] = 1
		if (i/24)%2 == 0 {
			sq[i] = -1
		}
	}
	nan[10] = float32(math.NaN())
	nan[20] = float32(math.Inf(-1))
	for name, x := range map[string][]float32{"silence": make([]float32, n), "dc": dc, "square": sq, "nan": nan} {
		d := New(DefaultConfig())
		p, _ := run(d, x)
		for f, v := range p {
			if v != v || v < 0 || v > 1 {
				t.Fatalf("%s: frame %d probability %v", name, f, v)
			}
		}
		if l := d.LevelDBFS(); math.IsNaN(l) || math.IsInf(l, 0) {
			t.Fatalf("%s: level %v", name, l)
		}
		if name == "silence" && d.Speech() {
			t.Errorf("silence detected as speech")
		}
		if name == "dc" && d.Speech() {
			t.Errorf("DC detected as speech")
		}
	}
}

func TestResetAllocs(t *testing.T) {
	d := New(DefaultConfig())
	x := dsptest.Scale(dsptest.Synthetic(FrameSize*50, 2), -20)
	a, _ := run(d, x)
	d.Reset()
	b, _ := run(d, x)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("frame %d differs after Reset", i)
		}
	}
	if n := testing.AllocsPerRun(50, func() { d.Process(x[:FrameSize]) }); n != 0 {
		t.Errorf("%v allocs per frame", n)
	}
}

func BenchmarkProcess(b *testing.B) {
	d := New(DefaultConfig())
	x := dsptest.Scale(dsptest.White(FrameSize, 1), -30)
	b.ReportAllocs()
	t0 := dsptest.CPUNanos()
	for b.Loop() {
		d.Process(x)
	}
	b.ReportMetric(float64(dsptest.CPUNanos()-t0)/float64(b.N)/1e3, "cpu-us/op")
}
