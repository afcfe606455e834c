package ours

import (
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/openmcu/mcu/benchmarks/dspquality"
)

// TestHarnessEndToEnd runs shortened scenes through our stages: every cell
// must be a real number (no engine errors, no NaN), and each stage must at
// least do its job in the right direction. The tight thresholds live in the
// dsp packages' own tests; this guards the harness wiring.
func TestHarnessEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed")
	}
	if testing.Short() {
		t.Skip("runs the harness for a few seconds")
	}
	rep, err := dspquality.Run(t.Context(), dspquality.Options{Quick: true, Scale: 0.5}, []dspquality.Engine{Engine()})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	val := func(scene, metric string) float64 {
		t.Helper()
		for _, r := range rep.Rows {
			if strings.HasPrefix(r.Scene, scene) && strings.HasPrefix(r.Metric, metric) {
				s := r.Cells["ours"]
				if s == "never" || strings.HasPrefix(s, ">") {
					return math.Inf(1)
				}
				v, err := strconv.ParseFloat(strings.Fields(s)[0], 64)
				if err != nil {
					t.Fatalf("%s / %s = %q", scene, metric, s)
				}
				return v
			}
		}
		t.Fatalf("no row %s / %s", scene, metric)
		return 0
	}
	for _, r := range rep.Rows {
		if c := r.Cells["ours"]; c == "error" || c == "n/a" || c == "—" {
			t.Errorf("%s / %s = %q", r.Scene, r.Metric, c)
		}
	}
	if v := val("ST, delay 200", "ERLE, last third"); v < 10 {
		t.Errorf("ERLE on the 200 ms scene = %.1f dB, want ≥ 10", v)
	}
	if v := val("NS, white", "segSNR gain"); v < 3 {
		t.Errorf("segSNR gain on white noise = %+.1f dB, want ≥ +3", v)
	}
	if v := val("AGC, speech at -36", "level error"); math.Abs(v) > 6 {
		t.Errorf("AGC level error at -36 dBFS = %+.1f dB", v)
	}
	if v := val("AGC, pink noise only", "gain on noise"); v > 1 {
		t.Errorf("AGC amplified noise by %+.1f dB", v)
	}
}
