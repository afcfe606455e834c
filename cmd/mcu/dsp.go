package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/openmcu/mcu/dsp"
	"github.com/openmcu/mcu/dsp/aec"
	"github.com/openmcu/mcu/dsp/resample"
	"github.com/openmcu/mcu/media/wav"
)

// newAEC builds the chain's echo canceller.
var newAEC = func() dsp.EchoCanceller { return dsp.NewEchoCanceller(aec.DefaultConfig()) }

// runDSP implements `mcu dsp`: clean a WAV file with the server's voice chain.
// Exit codes: 0 ok, 2 bad usage or input (nothing written).
func runDSP(args []string) int {
	if err := dspMain(args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mcu dsp:", err)
		return 2
	}
	return 0
}

func dspMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mcu dsp", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	in := fs.String("in", "", "near-end (captured) WAV file, 8–48 kHz, 16-bit or float, mono or stereo")
	ref := fs.String("ref", "", "far-end reference WAV (what was played); needed by --aec")
	out := fs.String("out", "", "output WAV file (mono, the input's rate and sample format)")
	useAEC := fs.Bool("aec", false, "echo cancellation")
	useNS := fs.Bool("ns", false, "noise suppression")
	useAGC := fs.Bool("agc", false, "automatic gain control")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--in and --out are required")
	}
	if *useAEC && *ref == "" {
		return errors.New("--aec needs --ref (the far-end reference)")
	}
	if *useAEC && newAEC == nil {
		return errors.New("--aec: echo cancellation is not available in this build")
	}
	near, err := readWAV(*in)
	if err != nil {
		return err
	}
	var far *wav.Audio
	if *ref != "" {
		if far, err = readWAV(*ref); err != nil {
			return err
		}
		if far.SampleRate != near.SampleRate || far.Frames() != near.Frames() {
			return fmt.Errorf("near and ref differ: %s is %d samples at %d Hz, %s is %d samples at %d Hz",
				*in, near.Frames(), near.SampleRate, *ref, far.Frames(), far.SampleRate)
		}
	}

	cfg := dsp.DefaultChainConfig()
	cfg.EnableAEC, cfg.EnableNS, cfg.EnableAGC = *useAEC, *useNS, *useAGC
	cfg.NewAEC = newAEC
	chain := dsp.NewChain(cfg)

	x, err := to48k(near.Mono(), near.SampleRate)
	if err != nil {
		return err
	}
	var r []float32
	if far != nil {
		if r, err = to48k(far.Mono(), far.SampleRate); err != nil {
			return err
		}
	}
	// Pad to whole frames plus one frame to flush the chain's 10 ms delay.
	n48 := len(x)
	frames := (n48+dsp.FrameSize-1)/dsp.FrameSize + 1
	buf := make([]float32, frames*dsp.FrameSize)
	copy(buf, x)
	farBuf := make([]float32, len(buf))
	copy(farBuf, r)
	var gainSum float64
	for f := range frames {
		s := buf[f*dsp.FrameSize : (f+1)*dsp.FrameSize]
		// Offline, near and ref share a clock: render the far frame first
		// so that zero-delay echo is inside the canceller's reach.
		chain.Render(farBuf[f*dsp.FrameSize : (f+1)*dsp.FrameSize])
		chain.Process(s)
		gainSum += chain.Stats().AGCGainDB
	}
	st := chain.Stats()
	y := buf[dsp.FrameSize : dsp.FrameSize+n48] // undo the chain's delay

	outSamples, err := from48k(y, near.SampleRate, near.Frames())
	if err != nil {
		return err
	}
	format := near.Format
	if format != wav.PCM16 && format != wav.Float32 && format != wav.Float64 {
		format = wav.PCM16
	}
	if err := writeAtomic(*out, &wav.Audio{SampleRate: near.SampleRate, Channels: 1, Format: format, Samples: outSamples}, format); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mcu dsp: %s -> %s: %.2f s at %d Hz; aec=%v ns=%v agc=%v; echo delay %.1f ms, ERLE %.1f dB; AGC gain mean %.1f dB final %.1f dB; NS noise floor %.1f dBFS; output speech level %.1f dBFS\n",
		*in, *out, float64(near.Frames())/float64(near.SampleRate), near.SampleRate, *useAEC, *useNS, *useAGC,
		st.EchoDelayMs, st.ERLEdB, gainSum/float64(frames), st.AGCGainDB, chain.NSStats().NoiseFloorDBFS, dsp.RMSdBFS(y))
	return nil
}

func readWAV(path string) (*wav.Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := wav.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a.SampleRate < 8000 || a.SampleRate > 48000 {
		return nil, fmt.Errorf("%s: unsupported sample rate %d Hz (want 8000–48000)", path, a.SampleRate)
	}
	if a.Channels < 1 || a.Channels > 2 {
		return nil, fmt.Errorf("%s: unsupported channel count %d (want mono or stereo)", path, a.Channels)
	}
	if a.Format != wav.PCM16 && a.Format != wav.Float32 && a.Format != wav.Float64 {
		return nil, fmt.Errorf("%s: unsupported sample format %v (want 16-bit PCM or float)", path, a.Format)
	}
	for _, v := range a.Samples {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: samples contain NaN or Inf", path)
		}
	}
	return a, nil
}

func to48k(x []float32, rate int) ([]float32, error) {
	if rate == 48000 {
		return x, nil
	}
	r, err := resample.New(rate, 48000, resample.QualityHigh)
	if err != nil {
		return nil, err
	}
	y := make([]float32, r.MaxOut(len(x)))
	n := r.Process(y, x)
	n += r.Flush(y[n:])
	return y[:n], nil
}

func from48k(y []float32, rate, want int) ([]float32, error) {
	if rate == 48000 {
		return y, nil
	}
	r, err := resample.New(48000, rate, resample.QualityHigh)
	if err != nil {
		return nil, err
	}
	z := make([]float32, r.MaxOut(len(y)))
	n := r.Process(z, y)
	n += r.Flush(z[n:])
	z = z[:n]
	if len(z) > want {
		z = z[:want]
	}
	for len(z) < want {
		z = append(z, 0)
	}
	return z, nil
}

// writeAtomic writes to a temporary file beside path and renames it, so a
// failure never leaves a partial output.
func writeAtomic(path string, a *wav.Audio, format wav.Format) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mcu-dsp-*.wav")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := wav.Encode(tmp, a, format); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}
