package audiotest

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.2f dB, want %.2f ± %.2f", name, got, want, tol)
	}
}

func TestToneDB(t *testing.T) {
	const rate = 48000
	tests := []struct {
		name       string
		signal     []float32
		freq, want float64
		tol        float64
	}{
		{"full-scale sine", Tone(440, 1, rate, rate), 440, -3.01, 0.05},
		{"-20 dB sine, 100 ms, fractional cycles", Tone(437.3, 0.1, rate, 4800), 437.3, -23.01, 0.1},
		{"silence", make([]float32, 960), 440, Floor, 0},
		{"empty", nil, 440, Floor, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			near(t, "ToneDB", ToneDB(tc.signal, tc.freq, rate), tc.want, tc.tol)
		})
	}
	// A full-scale tone 100 Hz away over 100 ms must not leak into the bin.
	if got := ToneDB(Tone(540, 1, rate, 4800), 440, rate); got > -60 {
		t.Errorf("leakage from 540 Hz at 440 Hz: %.1f dB, want < -60", got)
	}
}

func TestMixtureSeparates(t *testing.T) {
	const rate = 48000
	// Four tones at different levels, plus noise at -60 dBFS RMS.
	freqs := []float64{300, 500, 700, 900}
	amps := []float64{0.5, 0.1, 0.05, 0.001}
	x := make([]float32, rate/2)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		v := r.NormFloat64() * 0.001
		for k, f := range freqs {
			v += amps[k] * math.Sin(2*math.Pi*f*float64(i)/rate+float64(k))
		}
		x[i] = float32(v)
	}
	for k, f := range freqs {
		near(t, "tone", ToneDB(x, f, rate), 20*math.Log10(amps[k]/math.Sqrt2), 0.5)
	}
	// The total RMS is dominated by the 0.5 tone: sum of the powers.
	var p float64
	for _, a := range amps {
		p += a * a / 2
	}
	near(t, "RMSDB", RMSDB(x), 10*math.Log10(p+1e-6), 0.1)
}

func TestRMSDB(t *testing.T) {
	sq := make([]float32, 100)
	for i := range sq {
		sq[i] = 1
		if i%2 == 1 {
			sq[i] = -1
		}
	}
	near(t, "square", RMSDB(sq), 0, 1e-9)
	near(t, "sine", RMSDB(Tone(1000, 1, 48000, 48000)), -3.01, 0.01)
	if got := RMSDB(make([]float32, 10)); got != Floor {
		t.Errorf("silence = %v, want Floor", got)
	}
}
