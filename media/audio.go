// Package media holds the leaf types shared by every stage of the pipeline.
// It imports nothing of ours.
package media

import "time"

// Audio inside the server is 48 kHz mono float32 in [-1, 1].
const (
	// SampleRate is the rate of every audio buffer inside the server.
	SampleRate = 48000
	// FrameDuration is one room tick of audio.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples in one room tick.
	FrameSamples = SampleRate / 50
	// SubframeDuration is the block the DSP chain works on.
	SubframeDuration = 10 * time.Millisecond
	// SubframeSamples is the number of samples in one DSP block.
	SubframeSamples = SampleRate / 100
)

// AudioFrame is one room tick of mono audio. Samples always has
// FrameSamples elements; callers own and reuse frames.
type AudioFrame struct {
	Samples []float32
	// PTS is the frame's position on the room clock.
	PTS time.Duration
}

// NewAudioFrame returns a zeroed frame of FrameSamples samples.
func NewAudioFrame() *AudioFrame {
	return &AudioFrame{Samples: make([]float32, FrameSamples)}
}

// Clear sets every sample to zero.
func (f *AudioFrame) Clear() {
	clear(f.Samples)
}
