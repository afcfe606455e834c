package resample

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

var rates = []int{8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000}

func tone(rate int, f, amp float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return x
}

// run resamples the whole of x in chunks of chunk samples and flushes.
func run(t testing.TB, r *Resampler, x []float32, chunk int) []float32 {
	out := make([]float32, 0, r.OutputLen(len(x)))
	dst := make([]float32, r.MaxOut(chunk))
	for i := 0; i < len(x); i += chunk {
		n := r.Process(dst, x[i:min(i+chunk, len(x))])
		out = append(out, dst[:n]...)
	}
	n := r.Flush(dst)
	return append(out, dst[:n]...)
}

// toneAmp fits a sinusoid of frequency f to x[from:to] and returns its amplitude.
func toneAmp(x []float32, rate int, f float64, from, to int) float64 {
	var c, s float64
	for i := from; i < to; i++ {
		w := 2 * math.Pi * f * float64(i) / float64(rate)
		c += float64(x[i]) * math.Cos(w)
		s += float64(x[i]) * math.Sin(w)
	}
	n := float64(to - from)
	return 2 * math.Hypot(c, s) / n
}

func TestToneSurvives(t *testing.T) {
	for _, q := range []Quality{QualityLow, QualityMedium, QualityHigh} {
		for _, in := range rates {
			for _, pair := range [][2]int{{in, 48000}, {48000, in}} {
				t.Run(fmt.Sprintf("q%d/%d-%d", q, pair[0], pair[1]), func(t *testing.T) {
					r, err := New(pair[0], pair[1], q)
					if err != nil {
						t.Fatal(err)
					}
					x := tone(pair[0], 1000, 0.5, pair[0]/2) // 0.5 s
					y := run(t, r, x, 480)
					if len(y) != r.OutputLen(len(x)) {
						t.Fatalf("got %d outputs, want %d", len(y), r.OutputLen(len(x)))
					}
					// Fit over the middle, away from the start and end transients.
					from, to := len(y)/4, 3*len(y)/4
					amp := toneAmp(y, pair[1], 1000, from, to)
					errDB := 20 * math.Log10(amp/0.5)
					if math.Abs(errDB) > 0.1 {
						t.Errorf("1 kHz level error %.3f dB", errDB)
					}
					// Timing: the output is aligned with the input (zero phase).
					var c, s float64
					for i := from; i < to; i++ {
						w := 2 * math.Pi * 1000 * float64(i) / float64(pair[1])
						c += float64(y[i]) * math.Cos(w)
						s += float64(y[i]) * math.Sin(w)
					}
					if ph := math.Atan2(c, s); math.Abs(ph) > 0.01 {
						t.Errorf("phase offset %.4f rad: output not time-aligned", ph)
					}
				})
			}
		}
	}
}

func TestAliasingRejected(t *testing.T) {
	for _, q := range []Quality{QualityMedium, QualityHigh} {
		r, err := New(48000, 8000, q)
		if err != nil {
			t.Fatal(err)
		}
		y := run(t, r, tone(48000, 7000, 0.9, 48000), 480)
		var e float64
		for _, v := range y[len(y)/4 : 3*len(y)/4] {
			e += float64(v) * float64(v)
		}
		rms := math.Sqrt(e / float64(len(y)/2))
		att := 20 * math.Log10(0.9/math.Sqrt2/rms)
		t.Logf("quality %d: 7 kHz at 48k->8k attenuated %.1f dB, latency %d samples (%.2f ms)",
			q, att, r.Latency(), 1000*r.LatencySeconds())
		if att < 60 {
			t.Errorf("quality %d: 7 kHz alias only %.1f dB down, want >= 60", q, att)
		}
	}
}

func TestChunkingDoesNotMatter(t *testing.T) {
	x := tone(44100, 440, 0.7, 9000)
	for i := range x {
		x[i] += float32(0.1 * math.Sin(float64(i)*0.77))
	}
	a, _ := New(44100, 48000, QualityMedium)
	b, _ := New(44100, 48000, QualityMedium)
	ya := run(t, a, x, len(x))
	yb := run(t, b, x, 37)
	if len(ya) != len(yb) {
		t.Fatalf("lengths %d vs %d", len(ya), len(yb))
	}
	for i := range ya {
		if ya[i] != yb[i] {
			t.Fatalf("sample %d differs: %v vs %v", i, ya[i], yb[i])
		}
	}
	// Small dst: leftover input stays buffered and comes out on the next call.
	c, _ := New(44100, 48000, QualityMedium)
	var yc []float32
	small := make([]float32, 100)
	for i := 0; i < len(x); i += 441 {
		n := c.Process(small, x[i:min(i+441, len(x))])
		yc = append(yc, small[:n]...)
		for n == len(small) {
			n = c.Process(small, nil)
			yc = append(yc, small[:n]...)
		}
	}
	for {
		n := c.Flush(small)
		if n == 0 {
			break
		}
		yc = append(yc, small[:n]...)
	}
	if len(yc) != len(ya) {
		t.Fatalf("small-dst length %d, want %d", len(yc), len(ya))
	}
	for i := range ya {
		if ya[i] != yc[i] {
			t.Fatalf("small-dst sample %d differs", i)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	r, _ := New(16000, 48000, QualityHigh)
	sq := make([]float32, 16000)
	for i := range sq {
		sq[i] = 1
		if (i/40)%2 == 1 {
			sq[i] = -1
		}
	}
	dc := make([]float32, 16000)
	for i := range dc {
		dc[i] = 0.5
	}
	for name, x := range map[string][]float32{"silence": make([]float32, 16000), "dc": dc, "square": sq} {
		r.Reset()
		y := run(t, r, x, 160)
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite output at %d", name, i)
			}
		}
		if name == "dc" {
			if v := y[len(y)/2]; math.Abs(float64(v)-0.5) > 1e-5 {
				t.Errorf("dc: got %v, want 0.5", v)
			}
		}
		if name == "silence" && y[len(y)/2] != 0 {
			t.Errorf("silence: got %v", y[len(y)/2])
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(4000, 48000, QualityHigh); !errors.Is(err, ErrUnsupportedRate) {
		t.Errorf("4 kHz: %v", err)
	}
	if _, err := New(8000, 48000, Quality(9)); !errors.Is(err, ErrUnknownQuality) {
		t.Errorf("quality 9: %v", err)
	}
}

func TestNoAllocs(t *testing.T) {
	r, _ := New(22050, 48000, QualityHigh)
	src := tone(22050, 1000, 0.5, 441)
	dst := make([]float32, r.MaxOut(len(src)))
	r.Process(dst, src)
	if a := testing.AllocsPerRun(100, func() { r.Process(dst, src) }); a != 0 {
		t.Errorf("%v allocs per Process", a)
	}
}

func BenchmarkResample(b *testing.B) {
	for _, p := range [][2]int{{48000, 8000}, {8000, 48000}, {22050, 48000}, {48000, 44100}, {16000, 48000}} {
		b.Run(fmt.Sprintf("%d-%d", p[0], p[1]), func(b *testing.B) {
			r, _ := New(p[0], p[1], QualityMedium)
			src := tone(p[0], 1000, 0.5, p[0]/100) // 10 ms
			dst := make([]float32, r.MaxOut(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				r.Process(dst, src)
			}
		})
	}
}
