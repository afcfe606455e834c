// Command dspquality runs the DSP quality harness and prints one Markdown
// table: our stages, and with -tags baselines speexdsp and WebRTC APM 0.3,
// on the same generated scenes.
//
//	go run -tags baselines ./benchmarks/dspquality/cmd/dspquality -out benchmarks/dspquality/REPORT.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/openmcu/mcu/benchmarks/dspquality"
	"github.com/openmcu/mcu/benchmarks/dspquality/ours"
)

// baselines is filled in by baselines.go when built with -tags baselines.
var baselines []dspquality.Engine

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dspquality", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "also write the report to this Markdown file")
	quick := fs.Bool("quick", false, "shorter and fewer scenes")
	seed := fs.Uint64("seed", 1, "scene seed")
	wavDir := fs.String("wav", "", "write every scene input and engine output as WAV into this directory")
	oursOnly := fs.Bool("ours-only", false, "skip the baselines even when built with them")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	engines := []dspquality.Engine{ours.Engine()}
	if !*oursOnly {
		engines = append(engines, baselines...)
	}
	opts := dspquality.Options{Quick: *quick, Seed: *seed, WavDir: *wavDir}
	if !*quiet {
		opts.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := dspquality.Run(ctx, opts, engines)
	if err != nil {
		fmt.Fprintln(stderr, "dspquality:", err)
		return 1
	}
	var buf bytes.Buffer
	if err := rep.Markdown(&buf); err != nil {
		fmt.Fprintln(stderr, "dspquality:", err)
		return 1
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "dspquality:", err)
			return 1
		}
	}
	return 0
}
