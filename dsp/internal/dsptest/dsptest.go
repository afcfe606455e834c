// Package dsptest builds reproducible test signals (espeak-ng speech, white,
// pink and babble noise, synthetic voiced speech) and the measures the dsp
// tests share (segmental SNR, active speech level). Test code only.
package dsptest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/openmcu/mcu/dsp/resample"
)

// Rate is the rate every signal here is returned at.
const Rate = 48000

// Frame is the 10 ms block the measures work on.
const Frame = 480

// Speech synthesises text with espeak-ng (voice e.g. "en-us", "en-gb+f3") and
// returns it at 48 kHz. A missing espeak-ng fails the test: run `make deps`.
func Speech(tb testing.TB, voice, text string) []float32 {
	tb.Helper()
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		tb.Fatalf("espeak-ng not found (%v): run `make deps` to install it", err)
	}
	out := filepath.Join(tb.TempDir(), "speech.wav")
	cmd := exec.Command(bin, "-v", voice, "-s", "160", "-w", out, text)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("espeak-ng: %v: %s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	rate, pcm := parseWAV(tb, raw)
	r, err := resample.New(rate, Rate, resample.QualityHigh)
	if err != nil {
		tb.Fatal(err)
	}
	y := make([]float32, r.MaxOut(len(pcm)))
	n := r.Process(y, pcm)
	n += r.Flush(y[n:])
	return y[:n]
}

// parseWAV reads the 16-bit mono PCM espeak-ng writes.
func parseWAV(tb testing.TB, b []byte) (int, []float32) {
	tb.Helper()
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		tb.Fatal("espeak-ng output is not a WAV file")
	}
	rate := 0
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		p += 8
		switch id {
		case "fmt ":
			if binary.LittleEndian.Uint16(b[p:]) != 1 || binary.LittleEndian.Uint16(b[p+2:]) != 1 ||
				binary.LittleEndian.Uint16(b[p+14:]) != 16 {
				tb.Fatal("espeak-ng output is not 16-bit mono PCM")
			}
			rate = int(binary.LittleEndian.Uint32(b[p+4:]))
		case "data":
			if size > len(b)-p || size < 0 {
				size = len(b) - p
			}
			x := make([]float32, size/2)
			for i := range x {
				x[i] = float32(int16(binary.LittleEndian.Uint16(b[p+2*i:]))) / 32768
			}
			return rate, x
		}
		p += size + size&1
	}
	tb.Fatal("espeak-ng WAV has no data chunk")
	return 0, nil
}

// Sentences is a small corpus for espeak-ng.
var Sentences = []string{
	"The quick brown fox jumps over the lazy dog, and then it rests for a while.",
	"Please send the quarterly report to everyone before the meeting on Thursday.",
	"We measured the echo path twice, but the second time the room was much quieter.",
	"Seven hundred people joined the call, and only three of them were speaking.",
}

// Voices are espeak-ng voices of different pitch.
var Voices = []string{"en-us", "en-gb+f3", "en-us+m3", "en-gb+f4"}

// Pad surrounds x with lead and tail samples of silence.
func Pad(x []float32, lead, tail int) []float32 {
	y := make([]float32, lead+len(x)+tail)
	copy(y[lead:], x)
	return y
}

// White returns Gaussian white noise of unit RMS.
func White(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// Pink returns 1/f noise of unit RMS (Kellet's economy filter on white noise).
func Pink(n int, seed uint64) []float32 {
	w := White(n, seed)
	var b0, b1, b2 float64
	x := make([]float32, n)
	for i, v := range w {
		u := float64(v)
		b0 = 0.99765*b0 + u*0.0990460
		b1 = 0.96300*b1 + u*0.2965164
		b2 = 0.57000*b2 + u*1.0526913
		x[i] = float32(b0 + b1 + b2 + u*0.1848)
	}
	return Normalize(x)
}

// Babble returns the sum of talkers (already synthesised speech), each looped
// from a different offset, scaled to unit RMS.
func Babble(n int, talkers ...[]float32) []float32 {
	x := make([]float32, n)
	for t, s := range talkers {
		off := (t * 7919 * 3) % len(s)
		for i := range x {
			x[i] += s[(i+off)%len(s)]
		}
	}
	return Normalize(x)
}

// Synthetic returns n samples of voiced, speech-like sound: a glottal pulse
// train with gliding pitch through three formant resonators, in syllables of
// about 200 ms separated by pauses. No espeak needed.
func Synthetic(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	type res struct{ a1, a2, g float64 }
	mk := func(f, bw float64) res {
		r := math.Exp(-math.Pi * bw / Rate)
		return res{2 * r * math.Cos(2*math.Pi*f/Rate), -r * r, 1 - r}
	}
	var y1 [3][2]float64
	phase := 0.0
	i := 0
	for i < n {
		syl := int((0.12 + 0.18*rng.Float64()) * Rate)
		pause := int((0.05 + 0.25*rng.Float64()) * Rate)
		f0 := 100 + 120*rng.Float64()
		fs := [3]res{mk(300+500*rng.Float64(), 80), mk(900+1400*rng.Float64(), 120), mk(2300+900*rng.Float64(), 200)}
		for j := 0; j < syl && i < n; j, i = j+1, i+1 {
			f := f0 * (1 + 0.2*float64(j)/float64(syl))
			phase += f / Rate
			src := 0.0
			if phase >= 1 {
				phase--
				src = 1
			}
			env := math.Sin(math.Pi * float64(j) / float64(syl))
			v := 0.0
			for k := range fs {
				o := fs[k].g*src + fs[k].a1*y1[k][0] + fs[k].a2*y1[k][1]
				y1[k][1], y1[k][0] = y1[k][0], o
				v += o / float64(k+1)
			}
			x[i] = float32(env * v)
		}
		i += pause
	}
	return Normalize(x)
}

// Normalize scales x to unit RMS in place and returns it.
func Normalize(x []float32) []float32 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	if e == 0 {
		return x
	}
	g := float32(1 / math.Sqrt(e/float64(len(x))))
	for i := range x {
		x[i] *= g
	}
	return x
}

