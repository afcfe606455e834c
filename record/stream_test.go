package record

import (
	"encoding/binary"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
	"go.uber.org/goleak"
)

// flakyServer is an OpenFunc for streams: it refuses while down, and each
// muxer it hands out fails its writes once the server goes down.
type flakyServer struct {
	mu     sync.Mutex
	down   bool
	opens  []time.Time
	cfgs   []codec.MuxerConfig
	writes int
}

func (s *flakyServer) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

func (s *flakyServer) open(c codec.MuxerConfig) (codec.Muxer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens = append(s.opens, time.Now())
	if s.down {
		return nil, errors.New("connection refused")
	}
	s.cfgs = append(s.cfgs, c)
	return &flakyMuxer{s: s}, nil
}

type flakyMuxer struct{ s *flakyServer }

func (m *flakyMuxer) write() error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if m.s.down {
		return errors.New("broken pipe")
	}
	m.s.writes++
	return nil
}
func (m *flakyMuxer) WriteAudio([]byte, time.Duration, time.Duration) error { return m.write() }
func (m *flakyMuxer) WriteVideo([]byte, time.Duration, bool) error          { return m.write() }
func (m *flakyMuxer) Close() error                                          { return nil }

// runRoom feeds a recorder like a room does: a 20 ms Opus tick and a
// picture whose keyframes come every 2 s or at once when asked for. It
// returns a stop function that may be called more than once.
func runRoom(t *testing.T, r *Recorder, keyReq *atomic.Bool) func() {
	t.Helper()
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer enc.Close()
		tone := audiotest.Tone(500, 0.3, media.SampleRate, media.FrameSamples*50)
		buf := make([]byte, 1500)
		tick := time.NewTicker(media.FrameDuration)
		defer tick.Stop()
		t0 := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				pos := now.Sub(t0)
				off := (i % 50) * media.FrameSamples
				if n, err := enc.Encode(tone[off:off+media.FrameSamples], buf); err == nil {
					r.PushAudio(buf[:n], pos, now)
				}
				if i%4 == 0 { // about 12 fps is enough here
					key := i%100 == 0 || keyReq.Swap(false)
					au := []byte{0, 0, 1, 0x41, 1}
					if key {
						au = keyAU
					}
					r.PushVideo(au, pos, now, key)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }); <-done }
}

// TestStreamReconnects: a stream whose server goes away keeps the room
// unblocked (drops, counted), retries with a doubling backoff, asks for a
// keyframe before each new session, and resumes when the server returns.
func TestStreamReconnects(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := &flakyServer{}
	cfg := DefaultConfig()
	cfg.URL, cfg.Format, cfg.Width, cfg.Height, cfg.FPS = "rtmp://127.0.0.1/live/x", FormatFLV, 64, 64, 15
	cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, 400*time.Millisecond
	var keyReq atomic.Bool
	keyReq.Store(true) // as the conference does when a recording starts
	lost := make(chan error, 4)
	var asked atomic.Int32
	r, err := New(cfg, srv.open, nil, WithReconnecting(func(err error) { lost <- err }),
		WithKeyframeRequest(func() { asked.Add(1); keyReq.Store(true) }))
	if err != nil {
		t.Fatal(err)
	}
	stopRoom := runRoom(t, r, &keyReq)
	defer stopRoom()
	time.Sleep(500 * time.Millisecond)
	srv.mu.Lock()
	first := append([]codec.MuxerConfig(nil), srv.cfgs...)
	srv.mu.Unlock()
	if len(first) != 1 || first[0].Path != cfg.URL || first[0].AudioCodec != codec.AudioAAC || first[0].Interrupt == nil {
		t.Fatalf("opens %+v", first)
	}
	srv.setDown(true)
	select {
	case err := <-lost:
		t.Logf("lost: %v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("no reconnecting notice")
	}
	time.Sleep(1500 * time.Millisecond)
	srv.mu.Lock()
	attempts := append([]time.Time(nil), srv.opens[1:]...)
	srv.mu.Unlock()
	var gaps []string
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Sub(attempts[i-1]).Round(10*time.Millisecond).String())
	}
	t.Logf("attempts while down: %d, gaps %v, dropped %d", len(attempts), gaps, r.Dropped())
	// 100, 200, 400, 400 ms ...: 3 to 6 attempts in 1.5 s.
	if len(attempts) < 3 || len(attempts) > 6 || r.Dropped() == 0 {
		t.Fatalf("%d attempts (gaps %v), %d dropped", len(attempts), gaps, r.Dropped())
	}
	for i := 2; i < len(attempts) && i < 4; i++ {
		if g := attempts[i].Sub(attempts[i-1]); g < 150*time.Millisecond {
			t.Errorf("attempt %d came %v after the last: no backoff", i, g)
		}
	}
	srv.setDown(false)
	time.Sleep(time.Second)
	srv.mu.Lock()
	sessions, writes := len(srv.cfgs), srv.writes
	srv.mu.Unlock()
	if sessions != 2 || writes == 0 || asked.Load() == 0 || r.Reconnects() != 1 {
		t.Fatalf("sessions %d, writes %d, keyframes asked %d, reconnects %d", sessions, writes, asked.Load(), r.Reconnects())
	}
	stopRoom()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(lost) != 0 {
		t.Fatal("a second outage was reported")
	}
}

