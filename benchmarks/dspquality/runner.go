package dspquality

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/openmcu/mcu/media/wav"
)

// Options controls a harness run.
type Options struct {
	// Quick runs shorter and fewer scenes (about a third of the time).
	Quick bool
	// Seed makes the scenes; the default run uses 1.
	Seed uint64
	// WavDir, if set, receives every scene input and engine output as WAV.
	WavDir string
	// Progress, if set, receives one line per scene and engine.
	Progress io.Writer
	// Scale multiplies every scene's duration (and event times); 0 means 1.
	// Tests use small values to run the whole pipeline in a few seconds.
	Scale float64
}

// Row is one line of the report: a metric on a scene, per engine.
type Row struct {
	Scene, Metric, Target string
	Cells                 map[string]string
}

// Report is the result of a run.
type Report struct {
	Engines []Engine
	Rows    []Row
	Elapsed time.Duration
	Opts    Options
}

// echoCase is one echo scene definition.
type echoCase struct {
	name string
	p    EchoParams
}

func echoCases(quick bool, k float64) []echoCase {
	st, dt := 20.0*k, 16.0*k
	if quick {
		st, dt = 10*k, 12*k
	}
	dtAt := 6 * k
	return []echoCase{
		{"ST, delay 30 ms, T60 100 ms, ERL 0 dB", EchoParams{Seconds: st, DelayMs: 30, DriftPPM: 50, T60Ms: 100, ERLdB: 0}},
		{"ST, delay 200 ms, T60 200 ms, ERL 6 dB", EchoParams{Seconds: st, DelayMs: 200, DriftPPM: 100, T60Ms: 200, ERLdB: 6}},
		{"ST, delay 450 ms +10 ms jump, T60 300 ms, ERL 10 dB", EchoParams{Seconds: st, DelayMs: 450, DriftPPM: -150, JumpMs: 10, JumpAtS: st * 0.6, T60Ms: 300, ERLdB: 10}},
		{"ST, delay 780 ms, T60 400 ms, ERL 15 dB", EchoParams{Seconds: st, DelayMs: 780, DriftPPM: 200, T60Ms: 400, ERLdB: 15}},
		{"DT, delay 300 ms, T60 250 ms, ERL 6 dB", EchoParams{Seconds: dt, DelayMs: 300, DriftPPM: 100, T60Ms: 250, ERLdB: 6, DoubleTalkAtS: dtAt}},
		{"DT, delay 600 ms, T60 350 ms, ERL 0 dB", EchoParams{Seconds: dt, DelayMs: 600, DriftPPM: -100, T60Ms: 350, ERLdB: 0, DoubleTalkAtS: dtAt}},
	}
}

// Run builds the scenes and measures every engine on them.
func Run(ctx context.Context, opts Options, engines []Engine) (*Report, error) {
	start := time.Now()
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Scale <= 0 {
		opts.Scale = 1
	}
	synth, err := NewSynth()
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, engines: engines, sc: Scenes{Synth: synth, Seed: opts.Seed},
		rep: &Report{Engines: engines, Opts: opts}, cost: map[string]map[string][]float64{}}
	for _, e := range engines {
		r.cost[e.Name] = map[string][]float64{}
	}
	if opts.WavDir != "" {
		if err := os.MkdirAll(opts.WavDir, 0o755); err != nil {
			return nil, fmt.Errorf("dspquality: wav dir: %w", err)
		}
	}
	steps := []func(context.Context) error{r.echo, r.noise, r.agc, r.costs}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	r.rep.Elapsed = time.Since(start)
	return r.rep, nil
}

type runner struct {
	opts    Options
	engines []Engine
	sc      Scenes
	rep     *Report
	// cost[engine][stage] holds µs per 10 ms frame, one entry per scene.
	cost map[string]map[string][]float64
	heap map[string]float64
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, format+"\n", args...)
	}
}

func (r *runner) add(scene, metric, target string, cells map[string]string) {
	r.rep.Rows = append(r.rep.Rows, Row{Scene: scene, Metric: metric, Target: target, Cells: cells})
}

func (r *runner) dump(name string, x []float64) {
	if r.opts.WavDir == "" {
		return
	}
	fn := filepath.Join(r.opts.WavDir, fileName(name)+".wav")
	f, err := os.Create(fn)
	if err != nil {
		r.logf("wav %s: %v", fn, err)
		return
	}
	defer f.Close()
	a := &wav.Audio{SampleRate: Rate, Channels: 1, Samples: toFloat32(x)}
	if err := wav.Encode(f, a, wav.PCM16); err != nil {
		r.logf("wav %s: %v", fn, err)
	}
}

