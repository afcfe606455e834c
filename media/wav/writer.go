package wav

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

const writeBufSize = 64 << 10

// Writer streams interleaved float32 samples into a WAV file. It is meant
// for long recordings: memory use is constant and Write does not allocate.
// A Writer is not safe for concurrent use.
type Writer struct {
	w        io.Writer
	ws       io.WriteSeeker // nil when the destination cannot seek
	start    int64          // offset of the RIFF header in ws
	rate     int
	channels int
	format   Format
	hdrLen   int
	sized    bool // the header already carries the final sizes (Encode)
	buf      []byte
	data     uint64 // data bytes written so far, including buffered ones
	maxData  uint64
	err      error
	closed   bool
}

// NewWriter writes a WAV header to w and returns a Writer for the samples.
// If w is an io.WriteSeeker whose Seek works (a regular file, not a pipe),
// Close patches the RIFF, fact and data sizes; otherwise they stay
// 0xFFFFFFFF, the streaming convention. A zero format means PCM16.
// Close does not close w.
func NewWriter(w io.Writer, rate, channels int, format Format) (*Writer, error) {
	wr, err := newWriter(w, rate, channels, format, -1)
	if err != nil {
		return nil, err
	}
	if ws, ok := w.(io.WriteSeeker); ok {
		// Find where the header went so Close can come back to it.
		if pos, err := ws.Seek(0, io.SeekCurrent); err == nil {
			wr.ws = ws
			wr.start = pos - int64(wr.hdrLen)
		}
	}
	return wr, nil
}

// newWriter writes the header. frames < 0 means unknown (streaming sizes).
func newWriter(w io.Writer, rate, channels int, format Format, frames int64) (*Writer, error) {
	if format == 0 {
		format = PCM16
	}
	if !format.Valid() {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedFormat, format)
	}
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	if err := checkChannels(channels); err != nil {
		return nil, err
	}
	wr := &Writer{
		w: w, rate: rate, channels: channels, format: format,
		buf: make([]byte, 0, writeBufSize),
	}
	wr.hdrLen = headerLen(format)
	// RIFF size = hdrLen-8 + data + pad must stay below the streaming marker.
	wr.maxData = streamSize - 1 - uint64(wr.hdrLen-8) - 1
	var hdr [64]byte
	if frames < 0 {
		putHeader(hdr[:], format, rate, channels, streamSize, streamSize, streamSize)
	} else {
		data := uint64(frames) * uint64(channels*format.bytesPerSample())
		if data > wr.maxData {
			return nil, fmt.Errorf("%w: %d bytes of samples, limit %d", ErrTooLarge, data, wr.maxData)
		}
		putHeader(hdr[:], format, rate, channels, riffSize(wr.hdrLen, data), uint32(data), uint32(frames))
		wr.sized = true
	}
	if _, err := w.Write(hdr[:wr.hdrLen]); err != nil {
		return nil, fmt.Errorf("wav: writing header: %w", err)
	}
	return wr, nil
}

// headerLen is RIFF(12) + fmt chunk + [fact chunk] + data chunk header.
func headerLen(f Format) int {
	if f.tag() == tagFloat {
		return 12 + 8 + 18 + 12 + 8
	}
	return 12 + 8 + 16 + 8
}

func riffSize(hdrLen int, data uint64) uint32 {
	return uint32(uint64(hdrLen-8) + data + data&1)
}

// putHeader lays out the header into b (at least headerLen(f) bytes).
func putHeader(b []byte, f Format, rate, channels int, riff, data, frames uint32) {
	le := binary.LittleEndian
	block := channels * f.bytesPerSample()
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], riff)
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	fmtLen := 16
	if f.tag() == tagFloat {
		fmtLen = 18 // non-PCM fmt chunks carry cbSize
	}
	le.PutUint32(b[16:], uint32(fmtLen))
	le.PutUint16(b[20:], f.tag())
	le.PutUint16(b[22:], uint16(channels))
	le.PutUint32(b[24:], uint32(rate))
	le.PutUint32(b[28:], uint32(rate*block))
	le.PutUint16(b[32:], uint16(block))
	le.PutUint16(b[34:], uint16(f.BitsPerSample()))
	off := 36
	if fmtLen == 18 {
		le.PutUint16(b[36:], 0)
		copy(b[38:], "fact")
		le.PutUint32(b[42:], 4)
		le.PutUint32(b[46:], frames)
		off = 50
	}
	copy(b[off:], "data")
	le.PutUint32(b[off+4:], data)
}

