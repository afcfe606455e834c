// Package ours adapts the project's pure-Go DSP stages (dsp/aec, dsp/ns,
// dsp/agc, dsp/vad) to the harness's engine interface.
package ours

import (
	"github.com/openmcu/mcu/benchmarks/dspquality"
	"github.com/openmcu/mcu/dsp/aec"
	"github.com/openmcu/mcu/dsp/agc"
	"github.com/openmcu/mcu/dsp/ns"
	"github.com/openmcu/mcu/dsp/vad"
)

// Engine returns our stages with their default configurations. The AEC is
// not told the delay: EchoTruth is ignored.
func Engine() dspquality.Engine {
	return dspquality.Engine{
		Name:   "ours",
		GoHeap: true,
		Note:   "dsp/aec, dsp/ns, dsp/agc, dsp/vad with DefaultConfig(); AEC delay unknown (estimated)",
		NewAEC: func() (dspquality.EchoCanceller, error) {
			return &canceller{c: aec.New(aec.DefaultConfig())}, nil
		},
		NewNS: func() (dspquality.Stage, error) {
			return stage{ns.New(ns.DefaultConfig())}, nil
		},
		NewAGC: func(targetDBFS float64) (dspquality.Stage, error) {
			// DefaultConfig's target is the project's -18 dBFS; the harness
			// measures against that.
			return stage{agc.New(agc.DefaultConfig())}, nil
		},
		NewVAD: func() (dspquality.Stage, error) {
			return vadStage{vad.New(vad.DefaultConfig())}, nil
		},
	}
}

type processor interface{ Process(frame []float32) }

type stage struct{ p processor }

func (s stage) Process(frame []float32) { s.p.Process(frame) }
func (s stage) Close()                  {}

type vadStage struct{ d *vad.Detector }

func (s vadStage) Process(frame []float32) { _ = s.d.Process(frame) }
func (s vadStage) Close()                  {}

type canceller struct{ c *aec.Canceller }

func (c *canceller) Render(far []float32) { c.c.Render(far) }

func (c *canceller) Process(near []float32, _ dspquality.EchoTruth) { c.c.Process(near) }

func (c *canceller) Close() {}

func (c *canceller) DelayEstimateMs() (float64, bool) {
	st := c.c.Stats()
	return st.DelayMs, st.DelayConfident
}
