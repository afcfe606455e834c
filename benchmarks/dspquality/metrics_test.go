package dspquality

import (
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"
)

func testRNG() *rand.Rand { return rand.New(rand.NewPCG(7, 11)) }

// tone is a sine of rms amplitude a.
func tone(n int, f, a float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = a * math.Sqrt2 * math.Sin(2*math.Pi*f*float64(i)/Rate)
	}
	return x
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.3f, want %.3f ± %.3f", what, got, want, tol)
	}
}

func TestSegSNRKnownSignals(t *testing.T) {
	n := 2 * Rate
	clean := tone(n, 440, 0.1)
	mask := ActiveMask(clean, segFrame, activeRangeDB)
	noise := whiteNoise(n, testRNG())
	tests := []struct {
		name string
		y    func() []float64
		want float64
		tol  float64
	}{
		{"itself is clamped to 35", func() []float64 { return clean }, segMax, 0},
		{"silence is 0 dB", func() []float64 { return make([]float64, n) }, 0, 1e-9},
		{"inverted is -6 dB", func() []float64 {
			y := make([]float64, n)
			for i := range y {
				y[i] = -clean[i]
			}
			return y
		}, -10 * math.Log10(4), 1e-6},
		{"noise 10 dB down", func() []float64 {
			y := make([]float64, n)
			for i := range y {
				y[i] = clean[i] + 0.1*fromDB(-10)*noise[i]
			}
			return y
		}, 10, 0.3},
		{"noise 30 dB up is clamped to -10", func() []float64 {
			y := make([]float64, n)
			for i := range y {
				y[i] = clean[i] + 0.1*fromDB(30)*noise[i]
			}
			return y
		}, segMin, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			near(t, "segSNR", SegSNR(clean, tc.y(), mask, segFrame), tc.want, tc.tol)
		})
	}
}

func TestSegSNROnlyCountsActiveFrames(t *testing.T) {
	// Speech in the first half only: the noisy silent half must not count.
	n := 2 * Rate
	clean := tone(n, 300, 0.1)
	clear(clean[n/2:])
	noise := whiteNoise(n, testRNG())
	y := make([]float64, n)
	for i := range y {
		y[i] = clean[i] + 0.1*fromDB(-20)*noise[i]
	}
	mask := ActiveMask(clean, segFrame, activeRangeDB)
	near(t, "segSNR", SegSNR(clean, y, mask, segFrame), 20, 0.3)
}

func TestDelayFindsKnownShift(t *testing.T) {
	x := whiteNoise(Rate, testRNG())
	for _, lag := range []int{0, 1, 137, 480, 4799} {
		y := make([]float64, len(x))
		for i := range y {
			if i-lag >= 0 {
				y[i] = -0.3 * x[i-lag] // polarity and gain must not matter
			}
		}
		if got := Delay(x, y, -FrameLen, 10*FrameLen); got != lag {
			t.Errorf("Delay with shift %d = %d", lag, got)
		}
	}
	// A negative lag: y earlier than x.
	y := shift(x, 25, len(x))
	if got := Delay(x, y, -FrameLen, FrameLen); got != -25 {
		t.Errorf("Delay with lead 25 = %d", got)
	}
}

func TestERLEOfKnownAttenuation(t *testing.T) {
	n := 10 * Rate
	echo := whiteNoise(n, testRNG())
	scale(echo, 0.1)
	out := make([]float64, n)
	for i := range out {
		// 10 dB for the first 3 s, then 30 dB.
		g := fromDB(-10)
		if i >= 3*Rate {
			g = fromDB(-30)
		}
		out[i] = g * echo[i]
	}
	tr, act := ERLETrack(echo, out)
	near(t, "steady ERLE", SteadyERLE(echo, out, 4*Rate, n), 30, 1e-6)
	near(t, "steady ERLE across the change", SteadyERLE(echo, out, 2*Rate, 4*Rate), 10*math.Log10(2/(0.1+0.001)), 0.05)
	// The first window wholly after the change ends at 3.5 s.
	near(t, "time to 25 dB", TimeToERLE(tr, act, 25), 3.5, 1e-9)
	if v := TimeToERLE(tr, act, 31); !math.IsInf(v, 1) {
		t.Errorf("time to 31 dB = %v, want never", v)
	}
	// Windows without echo are ignored, not counted as failures.
	clear(echo[6*Rate : 7*Rate])
	clear(out[6*Rate : 7*Rate])
	tr, act = ERLETrack(echo, out)
	// Windows wholly inside [6 s, 7 s) are those starting at 6.0 to 6.5 s.
	if !act[59] || act[60] || act[65] || !act[66] {
		t.Errorf("active windows around the gap: %v", act[58:68])
	}
	near(t, "time to 25 dB with a gap", TimeToERLE(tr, act, 25), 3.5, 1e-9)
}

