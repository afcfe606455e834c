package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// streamSize is the size a streaming writer leaves in RIFF and data headers
// when it cannot seek back to patch them.
const streamSize = 0xFFFFFFFF

// extensibleSuffix is bytes 2..15 of the KSDATAFORMAT_SUBTYPE GUIDs for PCM
// and IEEE float; bytes 0..1 carry the plain format tag.
var extensibleSuffix = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// fmtInfo is what the fmt chunk tells us.
type fmtInfo struct {
	format   Format
	channels int
	rate     int
}

// Decode reads a whole WAV stream. It stops reading after the data chunk.
//
// A data chunk whose declared size runs past the end of the stream is an
// ErrTruncated error, except for the sizes a streaming writer leaves behind
// (0xFFFFFFFF, or 0 when the RIFF size is also unpatched): then Decode reads
// to the end of the stream and drops a trailing partial frame.
func Decode(r io.Reader) (*Audio, error) {
	var hdr [12]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n == 0 {
			return nil, fmt.Errorf("%w: empty input", ErrNotWAV)
		}
		if !bytes.HasPrefix([]byte("RIFF"), hdr[:min(n, 4)]) {
			return nil, fmt.Errorf("%w: starts with %q", ErrNotWAV, hdr[:min(n, 4)])
		}
		return nil, fmt.Errorf("%w: RIFF header is %d bytes, want 12", ErrTruncated, n)
	}
	switch id := string(hdr[0:4]); id {
	case "RIFF":
	case "RF64", "RIFX":
		return nil, fmt.Errorf("%w: %s container (only little-endian 32-bit RIFF is supported)", ErrUnsupportedFormat, id)
	default:
		return nil, fmt.Errorf("%w: starts with %q, want \"RIFF\"", ErrNotWAV, hdr[0:4])
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: RIFF form type is %q, want \"WAVE\"", ErrNotWAV, hdr[8:12])
	}
	riffSize := binary.LittleEndian.Uint32(hdr[4:8])
	unpatched := riffSize == 0 || riffSize == streamSize

	var (
		info    fmtInfo
		haveFmt bool
		ch      [8]byte
	)
	for {
		n, err := io.ReadFull(r, ch[:])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				if !haveFmt {
					return nil, fmt.Errorf("%w: no fmt chunk", ErrMalformed)
				}
				return nil, fmt.Errorf("%w: no data chunk", ErrMalformed)
			}
			return nil, fmt.Errorf("%w: chunk header is %d bytes, want 8", ErrTruncated, n)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, fmt.Errorf("%w: second fmt chunk", ErrMalformed)
			}
			if info, err = readFmt(r, size); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformed)
			}
			toEOF := size == streamSize || (size == 0 && unpatched)
			samples, err := readData(r, info, size, toEOF)
			if err != nil {
				return nil, err
			}
			return &Audio{SampleRate: info.rate, Channels: info.channels, Format: info.format, Samples: samples}, nil
		default:
			if err := skip(r, int64(size)+int64(size&1), id); err != nil {
				return nil, err
			}
		}
	}
}

func skip(r io.Reader, n int64, id string) error {
	got, err := io.CopyN(io.Discard, r, n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: chunk %q declares %d bytes, stream ends after %d", ErrTruncated, id, n, got)
		}
		return fmt.Errorf("wav: skipping chunk %q: %w", id, err)
	}
	return nil
}

