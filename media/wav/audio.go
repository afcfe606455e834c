// Package wav reads and writes RIFF/WAVE audio files.
//
// Decode accepts PCM 8/16/24/32-bit (format tag 1), IEEE float 32/64-bit
// (format tag 3) and WAVE_FORMAT_EXTENSIBLE wrapping either, at
// MinSampleRate..MaxSampleRate Hz with 1..MaxChannels channels. The channel
// count is reported rather than rejected above two: callers that only handle
// mono or stereo check Audio.Channels (or use Audio.Mono). Unknown chunks
// (LIST, bext, fact, ...) are skipped, including their odd-size pad byte.
//
// Samples are float32, interleaved, with integer formats scaled to [-1, 1).
// Float input is passed through unclamped, except that NaN and ±Inf become 0
// so that no non-finite value reaches the DSP.
//
// Encode and Writer write the plain (non-extensible) fmt chunk, which every
// reader understands, plus a fact chunk for float data. Writer streams: on a
// seekable destination Close patches the sizes; otherwise the sizes stay
// 0xFFFFFFFF, which Decode (and ffmpeg, sox) read as "until end of stream".
//
// The package imports only the standard library.
package wav

import (
	"fmt"
	"time"
)

// Limits on what Decode and Encode accept.
const (
	MinSampleRate = 8000
	MaxSampleRate = 48000
	MaxChannels   = 8
)

// Format is the sample encoding of a WAV file.
type Format int

// Supported formats. The zero value means "unspecified".
const (
	PCM8 Format = iota + 1
	PCM16
	PCM24
	PCM32
	Float32
	Float64
)

const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE
)

// String returns a short human name such as "16-bit PCM".
func (f Format) String() string {
	switch f {
	case PCM8:
		return "8-bit PCM"
	case PCM16:
		return "16-bit PCM"
	case PCM24:
		return "24-bit PCM"
	case PCM32:
		return "32-bit PCM"
	case Float32:
		return "32-bit float"
	case Float64:
		return "64-bit float"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Valid reports whether f is one of the defined formats.
func (f Format) Valid() bool { return f >= PCM8 && f <= Float64 }

// BitsPerSample is the container size of one sample.
func (f Format) BitsPerSample() int {
	switch f {
	case PCM8:
		return 8
	case PCM16:
		return 16
	case PCM24:
		return 24
	case PCM32, Float32:
		return 32
	case Float64:
		return 64
	}
	return 0
}

func (f Format) bytesPerSample() int { return f.BitsPerSample() / 8 }

func (f Format) tag() uint16 {
	if f == Float32 || f == Float64 {
		return tagFloat
	}
	return tagPCM
}

// formatOf maps a format tag and container size to a Format.
func formatOf(tag uint16, bits int) (Format, bool) {
	switch {
	case tag == tagPCM && bits == 8:
		return PCM8, true
	case tag == tagPCM && bits == 16:
		return PCM16, true
	case tag == tagPCM && bits == 24:
		return PCM24, true
	case tag == tagPCM && bits == 32:
		return PCM32, true
	case tag == tagFloat && bits == 32:
		return Float32, true
	case tag == tagFloat && bits == 64:
		return Float64, true
	}
	return 0, false
}

// Audio is decoded audio: interleaved float32 samples.
type Audio struct {
	SampleRate int
	Channels   int
	// Format is the encoding the audio was read from (Decode) or the
	// default encoding for Encode when it is given the zero Format.
	Format Format
	// Samples are interleaved: frame i of channel c is Samples[i*Channels+c].
	Samples []float32
}

// Frames is the number of sample frames (samples per channel).
func (a *Audio) Frames() int {
	if a.Channels <= 0 {
		return 0
	}
	return len(a.Samples) / a.Channels
}

// Duration is the playing time of the audio.
func (a *Audio) Duration() time.Duration {
	if a.SampleRate <= 0 {
		return 0
	}
	return time.Duration(a.Frames()) * time.Second / time.Duration(a.SampleRate)
}

// Mono returns a new slice with one sample per frame, the average of the
// channels. For mono audio it is a copy of Samples.
func (a *Audio) Mono() []float32 {
	n := a.Frames()
	out := make([]float32, n)
	if a.Channels == 1 {
		copy(out, a.Samples)
		return out
	}
	inv := 1 / float32(a.Channels)
	for i := range out {
		var sum float32
		for _, s := range a.Samples[i*a.Channels : (i+1)*a.Channels] {
			sum += s
		}
		out[i] = sum * inv
	}
	return out
}

func checkRate(rate int) error {
	if rate < MinSampleRate || rate > MaxSampleRate {
		return fmt.Errorf("%w %d Hz (want %d–%d)", ErrUnsupportedRate, rate, MinSampleRate, MaxSampleRate)
	}
	return nil
}

func checkChannels(ch int) error {
	if ch < 1 || ch > MaxChannels {
		return fmt.Errorf("%w %d (want 1–%d)", ErrUnsupportedChannels, ch, MaxChannels)
	}
	return nil
}