func fileName(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			return c
		}
		return '_'
	}, s)
}

// cells makes a row of the same formatted value function per engine.
func (r *runner) cells(f func(e Engine) string) map[string]string {
	m := make(map[string]string, len(r.engines))
	for _, e := range r.engines {
		m[e.Name] = f(e)
	}
	return m
}

// runEcho feeds a scene through a canceller in the server's tick order.
func runEcho(c EchoCanceller, sc *EchoScene) (out []float64, usPerFrame float64) {
	far := toFloat32(sc.Far)
	near := toFloat32(sc.Near)
	frame := make([]float32, FrameLen)
	ticks := len(near) / (2 * FrameLen)
	out = make([]float64, len(near))
	var spent time.Duration
	for k := range ticks {
		base := k * 2 * FrameLen
		t0 := time.Now()
		for sub := range 2 {
			at := base + sub*FrameLen
			copy(frame, near[at:at+FrameLen])
			c.Process(frame, EchoTruth{Far: far, NearStart: at, Delay: sc.Params.TrueDelay(at)})
			for i, v := range frame {
				out[at+i] = float64(v)
			}
		}
		for sub := range 2 {
			at := base + sub*FrameLen
			c.Render(far[at : at+FrameLen])
		}
		spent += time.Since(t0)
	}
	return out, float64(spent.Microseconds()) / float64(2*ticks)
}

// runStage feeds x through a stage in 10 ms frames.
func runStage(s Stage, x []float64) (out []float64, usPerFrame float64) {
	in := toFloat32(x)
	frame := make([]float32, FrameLen)
	n := len(in) / FrameLen
	out = make([]float64, len(x))
	var spent time.Duration
	for k := range n {
		at := k * FrameLen
		copy(frame, in[at:at+FrameLen])
		t0 := time.Now()
		s.Process(frame)
		spent += time.Since(t0)
		for i, v := range frame {
			out[at+i] = float64(v)
		}
	}
	return out, float64(spent.Microseconds()) / float64(n)
}

// safely runs f, turning a panic in an engine into an error.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", ErrEngine, p)
		}
	}()
	return f()
}

