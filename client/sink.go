package client

import (
	"fmt"
	"os"
	"sync"

	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/media/wav"
)

// Sink receives what the participant hears: 48 kHz mono float32, one
// decoded packet per call (960 samples for 20 ms packets). A concealed lost
// packet arrives as its own call. Write is called from the receive loop; it
// must not retain pcm and should not block for long.
type Sink interface {
	Write(pcm []float32)
}

type discard struct{}

func (discard) Write([]float32) {}

// Recorder is an in-memory Sink, safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	pcm []float32
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Write implements Sink.
func (r *Recorder) Write(pcm []float32) {
	r.mu.Lock()
	r.pcm = append(r.pcm, pcm...)
	r.mu.Unlock()
}

// Samples returns a copy of everything recorded so far.
func (r *Recorder) Samples() []float32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float32(nil), r.pcm...)
}

// Last returns a copy of the last n samples (fewer if not recorded yet).
func (r *Recorder) Last(n int) []float32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float32(nil), r.pcm[max(0, len(r.pcm)-n):]...)
}

// Len is the number of samples recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pcm)
}

// Reset drops everything recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.pcm = r.pcm[:0]
	r.mu.Unlock()
}

// WAVSink streams what is heard into a 48 kHz mono WAV file. It is safe
// for concurrent use; Write after Close is ignored.
type WAVSink struct {
	mu     sync.Mutex
	w      *wav.Writer
	f      *os.File
	err    error
	closed bool
}

// NewWAVSink creates (or truncates) path and writes a WAV header in format
// (zero means 16-bit PCM). Close patches the header and closes the file.
func NewWAVSink(path string, format wav.Format) (*WAVSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("client: creating %s: %w", path, err)
	}
	w, err := wav.NewWriter(f, media.SampleRate, 1, format)
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return &WAVSink{w: w, f: f}, nil
}

// Write implements Sink. The first write error is kept and returned by Close.
func (s *WAVSink) Write(pcm []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return
	}
	s.err = s.w.Write(pcm)
}

// Frames is the number of samples written so far.
func (s *WAVSink) Frames() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Frames()
}

// Close finishes the file. It returns the first error seen, if any.
func (s *WAVSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	s.closed = true
	if err := s.w.Close(); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = fmt.Errorf("client: closing %s: %w", s.f.Name(), err)
	}
	return s.err
}
