package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/openmcu/mcu/media/wav"
)

func writeTestWAV(t *testing.T, path string, rate, ch int, f wav.Format, x []float32) {
	t.Helper()
	inter := make([]float32, len(x)*ch)
	for i, v := range x {
		for c := range ch {
			inter[i*ch+c] = v
		}
	}
	var b bytes.Buffer
	if err := wav.Encode(&b, &wav.Audio{SampleRate: rate, Channels: ch, Format: f, Samples: inter}, f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// noisyTone is a quiet 300 Hz tone burst pattern in white noise.
func noisyTone(rate, n int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n)
	for i := range x {
		on := (i/(rate/4))%2 == 0
		if on {
			x[i] = float32(0.05 * math.Sin(2*math.Pi*300*float64(i)/float64(rate)))
		}
		x[i] += float32(0.005 * rng.NormFloat64())
	}
	return x
}

func TestRunDSP(t *testing.T) {
	for _, tc := range []struct {
		rate, ch int
		f        wav.Format
	}{{16000, 2, wav.PCM16}, {44100, 1, wav.Float32}, {48000, 1, wav.PCM16}, {8000, 1, wav.PCM16}} {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.wav")
		n := tc.rate * 3
		writeTestWAV(t, in, tc.rate, tc.ch, tc.f, noisyTone(tc.rate, n))
		if code := runDSP([]string{"--in", in, "--out", out, "--ns", "--agc"}); code != 0 {
			t.Fatalf("%+v: exit %d", tc, code)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		a, err := wav.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if a.SampleRate != tc.rate || a.Format != tc.f || a.Channels != 1 || a.Frames() != n {
			t.Errorf("%+v: output %d Hz %v %d ch %d frames, want %d Hz %v mono %d frames",
				tc, a.SampleRate, a.Format, a.Channels, a.Frames(), tc.rate, tc.f, n)
		}
		var peak float64
		for _, v := range a.Samples {
			peak = math.Max(peak, math.Abs(float64(v)))
		}
		if peak == 0 || peak > 1 {
			t.Errorf("%+v: output peak %v", tc, peak)
		}
	}
}

func TestRunDSPErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.wav")
	writeTestWAV(t, good, 16000, 1, wav.PCM16, noisyTone(16000, 16000))
	short := filepath.Join(dir, "short.wav")
	writeTestWAV(t, short, 16000, 1, wav.PCM16, noisyTone(16000, 8000))
	bad := filepath.Join(dir, "bad.wav")
	os.WriteFile(bad, []byte("RIFF\x10\x00\x00\x00WAVEjunkjunk"), 0o644)
	hi := filepath.Join(dir, "96k.wav")
	writeTestWAV(t, hi, 16000, 1, wav.PCM16, noisyTone(16000, 1600))
	out := filepath.Join(dir, "out.wav")
	for name, args := range map[string][]string{
		"malformed":      {"--in", bad, "--out", out, "--ns"},
		"missing":        {"--in", filepath.Join(dir, "nope.wav"), "--out", out},
		"aec no ref":     {"--in", good, "--out", out, "--aec"},
		"length differs": {"--in", good, "--ref", short, "--out", out, "--ns"},
		"no out":         {"--in", good},
		"bad flag":       {"--in", good, "--out", out, "--bogus"},
	} {
		if code := runDSP(args); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s: output file left behind", name)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".wav" && e.Name()[0] == '.' {
				t.Fatalf("%s: temp file %s left behind", name, e.Name())
			}
		}
	}
}