func (r *runner) echo(ctx context.Context) error {
	r.heap = map[string]float64{}
	for _, c := range echoCases(r.opts.Quick, r.opts.Scale) {
		sc, err := r.sc.Echo(ctx, c.name, c.p)
		if err != nil {
			return err
		}
		r.dump("aec "+c.name+" near", sc.Near)
		r.dump("aec "+c.name+" far", sc.Far)
		type res struct {
			out     []float64
			delayMs float64
			conf    bool
			hasEst  bool
			err     error
		}
		results := map[string]res{}
		for _, e := range r.engines {
			if e.NewAEC == nil {
				continue
			}
			var rs res
			rs.err = safely(func() error {
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				ec, err := e.NewAEC()
				if err != nil {
					return err
				}
				defer ec.Close()
				var after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&after)
				r.heap[e.Name] = float64(after.HeapAlloc) - float64(before.HeapAlloc)
				var us float64
				rs.out, us = runEcho(ec, sc)
				r.cost[e.Name]["aec"] = append(r.cost[e.Name]["aec"], us)
				if d, ok := ec.(DelayReporter); ok {
					rs.delayMs, rs.conf = d.DelayEstimateMs()
					rs.hasEst = true
				}
				return nil
			})
			if rs.err != nil {
				r.logf("  %s: %v", e.Name, rs.err)
			} else {
				r.dump("aec "+c.name+" out "+e.Name, rs.out)
			}
			results[e.Name] = rs
		}
		cell := func(e Engine, f func(rs res) string) string {
			rs, ok := results[e.Name]
			switch {
			case !ok:
				return "—"
			case rs.err != nil:
				return "error"
			}
			return f(rs)
		}
		n := len(sc.Near)
		trueEnd := sc.Params.TrueDelay(n-1) * 1000 / Rate
		if c.p.DoubleTalkAtS == 0 {
			erle := map[string][2]float64{}
			for name, rs := range results {
				if rs.err != nil {
					continue
				}
				tr, act := ERLETrack(sc.Echo, rs.out)
				erle[name] = [2]float64{SteadyERLE(sc.Echo, rs.out, n*2/3, n), TimeToERLE(tr, act, 25)}
			}
			r.add(c.name, "ERLE, last third (dB)", "≥ 40", r.cells(func(e Engine) string {
				return cell(e, func(res) string { return f1(erle[e.Name][0]) })
			}))
			r.add(c.name, "time to ERLE ≥ 25 dB (s)", "≤ 1", r.cells(func(e Engine) string {
				return cell(e, func(res) string { return secs(erle[e.Name][1]) })
			}))
		} else {
			at := int(c.p.DoubleTalkAtS * Rate)
			mask := ActiveMask(sc.Talker, segFrame, activeRangeDB)
			for i := range mask {
				if i*segFrame < at {
					mask[i] = false
				}
			}
			inSDR, _ := SDR(sc.Talker, sc.Near, mask, segFrame, 0)
			r.add(c.name, fmt.Sprintf("near-end SDR in double talk (dB; input %.1f)", inSDR), "≥ 15", r.cells(func(e Engine) string {
				return cell(e, func(rs res) string {
					v, _ := SDR(sc.Talker, rs.out, mask, segFrame, Rate/20)
					return f1(v)
				})
			}))
			// ERLE over the far-end single talk before the near end starts.
			r.add(c.name, "ERLE before double talk (dB)", "≥ 40", r.cells(func(e Engine) string {
				return cell(e, func(rs res) string {
					return f1(SteadyERLE(sc.Echo, rs.out, at/2, at))
				})
			}))
		}
		r.add(c.name, fmt.Sprintf("delay estimate at end (ms; true %.1f)", trueEnd), "± 2", r.cells(func(e Engine) string {
			return cell(e, func(rs res) string {
				if !rs.hasEst {
					return "told"
				}
				s := fmt.Sprintf("%.1f", rs.delayMs)
				if !rs.conf {
					s += " (not confident)"
				}
				return s
			})
		}))
		r.logf("aec %s done", c.name)
	}
	return nil
}

func (r *runner) noise(ctx context.Context) error {
	kinds := []string{"white", "pink", "babble"}
	snrs := []float64{0, 5, 10}
	secs := 10.0
	if r.opts.Quick {
		snrs = []float64{5}
		secs = 7
	}
	secs *= r.opts.Scale
	maxDelay := map[string]float64{}
	levelWorst := map[string]float64{}
	gain5 := map[string][]float64{}
	for _, snr := range snrs {
		for _, kind := range kinds {
			sc, err := r.sc.Noise(ctx, kind, snr, secs)
			if err != nil {
				return err
			}
			r.dump("ns "+sc.Name+" in", sc.Noisy)
			mask := ActiveMask(sc.Clean, segFrame, activeRangeDB)
			segIn := SegSNR(sc.Clean, sc.Noisy, mask, segFrame)
			gains := map[string]string{}
			levels := map[string]string{}
			for _, e := range r.engines {
				gains[e.Name], levels[e.Name] = "—", "—"
				if e.NewNS == nil {
					continue
				}
				var out []float64
				err := safely(func() error {
					st, err := e.NewNS()
					if err != nil {
						return err
					}
					defer st.Close()
					var us float64
					out, us = runStage(st, sc.Noisy)
					r.cost[e.Name]["ns"] = append(r.cost[e.Name]["ns"], us)
					return nil
				})
				if err != nil {
					r.logf("  %s: %v", e.Name, err)
					gains[e.Name], levels[e.Name] = "error", "error"
					continue
				}
				r.dump("ns "+sc.Name+" out "+e.Name, out)
				lag := Delay(sc.Noisy, out, -FrameLen, 10*FrameLen)
				al := shift(out, lag, len(out))
				g := SegSNR(sc.Clean, al, mask, segFrame) - segIn
				// Relative to the input's projection, so chance correlation
				// between noise and speech cancels.
				lv := ProjectionGainDB(sc.Clean, al, mask, segFrame) - ProjectionGainDB(sc.Clean, sc.Noisy, mask, segFrame)
				gains[e.Name], levels[e.Name] = signed(g), signed(lv)
				maxDelay[e.Name] = max(maxDelay[e.Name], float64(lag)*1000/Rate)
				if math.Abs(lv) > math.Abs(levelWorst[e.Name]) {
					levelWorst[e.Name] = lv
				}
				if snr == 5 {
					gain5[e.Name] = append(gain5[e.Name], g)
				}
			}
			name := fmt.Sprintf("NS, %s noise at %g dB SNR", kind, snr)
			r.add(name, fmt.Sprintf("segSNR gain (dB; input %.1f)", segIn), ifSNR(snr, "≥ +12"), gains)
			r.add(name, "speech level change (dB)", "± 1", levels)
			r.logf("ns %s done", sc.Name)
		}
	}
	has := func(e Engine) bool { return e.NewNS != nil }
	r.add("NS, white/pink/babble at 5 dB", "mean segSNR gain (dB)", "≥ +12", r.cells(func(e Engine) string {
		if !has(e) || len(gain5[e.Name]) == 0 {
			return "—"
		}
		var s float64
		for _, v := range gain5[e.Name] {
			s += v
		}
		return signed(s / float64(len(gain5[e.Name])))
	}))
	r.add("NS, all scenes", "added delay, max (ms)", "≤ 10", r.cells(func(e Engine) string {
		if !has(e) {
			return "—"
		}
		return f1(maxDelay[e.Name])
	}))
	return nil
}

