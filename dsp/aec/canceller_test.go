package aec

import (
	"math"
	"testing"
	"unsafe"
)

// Thresholds sit a little below what the scenes reach (see the log lines);
// they are regression guards, not the targets (>= 40 dB, 25 dB in
// 1 s), which this version does not meet yet.
func TestConvergence(t *testing.T) {
	cases := []struct {
		spec     sceneSpec
		minERLE  float64 // steady state, last 2 s
		minLin   float64 // the adaptive filter alone, last 2 s
		maxDelay float64 // |estimate - truth| in ms
	}{
		{sceneSpec{name: "20ms_t200", delayMs: 20, t60: 0.2, erlDB: 6}, 37, 13.5, 2},
		{sceneSpec{name: "150ms_t300", delayMs: 150, t60: 0.3, erlDB: 3}, 35, 10, 2},
		{sceneSpec{name: "400ms_t100", delayMs: 400, t60: 0.1, erlDB: 10}, 36.5, 19, 2},
		{sceneSpec{name: "780ms_t400", delayMs: 780, t60: 0.4, erlDB: 0}, 38, 2.5, 2},
		// 5000 ppm of drift (far beyond real clocks) moves the path faster
		// than the neighbour-normalised filter follows: 27.8 dB here, where
		// the plain per-bin normalisation gave 34 (and 10 dB less elsewhere).
		{sceneSpec{name: "250ms_drift", delayMs: 250, t60: 0.25, erlDB: 6, driftEvery: fs / 5}, 26.5, 2, 2},
	}
	for i, tc := range cases {
		cs := tc.spec
		cs.seconds, cs.farRMS, cs.seed = 8, 0.1, uint64(10+i)
		t.Run(cs.name, func(t *testing.T) {
			sc := makeScene(cs)
			c := New(DefaultConfig())
			out, st, y := runLinear(c, sc)
			last := st[len(st)-1]
			trueMs := float64(sc.delay[len(sc.delay)-1]) / 48
			t25 := timeTo(sc, out, 25) - firstEcho(sc)
			erle := erleOver(sc, out, cs.seconds-2, cs.seconds)
			falseDT := 0
			for _, s := range st {
				if s.DoubleTalk {
					falseDT++
				}
			}
			t.Logf("delay est %.2f ms (true %.2f, confident %v) ERLE steady %.1f dB (Stats %.1f) t25 %.2f s, DoubleTalk on %d/%d blocks",
				last.DelayMs, trueMs, last.DelayConfident, erle, last.ERLEdB, t25, falseDT, len(st))
			f := firstEcho(sc)
			lin := linERLE(sc, y, cs.seconds-2, cs.seconds)
			t.Logf("linear filter alone: ERLE %.1f dB at 1 s, %.1f at 3 s, %.1f at 4-6 s, %.1f steady",
				linERLE(sc, y, f+0.5, f+1.5), linERLE(sc, y, f+2, f+3), linERLE(sc, y, 4, 6), lin)
			if lin < tc.minLin {
				t.Errorf("linear steady-state ERLE %.1f dB < %.1f", lin, tc.minLin)
			}
			if d := math.Abs(last.DelayMs - trueMs); d > tc.maxDelay || !last.DelayConfident {
				t.Errorf("delay %.2f ms, want %.2f ± %.0f (confident %v)", last.DelayMs, trueMs, tc.maxDelay, last.DelayConfident)
			}
			if erle < tc.minERLE {
				t.Errorf("steady-state ERLE %.1f dB < %.1f", erle, tc.minERLE)
			}
			checkFinite(t, out)
		})
	}
}

// A jump of 40 ms in the echo delay (a jitter buffer resync) is followed.
func TestDelayJump(t *testing.T) {
	cs := sceneSpec{delayMs: 200, t60: 0.2, erlDB: 6, seconds: 10, farRMS: 0.1, seed: 40, jumpAt: 4, jumpMs: 40}
	sc := makeScene(cs)
	out, st := run(New(DefaultConfig()), sc)
	last := st[len(st)-1]
	erle := erleOver(sc, out, 8, 10)
	t.Logf("after jump: delay %.2f ms (true 240) ERLE %.1f dB", last.DelayMs, erle)
	if math.Abs(last.DelayMs-240) > 2 {
		t.Errorf("delay after jump %.2f ms, want 240 ± 2", last.DelayMs)
	}
	if erle < 33 {
		t.Errorf("ERLE after jump %.1f dB < 33", erle)
	}
}

