package client

import (
	"math"

	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/media/wav"
)

// Source produces the audio a participant sends: 48 kHz mono float32.
// Read fills all of pcm (960 samples per 20 ms frame). It is called from
// the send loop only, so implementations need no locking, but it must not
// block or allocate.
type Source interface {
	Read(pcm []float32)
}

type silence struct{}

func (silence) Read(pcm []float32) { clear(pcm) }

// SilenceSource returns a Source of digital silence.
func SilenceSource() Source { return silence{} }

// Tone is a sine Source; see ToneSource.
type Tone struct {
	step, phase float64
	amp         float64
}

// ToneSource returns a continuous sine at freqHz with peak amplitude
// amplitude (1.0 is full scale).
func ToneSource(freqHz, amplitude float64) *Tone {
	return &Tone{step: 2 * math.Pi * freqHz / media.SampleRate, amp: amplitude}
}

// Read implements Source. The phase carries over between calls, so frames
// join without clicks.
func (t *Tone) Read(pcm []float32) {
	for i := range pcm {
		pcm[i] = float32(t.amp * math.Sin(t.phase))
		t.phase += t.step
	}
	// Keep the phase small so precision does not decay over hours.
	t.phase = math.Mod(t.phase, 2*math.Pi)
}

// WAV plays decoded audio; see WAVSource.
type WAV struct {
	pcm  []float32
	pos  int
	loop bool
}

// WAVSource returns a Source that plays a (mono-mixed, 48 kHz) copy of a.
// Other rates are resampled with linear interpolation, which is good enough
// for a test client. Without loop it plays silence after the end.
func WAVSource(a *wav.Audio, loop bool) *WAV {
	return &WAV{pcm: resampleLinear(a.Mono(), a.SampleRate, media.SampleRate), loop: loop}
}

// Read implements Source.
func (w *WAV) Read(pcm []float32) {
	for len(pcm) > 0 {
		if w.pos >= len(w.pcm) {
			if !w.loop || len(w.pcm) == 0 {
				clear(pcm)
				return
			}
			w.pos = 0
		}
		n := copy(pcm, w.pcm[w.pos:])
		w.pos += n
		pcm = pcm[n:]
	}
}

// Len is the length of the resampled audio in samples at 48 kHz.
func (w *WAV) Len() int { return len(w.pcm) }

// resampleLinear converts x from rate `from` to rate `to`.
func resampleLinear(x []float32, from, to int) []float32 {
	if from == to || len(x) == 0 {
		return x
	}
	n := int((int64(len(x))*int64(to) + int64(from) - 1) / int64(from))
	out := make([]float32, n)
	ratio := float64(from) / float64(to)
	for i := range out {
		pos := float64(i) * ratio
		j := int(pos)
		frac := float32(pos - float64(j))
		a := x[min(j, len(x)-1)]
		b := x[min(j+1, len(x)-1)]
		out[i] = a + (b-a)*frac
	}
	return out
}