func ifSNR(snr float64, t string) string {
	if snr == 5 {
		return t
	}
	return ""
}

func (r *runner) agc(ctx context.Context) error {
	secs := 12.0
	if r.opts.Quick {
		secs = 8
	}
	secs *= r.opts.Scale
	var scenes []*AGCScene
	for _, l := range []float64{-48, -36, -24, -10} {
		sc, err := r.sc.AGC(ctx, l, secs)
		if err != nil {
			return err
		}
		scenes = append(scenes, sc)
	}
	scenes = append(scenes, r.sc.AGCNoiseOnly(secs*0.75))
	for _, sc := range scenes {
		r.dump("agc "+sc.Name+" in", sc.Input)
		outs := map[string][]float64{}
		for _, e := range r.engines {
			if e.NewAGC == nil {
				continue
			}
			err := safely(func() error {
				st, err := e.NewAGC(agcTargetDBFS)
				if err != nil {
					return err
				}
				defer st.Close()
				out, us := runStage(st, sc.Input)
				r.cost[e.Name]["agc"] = append(r.cost[e.Name]["agc"], us)
				outs[e.Name] = out
				return nil
			})
			if err != nil {
				r.logf("  %s: %v", e.Name, err)
				continue
			}
			r.dump("agc "+sc.Name+" out "+e.Name, outs[e.Name])
		}
		cell := func(e Engine, f func(out []float64) string) string {
			out, ok := outs[e.Name]
			switch {
			case e.NewAGC == nil:
				return "—"
			case !ok:
				return "error"
			}
			return f(out)
		}
		name := "AGC, " + sc.Name
		if sc.NoiseOnly {
			half := len(sc.Input) / 2
			r.add(name, "gain on noise, second half (dB)", "≤ 0", r.cells(func(e Engine) string {
				return cell(e, func(out []float64) string {
					return signed(dB(energy(out[half:])) - dB(energy(sc.Input[half:])))
				})
			}))
			continue
		}
		mask := ActiveMask(sc.Clean, FrameLen, activeRangeDB)
		type lv struct{ settle, final float64 }
		res := map[string]lv{}
		for name, out := range outs {
			lag := Delay(sc.Input, out, -FrameLen, 10*FrameLen)
			s, f := LevelSettling(sc.Input, shift(out, lag, len(out)), mask, agcTargetDBFS, 2, 3)
			res[name] = lv{s, f}
		}
		r.add(name, "level error, last 3 s (dB)", "± 2", r.cells(func(e Engine) string {
			return cell(e, func([]float64) string { return signed(res[e.Name].final) })
		}))
		r.add(name, "settling to ± 2 dB (s)", "≤ 2", r.cells(func(e Engine) string {
			return cell(e, func([]float64) string { return secs2(res[e.Name].settle, secs) })
		}))
		r.add(name, "peak (dBFS) / clipped samples", "< 0 / 0", r.cells(func(e Engine) string {
			return cell(e, func(out []float64) string {
				return fmt.Sprintf("%.1f / %d", PeakDBFS(out), Clipped(out))
			})
		}))
		r.logf("agc %s done", sc.Name)
	}
	return nil
}

