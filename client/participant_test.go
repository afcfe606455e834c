package client

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client/clienttest"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/media/wav"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEchoLoopback sends a 440 Hz tone through a real pion peer that echoes
// it back with 10% loss, checks it comes back as 440 Hz, switches the source
// to 880 Hz, and checks Close leaves no goroutine behind.
func TestEchoLoopback(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rec := NewRecorder()
	cfg := DefaultConfig()
	cfg.Source = ToneSource(440, 0.3)
	cfg.Sink = rec
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := p.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"opus/48000/2", sdp.AudioLevelURI, "a=sendrecv", "a=candidate:", "nack"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
	if strings.Contains(offer, "PCMU") || strings.Contains(offer, "G722") {
		t.Error("offer carries codecs other than Opus")
	}
	echo, answer, err := clienttest.NewEcho(offer, func(seq uint16) bool { return seq%10 == 3 })
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	if err := p.Accept(answer); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}

	const second = media.SampleRate
	waitFor(t, 10*time.Second, "1 s of echoed audio", func() bool { return rec.Len() >= second })
	tail := rec.Last(second / 2)
	tone := audiotest.ToneDB(tail, 440, media.SampleRate)
	t.Logf("440 Hz back at %.1f dBFS (sent -13.5), 1 kHz %.1f, 880 Hz %.1f, rms %.1f", tone,
		audiotest.ToneDB(tail, 1000, media.SampleRate), audiotest.ToneDB(tail, 880, media.SampleRate), audiotest.RMSDB(tail))
	if math.Abs(tone-(-13.5)) > 2 {
		t.Errorf("440 Hz came back at %.1f dBFS, want -13.5 ± 2", tone)
	}
	// Opus and the concealment of lost packets smear a little energy next to
	// the tone; further away there must be nothing.
	for _, c := range []struct{ freq, below float64 }{{400, 25}, {480, 25}, {300, 40}, {880, 40}, {1000, 40}} {
		if db := audiotest.ToneDB(tail, c.freq, media.SampleRate); tone-db < c.below {
			t.Errorf("%v Hz at %.1f dBFS, only %.1f dB below the tone (want %v)", c.freq, db, tone-db, c.below)
		}
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.PacketsSent < 50 || st.PacketsReceived < 40 || st.PacketsLost == 0 || st.FramesConcealed == 0 || st.DecodeErrors != 0 {
		t.Errorf("stats %+v: want >= 50 sent, >= 40 received, some lost and concealed, no decode errors", st)
	}
	// 0.3 amplitude sine = -13.5 dBov: the server sees level 13 or 14.
	levels := echo.Levels()
	if len(levels) < 40 {
		t.Fatalf("echo saw %d audio levels", len(levels))
	}
	if l := levels[len(levels)/2]; l != 0x80|13 && l != 0x80|14 {
		t.Errorf("audio level %#x, want voice flag + 13 or 14", l)
	}

	p.SetSource(ToneSource(880, 0.3))
	time.Sleep(200 * time.Millisecond) // let the 440 Hz in flight drain
	rec.Reset()
	waitFor(t, 10*time.Second, "0.5 s after the switch", func() bool { return rec.Len() >= second/2 })
	tail = rec.Last(second / 2)
	if hi, lo := audiotest.ToneDB(tail, 880, media.SampleRate), audiotest.ToneDB(tail, 440, media.SampleRate); hi < -16 || hi-lo < 30 {
		t.Errorf("after SetSource: 880 Hz %.1f dBFS, 440 Hz %.1f dBFS", hi, lo)
	}

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-p.Disconnected():
	default:
		t.Error("Disconnected not closed after Close")
	}
	n := rec.Len()
	time.Sleep(100 * time.Millisecond)
	if rec.Len() != n {
		t.Error("sink written after Close")
	}
	echo.Close()
}

