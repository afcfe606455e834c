package dsp

import (
	"math"
	"sync"
	"testing"

	"github.com/openmcu/mcu/dsp/internal/dsptest"
)

// fakeAEC subtracts a scaled copy of the last far-end frame (echo with no
// delay); like a real canceller after Reset it adapts gradually (the scale
// ramps from 0 to 0.5 over a frame once far-end audio arrives).
type fakeAEC struct {
	far    [FrameSize]float32
	k      float32
	primed bool
	resets int
}

func (f *fakeAEC) Render(far []float32) { copy(f.far[:], far); f.primed = true }
func (f *fakeAEC) Process(near []float32) {
	for i := range near {
		if f.primed && f.k < 0.5 {
			f.k += 0.5 / FrameSize
		}
		near[i] -= f.k * f.far[i]
	}
}
func (f *fakeAEC) Reset() { f.resets++; clear(f.far[:]); f.k, f.primed = 0, false }
func (f *fakeAEC) EchoStats() (float64, bool, float64, bool) {
	return 120, true, 30, false
}

func sine(n int, f, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*f*float64(i)/48000))
	}
	return x
}

func maxJump(y []float32) float64 {
	m := 0.0
	for i := 1; i < len(y); i++ {
		m = math.Max(m, math.Abs(float64(y[i]-y[i-1])))
	}
	return m
}

func TestToggleHasNoClick(t *testing.T) {
	// Two runs: NS and AEC toggled with AGC off, then AGC and AEC toggled
	// with NS off. (With both on, NS eventually treats a steady sine as
	// noise, the AGC chases what is left, and switching NS off then hands
	// the AGC a signal 25 dB too hot: the limiter catches it, legitimately
	// squaring the wave.)
	runs := []struct {
		name   string
		states [][3]bool
	}{
		{"ns+aec", [][3]bool{{false, true, false}, {true, true, false}, {true, false, false}, {false, false, false}}},
		{"agc+aec", [][3]bool{{false, false, true}, {true, false, true}, {true, false, false}, {false, false, false}}},
	}
	for _, r := range runs {
		x := sine(48000*3, 440, 0.25)
		cfg := DefaultChainConfig()
		fa := &fakeAEC{}
		cfg.NewAEC = func() EchoCanceller { return fa }
		s0 := r.states[0]
		cfg.EnableAEC, cfg.EnableNS, cfg.EnableAGC = s0[0], s0[1], s0[2]
		c := NewChain(cfg)
		y := append([]float32(nil), x...)
		for f := 0; (f+1)*FrameSize <= len(y); f++ {
			if f%7 == 3 {
				s := r.states[(f/7)%len(r.states)]
				c.SetEnabled(s[0], s[1], s[2])
			}
			c.Render(x[f*FrameSize : (f+1)*FrameSize])
			c.Process(y[f*FrameSize : (f+1)*FrameSize])
		}
		// The sine's own largest step (the AGC may lift it by a few dB).
		natural := 2 * math.Pi * 440 / 48000 * 0.25 * 1.5
		j := maxJump(y[FrameSize:])
		t.Logf("%s: max sample jump while toggling %.4f (sine step bound %.4f)", r.name, j, natural)
		if j > natural {
			t.Errorf("%s: max jump %.4f > %.4f: a click", r.name, j, natural)
		}
		if i, ok := dsptest.Finite(y, 1); !ok {
			t.Errorf("%s: sample %d = %v", r.name, i, y[i])
		}
	}
	// Control: the same toggling done as a hard switch does click.
	x := sine(4800, 440, 0.25)
	hard := append([]float32(nil), x[:2400]...)
	hard = append(hard, x[2400-FrameSize:4800-FrameSize]...) // NS delay appears at once
	if maxJump(hard) <= 2*math.Pi*440/48000*0.25*1.5 {
		t.Fatal("control: a hard switch between delayed and undelayed paths should jump")
	}
}

func TestNSBypassIsDelayAligned(t *testing.T) {
	// Switching NS off must keep the 480-sample delay: the output then is
	// exactly the input one frame late.
	cfg := DefaultChainConfig()
	cfg.EnableNS, cfg.EnableAGC = false, false
	c := NewChain(cfg)
	x := sine(48000, 440, 0.3)
	y := append([]float32(nil), x...)
	for f := 0; (f+1)*FrameSize <= len(y); f++ {
		c.Process(y[f*FrameSize : (f+1)*FrameSize])
	}
	for i := FrameSize; i < len(y); i++ {
		if y[i] != x[i-FrameSize] {
			t.Fatalf("sample %d = %v, want input[%d] = %v", i, y[i], i-FrameSize, x[i-FrameSize])
		}
	}
}

func TestStatsAndAEC(t *testing.T) {
	cfg := DefaultChainConfig()
	fa := &fakeAEC{}
	cfg.NewAEC = func() EchoCanceller { return fa }
	c := NewChain(cfg)
	sp := dsptest.Scale(dsptest.Synthetic(48000*3, 2), -35)
	for f := 0; (f+1)*FrameSize <= len(sp); f++ {
		c.Process(sp[f*FrameSize : (f+1)*FrameSize])
	}
	st := c.Stats()
	if st.AGCGainDB < 10 || st.EchoDelayMs != 0 {
		t.Errorf("stats after quiet speech, AEC off: %+v", st)
	}
	r0 := fa.resets
	c.SetEnabled(true, true, true)
	c.Process(make([]float32, FrameSize))
	if fa.resets != r0+1 {
		t.Errorf("AEC not reset when switched on")
	}
	if st := c.Stats(); st.EchoDelayMs != 120 || st.ERLEdB != 30 {
		t.Errorf("AEC stats not passed through: %+v", st)
	}
	// No AEC configured: enabling it is a no-op.
	c2 := NewChain(DefaultChainConfig())
	c2.SetEnabled(true, true, true)
	if a, _, _ := c2.Enabled(); a {
		t.Error("AEC reported on without a canceller")
	}
}

