//go:build baselines

package baseline

/*
#cgo pkg-config: speexdsp
#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static int pp_set_int(SpeexPreprocessState *st, int req, int v) { return speex_preprocess_ctl(st, req, &v); }
static int pp_set_float(SpeexPreprocessState *st, int req, float v) { return speex_preprocess_ctl(st, req, &v); }
static int pp_set_echo(SpeexPreprocessState *st, SpeexEchoState *e) { return speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_ECHO_STATE, e); }
static int echo_set_rate(SpeexEchoState *st, int rate) { return speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate); }
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/openmcu/mcu/benchmarks/dspquality"
)

const (
	rate     = 48000
	frameLen = dspquality.FrameLen
	// speexTailMs is the MDF filter length, the same 250 ms our AEC is
	// required to cover.
	speexTailMs = 250
)

// Speex returns speexdsp 1.2 run natively at 48 kHz on 10 ms frames:
// MDF + preprocess (residual echo suppression, which needs the denoiser on)
// for echo, preprocess denoise for NS, preprocess AGC for gain.
func Speex() dspquality.Engine {
	return dspquality.Engine{
		Name: "speexdsp",
		Note: fmt.Sprintf("speexdsp %s at 48 kHz, 480-sample frames. AEC: MDF with a %d ms filter fed the far end "+
			"delayed by the true bulk delay (it has no delay input), plus speex_preprocess residual echo suppression "+
			"(denoise on, its defaults). NS: speex_preprocess denoise with default -15 dB suppression. AGC: speex_preprocess "+
			"AGC, denoise off, level %.0f (calibrated: 4125, nominally −18 dBFS, gave −36 dBFS RMS), max gain 40 dB (default 30 could not reach −18 from −48).",
			"1.2.1", speexTailMs, agcLevel),
		NewAEC: func() (dspquality.EchoCanceller, error) { return newSpeexAEC() },
		NewNS:  func() (dspquality.Stage, error) { return newSpeexPre(true, false) },
		NewAGC: func(float64) (dspquality.Stage, error) { return newSpeexPre(false, true) },
	}
}

// agcLevel: speex compares it with its own loudness measure, not RMS. At
// 48 kHz the nominal -18 dBFS figure (4125) lands speech at -36 dBFS RMS, so
// this is calibrated to land at -18 dBFS RMS on -24 dBFS speech.
var agcLevel = 32768.0

// speexPre is a bare speex_preprocess stage.
type speexPre struct {
	st  *C.SpeexPreprocessState
	buf *C.spx_int16_t // C memory: frameLen samples
}

func newSpeexPre(denoise, agc bool) (*speexPre, error) {
	st := C.speex_preprocess_state_init(frameLen, rate)
	if st == nil {
		return nil, fmt.Errorf("%w: speex_preprocess_state_init", dspquality.ErrEngine)
	}
	C.pp_set_int(st, C.SPEEX_PREPROCESS_SET_DENOISE, b2i(denoise))
	C.pp_set_int(st, C.SPEEX_PREPROCESS_SET_AGC, b2i(agc))
	if agc {
		C.pp_set_float(st, C.SPEEX_PREPROCESS_SET_AGC_LEVEL, C.float(agcLevel))
		C.pp_set_int(st, C.SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, 40)
	}
	p := &speexPre{st: st, buf: (*C.spx_int16_t)(C.malloc(C.size_t(frameLen * 2)))}
	return p, nil
}

func (p *speexPre) Process(frame []float32) {
	b := unsafe.Slice(p.buf, frameLen)
	toInt16(b, frame)
	C.speex_preprocess_run(p.st, p.buf)
	fromInt16(frame, b)
}

func (p *speexPre) Close() {
	C.speex_preprocess_state_destroy(p.st)
	C.free(unsafe.Pointer(p.buf))
}

// speexAEC is MDF plus preprocess residual echo suppression.
type speexAEC struct {
	echo          *C.SpeexEchoState
	pp            *C.SpeexPreprocessState
	rec, ref, out *C.spx_int16_t
}

func newSpeexAEC() (*speexAEC, error) {
	e := C.speex_echo_state_init(frameLen, speexTailMs*rate/1000)
	if e == nil {
		return nil, fmt.Errorf("%w: speex_echo_state_init", dspquality.ErrEngine)
	}
	C.echo_set_rate(e, rate)
	pp := C.speex_preprocess_state_init(frameLen, rate)
	C.pp_set_echo(pp, e)
	mem := (*C.spx_int16_t)(C.malloc(C.size_t(3 * frameLen * 2)))
	s := unsafe.Slice(mem, 3*frameLen)
	return &speexAEC{echo: e, pp: pp, rec: &s[0], ref: &s[frameLen], out: &s[2*frameLen]}, nil
}

// Render is ignored: the harness hands the aligned far end to Process.
func (a *speexAEC) Render([]float32) {}

func (a *speexAEC) Process(near []float32, t dspquality.EchoTruth) {
	d := int(math.Round(t.Delay))
	ref := unsafe.Slice(a.ref, frameLen)
	for i := range ref {
		j := t.NearStart - d + i
		var v float32
		if j >= 0 && j < len(t.Far) {
			v = t.Far[j]
		}
		ref[i] = q16(v)
	}
	toInt16(unsafe.Slice(a.rec, frameLen), near)
	C.speex_echo_cancellation(a.echo, a.rec, a.ref, a.out)
	C.speex_preprocess_run(a.pp, a.out)
	fromInt16(near, unsafe.Slice(a.out, frameLen))
}

func (a *speexAEC) Close() {
	C.speex_preprocess_state_destroy(a.pp)
	C.speex_echo_state_destroy(a.echo)
	C.free(unsafe.Pointer(a.rec))
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func q16(v float32) C.spx_int16_t {
	x := math.Round(float64(v) * 32768)
	return C.spx_int16_t(max(-32768, min(32767, x)))
}

func toInt16(dst []C.spx_int16_t, src []float32) {
	for i, v := range src {
		dst[i] = q16(v)
	}
}

func fromInt16(dst []float32, src []C.spx_int16_t) {
	for i, v := range src {
		dst[i] = float32(v) / 32768
	}
}
