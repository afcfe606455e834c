package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/internal/rtmptest"
)

// TestAACToneRoundTrip encodes 2 s of a 1 kHz tone in 20 ms pieces, muxes
// it into an FLV file and decodes it with ffmpeg: the tone is there, at its
// level, and the packets' timestamps run on a 1024-sample grid.
func TestAACToneRoundTrip(t *testing.T) {
	e, err := NewAACEncoder(DefaultAACEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	path := filepath.Join(t.TempDir(), "tone.flv")
	m, err := NewMuxer(MuxerConfig{Path: path, Format: FormatFLV, AudioCodec: AudioAAC, AudioExtra: e.ExtraData()})
	if err != nil {
		t.Fatal(err)
	}
	in := tone(100*frame, 1000, 0.5)
	var pts []int64
	emit := func(pkt []byte, p int64) error {
		pts = append(pts, p)
		return m.WriteAudio(pkt, time.Duration(p)*time.Second/48000, AACFrameSamples*time.Second/48000)
	}
	for i := 0; i < len(in); i += frame {
		if err := e.Encode(in[i:i+frame], emit); err != nil {
			t.Fatal(err)
		}
	}
	// 96000 samples make 93 full frames; the encoder holds one back
	// until flushed.
	if len(pts) < 90 || len(pts) > 93 {
		t.Fatalf("%d packets before the flush", len(pts))
	}
	if err := e.Flush(emit); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range pts {
		if p != int64(i)*AACFrameSamples {
			t.Fatalf("packet %d at pts %d, want %d", i, p, i*AACFrameSamples)
		}
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "aac,48000,1" {
		t.Fatalf("ffprobe: %q, want aac,48000,1", got)
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "f32le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	// Flushed, the file holds every input sample (plus padding).
	if len(pcm) < len(in) {
		t.Errorf("decoded %d samples of %d: the end was lost", len(pcm), len(in))
	}
	if tail := audiotest.ToneDB(pcm[len(in)-4800:len(in)], 1000, 48000); tail < -12 {
		t.Errorf("the last 100 ms of the tone is at %.1f dBFS", tail)
	}
	mid := pcm[len(pcm)/4 : len(pcm)*3/4]
	lvl, off := audiotest.ToneDB(mid, 1000, 48000), audiotest.ToneDB(mid, 700, 48000)
	want := 20 * math.Log10(0.5/math.Sqrt2)
	t.Logf("decoded %.2f s; 1 kHz at %.1f dBFS (want %.1f), 700 Hz at %.1f", float64(len(pcm))/48000, lvl, want, off)
	if math.Abs(lvl-want) > 1 || lvl-off < 40 {
		t.Fatalf("1 kHz at %.1f dBFS, 700 Hz at %.1f: want %.1f and a clean tone", lvl, off, want)
	}
}

func TestAACEncoderConfig(t *testing.T) {
	for _, bps := range []int{0, 8000, 1_000_000} {
		if _, err := NewAACEncoder(AACEncoderConfig{Bitrate: bps}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("bitrate %d: %v, want ErrInvalidConfig", bps, err)
		}
	}
	e, err := NewAACEncoder(DefaultAACEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	// AudioSpecificConfig: AAC-LC (2), 48 kHz (index 3), mono.
	if x := e.ExtraData(); len(x) < 2 || x[0]>>3 != 2 || (x[0]&7)<<1|x[1]>>7 != 3 || (x[1]>>3)&15 != 1 {
		t.Errorf("AudioSpecificConfig % x", x)
	}
	_ = e.Close()
	_ = e.Close()
	if err := e.Encode(make([]float32, frame), func([]byte, int64) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Encode after Close: %v, want ErrClosed", err)
	}
}

// flvAAC opens an FLV muxer with audio only, for the network tests.
func flvAAC(t *testing.T, url string, timeout time.Duration, intr *Interrupt) (*LibavMuxer, error) {
	t.Helper()
	e, err := NewAACEncoder(DefaultAACEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return NewMuxer(MuxerConfig{Path: url, Format: FormatFLV, AudioCodec: AudioAAC, AudioExtra: e.ExtraData(),
		IOTimeout: timeout, Interrupt: intr})
}

// TestMuxerNetwork streams to a real nginx-rtmp, then checks that a
// refused port, a server that never answers and an interrupt each end in
// an error within the timeout rather than a hang.
func TestMuxerNetwork(t *testing.T) {
	intr := NewInterrupt()
	defer intr.Free()
	s := rtmptest.Start(t)
	m, err := flvAAC(t, s.URL("codec"), 2*time.Second, intr)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.ErrorLog())
	}
	pkt := []byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c} // any bytes: nginx does not decode
	for i := range 50 {
		if err := m.WriteAudio(pkt, time.Duration(i)*21333*time.Microsecond, 21333*time.Microsecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("no intr", func(t *testing.T) {
		if _, err := NewMuxer(MuxerConfig{Path: s.URL("x"), Format: FormatFLV, AudioCodec: AudioAAC, AudioExtra: []byte{0x11, 0x88}}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%v, want ErrInvalidConfig", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		t0 := time.Now()
		_, err = flvAAC(t, "rtmp://"+addr+"/live/x", 2*time.Second, intr)
		t.Logf("%v after %v", err, time.Since(t0))
		if !errors.Is(err, ErrMuxer) || time.Since(t0) > time.Second {
			t.Fatalf("%v after %v, want a quick ErrMuxer", err, time.Since(t0))
		}
	})
	hung := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept() // accepts, then never answers
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			<-done
			for _, c := range conns {
				_ = c.Close()
			}
		})
		return "rtmp://" + l.Addr().String() + "/live/x"
	}
	t.Run("hung", func(t *testing.T) {
		t0 := time.Now()
		_, err := flvAAC(t, hung(t), 500*time.Millisecond, intr)
		t.Logf("%v after %v", err, time.Since(t0))
		if !errors.Is(err, ErrMuxer) || time.Since(t0) > 3*time.Second {
			t.Fatalf("%v after %v, want ErrMuxer after about 0.5 s", err, time.Since(t0))
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		url := hung(t)
		go func() {
			time.Sleep(200 * time.Millisecond)
			intr.Trigger()
		}()
		t0 := time.Now()
		_, err := flvAAC(t, url, time.Minute, intr)
		intr.Reset()
		t.Logf("%v after %v", err, time.Since(t0))
		if !errors.Is(err, ErrMuxer) || time.Since(t0) > 2*time.Second {
			t.Fatalf("%v after %v, want ErrMuxer soon after the interrupt", err, time.Since(t0))
		}
	})
}

// BenchmarkAACTranscode is what a live stream adds per 20 ms of a room's
// audio, on the recorder's goroutine: decode the shared mix's Opus packet
// and feed the AAC encoder (which emits a packet every 21.3 ms).
func BenchmarkAACTranscode(b *testing.B) {
	enc, err := NewOpusEncoder(DefaultOpusEncoderConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	in := speechLike(50 * frame)
	pkts := make([][]byte, 50)
	buf := make([]byte, OpusMaxPacketBytes)
	for i := range pkts {
		n, err := enc.Encode(in[i*frame:(i+1)*frame], buf)
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = append([]byte(nil), buf[:n]...)
	}
	dec, err := NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	aac, err := NewAACEncoder(DefaultAACEncoderConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer aac.Close()
	pcm := make([]float32, frame)
	bytes := 0
	emit := func(pkt []byte, _ int64) error { bytes += len(pkt); return nil }
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
		if err := aac.Encode(pcm, emit); err != nil {
			b.Fatal(err)
		}
	}
	reportFrame(b, cpu0)
	b.ReportMetric(float64(bytes*8)/(float64(b.N)*0.02)/1000, "aac-kb/s")
}
