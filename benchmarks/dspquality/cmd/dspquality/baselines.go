//go:build baselines

package main

import (
	"github.com/openmcu/mcu/benchmarks/dspquality"
	"github.com/openmcu/mcu/benchmarks/dspquality/baseline"
)

func init() {
	baselines = []dspquality.Engine{baseline.Speex(), baseline.WebRTC()}
}
