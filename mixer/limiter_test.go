package mixer

import (
	"math"
	"testing"
)

func TestLimiterStaysUnderCeiling(t *testing.T) {
	cfg := DefaultLimiterConfig()
	ceiling := float32(math.Pow(10, cfg.CeilingDBFS/20))
	tests := []struct {
		name string
		amp  float32 // amplitude of the summed input
	}{
		{"below knee untouched", 0.3},
		{"just over full scale", 1.2},
		{"ten talkers at full scale", 10},
		{"hundred talkers", 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter(cfg)
			buf := make([]float32, 960)
			var peak float32
			for f := 0; f < 50; f++ {
				for i := range buf {
					n := f*960 + i
					buf[i] = tc.amp * float32(math.Sin(2*math.Pi*440*float64(n)/48000))
				}
				l.Process(buf)
				for _, s := range buf {
					peak = max(peak, float32(math.Abs(float64(s))))
				}
			}
			if peak > ceiling {
				t.Fatalf("peak %.4f is above the ceiling %.4f", peak, ceiling)
			}
			if tc.amp < 0.5 && math.Abs(float64(peak-tc.amp)) > 0.01 {
				t.Fatalf("signal below the knee changed: peak %.4f, want %.4f", peak, tc.amp)
			}
			if tc.amp > 1 && peak < 0.7 {
				t.Fatalf("limiter squashed too hard: peak %.3f", peak)
			}
		})
	}
}

func TestLimiterCopyContinuesState(t *testing.T) {
	l := NewLimiter(DefaultLimiterConfig())
	loud := make([]float32, 960)
	for i := range loud {
		loud[i] = 3
	}
	l.Process(loud)
	c := l // value copy carries the envelope
	if c.GainReductionDB() == 0 || c.GainReductionDB() != l.GainReductionDB() {
		t.Fatalf("copy lost the gain reduction: %v vs %v", c.GainReductionDB(), l.GainReductionDB())
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := NewLimiter(DefaultLimiterConfig())
	buf := make([]float32, 960)
	for i := range buf {
		buf[i] = 0.9 * float32(math.Sin(float64(i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Process(buf)
	}
}
