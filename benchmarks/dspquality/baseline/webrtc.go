//go:build baselines

package baseline

/*
#cgo pkg-config: webrtc-audio-processing
#cgo CXXFLAGS: -std=c++11 -Wno-deprecated-declarations
#cgo LDFLAGS: -lstdc++
#include <stdlib.h>
#include "wapm.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/openmcu/mcu/benchmarks/dspquality"
)

// WebRTC APM settings, see WebRTC's Note.
const (
	// wapmMarginMs is the delay left for the APM's own buffer after the
	// harness pre-aligns the far end; the rest is told via
	// set_stream_delay_ms every frame.
	wapmMarginMs = 40
	// AGC1 aims at a peak-like envelope, not RMS: target 3 dBFS and 9 dB
	// compression are WebRTC's defaults, and land speech nearest −18 dBFS
	// RMS of the settings we tried (see README).
	wapmAGCTarget = 3
	wapmAGCComp   = 9
	wapmExtended  = true
)

// WebRTC returns WebRTC AudioProcessing 0.3 at 48 kHz, float interface, 10 ms
// frames, one component at a time.
func WebRTC() dspquality.Engine {
	return dspquality.Engine{
		Name: "WebRTC APM",
		Note: fmt.Sprintf("webrtc-audio-processing 0.3 at 48 kHz (float API). AEC: EchoCancellation kHighSuppression, "+
			"extended filter %v, delay-agnostic off, told the true delay (far end pre-aligned to leave %d ms, "+
			"the rest via set_stream_delay_ms each frame). NS: NoiseSuppression kHigh. AGC: GainControl kAdaptiveDigital, "+
			"target_level_dbfs %d, compression %d dB, limiter on, experimental AGC off. High-pass filter off.",
			wapmExtended, wapmMarginMs, wapmAGCTarget, wapmAGCComp),
		NewAEC: func() (dspquality.EchoCanceller, error) {
			p, err := newWAPM(true, false, false)
			if err != nil {
				return nil, err
			}
			return wapmEcho{p}, nil
		},
		NewNS:  func() (dspquality.Stage, error) { return newWAPM(false, true, false) },
		NewAGC: func(float64) (dspquality.Stage, error) { return newWAPM(false, false, true) },
	}
}

type wapm struct {
	w   *C.wapm
	buf *C.float // C memory: 2 frames (near, far)
	pre int      // samples the harness pre-aligns the far end by (-1: unset)
}

func newWAPM(aec, ns, agc bool) (*wapm, error) {
	w := C.wapm_new(b2i(aec), b2i(wapmExtended), b2i(ns), b2i(agc), wapmAGCTarget, wapmAGCComp)
	if w == nil {
		return nil, fmt.Errorf("%w: webrtc AudioProcessing::Create", dspquality.ErrEngine)
	}
	return &wapm{w: w, buf: (*C.float)(C.malloc(C.size_t(2 * frameLen * 4))), pre: -1}, nil
}

func (p *wapm) frames() (near, far []float32) {
	s := unsafe.Slice((*float32)(unsafe.Pointer(p.buf)), 2*frameLen)
	return s[:frameLen], s[frameLen:]
}

// Process for NS and AGC.
func (p *wapm) Process(frame []float32) {
	near, _ := p.frames()
	copy(near, frame)
	C.wapm_process(p.w, p.buf, 0)
	copy(frame, near)
}

// Render is ignored: the far end is fed in ProcessEcho order below.
func (p *wapm) Render([]float32) {}

func (p *wapm) Close() {
	C.wapm_free(p.w)
	C.free(unsafe.Pointer(p.buf))
}

// wapmEcho is the APM as an echo canceller.
type wapmEcho struct{ *wapm }

// Process feeds the far-end frame that leaves wapmMarginMs (plus drift)
// before its echo, then the near frame with that delay told.
func (e wapmEcho) Process(frame []float32, t dspquality.EchoTruth) {
	margin := wapmMarginMs * rate / 1000
	if e.pre < 0 {
		e.pre = max(0, int(math.Round(t.Delay))-margin)
	}
	near, far := e.frames()
	for i := range far {
		j := t.NearStart - e.pre + i
		far[i] = 0
		if j >= 0 && j < len(t.Far) {
			far[i] = t.Far[j]
		}
	}
	C.wapm_reverse(e.w, (*C.float)(unsafe.Pointer(&far[0])))
	copy(near, frame)
	told := int(math.Round((t.Delay - float64(e.pre)) * 1000 / rate))
	C.wapm_process(e.w, e.buf, C.int(told))
	copy(frame, near)
}