// TestStreamGivesUp: with the server gone for longer than ReconnectFor the
// stream fails with ErrStreamLost, naming the URL and the last error.
func TestStreamGivesUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := &flakyServer{down: true}
	cfg := DefaultConfig()
	cfg.URL, cfg.Format, cfg.AudioOnly = "rtmp://127.0.0.1/live/y", FormatFLV, true
	cfg.ReconnectFor, cfg.ReconnectMin = 700*time.Millisecond, 100*time.Millisecond
	ended := make(chan error, 1)
	r, err := New(cfg, srv.open, func(err error) { ended <- err })
	if err != nil {
		t.Fatal(err)
	}
	var keyReq atomic.Bool
	stopRoom := runRoom(t, r, &keyReq)
	defer stopRoom()
	t0 := time.Now()
	select {
	case err := <-ended:
		el := time.Since(t0)
		t.Logf("after %v: %v", el, err)
		if !errors.Is(err, ErrStreamLost) || !strings.Contains(err.Error(), cfg.URL) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("ended with %v", err)
		}
		if el < 600*time.Millisecond || el > 2*time.Second {
			t.Fatalf("gave up after %v, want about 0.7 s", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream never gave up")
	}
	if r.PushAudio([]byte{1}, 0, time.Now()) {
		t.Fatal("a failed stream took a packet")
	}
}

func TestStreamConfig(t *testing.T) {
	for _, c := range []Config{
		{URL: "ftp://h/x", Format: FormatFLV, AudioOnly: true},
		{URL: "rtmp:///live/x", Format: FormatFLV, AudioOnly: true},
		{URL: "rtmp://h/x", Format: FormatMP4, AudioOnly: true},
		{URL: "rtmp://h/x", Path: "x.flv", Format: FormatFLV, AudioOnly: true},
		{URL: "rtmp://h/x", Format: FormatFLV, AudioOnly: true, AACBitrate: 1},
	} {
		if _, err := New(c, nil, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", c, err)
		}
	}
}

// TestFLVFile transcodes a tone with a gap through a real FLV file: the
// audio is AAC, lasts the room's duration and has the tone and the gap.
func TestFLVFile(t *testing.T) {
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	cfg := DefaultConfig()
	cfg.Path, cfg.Format, cfg.AudioOnly = filepath.Join(t.TempDir(), "t.flv"), FormatFLV, true
	r, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tone := audiotest.Tone(600, 0.3, media.SampleRate, 150*media.FrameSamples)
	buf := make([]byte, 1500)
	for i := range 150 {
		if i >= 50 && i < 100 {
			continue
		}
		n, err := enc.Encode(tone[i*media.FrameSamples:(i+1)*media.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		pos := time.Duration(i) * media.FrameDuration
		r.PushAudio(buf[:n], pos, base.Add(pos))
		time.Sleep(100 * time.Microsecond) // the queue is not the subject here
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	pcm := decodeWith(t, cfg.Path, "aac")
	sec := media.SampleRate
	dur := float64(len(pcm)) / float64(sec)
	first, gap := audiotest.ToneDB(pcm[sec/4:sec*3/4], 600, media.SampleRate), audiotest.RMSDB(pcm[sec*5/4:sec*7/4])
	last := audiotest.ToneDB(pcm[sec*9/4:sec*11/4], 600, media.SampleRate)
	t.Logf("%.3f s decoded; tone %.1f dBFS, gap %.1f dBFS, tone %.1f dBFS", dur, first, gap, last)
	if dur < 2.9 || dur > 3.1 || first < -16 || last < -16 || gap > -60 {
		t.Fatalf("%.2f s: tone %.1f / gap %.1f / tone %.1f dBFS", dur, first, gap, last)
	}
}

// decodeWith checks with ffprobe that path's one stream is codecName and
// decodes it to 48 kHz mono with ffmpeg.
func decodeWith(t *testing.T, path, codecName string) []float32 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
	if err != nil || strings.TrimSpace(string(out)) != codecName {
		t.Fatalf("ffprobe %s: %q, %v; want %s", path, out, err, codecName)
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "f32le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, len(raw)/4)
	for i := range pcm {
		pcm[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return pcm
}

// TestStreamStoppedBeforeConnecting: a stream stopped while its server has
// never answered ends with the reason, not a keyframe complaint.
func TestStreamStoppedBeforeConnecting(t *testing.T) {
	srv := &flakyServer{down: true}
	cfg := DefaultConfig()
	cfg.URL, cfg.Format, cfg.Width, cfg.Height, cfg.FPS = "rtmp://127.0.0.1/live/z", FormatFLV, 64, 64, 15
	r, err := New(cfg, srv.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.PushVideo(keyAU, 0, base, true)
	time.Sleep(100 * time.Millisecond)
	if err := r.Stop(); !errors.Is(err, ErrStreamLost) || !strings.Contains(err.Error(), "never connected") {
		t.Fatalf("Stop: %v", err)
	}
	if r.Dropped() != 1 || r.Reconnects() != 1 {
		t.Fatalf("dropped %d, reconnects %d; want 1, 1", r.Dropped(), r.Reconnects())
	}
}