func TestDoubleTalk(t *testing.T) {
	cs := sceneSpec{delayMs: 300, t60: 0.25, erlDB: 6, seconds: 9, farRMS: 0.1, seed: 50, nearRMS: 0.05, nearStart: 5}
	sc := makeScene(cs)
	out, st, y := runLinear(New(DefaultConfig()), sc)
	got := sdr(sc.clean, out, 5.5, cs.seconds)
	in := sdr(sc.clean, sc.near, 5.5, cs.seconds)
	dtFrames := 0
	for _, s := range st[550:] {
		if s.DoubleTalk {
			dtFrames++
		}
	}
	t.Logf("double talk: near-end SDR in %.1f dB -> out %.1f dB, DoubleTalk flagged on %d/%d blocks",
		in, got, dtFrames, len(st)-550)
	e := make([]float32, len(y))
	for i := range e {
		e[i] = sc.near[i] - y[i]
	}
	before, during := linERLE(sc, y, 4, 5), linERLE(sc, y, 5.5, cs.seconds)
	t.Logf("linear filter alone: ERLE %.1f dB before, %.1f during double talk; SDR of its error %.1f dB",
		before, during, sdr(sc.clean, e, 5.5, cs.seconds))
	// The filter must not be dragged off by the near end (9 dB without
	// the double-talk step reduction, 11.2 with it).
	if during < 10.5 {
		t.Errorf("linear ERLE during double talk %.1f dB < 10.5", during)
	}
	// Target is 15 dB; this version reaches 9.8 dB (6.4 before the
	// near-end detector): the linear filter gives only ~14 dB on this
	// scene after 5 s and ~11 dB during double talk (7.5 dB SDR before
	// suppression), so the echo left in the error is nearly as loud as
	// the near end.
	if got < 9 {
		t.Errorf("double-talk SDR %.1f dB < 9", got)
	}
}

// Near-end speech 3 dB louder than the echo, without pauses, starts while
// the path drifts (100 ppm). This is still a failure case: the near end
// never stands 5 dB above the predicted echo, so the detector misses it,
// the error as loud as the mic reads as a lost path and the filter is
// reset and restarts in double talk (its linear ERLE goes to -16 dB).
// 3.6 dB before the detector, 4.6 with it; a regression guard.
func TestDoubleTalkDrifting(t *testing.T) {
	cs := sceneSpec{delayMs: 300, t60: 0.25, erlDB: 6, seconds: 14, farRMS: 0.1, seed: 70,
		nearRMS: 0.07, nearStart: 6, driftEvery: 10000}
	sc := makeScene(cs)
	out, _, y := runLinear(New(DefaultConfig()), sc)
	got := sdr(sc.clean, out, 6.5, cs.seconds)
	in := sdr(sc.clean, sc.near, 6.5, cs.seconds)
	before, during := linERLE(sc, y, 4, 6), linERLE(sc, y, 6.5, cs.seconds)
	t.Logf("near-end SDR in %.1f dB -> out %.1f dB; linear ERLE %.1f dB before, %.1f during double talk",
		in, got, before, during)
	if got < 4 {
		t.Errorf("double-talk SDR %.1f dB < 4", got)
	}
}

// With a far end present but no echo, the near end must pass untouched.
func TestNoEchoPassesNearEnd(t *testing.T) {
	cs := sceneSpec{delayMs: 100, t60: 0.2, seconds: 6, farRMS: 0.1, seed: 60, nearRMS: 0.05, noEcho: true}
	sc := makeScene(cs)
	out, _ := run(New(DefaultConfig()), sc)
	got := sdr(sc.near, out, 0.5, cs.seconds-0.1)
	t.Logf("no echo: output vs input SDR %.1f dB", got)
	// Until the filter has cancelled echo the mic passes untouched (the
	// coarse peak alone is not trusted: independent talkers correlate).
	if got < 30 {
		t.Errorf("near end altered without echo: SDR %.1f dB < 30", got)
	}
}

func TestEdgeCases(t *testing.T) {
	n := 3 * fs / BlockSamples * BlockSamples
	gen := map[string]func(i int) (far, near float32){
		"silence": func(int) (float32, float32) { return 0, 0 },
		"dc":      func(int) (float32, float32) { return 0.5, 0.5 },
		"square_full_scale": func(i int) (float32, float32) {
			v := float32(1)
			if (i/100)%2 == 0 {
				v = -1
			}
			return v, v
		},
		"level_jump_20dB": func(i int) (float32, float32) {
			g := float32(0.01)
			if i > n/2 {
				g = 0.1
			}
			v := g * float32(math.Sin(2*math.Pi*440*float64(i)/fs)+0.5*math.Sin(2*math.Pi*1234*float64(i)/fs))
			return v, 0.5 * v
		},
		"far_only": func(i int) (float32, float32) {
			return float32(math.Sin(2 * math.Pi * 300 * float64(i) / fs)), 0
		},
	}
	for name, g := range gen {
		t.Run(name, func(t *testing.T) {
			sc := scene{far: make([]float32, n), near: make([]float32, n)}
			for i := 0; i < n; i++ {
				sc.far[i], sc.near[i] = g(i)
			}
			out, st := run(New(DefaultConfig()), sc)
			checkFinite(t, out)
			for _, s := range st {
				if math.IsNaN(s.ERLEdB) || math.IsInf(s.ERLEdB, 0) || math.IsNaN(s.DelayMs) {
					t.Fatalf("bad stats %+v", s)
				}
			}
		})
	}
}

