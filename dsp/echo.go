package dsp

import "github.com/openmcu/mcu/dsp/aec"

// echoCanceller adapts *aec.Canceller to the chain's EchoCanceller.
type echoCanceller struct{ *aec.Canceller }

func (e echoCanceller) EchoStats() (delayMs float64, delayConfident bool, erleDB float64, doubleTalk bool) {
	s := e.Stats()
	return s.DelayMs, s.DelayConfident, s.ERLEdB, s.DoubleTalk
}

// NewEchoCanceller returns the server's echo canceller (dsp/aec) for a chain.
func NewEchoCanceller(cfg aec.Config) EchoCanceller {
	return echoCanceller{aec.New(cfg)}
}