func TestSDRAfterGainAndDelay(t *testing.T) {
	n := 3 * Rate
	clean := pinkNoise(n, testRNG())
	scale(clean, 0.05)
	clear(clean[n-segFrame:]) // the shifted output is cut there
	noise := whiteNoise(n, rand.New(rand.NewPCG(1, 2)))
	const lag = 100
	y := make([]float64, n)
	for i := lag; i < n; i++ {
		y[i] = 0.5*clean[i-lag] + 0.5*0.05*fromDB(-20)*noise[i]
	}
	mask := ActiveMask(clean, segFrame, activeRangeDB)
	sdr, got := SDR(clean, y, mask, segFrame, Rate/20)
	if got != lag {
		t.Errorf("SDR lag = %d, want %d", got, lag)
	}
	near(t, "SDR", sdr, 20, 0.3)
	near(t, "projection gain", ProjectionGainDB(clean, shift(y, lag, n), mask, segFrame), 20*math.Log10(0.5), 0.05)
}

func TestLevelSettling(t *testing.T) {
	// Speech-like input whose level wanders ±4 dB every 0.7 s at -30 dBFS
	// overall; the "AGC" applies 0 dB for 3 s, then the ideal +12 dB minus
	// 0.5. Only the gain counts, so the wandering must not matter.
	n := 8 * Rate
	in := tone(n, 500, 1)
	for i := range in {
		if (i/(Rate*7/10))%2 == 0 {
			in[i] *= fromDB(4)
		} else {
			in[i] *= fromDB(-4)
		}
	}
	mask := make([]bool, n/FrameLen)
	for i := range mask {
		mask[i] = true
	}
	setActiveLevel(in, -30)
	out := append([]float64(nil), in...)
	for i := 3 * Rate; i < n; i++ {
		out[i] *= fromDB(11.5)
	}
	settle, final := LevelSettling(in, out, mask, -18, 2, 3)
	near(t, "final error", final, -0.5, 0.01)
	if settle < 3 || settle > 3.5 {
		t.Errorf("settle = %.2f s, want between 3 and 3.5", settle)
	}
	// Never reaching the target.
	settle, final = LevelSettling(in, in, mask, -18, 2, 3)
	if !math.IsInf(settle, 1) {
		t.Errorf("settle without reaching = %v", settle)
	}
	near(t, "final error without gain", final, -12, 0.01)
	// Right from the start.
	settle, _ = LevelSettling(in[3*Rate:], out[3*Rate:], mask[:len(mask)-300], -18, 2, 3)
	if settle != 0 {
		t.Errorf("settle when always right = %v", settle)
	}
}

func TestClippedAndPeak(t *testing.T) {
	y := []float64{0.5, -1, 0.99999, 0.2}
	if c := Clipped(y); c != 2 {
		t.Errorf("Clipped = %d", c)
	}
	near(t, "peak", PeakDBFS(y), 0, 1e-9)
}

func TestConvolveAndXcorrMatchDirect(t *testing.T) {
	rng := testRNG()
	x := whiteNoise(300, rng)
	h := whiteNoise(37, rng)
	y := convolve(x, h)
	for n := range y {
		var d float64
		for k := range h {
			if n-k >= 0 && n-k < len(x) {
				d += h[k] * x[n-k]
			}
		}
		if math.Abs(d-y[n]) > 1e-9 {
			t.Fatalf("convolve[%d] = %v, want %v", n, y[n], d)
		}
	}
	c := xcorr(x, h, -20, 30)
	for k := -20; k <= 30; k++ {
		var d float64
		for n := range x {
			if n+k >= 0 && n+k < len(h) {
				d += x[n] * h[n+k]
			}
		}
		if math.Abs(d-c[k+20]) > 1e-9 {
			t.Fatalf("xcorr[%d] = %v, want %v", k, c[k+20], d)
		}
	}
}