func (r *runner) costs(context.Context) error {
	// A separate timing pass for the VAD, on the NS scene inputs' length.
	for _, e := range r.engines {
		if e.NewVAD == nil {
			continue
		}
		_ = safely(func() error {
			v, err := e.NewVAD()
			if err != nil {
				return err
			}
			defer v.Close()
			x := pinkNoise(10*Rate, r.sc.rng("vad"))
			scale(x, 0.05)
			_, us := runStage(v, x)
			r.cost[e.Name]["vad"] = append(r.cost[e.Name]["vad"], us)
			return nil
		})
	}
	// The median over scenes: other processes on a shared machine inflate
	// some runs, and the median ignores the worst of them.
	mean := func(e Engine, stage string) (float64, bool) {
		v := slices.Clone(r.cost[e.Name][stage])
		if len(v) == 0 {
			return 0, false
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2], true
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
	}
	one := func(stage string) map[string]string {
		return r.cells(func(e Engine) string {
			if v, ok := mean(e, stage); ok {
				return f1(v)
			}
			return "—"
		})
	}
	r.add("cost", "AEC, Render+Process (µs per 10 ms frame, median)", "≤ 80", one("aec"))
	r.add("cost", "NS (µs per 10 ms frame, median)", "", one("ns"))
	r.add("cost", "AGC (µs per 10 ms frame, median)", "", one("agc"))
	r.add("cost", "VAD (µs per 10 ms frame)", "", one("vad"))
	r.add("cost", "NS + AGC + VAD (µs per 10 ms frame)", "≤ 40", r.cells(func(e Engine) string {
		var s float64
		var parts []string
		for _, st := range []string{"ns", "agc", "vad"} {
			if v, ok := mean(e, st); ok {
				s += v
			} else {
				parts = append(parts, "no "+strings.ToUpper(st))
			}
		}
		if len(parts) == 3 {
			return "—"
		}
		if len(parts) > 0 {
			return fmt.Sprintf("%.1f (%s)", s, strings.Join(parts, ", "))
		}
		return f1(s)
	}))
	r.add("memory", "AEC state, Go heap (KiB)", "≤ 1024", r.cells(func(e Engine) string {
		v, ok := r.heap[e.Name]
		if !ok || e.NewAEC == nil {
			return "—"
		}
		if !e.GoHeap {
			return "n/a (C heap)"
		}
		return fmt.Sprintf("%.0f", v/1024)
	}))
	return nil
}

func f1(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", noNegZero(v))
}

func signed(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f", noNegZero(v))
}

// noNegZero keeps "-0.0" out of the table.
func noNegZero(v float64) float64 {
	if math.Abs(v) < 0.05 {
		return 0
	}
	return v
}

func secs(v float64) string {
	if math.IsInf(v, 1) {
		return "never"
	}
	return fmt.Sprintf("%.1f", v)
}

func secs2(v, total float64) string {
	if math.IsInf(v, 1) {
		return fmt.Sprintf("> %.0f", total)
	}
	return fmt.Sprintf("%.1f", v)
}

// Markdown writes the report as one table plus a short legend.
func (rep *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| scene | metric |")
	sep := "| --- | --- |"
	for _, e := range rep.Engines {
		b.WriteString(" " + e.Name + " |")
		sep += " ---: |"
	}
	b.WriteString(" target (ours) |\n" + sep + " --- |\n")
	for _, row := range rep.Rows {
		fmt.Fprintf(&b, "| %s | %s |", row.Scene, row.Metric)
		for _, e := range rep.Engines {
			v, ok := row.Cells[e.Name]
			if !ok {
				v = "—"
			}
			b.WriteString(" " + v + " |")
		}
		b.WriteString(" " + row.Target + " |\n")
	}
	mode := "full"
	if rep.Opts.Quick {
		mode = "quick"
	}
	if rep.Opts.Scale != 1 {
		mode += fmt.Sprintf(" ×%g duration", rep.Opts.Scale)
	}
	fmt.Fprintf(&b, "\nRun: %s, seed %d, %s on %s/%s, %d CPUs, %.0f s.\n",
		mode, rep.Opts.Seed, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), rep.Elapsed.Seconds())
	for _, e := range rep.Engines {
		fmt.Fprintf(&b, "- **%s**: %s\n", e.Name, e.Note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
