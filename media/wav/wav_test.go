package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tone returns interleaved channels of a sine, channel c at freq*(c+1).
func tone(rate, channels, frames int, freq, amp float64) []float32 {
	out := make([]float32, frames*channels)
	for i := range frames {
		for c := range channels {
			out[i*channels+c] = float32(amp * math.Sin(2*math.Pi*freq*float64(c+1)*float64(i)/float64(rate)))
		}
	}
	return out
}

// toneLevel is the amplitude of freq in x (single-bin DFT), 1.0 for a full-scale sine.
func toneLevel(x []float32, freq float64, rate int) float64 {
	var re, im float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		re += float64(v) * math.Cos(ph)
		im -= float64(v) * math.Sin(ph)
	}
	return 2 * math.Hypot(re, im) / float64(len(x))
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		format   Format
		channels int
		rate     int
		tol      float64
	}{
		{PCM8, 1, 8000, 1.0 / 128},
		{PCM16, 1, 16000, 1.0 / 32768},
		{PCM16, 2, 44100, 1.0 / 32768},
		{PCM24, 1, 48000, 1.0 / (1 << 23)},
		{PCM24, 2, 22050, 1.0 / (1 << 23)},
		{PCM32, 2, 32000, 1.0 / (1 << 24)},
		{Float32, 1, 48000, 0},
		{Float32, 2, 8000, 0},
		{Float64, 6, 48000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.format.String()+"/"+string(rune('0'+tc.channels)), func(t *testing.T) {
			// 101 frames: an odd count, so PCM8/PCM24 mono need the pad byte.
			in := &Audio{SampleRate: tc.rate, Channels: tc.channels, Samples: tone(tc.rate, tc.channels, 101, 440, 0.9)}
			in.Samples[0] = 1    // clamps to the largest positive code
			in.Samples[1] = -1.0 // exactly representable
			for _, streaming := range []bool{false, true} {
				var buf bytes.Buffer
				if streaming {
					w, err := NewWriter(&buf, tc.rate, tc.channels, tc.format)
					if err != nil {
						t.Fatal(err)
					}
					// Uneven writes exercise buffering across calls.
					s := in.Samples
					for len(s) > 0 {
						n := min(len(s), 7*tc.channels)
						if err := w.Write(s[:n]); err != nil {
							t.Fatal(err)
						}
						s = s[n:]
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
				} else if err := Encode(&buf, in, tc.format); err != nil {
					t.Fatal(err)
				}
				if !streaming && buf.Len()%2 != 0 {
					t.Errorf("streaming=%v: file is %d bytes, RIFF chunks must be even", streaming, buf.Len())
				}
				out, err := Decode(&buf)
				if err != nil {
					t.Fatalf("streaming=%v: %v", streaming, err)
				}
				if out.SampleRate != tc.rate || out.Channels != tc.channels || out.Format != tc.format {
					t.Fatalf("got %d Hz %d ch %v, want %d Hz %d ch %v", out.SampleRate, out.Channels, out.Format, tc.rate, tc.channels, tc.format)
				}
				if len(out.Samples) != len(in.Samples) {
					t.Fatalf("streaming=%v: got %d samples, want %d", streaming, len(out.Samples), len(in.Samples))
				}
				for i := range in.Samples {
					if d := math.Abs(float64(out.Samples[i] - in.Samples[i])); d > tc.tol {
						t.Fatalf("sample %d: got %v want %v (diff %g > %g)", i, out.Samples[i], in.Samples[i], d, tc.tol)
					}
				}
			}
		})
	}
}

func TestWriterSeekablePatchesSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A prefix checks that the header is found where it was written.
	if _, err := f.WriteString("junk!"); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, 16000, 1, PCM24)
	if err != nil {
		t.Fatal(err)
	}
	in := tone(16000, 1, 1001, 300, 0.5)
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if got := w.Frames(); got != 1001 {
		t.Errorf("Frames() = %d, want 1001", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(in); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	// Offset must be at the end so the caller can keep appending.
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 5+44+3003+1 {
		t.Errorf("offset after Close = %d, want %d", pos, 5+44+3003+1)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw = raw[5:]
	le := binary.LittleEndian
	if got := le.Uint32(raw[4:]); got != uint32(len(raw)-8) {
		t.Errorf("RIFF size %d, want %d", got, len(raw)-8)
	}
	if got := le.Uint32(raw[40:]); got != 3003 {
		t.Errorf("data size %d, want 3003", got)
	}
	a, err := Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() != 1001 {
		t.Errorf("decoded %d frames, want 1001", a.Frames())
	}
}

func TestWriterFloatFactChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, 48000, 2, Float32)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(make([]float32, 2*480)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	raw, _ := os.ReadFile(path)
	if string(raw[38:42]) != "fact" || binary.LittleEndian.Uint32(raw[46:]) != 480 {
		t.Errorf("fact chunk %q count %d, want \"fact\" 480", raw[38:42], binary.LittleEndian.Uint32(raw[46:]))
	}
}

// chunk builds one RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func chunkSized(id string, size uint32, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], size)
	return append(b, body...)
}