func TestNaNInputDoesNotPoison(t *testing.T) {
	c := New(DefaultConfig())
	buf := make([]float32, BlockSamples)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	c.Render(buf)
	c.Process(buf)
	for i := range buf {
		buf[i] = 0.1
	}
	c.Render(buf)
	c.Process(buf)
	checkFinite(t, buf)
}

func TestResetRestoresInitialState(t *testing.T) {
	cs := sceneSpec{delayMs: 150, t60: 0.2, erlDB: 6, seconds: 3, farRMS: 0.1, seed: 70}
	sc := makeScene(cs)
	c := New(DefaultConfig())
	first, _ := run(c, sc)
	c.Reset()
	second, _ := run(c, sc)
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("output differs after Reset at sample %d", i)
		}
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	c := New(DefaultConfig())
	far := speechLike(1, 100*BlockSamples, 0.1)
	buf := make([]float32, BlockSamples)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		o := (i % 100) * BlockSamples
		copy(buf, far[o:o+BlockSamples])
		c.Process(buf)
		c.Render(far[o : o+BlockSamples])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per block, want 0", allocs)
	}
}

func TestStateSize(t *testing.T) {
	b := instanceBytes(New(DefaultConfig()))
	t.Logf("state per instance: %d bytes (%.0f KiB)", b, float64(b)/1024)
	if b > 1<<20 {
		t.Fatalf("state %d bytes > 1 MiB", b)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.TailLength = 0
	if err := bad.Validate(); err == nil {
		t.Fatal("zero tail accepted")
	}
	// New falls back to defaults for invalid fields.
	if c := New(bad); c.parts != New(DefaultConfig()).parts {
		t.Fatal("invalid tail not replaced by the default")
	}
}

func instanceBytes(c *Canceller) int {
	n := int(unsafe.Sizeof(*c)) + int(unsafe.Sizeof(*c.est))
	f32 := len(c.xRe) + len(c.xIm) + len(c.farPow) + len(c.wRe) + len(c.wIm) + len(c.gRe) + len(c.gIm) + len(c.est.farU)
	f64 := len(c.farPrev) + len(c.farBands) + len(c.peakVal) + len(c.wNorm) + len(c.prop) + len(c.tbuf) + len(c.xnorm) +
		len(c.yhat) + len(c.ebuf) + 8*supBands + len(c.rPrev) + len(c.gPrev) + len(c.gain) + len(c.ola) +
		len(c.hypErr) + len(c.gPow) + len(c.xmax) + len(c.est.farMean) + len(c.est.nearMean) + len(c.est.nearU) + len(c.est.corr) + len(c.est.fvar)
	c128 := len(c.spec) + len(c.e0) + len(c.d0) + len(c.e0p) + len(c.d0p) + len(c.eh) + len(c.dh)
	ints := len(c.peakIdx) + len(c.binBand) + len(c.bandEdge) + len(c.est.lo) + len(c.est.hi)
	// gonum's plan keeps 3n float64.
	return n + 4*f32 + 8*f64 + 16*c128 + 8*ints + supBands + 8*3*fftN
}

func checkFinite(t *testing.T, x []float32) {
	t.Helper()
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v > 1 || v < -1 {
			t.Fatalf("sample %d = %v", i, v)
		}
	}
}

func BenchmarkCancellerProcess(b *testing.B) {
	// A converged canceller on far-end speech: Render + Process per 10 ms.
	// The scene is long and the loop continues where the warm-up stopped,
	// so that its wrap-around (an echo path break) is rare.
	cs := sceneSpec{delayMs: 150, t60: 0.2, erlDB: 6, seconds: 40, farRMS: 0.1, seed: 80}
	sc := makeScene(cs)
	c := New(DefaultConfig())
	buf := make([]float32, BlockSamples)
	nb := len(sc.near) / BlockSamples
	i := 0
	step := func() {
		o := (i % nb) * BlockSamples
		copy(buf, sc.near[o:o+BlockSamples])
		c.Process(buf)
		c.Render(sc.far[o : o+BlockSamples])
		i++
	}
	for i < 800 {
		step()
	}
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}
