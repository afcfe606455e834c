// Package baseline runs speexdsp 1.2 and WebRTC APM 0.3 (Debian's
// libspeexdsp-dev and libwebrtc-audio-processing-dev) through cgo as
// reference engines for the dspquality harness.
//
// Everything but this file is built only with -tags baselines, so the normal
// build needs neither library nor cgo.
package baseline