// Scale multiplies x in place by the linear gain for db.
func Scale(x []float32, db float64) []float32 {
	g := float32(math.Pow(10, db/20))
	for i := range x {
		x[i] *= g
	}
	return x
}

// ActiveMask marks the 10 ms frames of clean whose energy is within 35 dB of
// the loudest frame: where speech is.
func ActiveMask(clean []float32) []bool {
	nf := len(clean) / Frame
	e := make([]float64, nf)
	mx := 0.0
	for f := range nf {
		for _, v := range clean[f*Frame : (f+1)*Frame] {
			e[f] += float64(v) * float64(v)
		}
		mx = math.Max(mx, e[f])
	}
	m := make([]bool, nf)
	for f := range m {
		m[f] = e[f] > mx*math.Pow(10, -3.5)
	}
	return m
}

// ActiveRMSdB is the level (20 log10 RMS, dBFS) of x over the masked frames.
func ActiveRMSdB(x []float32, mask []bool) float64 {
	var e float64
	n := 0
	for f, on := range mask {
		if !on || (f+1)*Frame > len(x) {
			continue
		}
		for _, v := range x[f*Frame : (f+1)*Frame] {
			e += float64(v) * float64(v)
		}
		n += Frame
	}
	return 10 * math.Log10(e/float64(n)+1e-20)
}

// MixSNR returns clean + noise with noise scaled so the active speech level
// is snr dB above the noise RMS.
func MixSNR(clean, noise []float32, snr float64) []float32 {
	lvl := ActiveRMSdB(clean, ActiveMask(clean))
	var e float64
	for _, v := range noise[:len(clean)] {
		e += float64(v) * float64(v)
	}
	nl := 10 * math.Log10(e/float64(len(clean)))
	g := float32(math.Pow(10, (lvl-snr-nl)/20))
	y := make([]float32, len(clean))
	for i := range y {
		y[i] = clean[i] + g*noise[i]
	}
	return y
}

// SegSNR is the mean per-frame SNR of x against ref (x delayed by delay
// samples), each frame clamped to [-10, 35] dB, over the frames of mask
// (all frames when mask is nil).
func SegSNR(ref, x []float32, delay int, mask []bool) float64 {
	sum, n := 0.0, 0
	for f := 0; (f+1)*Frame+delay <= len(x) && (f+1)*Frame <= len(ref); f++ {
		if mask != nil && (f >= len(mask) || !mask[f]) {
			continue
		}
		var s, e float64
		for i := f * Frame; i < (f+1)*Frame; i++ {
			d := float64(x[i+delay]) - float64(ref[i])
			s += float64(ref[i]) * float64(ref[i])
			e += d * d
		}
		snr := 10 * math.Log10((s+1e-20)/(e+1e-20))
		sum += math.Max(-10, math.Min(35, snr))
		n++
	}
	return sum / float64(n)
}

// Finite reports whether every sample is finite and |x| <= limit.
func Finite(x []float32, limit float32) (int, bool) {
	for i, v := range x {
		if v != v || v > limit || v < -limit {
			return i, false
		}
	}
	return -1, true
}

// CPUNanos is this process's user+system CPU time: on a shared machine it
// counts only the time the benchmark ran, unlike ns/op.
func CPUNanos() int64 {
	var r syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &r) != nil {
		return 0
	}
	return r.Utime.Nano() + r.Stime.Nano()
}