func riff(size uint32, chunks ...[]byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b = append(b, c...)
	}
	if size == 0 {
		size = uint32(len(b) - 8)
	} else if size == 1 {
		size = 0 // an unpatched streaming header
	}
	binary.LittleEndian.PutUint32(b[4:], size)
	return b
}

func fmtBody(tag uint16, channels, rate, bits, blockAlign int) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], uint16(channels))
	le.PutUint32(b[4:], uint32(rate))
	le.PutUint32(b[8:], uint32(rate*blockAlign))
	le.PutUint16(b[12:], uint16(blockAlign))
	le.PutUint16(b[14:], uint16(bits))
	return b
}

func extensibleBody(sub uint16, channels, rate, container, valid int) []byte {
	b := fmtBody(tagExtensible, channels, rate, container, channels*container/8)
	le := binary.LittleEndian
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, uint16(valid))
	b = le.AppendUint32(b, 0x3) // front left | front right
	b = le.AppendUint16(b, sub)
	return append(b, extensibleSuffix[:]...)
}

func pcm16(vals ...int16) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func TestDecodeVariants(t *testing.T) {
	le := binary.LittleEndian
	var f32 []byte
	for _, v := range []float32{0.5, -0.25, float32(math.NaN()), float32(math.Inf(1))} {
		f32 = le.AppendUint32(f32, math.Float32bits(v))
	}
	var pcm32in24 []byte // 24 valid bits left-justified in 32-bit containers
	for _, v := range []int32{1 << 30, -(1 << 30)} {
		pcm32in24 = le.AppendUint32(pcm32in24, uint32(v))
	}
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")) // odd size: pad byte follows
	tests := []struct {
		name     string
		file     []byte
		format   Format
		channels int
		want     []float32
	}{
		{"plain pcm16", riff(0, chunk("fmt ", fmtBody(1, 1, 8000, 16, 2)), chunk("data", pcm16(16384, -32768))), PCM16, 1, []float32{0.5, -1}},
		{"LIST before fmt and between, odd sizes", riff(0, list, chunk("fmt ", fmtBody(1, 1, 8000, 16, 2)), chunk("junk", []byte{1, 2, 3}), chunk("data", pcm16(16384))), PCM16, 1, []float32{0.5}},
		{"fmt chunk with cbSize and odd extra", riff(0, chunk("fmt ", append(fmtBody(1, 1, 8000, 16, 2), 1, 0, 7)), chunk("data", pcm16(-16384))), PCM16, 1, []float32{-0.5}},
		{"chunks after data ignored", riff(0, chunk("fmt ", fmtBody(1, 2, 48000, 16, 4)), chunk("data", pcm16(1, 2)), chunk("LIST", []byte("xx"))), PCM16, 2, []float32{1.0 / 32768, 2.0 / 32768}},
		{"float32 with NaN and Inf zeroed", riff(0, chunk("fmt ", append(fmtBody(3, 2, 48000, 32, 8), 0, 0)), chunk("fact", []byte{2, 0, 0, 0}), chunk("data", f32)), Float32, 2, []float32{0.5, -0.25, 0, 0}},
		{"extensible pcm 24-in-32", riff(0, chunk("fmt ", extensibleBody(1, 2, 48000, 32, 24)), chunk("data", pcm32in24)), PCM32, 2, []float32{0.5, -0.5}},
		{"extensible float", riff(0, chunk("fmt ", extensibleBody(3, 2, 44100, 32, 32)), chunk("data", f32)), Float32, 2, []float32{0.5, -0.25, 0, 0}},
		{"odd data size drops partial sample", riff(0, chunk("fmt ", fmtBody(1, 1, 8000, 16, 2)), chunk("data", append(pcm16(16384), 9))), PCM16, 1, []float32{0.5}},
		{"streaming 0xFFFFFFFF reads to EOF, drops partial frame", riff(streamSize, chunk("fmt ", fmtBody(1, 2, 8000, 16, 4)), chunkSized("data", streamSize, append(pcm16(16384, -16384, 8192), 1))), PCM16, 2, []float32{0.5, -0.5}},
		{"unpatched zero sizes read to EOF", riff(1, chunk("fmt ", fmtBody(1, 1, 8000, 16, 2)), chunkSized("data", 0, pcm16(16384, 8192))), PCM16, 1, []float32{0.5, 0.25}},
		{"empty data in a finished file", riff(0, chunk("fmt ", fmtBody(1, 1, 8000, 16, 2)), chunk("data", nil), chunk("LIST", []byte("abcd"))), PCM16, 1, []float32{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if a.Format != tc.format || a.Channels != tc.channels {
				t.Errorf("got %v %d ch, want %v %d ch", a.Format, a.Channels, tc.format, tc.channels)
			}
			if len(a.Samples) != len(tc.want) {
				t.Fatalf("got %d samples %v, want %v", len(a.Samples), a.Samples, tc.want)
			}
			for i := range tc.want {
				if a.Samples[i] != tc.want[i] {
					t.Errorf("sample %d = %v, want %v", i, a.Samples[i], tc.want[i])
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := chunk("fmt ", fmtBody(1, 1, 8000, 16, 2))
	tests := []struct {
		name    string
		file    []byte
		want    error
		message string // substring the message must contain
	}{
		{"empty", nil, ErrNotWAV, "empty input"},
		{"text file", []byte("hello, world, this is text"), ErrNotWAV, `"hell"`},
		{"short RIFF header", []byte("RIFF\x10\x00"), ErrTruncated, "RIFF header is 6 bytes"},
		{"not WAVE", []byte("RIFF\x04\x00\x00\x00AVI "), ErrNotWAV, `"AVI "`},
		{"big-endian RIFX", []byte("RIFX\x04\x00\x00\x00WAVE"), ErrUnsupportedFormat, "RIFX"},
		{"RF64", []byte("RF64\xff\xff\xff\xffWAVE"), ErrUnsupportedFormat, "RF64"},
		{"no chunks", riff(0), ErrMalformed, "no fmt chunk"},
		{"no data chunk", riff(0, good), ErrMalformed, "no data chunk"},
		{"data before fmt", riff(0, chunk("data", pcm16(1)), good), ErrMalformed, "data chunk before fmt"},
		{"two fmt chunks", riff(0, good, good, chunk("data", nil)), ErrMalformed, "second fmt"},
		{"fmt too short", riff(0, chunk("fmt ", make([]byte, 14)), chunk("data", nil)), ErrMalformed, "fmt chunk is 14 bytes"},
		{"fmt truncated", riff(0, chunkSized("fmt ", 16, make([]byte, 9))), ErrTruncated, "fmt chunk declares 16 bytes"},
		{"a-law", riff(0, chunk("fmt ", fmtBody(6, 1, 8000, 8, 1)), chunk("data", nil)), ErrUnsupportedFormat, "A-law"},
		{"12-bit pcm", riff(0, chunk("fmt ", fmtBody(1, 1, 8000, 12, 2)), chunk("data", nil)), ErrUnsupportedFormat, "12 bits"},
		{"96 kHz", riff(0, chunk("fmt ", fmtBody(1, 1, 96000, 16, 2)), chunk("data", nil)), ErrUnsupportedRate, "wav: unsupported sample rate 96000 Hz (want 8000–48000)"},
		{"4 kHz", riff(0, chunk("fmt ", fmtBody(1, 1, 4000, 16, 2)), chunk("data", nil)), ErrUnsupportedRate, "4000 Hz"},
		{"zero channels", riff(0, chunk("fmt ", fmtBody(1, 0, 8000, 16, 0)), chunk("data", nil)), ErrUnsupportedChannels, "channel count 0 (want 1–8)"},
		{"nine channels", riff(0, chunk("fmt ", fmtBody(1, 9, 8000, 16, 18)), chunk("data", nil)), ErrUnsupportedChannels, "9"},
		{"bad block align", riff(0, chunk("fmt ", fmtBody(1, 2, 8000, 16, 2)), chunk("data", nil)), ErrMalformed, "block align is 2, want 4"},
		{"extensible too short", riff(0, chunk("fmt ", fmtBody(tagExtensible, 1, 8000, 16, 2)), chunk("data", nil)), ErrMalformed, "EXTENSIBLE"},
		{"extensible unknown GUID", riff(0, chunk("fmt ", append(extensibleBody(1, 2, 48000, 16, 16)[:39], 0x70)), chunk("data", nil)), ErrUnsupportedFormat, "GUID"},
		{"extensible a-law", riff(0, chunk("fmt ", extensibleBody(6, 2, 48000, 16, 16)), chunk("data", nil)), ErrUnsupportedFormat, "A-law"},
		{"truncated data", riff(0, good, chunkSized("data", 100, pcm16(1, 2, 3))), ErrTruncated, "data chunk declares 100 bytes, stream ends after 6"},
		{"truncated unknown chunk", riff(0, good, chunkSized("LIST", 50, []byte("abc"))), ErrTruncated, `chunk "LIST" declares 50 bytes`},
		{"truncated chunk header", append(riff(0, good), 'd', 'a'), ErrTruncated, "chunk header is 2 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(tc.file))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if a != nil {
				t.Errorf("got audio with an error")
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q does not contain %q", err, tc.message)
			}
		})
	}
}

type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, io.ErrShortWrite
	}
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(io.Discard, 96000, 1, PCM16); !errors.Is(err, ErrUnsupportedRate) {
		t.Errorf("rate: %v", err)
	}
	if _, err := NewWriter(io.Discard, 48000, 0, PCM16); !errors.Is(err, ErrUnsupportedChannels) {
		t.Errorf("channels: %v", err)
	}
	if _, err := NewWriter(io.Discard, 48000, 1, Format(42)); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("format: %v", err)
	}
	w, err := NewWriter(io.Discard, 48000, 2, PCM16)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(make([]float32, 3)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("odd write: %v", err)
	}
	if _, err := NewWriter(&errWriter{n: 10}, 48000, 1, PCM16); err == nil {
		t.Error("header write error not reported")
	}
	w, err = NewWriter(&errWriter{n: 44 + 1000}, 48000, 1, PCM16)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(make([]float32, 48000)) // 96 000 bytes: overflows the 64 KiB buffer
	if !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("data write error: %v", err)
	}
	if err := Encode(io.Discard, &Audio{SampleRate: 8000, Channels: 2, Samples: make([]float32, 3)}, PCM16); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Encode odd samples: %v", err)
	}
	if err := Encode(io.Discard, nil, PCM16); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Encode nil: %v", err)
	}
}