func readFmt(r io.Reader, size uint32) (fmtInfo, error) {
	if size < 16 {
		return fmtInfo{}, fmt.Errorf("%w: fmt chunk is %d bytes, want at least 16", ErrMalformed, size)
	}
	var b [40]byte
	head := min(int(size), len(b))
	if n, err := io.ReadFull(r, b[:head]); err != nil {
		return fmtInfo{}, fmt.Errorf("%w: fmt chunk declares %d bytes, stream ends after %d", ErrTruncated, size, n)
	}
	if err := skip(r, int64(size)-int64(head)+int64(size&1), "fmt "); err != nil {
		return fmtInfo{}, err
	}
	le := binary.LittleEndian
	tag := le.Uint16(b[0:2])
	channels := int(le.Uint16(b[2:4]))
	rate := int(le.Uint32(b[4:8]))
	blockAlign := int(le.Uint16(b[12:14]))
	bits := int(le.Uint16(b[14:16]))
	if tag == tagExtensible {
		if size < 40 || le.Uint16(b[16:18]) < 22 {
			return fmtInfo{}, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, want 40", ErrMalformed, size)
		}
		if !bytes.Equal(b[26:40], extensibleSuffix[:]) {
			return fmtInfo{}, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE sub-format GUID % x is not PCM or IEEE float", ErrUnsupportedFormat, b[24:40])
		}
		tag = le.Uint16(b[24:26])
	}
	f, ok := formatOf(tag, bits)
	if !ok {
		return fmtInfo{}, fmt.Errorf("%w: %s, %d bits (want PCM 8/16/24/32-bit or IEEE float 32/64-bit)", ErrUnsupportedFormat, tagName(tag), bits)
	}
	if err := checkChannels(channels); err != nil {
		return fmtInfo{}, err
	}
	if err := checkRate(rate); err != nil {
		return fmtInfo{}, err
	}
	if want := channels * f.bytesPerSample(); blockAlign != want {
		return fmtInfo{}, fmt.Errorf("%w: block align is %d, want %d for %d channel(s) of %s", ErrMalformed, blockAlign, want, channels, f)
	}
	return fmtInfo{format: f, channels: channels, rate: rate}, nil
}

func tagName(tag uint16) string {
	names := map[uint16]string{
		tagPCM: "PCM", 0x0002: "Microsoft ADPCM", tagFloat: "IEEE float", 0x0006: "A-law",
		0x0007: "µ-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0055: "MPEG layer 3",
	}
	if s, ok := names[tag]; ok {
		return fmt.Sprintf("format tag 0x%04x (%s)", tag, s)
	}
	return fmt.Sprintf("format tag 0x%04x", tag)
}

// readData reads the data chunk. With toEOF it reads whatever the stream has.
func readData(r io.Reader, info fmtInfo, size uint32, toEOF bool) ([]float32, error) {
	frame := info.channels * info.format.bytesPerSample()
	bps := info.format.bytesPerSample()
	buf := make([]byte, frame*max(1, 32768/frame))
	var want int64 = -1
	if !toEOF {
		want = int64(size) - int64(size)%int64(frame)
	}
	// The size is only a hint: never trust it for a large up-front allocation.
	hint := 1 << 16
	if want >= 0 {
		hint = min(hint, int(want)/bps)
	}
	out := make([]float32, 0, hint)
	var got int64
	for want < 0 || got < want {
		chunk := buf
		if want >= 0 {
			chunk = buf[:min(int64(len(buf)), want-got)]
		}
		n, err := io.ReadFull(r, chunk)
		got += int64(n)
		out = appendSamples(out, chunk[:n-n%frame], info.format)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("wav: reading data chunk: %w", err)
			}
			if want >= 0 {
				return nil, fmt.Errorf("%w: data chunk declares %d bytes, stream ends after %d", ErrTruncated, size, got)
			}
			break
		}
	}
	return out, nil
}

// appendSamples converts whole samples of src to float32 and appends them.
func appendSamples(dst []float32, src []byte, f Format) []float32 {
	le := binary.LittleEndian
	switch f {
	case PCM8:
		for _, b := range src {
			dst = append(dst, float32(int(b)-128)/128)
		}
	case PCM16:
		for i := 0; i+2 <= len(src); i += 2 {
			dst = append(dst, float32(int16(le.Uint16(src[i:])))/32768)
		}
	case PCM24:
		for i := 0; i+3 <= len(src); i += 3 {
			v := int32(uint32(src[i])<<8|uint32(src[i+1])<<16|uint32(src[i+2])<<24) >> 8
			dst = append(dst, float32(v)/(1<<23))
		}
	case PCM32:
		for i := 0; i+4 <= len(src); i += 4 {
			dst = append(dst, float32(float64(int32(le.Uint32(src[i:])))/(1<<31)))
		}
	case Float32:
		for i := 0; i+4 <= len(src); i += 4 {
			dst = append(dst, finite(float64(math.Float32frombits(le.Uint32(src[i:])))))
		}
	case Float64:
		for i := 0; i+8 <= len(src); i += 8 {
			dst = append(dst, finite(math.Float64frombits(le.Uint64(src[i:]))))
		}
	}
	return dst
}

// finite maps NaN and ±Inf (and values beyond float32 range) to 0.
func finite(v float64) float32 {
	f := float32(v)
	if math.IsNaN(v) || math.IsInf(float64(f), 0) {
		return 0
	}
	return f
}

// ReadFile decodes the WAV file at path.
func ReadFile(path string) (*Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f)
}
