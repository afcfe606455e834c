// Package dspquality is the quality harness for the voice DSP in dsp/...:
// it builds reproducible scenes (espeak-ng speech, white/pink/babble noise,
// simulated rooms with a drifting bulk delay, double talk), runs them through
// our pure-Go stages and, when built with -tags baselines, through speexdsp
// and WebRTC APM 0.3, and reports one Markdown table of metrics.
//
// Everything here runs offline on whole signals; nothing is a hot path. The
// engines under test see the signals exactly as the server would: 480-sample
// (10 ms) float32 frames at 48 kHz.
package dspquality
