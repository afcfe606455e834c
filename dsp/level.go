// Package dsp runs the per-participant voice chain (echo cancellation, noise
// suppression, gain control, voice activity) and holds small level helpers.
// The stages live in the subpackages aec, ns, agc, vad; resample converts
// rates at the edges.
package dsp

import "math"

// FloorDBFS is what the level helpers return for digital silence.
const FloorDBFS = -120.0

// RMSdBFS is 20 log10 of the RMS of x (a full-scale square wave is 0 dBFS,
// a full-scale sine -3 dBFS), floored at FloorDBFS.
func RMSdBFS(x []float32) float64 {
	if len(x) == 0 {
		return FloorDBFS
	}
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return toDB(e / float64(len(x)))
}

// PeakdBFS is 20 log10 of the largest |x|, floored at FloorDBFS.
func PeakdBFS(x []float32) float64 {
	var p float64
	for _, v := range x {
		p = math.Max(p, math.Abs(float64(v)))
	}
	return toDB(p * p)
}

func toDB(pow float64) float64 {
	if !(pow > 1e-12) {
		return FloorDBFS
	}
	return math.Max(10*math.Log10(pow), FloorDBFS)
}
