package dspquality

// Stage processes 10 ms frames (FrameLen samples at 48 kHz) in place.
type Stage interface {
	Process(frame []float32)
	Close()
}

// EchoTruth is what the harness knows about the echo path. Engines that are
// "told the delay" (the baselines) read it; ours must ignore it.
type EchoTruth struct {
	// Far is the whole far-end signal as rendered, at 48 kHz.
	Far []float32
	// NearStart is the index of the first sample of the near frame being
	// processed.
	NearStart int
	// Delay is the true bulk delay, in samples, of the echo in that frame.
	Delay float64
}

// EchoCanceller is one engine's echo stage. The harness calls it in the
// server's order, per 20 ms tick: Process(near sub 0), Process(near sub 1),
// then Render(far sub 0), Render(far sub 1).
type EchoCanceller interface {
	Render(far []float32)
	Process(near []float32, truth EchoTruth)
	Close()
}

// DelayReporter is implemented by cancellers that estimate the bulk delay.
type DelayReporter interface {
	DelayEstimateMs() (ms float64, confident bool)
}

// Engine is one implementation under test. A nil constructor means the
// engine has no such stage.
type Engine struct {
	Name string
	// Note says how the engine was configured, for the report.
	Note   string
	NewAEC func() (EchoCanceller, error)
	NewNS  func() (Stage, error)
	// NewAGC builds a gain control that aims at targetDBFS (RMS of active
	// speech) as closely as the engine's settings allow.
	NewAGC func(targetDBFS float64) (Stage, error)
	NewVAD func() (Stage, error)
	// GoHeap says the engine's state lives on the Go heap, so the harness
	// can measure the AEC's memory.
	GoHeap bool
}