func TestMono(t *testing.T) {
	a := &Audio{SampleRate: 8000, Channels: 2, Samples: []float32{1, 0, 0.5, -0.5, -1, -0.5}}
	got := a.Mono()
	want := []float32{0.5, 0, -0.75}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Mono() = %v, want %v", got, want)
		}
	}
	m := &Audio{SampleRate: 8000, Channels: 1, Samples: []float32{0.1, 0.2}}
	mm := m.Mono()
	mm[0] = 9
	if m.Samples[0] != 0.1 {
		t.Error("Mono() of mono audio aliases Samples")
	}
	if d := (&Audio{SampleRate: 16000, Channels: 2, Samples: make([]float32, 32000)}).Duration(); d.Seconds() != 1 {
		t.Errorf("Duration = %v, want 1s", d)
	}
}

func TestWriterDoesNotAllocate(t *testing.T) {
	w, err := NewWriter(io.Discard, 48000, 1, PCM16)
	if err != nil {
		t.Fatal(err)
	}
	frame := tone(48000, 1, 960, 440, 0.5)
	if n := testing.AllocsPerRun(200, func() { _ = w.Write(frame) }); n != 0 {
		t.Errorf("Write allocates %v times per call, want 0", n)
	}
}

// TestSox reads files written by sox and checks sox reads ours.
func TestSox(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox not installed")
	}
	dir := t.TempDir()
	tests := []struct {
		args   []string
		format Format
	}{
		{[]string{"-b", "16"}, PCM16},
		{[]string{"-b", "24"}, PCM24}, // sox writes WAVE_FORMAT_EXTENSIBLE here
		{[]string{"-e", "floating-point", "-b", "32"}, Float32},
	}
	for _, tc := range tests {
		t.Run(tc.format.String(), func(t *testing.T) {
			path := filepath.Join(dir, "sox.wav")
			args := append([]string{"-n", "-r", "16000", "-c", "2"}, tc.args...)
			args = append(args, path, "synth", "0.5", "sine", "440", "vol", "0.5")
			if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v: %s", err, out)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			a, err := Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if a.SampleRate != 16000 || a.Channels != 2 || a.Frames() != 8000 || a.Format != tc.format {
				t.Fatalf("got %d Hz %d ch %d frames %v, want 16000 Hz 2 ch 8000 frames %v", a.SampleRate, a.Channels, a.Frames(), a.Format, tc.format)
			}
			mono := a.Mono()
			if l := toneLevel(mono, 440, 16000); math.Abs(l-0.5) > 0.01 {
				t.Errorf("440 Hz amplitude %.3f, want 0.5", l)
			}
			if l := toneLevel(mono, 1000, 16000); l > 0.01 {
				t.Errorf("1 kHz amplitude %.3f, want ~0", l)
			}
		})
	}
	// sox must read what we write, including a streamed file.
	for _, f := range []Format{PCM16, PCM24, Float32} {
		path := filepath.Join(dir, "ours.wav")
		file, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWriter(file, 22050, 1, f)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write(tone(22050, 1, 22050, 440, 0.5))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		file.Close()
		out, err := exec.Command("soxi", "-r", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "22050" {
			t.Errorf("%v: soxi -r: %v %s", f, err, out)
		}
		out, err = exec.Command("soxi", "-s", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "22050" {
			t.Errorf("%v: soxi -s (samples): %v %s", f, err, out)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, format := range []Format{PCM8, PCM16, PCM24, PCM32, Float32, Float64} {
		var buf bytes.Buffer
		_ = Encode(&buf, &Audio{SampleRate: 8000, Channels: 2, Samples: tone(8000, 2, 5, 440, 0.5)}, format)
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()-3])
	}
	var stream bytes.Buffer
	w, _ := NewWriter(&stream, 8000, 1, PCM16)
	_ = w.Write(tone(8000, 1, 9, 440, 0.5))
	_ = w.Close()
	f.Add(stream.Bytes())
	f.Add(riff(0, chunk("LIST", []byte("abc")), chunk("fmt ", extensibleBody(3, 2, 44100, 32, 32)), chunk("data", make([]byte, 16))))
	f.Add([]byte("RIFF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(bytes.NewReader(data))
		if err != nil {
			if a != nil {
				t.Fatal("audio returned with error")
			}
			return
		}
		if a.Channels < 1 || a.Channels > MaxChannels || a.SampleRate < MinSampleRate || a.SampleRate > MaxSampleRate {
			t.Fatalf("accepted %d Hz, %d channels", a.SampleRate, a.Channels)
		}
		if len(a.Samples)%a.Channels != 0 {
			t.Fatalf("%d samples for %d channels", len(a.Samples), a.Channels)
		}
		for _, s := range a.Samples {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				t.Fatal("non-finite sample")
			}
		}
		// Decoded audio re-encodes in its own format and reads back identically.
		var buf bytes.Buffer
		if err := Encode(&buf, a, a.Format); err != nil {
			t.Fatal(err)
		}
		b, err := Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Samples) != len(a.Samples) {
			t.Fatalf("re-decoded %d samples, want %d", len(b.Samples), len(a.Samples))
		}
		for i := range a.Samples {
			if a.Samples[i] != b.Samples[i] {
				t.Fatalf("sample %d: %v then %v", i, a.Samples[i], b.Samples[i])
			}
		}
	})
}

func BenchmarkDecodePCM16(b *testing.B) {
	var buf bytes.Buffer
	_ = Encode(&buf, &Audio{SampleRate: 48000, Channels: 2, Samples: tone(48000, 2, 48000, 440, 0.5)}, PCM16)
	raw := buf.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriterWrite(b *testing.B) {
	w, _ := NewWriter(io.Discard, 48000, 1, PCM16)
	frame := tone(48000, 1, 960, 440, 0.5)
	b.SetBytes(960 * 2)
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Write(frame)
	}
}