func TestCallOrder(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Accept("v=0"); !errors.Is(err, ErrState) {
		t.Errorf("Accept before Offer: %v, want ErrState", err)
	}
	if _, err := p.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Offer(ctx); !errors.Is(err, ErrState) {
		t.Errorf("second Offer: %v, want ErrState", err)
	}
	if err := p.Accept("not sdp"); !errors.Is(err, ErrSDP) {
		t.Errorf("bad answer: %v, want ErrSDP", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.WaitConnected(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitConnected without a peer: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Offer(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Offer after Close: %v, want ErrClosed", err)
	}
	if err := p.Accept("v=0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v, want ErrClosed", err)
	}
	if err := p.WaitConnected(ctx); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnectionFailed) {
		t.Errorf("WaitConnected after Close: %v", err)
	}
	// Close before Offer must also work.
	q, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{PortMin: 5000}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("half a port range: %v", err)
	}
}

func TestSources(t *testing.T) {
	// A 16 kHz stereo WAV with 440 Hz left and silence right plays as 48 kHz
	// mono 440 Hz at half the amplitude.
	const n = 16000
	a := &wav.Audio{SampleRate: 16000, Channels: 2, Samples: make([]float32, 2*n)}
	for i, s := range audiotest.Tone(440, 0.6, 16000, n) {
		a.Samples[2*i] = s
	}
	src := WAVSource(a, false)
	if src.Len() != 3*n {
		t.Fatalf("resampled length %d, want %d", src.Len(), 3*n)
	}
	pcm := make([]float32, media.SampleRate)
	src.Read(pcm)
	if db := audiotest.ToneDB(pcm, 440, media.SampleRate); math.Abs(db-20*math.Log10(0.3/math.Sqrt2)) > 0.2 {
		t.Errorf("WAV source 440 Hz at %.2f dBFS", db)
	}
	if db := audiotest.ToneDB(pcm, 15560, media.SampleRate); db > -50 { // 16k image of 440
		t.Errorf("resampling image at %.1f dBFS", db)
	}
	src.Read(pcm[:960])
	if audiotest.RMSDB(pcm[:960]) != audiotest.Floor {
		t.Error("non-looping source not silent after the end")
	}
	loop := WAVSource(&wav.Audio{SampleRate: 48000, Channels: 1, Samples: []float32{1, 2, 3}}, true)
	got := make([]float32, 7)
	loop.Read(got)
	if !slices.Equal(got, []float32{1, 2, 3, 1, 2, 3, 1}) {
		t.Errorf("looping source: %v", got)
	}
	// Tone frames join without a phase jump: one 1 s read equals 50 frames.
	whole := make([]float32, media.SampleRate)
	ToneSource(441, 0.5).Read(whole)
	tone := ToneSource(441, 0.5)
	for i := 0; i < len(pcm); i += media.FrameSamples {
		tone.Read(pcm[i : i+media.FrameSamples])
	}
	for i := range whole {
		if math.Abs(float64(whole[i]-pcm[i])) > 1e-5 {
			t.Fatalf("tone differs at %d: %v vs %v", i, whole[i], pcm[i])
		}
	}
}

func TestSinks(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				r.Write(make([]float32, 960))
				_ = r.Samples()
			}
		})
	}
	wg.Wait()
	if r.Len() != 4*50*960 {
		t.Errorf("recorder has %d samples", r.Len())
	}
	r.Reset()
	if len(r.Samples()) != 0 {
		t.Error("Reset left samples")
	}

	path := filepath.Join(t.TempDir(), "out.wav")
	s, err := NewWAVSink(path, wav.PCM16)
	if err != nil {
		t.Fatal(err)
	}
	tone := audiotest.Tone(440, 0.5, media.SampleRate, media.SampleRate)
	for i := 0; i < len(tone); i += 960 {
		s.Write(tone[i : i+960])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Write(tone[:960]) // ignored after Close
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	a := decodeFile(t, path)
	if a.SampleRate != media.SampleRate || a.Channels != 1 || len(a.Samples) != len(tone) {
		t.Fatalf("file: %d Hz %d ch %d samples", a.SampleRate, a.Channels, len(a.Samples))
	}
	if db := audiotest.ToneDB(a.Samples, 440, media.SampleRate); math.Abs(db-(-9.03)) > 0.1 {
		t.Errorf("file 440 Hz at %.2f dBFS, want -9.03", db)
	}
	if _, err := NewWAVSink(filepath.Join(t.TempDir(), "no", "such", "dir.wav"), 0); err == nil {
		t.Error("NewWAVSink in a missing directory succeeded")
	}
}