func TestVariableDelayIsFractionalAndBandLimited(t *testing.T) {
	const f, d = 1000.0, 10.37
	x := tone(Rate/10, f, 0.1)
	y := variableDelay(x, func(int) float64 { return d })
	want := make([]float64, len(x))
	for i := range want {
		want[i] = 0.1 * math.Sqrt2 * math.Sin(2*math.Pi*f*(float64(i)-d)/Rate)
	}
	var e float64
	for i := 100; i < len(x)-100; i++ {
		e = max(e, math.Abs(y[i]-want[i]))
	}
	if e > 1e-3*0.1 {
		t.Errorf("fractional delay max error %.2e", e)
	}
}

func TestPinkNoiseSlope(t *testing.T) {
	x := pinkNoise(4*Rate, testRNG())
	near(t, "rms", rms(x), 1, 1e-9)
	// Power in two octave bands an octave apart differs by about 3 dB
	// per octave: the band 4 octaves up holds the same power as a pink
	// spectrum (equal power per octave), so compare per-Hz density.
	band := func(lo float64) float64 {
		y := append([]float64(nil), x...)
		highpass(lo, 0.707).apply(y)
		lowpass(lo*2, 0.707).apply(y)
		return energy(y) / lo // density per Hz of bandwidth
	}
	slope := (dB(band(4000)) - dB(band(250))) / 4
	near(t, "pink slope (dB/octave)", slope, -3, 0.7)
}

func TestRoomImpulseDecay(t *testing.T) {
	h := RoomImpulse(0.3, testRNG())
	if len(h) != int(0.3*Rate) {
		t.Fatalf("len = %d", len(h))
	}
	// Energy in 10 ms just after 100 ms vs just after 200 ms: 20 dB apart
	// for a 60 dB/300 ms decay.
	e := func(at float64) float64 { i := int(at * Rate); return dB(energy(h[i : i+Rate/100])) }
	near(t, "decay over 100 ms", e(0.1)-e(0.2), 20, 3)
}

func TestScenesAreReproducibleAndCalibrated(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed")
	}
	synth, err := NewSynth()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	p := EchoParams{Seconds: 3, DelayMs: 100, DriftPPM: 100, T60Ms: 150, ERLdB: 10}
	a, err := Scenes{Synth: synth, Seed: 3}.Echo(ctx, "x", p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Scenes{Synth: synth, Seed: 3}.Echo(ctx, "x", p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Near {
		if a.Near[i] != b.Near[i] {
			t.Fatalf("scene differs at sample %d", i)
		}
	}
	farL := ActiveLevelDB(a.Far, ActiveMask(a.Far, FrameLen, activeRangeDB), FrameLen)
	echoL := ActiveLevelDB(a.Echo, ActiveMask(a.Echo, FrameLen, activeRangeDB), FrameLen)
	near(t, "far level", farL, farLevelDBFS, 0.01)
	near(t, "ERL", farL-echoL, 10, 0.01)
	// The echo's strongest arrival is the direct path or an early
	// reflection (at most 16 ms later) after the bulk delay.
	lag := float64(Delay(a.Far, a.Echo, 0, Rate)) * 1000 / Rate
	if lag < 99 || lag > 117 {
		t.Errorf("echo delay = %.1f ms, want 100 to 116", lag)
	}

	ns, err := Scenes{Synth: synth, Seed: 3}.Noise(ctx, "babble", 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := ActiveMask(ns.Clean, FrameLen, activeRangeDB)
	noise := make([]float64, len(ns.Noisy))
	for i := range noise {
		noise[i] = ns.Noisy[i] - ns.Clean[i]
	}
	near(t, "SNR", ActiveLevelDB(ns.Clean, m, FrameLen)-dB(energy(noise)/float64(len(noise))), 5, 0.01)

	ag, err := Scenes{Synth: synth, Seed: 3}.AGC(ctx, -10, 4)
	if err != nil {
		t.Fatal(err)
	}
	if c := Clipped(ag.Input); c != 0 {
		t.Errorf("loudest AGC input has %d clipped samples", c)
	}
	lv := ActiveLevelDB(ag.Clean, ActiveMask(ag.Clean, FrameLen, activeRangeDB), FrameLen)
	near(t, "AGC input level", lv, -10, 1)
}