// Write appends interleaved samples; len(samples) must be a multiple of the
// channel count. Integer formats clamp to [-1, 1]; NaN is written as 0.
func (w *Writer) Write(samples []float32) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(samples)%w.channels != 0 {
		return fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrInvalidArgument, len(samples), w.channels)
	}
	bps := w.format.bytesPerSample()
	if add := uint64(len(samples) * bps); w.data+add > w.maxData {
		return fmt.Errorf("%w: %d bytes of samples, limit %d", ErrTooLarge, w.data+add, w.maxData)
	}
	for len(samples) > 0 {
		room := (cap(w.buf) - len(w.buf)) / bps
		if room == 0 {
			if err := w.flush(); err != nil {
				return err
			}
			continue
		}
		n := min(room, len(samples))
		w.buf = appendEncoded(w.buf, samples[:n], w.format)
		w.data += uint64(n * bps)
		samples = samples[n:]
	}
	return nil
}

// Frames is the number of sample frames written so far.
func (w *Writer) Frames() int64 {
	return int64(w.data / uint64(w.channels*w.format.bytesPerSample()))
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = fmt.Errorf("wav: writing samples: %w", err)
	}
	return w.err
}

// Close flushes buffered samples, writes the pad byte, and on a seekable
// destination patches the header sizes and leaves the offset at the end of
// the file. Closing twice is a no-op.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	// A streamed file is read to EOF, where a pad byte would become a
	// sample (8-bit mono), so only files with real sizes get one.
	if w.data&1 == 1 && (w.sized || w.ws != nil) {
		w.buf = append(w.buf, 0)
	}
	if err := w.flush(); err != nil {
		return err
	}
	if w.sized || w.ws == nil {
		return nil
	}
	frames := uint32(w.Frames())
	var hdr [64]byte
	putHeader(hdr[:], w.format, w.rate, w.channels, riffSize(w.hdrLen, w.data), uint32(w.data), frames)
	end := w.start + int64(w.hdrLen) + int64(w.data+w.data&1)
	if _, err := w.ws.Seek(w.start, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seeking to header: %w", err)
	}
	if _, err := w.ws.Write(hdr[:w.hdrLen]); err != nil {
		return fmt.Errorf("wav: patching header: %w", err)
	}
	if _, err := w.ws.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seeking to end: %w", err)
	}
	return nil
}

// Encode writes a complete WAV file. A zero format means a.Format, or PCM16
// if that is zero too. The header carries exact sizes, so w need not seek.
func Encode(w io.Writer, a *Audio, format Format) error {
	if a == nil {
		return fmt.Errorf("%w: nil audio", ErrInvalidArgument)
	}
	if format == 0 {
		format = a.Format
	}
	if a.Channels < 1 || len(a.Samples)%a.Channels != 0 {
		if err := checkChannels(a.Channels); err != nil {
			return err
		}
		return fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrInvalidArgument, len(a.Samples), a.Channels)
	}
	wr, err := newWriter(w, a.SampleRate, a.Channels, format, int64(a.Frames()))
	if err != nil {
		return err
	}
	if err := wr.Write(a.Samples); err != nil {
		return err
	}
	return wr.Close()
}

func appendEncoded(dst []byte, src []float32, f Format) []byte {
	le := binary.LittleEndian
	switch f {
	case PCM8:
		for _, s := range src {
			dst = append(dst, byte(quantize(s, 1<<7)+128))
		}
	case PCM16:
		for _, s := range src {
			dst = le.AppendUint16(dst, uint16(int16(quantize(s, 1<<15))))
		}
	case PCM24:
		for _, s := range src {
			v := uint32(quantize(s, 1<<23))
			dst = append(dst, byte(v), byte(v>>8), byte(v>>16))
		}
	case PCM32:
		for _, s := range src {
			dst = le.AppendUint32(dst, uint32(quantize(s, 1<<31)))
		}
	case Float32:
		for _, s := range src {
			dst = le.AppendUint32(dst, math.Float32bits(s))
		}
	case Float64:
		for _, s := range src {
			dst = le.AppendUint64(dst, math.Float64bits(float64(s)))
		}
	}
	return dst
}

// quantize scales s by full and rounds, clamping to [-full, full-1] so that
// +1.0 does not wrap. Decoding divides by full, so decoded values round-trip.
func quantize(s float32, full float64) int32 {
	v := math.Round(float64(s) * full)
	switch {
	case v != v: // NaN
		return 0
	case v > full-1:
		return int32(full - 1)
	case v < -full:
		return int32(-full)
	}
	return int32(v)
}