func TestConcurrentToggle(t *testing.T) {
	c := NewChain(DefaultChainConfig())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.SetEnabled(false, i%2 == 0, i%3 == 0)
			_ = c.Stats()
		}
	}()
	f := sine(FrameSize, 300, 0.2)
	for range 300 {
		c.Process(f)
	}
	close(stop)
	wg.Wait()
}

func TestEdgeCases(t *testing.T) {
	n := 48000 * 2
	dc := make([]float32, n)
	sq := make([]float32, n)
	step := dsptest.Scale(dsptest.Synthetic(n, 5), -45)
	for i := range n {
		dc[i], sq[i] = 0.5, 1
		if (i/60)%2 == 0 {
			sq[i] = -1
		}
		if i > n/2 {
			step[i] *= 10
		}
	}
	for name, x := range map[string][]float32{"silence": make([]float32, n), "dc": dc, "square": sq, "step20dB": step} {
		c := NewChain(DefaultChainConfig())
		y := append([]float32(nil), x...)
		for f := 0; (f+1)*FrameSize <= n; f++ {
			c.Process(y[f*FrameSize : (f+1)*FrameSize])
		}
		if i, ok := dsptest.Finite(y, 1); !ok {
			t.Errorf("%s: sample %d = %v", name, i, y[i])
		}
		st := c.Stats()
		for _, v := range []float64{st.AGCGainDB, st.LevelDBFS, st.NoiseFloorDBFS, st.SpeechProbability} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: stats %+v", name, st)
			}
		}
	}
}

func TestLevel(t *testing.T) {
	if d := RMSdBFS(sine(48000, 1000, 1)); math.Abs(d+3.01) > 0.01 {
		t.Errorf("full-scale sine RMS %.2f dBFS", d)
	}
	if d := PeakdBFS(sine(48000, 1000, 0.5)); math.Abs(d+6.02) > 0.01 {
		t.Errorf("half-scale peak %.2f dBFS", d)
	}
	if RMSdBFS(make([]float32, 10)) != FloorDBFS || RMSdBFS(nil) != FloorDBFS {
		t.Error("silence not at the floor")
	}
}

func TestChainAllocs(t *testing.T) {
	cfg := DefaultChainConfig()
	cfg.NewAEC = func() EchoCanceller { return &fakeAEC{} }
	cfg.EnableAEC = true
	c := NewChain(cfg)
	f := sine(FrameSize, 300, 0.2)
	if n := testing.AllocsPerRun(50, func() { c.Render(f); c.Process(f); _ = c.Stats() }); n != 0 {
		t.Errorf("%v allocs per frame", n)
	}
}

// BenchmarkChain is NS + AGC + VAD (AEC off), the per-participant default.
func BenchmarkChain(b *testing.B) {
	c := NewChain(DefaultChainConfig())
	x := dsptest.Scale(dsptest.Synthetic(FrameSize*100, 1), -30)
	f := make([]float32, FrameSize)
	b.ReportAllocs()
	i := 0
	t0 := dsptest.CPUNanos()
	for b.Loop() {
		copy(f, x[i*FrameSize:])
		c.Process(f)
		i = (i + 1) % 99
	}
	b.ReportMetric(float64(dsptest.CPUNanos()-t0)/float64(b.N)/1e3, "cpu-us/op")
}

// TestSharedScratch runs two chains interleaved on one Scratch and checks
// they give exactly what chains with their own give.
func TestSharedScratch(t *testing.T) {
	in := [2][]float32{dsptest.Synthetic(48000, 1), dsptest.Scale(dsptest.Pink(48000, 2), -20)}
	ext := DefaultChainConfig()
	ext.ExternalScratch = true
	own := [2]*Chain{NewChain(DefaultChainConfig()), NewChain(DefaultChainConfig())}
	shared := [2]*Chain{NewChain(ext), NewChain(ext)}
	sc := NewScratch()
	a, b := make([]float32, FrameSize), make([]float32, FrameSize)
	for off := 0; off+FrameSize <= len(in[0]); off += FrameSize {
		// Switch stages off and on again, so the crossfades run too.
		switch off / FrameSize {
		case 30:
			own[0].SetEnabled(false, false, true)
			shared[0].SetEnabled(false, false, true)
		case 50:
			own[1].SetEnabled(false, false, false)
			shared[1].SetEnabled(false, false, false)
		case 70:
			for _, c := range append(own[:], shared[:]...) {
				c.SetEnabled(false, true, true)
			}
		}
		for i := range 2 {
			copy(a, in[i][off:])
			copy(b, in[i][off:])
			own[i].Process(a)
			shared[i].ProcessWith(b, sc)
			for k := range a {
				if a[k] != b[k] {
					t.Fatalf("chain %d differs at sample %d: %v, want %v", i, off+k, b[k], a[k])
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Process on a chain without scratch did not panic")
		}
	}()
	shared[0].Process(a)
}
