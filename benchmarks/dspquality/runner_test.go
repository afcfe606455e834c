package dspquality

import (
	"bytes"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Engines whose effect is known exactly, so the whole runner (scenes, frame
// loop, alignment, metrics, table) can be checked end to end.

type gainStage struct{ g float32 }

func (s gainStage) Process(f []float32) {
	for i := range f {
		f[i] *= s.g
	}
}
func (gainStage) Close() {}

// delayStage delays by exactly one frame (10 ms).
type delayStage struct{ prev []float32 }

func (s *delayStage) Process(f []float32) {
	tmp := append([]float32(nil), f...)
	copy(f, s.prev)
	s.prev = tmp
}
func (*delayStage) Close() {}

type gainAEC struct{ g float32 }

func (gainAEC) Render([]float32) {}
func (a gainAEC) Process(f []float32, _ EchoTruth) {
	gainStage(a).Process(f)
}
func (gainAEC) Close() {}

func knownEngines() []Engine {
	return []Engine{
		{
			Name:   "pass",
			NewAEC: func() (EchoCanceller, error) { return gainAEC{1}, nil },
			NewNS:  func() (Stage, error) { return gainStage{1}, nil },
			NewAGC: func(float64) (Stage, error) { return gainStage{1}, nil },
			NewVAD: func() (Stage, error) { return gainStage{1}, nil },
		},
		{
			Name:   "delay10",
			NewNS:  func() (Stage, error) { return &delayStage{prev: make([]float32, FrameLen)}, nil },
			NewAGC: func(float64) (Stage, error) { return &delayStage{prev: make([]float32, FrameLen)}, nil },
		},
		{
			Name:   "minus30",
			NewAEC: func() (EchoCanceller, error) { return gainAEC{float32(fromDB(-30))}, nil },
			NewAGC: func(float64) (Stage, error) { return gainStage{float32(fromDB(-12))}, nil },
		},
	}
}

func TestRunnerOnKnownEngines(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed")
	}
	if testing.Short() {
		t.Skip("runs the whole harness for a few seconds")
	}
	rep, err := Run(t.Context(), Options{Quick: true, Scale: 0.35}, knownEngines())
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md.String())

	cell := func(scene, metric, engine string) string {
		t.Helper()
		for _, r := range rep.Rows {
			if strings.HasPrefix(r.Scene, scene) && strings.HasPrefix(r.Metric, metric) {
				return r.Cells[engine]
			}
		}
		t.Fatalf("no row %q / %q", scene, metric)
		return ""
	}
	num := func(scene, metric, engine string, want, tol float64) {
		t.Helper()
		s := cell(scene, metric, engine)
		v, err := strconv.ParseFloat(strings.Fields(s)[0], 64)
		if err != nil || math.Abs(v-want) > tol {
			t.Errorf("%s / %s / %s = %q, want %.1f ± %.1f", scene, metric, engine, s, want, tol)
		}
	}
	is := func(scene, metric, engine, want string) {
		t.Helper()
		if got := cell(scene, metric, engine); got != want {
			t.Errorf("%s / %s / %s = %q, want %q", scene, metric, engine, got, want)
		}
	}

	// Echo: pass-through cancels nothing, a fixed 30 dB cut is 30 dB from
	// the first window on, and scaling cannot change the SDR.
	num("ST, delay 200", "ERLE, last third", "pass", 0, 0.05)
	is("ST, delay 200", "time to ERLE", "pass", "never")
	num("ST, delay 780", "ERLE, last third", "minus30", 30, 0.05)
	num("ST, delay 780", "time to ERLE", "minus30", 0.5, 0.01)
	is("ST, delay 780", "delay estimate", "minus30", "told")
	is("ST, delay 780", "time to ERLE", "delay10", "—")
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Scene, "DT") && strings.HasPrefix(r.Metric, "near-end SDR") {
			in, err := strconv.ParseFloat(strings.TrimSuffix(strings.Fields(r.Metric)[7], ")"), 64)
			if err != nil {
				t.Fatalf("input SDR in %q: %v", r.Metric, err)
			}
			num(r.Scene, "near-end SDR", "minus30", in, 0.15)
			num(r.Scene, "near-end SDR", "pass", in, 0.15)
		}
	}

	// NS: pass-through and a pure delay gain nothing once aligned, and the
	// delay is found.
	for _, kind := range []string{"white", "pink", "babble"} {
		scene := "NS, " + kind
		num(scene, "segSNR gain", "pass", 0, 0.05)
		num(scene, "segSNR gain", "delay10", 0, 0.15)
		num(scene, "speech level change", "delay10", 0, 0.15)
	}
	num("NS, all", "added delay", "pass", 0, 0.01)
	num("NS, all", "added delay", "delay10", 10, 0.01)

	// AGC: the error of doing nothing is the input's distance to -18 dBFS.
	num("AGC, speech at -48", "level error", "pass", -30, 0.3)
	num("AGC, speech at -24", "level error", "minus30", -18, 0.6)
	num("AGC, speech at -24", "level error", "delay10", -6, 0.6)
	if c := cell("AGC, speech at -48", "settling", "pass"); !strings.HasPrefix(c, "> ") {
		t.Errorf("settling without gain = %q, want never", c)
	}
	num("AGC, pink noise only", "gain on noise", "minus30", -12, 0.05)
	num("AGC, pink noise only", "gain on noise", "pass", 0, 0.05)
	is("AGC, speech at -10", "peak", "pass", cell("AGC, speech at -10", "peak", "delay10"))

	if !strings.Contains(md.String(), "| scene | metric | pass | delay10 | minus30 | target (ours) |") {
		t.Error("table header missing")
	}
}
