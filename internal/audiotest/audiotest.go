// Package audiotest measures tones and levels in decoded audio for tests.
//
// Levels are in dB relative to full scale 1.0 RMS: a full-scale square wave
// is 0 dBFS and a full-scale sine −3.01 dBFS, so for a pure tone ToneDB and
// RMSDB agree. Silence reports Floor instead of −Inf so comparisons work.
package audiotest

import "math"

// Floor is the level reported for silence or an empty buffer.
const Floor = -200.0

// Goertzel returns the power (mean square) of the freq Hz component of
// samples taken at rate Hz: A²/2 for a sine of amplitude A. A Hann window
// keeps nearby tones (and the edges of a non-integer number of cycles) from
// leaking in: a tone 100 Hz away over 100 ms is more than 60 dB down.
func Goertzel(samples []float32, freq, rate float64) float64 {
	n := len(samples)
	if n == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / rate
	coeff := 2 * math.Cos(w)
	var s1, s2, wsum float64
	for i, x := range samples {
		win := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n))
		wsum += win
		s0 := float64(x)*win + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	// |X(w)|² of the windowed sequence, whatever the phase of the last step.
	mag2 := s1*s1 + s2*s2 - coeff*s1*s2
	if mag2 < 0 {
		mag2 = 0
	}
	// A sine of amplitude A gives |X| = A·Σw/2, so A²/2 = 2|X|²/(Σw)².
	return 2 * mag2 / (wsum * wsum)
}

// ToneDB is the level of the freq Hz component in dBFS (see package doc).
func ToneDB(samples []float32, freq, rate float64) float64 {
	return db(Goertzel(samples, freq, rate))
}

// RMSDB is the overall level of samples in dBFS (see package doc).
func RMSDB(samples []float32) float64 {
	if len(samples) == 0 {
		return Floor
	}
	var sum float64
	for _, x := range samples {
		sum += float64(x) * float64(x)
	}
	return db(sum / float64(len(samples)))
}

func db(power float64) float64 {
	if power <= 0 || math.IsNaN(power) {
		return Floor
	}
	return max(10*math.Log10(power), Floor)
}

// Tone returns n samples of a sine of amplitude amp at freq Hz.
func Tone(freq, amp, rate float64, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return out
}
