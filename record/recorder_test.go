package record

import (
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
)

type written struct {
	video, key bool
	pts        time.Duration
	size       int
}

// fakeMuxer records what it is given; gate, when set, holds every write;
// failAfter, when set, fails every write after that many (a full disk).
type fakeMuxer struct {
	mu        sync.Mutex
	cfg       codec.MuxerConfig
	pkts      []written
	gate      chan struct{}
	failAfter int
	closed    bool
}

var errDiskFull = errors.New("write: no space left on device")

func (f *fakeMuxer) WriteAudio(pkt []byte, pts, _ time.Duration) error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAfter > 0 && len(f.pkts) >= f.failAfter {
		return errDiskFull
	}
	f.pkts = append(f.pkts, written{pts: pts, size: len(pkt)})
	return nil
}

func (f *fakeMuxer) WriteVideo(au []byte, pts time.Duration, key bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAfter > 0 && len(f.pkts) >= f.failAfter {
		return errDiskFull
	}
	f.pkts = append(f.pkts, written{video: true, key: key, pts: pts, size: len(au)})
	return nil
}

func (f *fakeMuxer) Close() error { f.closed = true; return nil }

func opener(f *fakeMuxer) OpenFunc {
	return func(c codec.MuxerConfig) (codec.Muxer, error) {
		f.cfg = c
		return f, nil
	}
}

// base is the wall time of room-clock position 0 in these tests.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var keyAU = []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84}

func TestParameterSets(t *testing.T) {
	got := parameterSets(keyAU)
	want := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80}
	if string(got) != string(want) {
		t.Fatalf("parameterSets = % x, want % x", got, want)
	}
	if parameterSets([]byte{0, 0, 1, 0x41, 0x9a}) != nil {
		t.Fatal("a P-frame has no parameter sets")
	}
}

func TestAudioGapsFilledWithSilence(t *testing.T) {
	f := &fakeMuxer{}
	cfg := DefaultConfig()
	cfg.Path, cfg.Format = "x.ogg", FormatOgg
	r, err := New(cfg, opener(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for _, pos := range []time.Duration{1000 * ms, 1020 * ms, 1040 * ms, 1100 * ms, 1120 * ms, 1110 * ms} {
		r.PushAudio([]byte{1, 2, 3}, pos, base.Add(pos))
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var pts []time.Duration
	for _, p := range f.pkts {
		pts = append(pts, p.pts/ms)
	}
	want := []time.Duration{0, 20, 40, 60, 80, 100, 120}
	if len(pts) != len(want) {
		t.Fatalf("pts %v, want %v", pts, want)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Fatalf("pts %v, want %v", pts, want)
		}
	}
	a, s, _ := r.Stats()
	if a != 5 || s != 2 || !f.closed {
		t.Fatalf("audio %d silence %d closed %v, want 5, 2, true", a, s, f.closed)
	}
}

// TestStalledRoomKeepsWallTime: a room whose clock restarted after a stall
// (positions continue, the wall clock jumped) gets the lost time as a gap.
func TestStalledRoomKeepsWallTime(t *testing.T) {
	f := &fakeMuxer{}
	cfg := DefaultConfig()
	cfg.Path, cfg.Format = "x.ogg", FormatOgg
	r, err := New(cfg, opener(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for i := range 10 {
		pos := time.Duration(i) * 20 * ms
		wall := base.Add(pos)
		if i >= 5 {
			wall = wall.Add(510 * ms) // the room stalled for half a second
		}
		r.PushAudio([]byte{1}, pos, wall)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	a, s, _ := r.Stats()
	last := f.pkts[len(f.pkts)-1].pts
	if a != 10 || s != 25 || last != 680*ms {
		t.Fatalf("audio %d, silence %d, last at %v; want 10, 25, 680ms", a, s, last)
	}
}

func TestVideoRecordingStartsAtKeyframe(t *testing.T) {
	f := &fakeMuxer{}
	cfg := DefaultConfig()
	cfg.Path = "x.mp4"
	r, err := New(cfg, opener(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	r.PushAudio([]byte{1}, 980*ms, base.Add(980*ms))                       // before any keyframe: dropped
	r.PushVideo([]byte{0, 0, 1, 0x41, 1}, 990*ms, base.Add(990*ms), false) // not a keyframe: dropped
	r.PushVideo(keyAU, 1010*ms, base.Add(1010*ms), true)
	r.PushAudio([]byte{1}, 1000*ms, base.Add(1000*ms)) // before the start: dropped
	r.PushAudio([]byte{1}, 1020*ms, base.Add(1020*ms))
	r.PushVideo([]byte{0, 0, 1, 0x41, 1}, 1076*ms, base.Add(1076*ms), false)
	r.PushVideo([]byte{0, 0, 1, 0x41, 1}, 1076*ms, base.Add(1076*ms), false) // not after the last: dropped
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if !f.cfg.Video || len(f.cfg.VideoExtra) != 16 || f.cfg.Width != 1280 {
		t.Fatalf("muxer config %+v", f.cfg)
	}
	want := []written{{video: true, key: true, pts: 0, size: len(keyAU)}, {pts: 10 * ms, size: 1}, {video: true, pts: 66 * ms, size: 5}}
	if len(f.pkts) != len(want) {
		t.Fatalf("written %+v, want %+v", f.pkts, want)
	}
	for i := range want {
		if f.pkts[i] != want[i] {
			t.Fatalf("written %+v, want %+v", f.pkts, want)
		}
	}
}

func TestFailures(t *testing.T) {
	t.Run("overflow", func(t *testing.T) {
		f := &fakeMuxer{gate: make(chan struct{})}
		cfg := DefaultConfig()
		cfg.Path, cfg.Format, cfg.QueuePackets = "x.ogg", FormatOgg, 4
		ended := make(chan error, 1)
		r, err := New(cfg, opener(f), func(err error) { ended <- err })
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for i := range 10 {
			if pos := time.Duration(i) * media.FrameDuration; !r.PushAudio([]byte{1}, pos, base.Add(pos)) {
				refused++
			}
		}
		close(f.gate) // the disk comes back
		if err := <-ended; !errors.Is(err, ErrOverflow) {
			t.Fatalf("ended with %v, want ErrOverflow", err)
		}
		if refused == 0 || !errors.Is(r.Stop(), ErrOverflow) || r.PushAudio([]byte{1}, time.Second, base.Add(time.Second)) {
			t.Fatalf("refused %d; a failed recorder must refuse more", refused)
		}
	})
	t.Run("write", func(t *testing.T) {
		// The disk fills after 40 packets: the recording ends with the
		// reason, refuses more, and pushing never blocks or panics.
		for _, video := range []bool{false, true} {
			f := &fakeMuxer{failAfter: 40}
			cfg := DefaultConfig()
			cfg.Path = "x.mkv"
			if !video {
				cfg.Format = FormatOgg
			}
			ended := make(chan error, 1)
			r, err := New(cfg, opener(f), func(err error) { ended <- err })
			if err != nil {
				t.Fatal(err)
			}
			ms := time.Millisecond
			for i := range 200 {
				pos := time.Duration(i) * 20 * ms
				if video && i%2 == 0 {
					au := []byte{0, 0, 1, 0x41, 1}
					if i == 0 {
						au = keyAU
					}
					r.PushVideo(au, pos, base.Add(pos), i == 0)
				}
				r.PushAudio([]byte{1}, pos, base.Add(pos))
			}
			var got error
			select {
			case got = <-ended:
			case <-time.After(5 * time.Second):
				t.Fatal("a failing write did not end the recording")
			}
			if !errors.Is(got, ErrOutput) || !errors.Is(r.Stop(), ErrOutput) || !strings.Contains(got.Error(), "no space left") {
				t.Fatalf("video %v: ended with %v, want ErrOutput with the reason", video, got)
			}
			if len(f.pkts) != 40 || !f.closed || r.PushAudio([]byte{1}, 5*time.Second, base.Add(5*time.Second)) {
				t.Fatalf("video %v: %d written, closed %v; a failed recorder must close and refuse more", video, len(f.pkts), f.closed)
			}
		}
	})
	t.Run("enospc", func(t *testing.T) {
		// A real full disk: libav opens /dev/full, and its writes fail.
		cfg := DefaultConfig()
		cfg.Path, cfg.Format = "/dev/full", FormatMKV
		ended := make(chan error, 1)
		r, err := New(cfg, nil, func(err error) { ended <- err })
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := silencePacket()
		if err != nil {
			t.Fatal(err)
		}
		ms := time.Millisecond
		r.PushVideo(keyAU, 0, base, true)
		for i := range 100 {
			pos := time.Duration(i) * 20 * ms
			r.PushAudio(pkt, pos, base.Add(pos))
		}
		select {
		case err = <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("writing to /dev/full did not end the recording")
		}
		if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), "No space left on device") {
			t.Fatalf("ended with %v, want ErrOutput: ENOSPC", err)
		}
		t.Logf("reason: %v", err)
	})
	t.Run("open", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Path, cfg.Format = filepath.Join(t.TempDir(), "missing", "x.ogg"), FormatOgg
		ended := make(chan error, 1)
		r, err := New(cfg, nil, func(err error) { ended <- err })
		if err != nil {
			t.Fatal(err)
		}
		if err := <-ended; !errors.Is(err, ErrOutput) {
			t.Fatalf("ended with %v, want ErrOutput", err)
		}
		t.Logf("reason: %v", r.Err())
	})
	t.Run("config", func(t *testing.T) {
		for _, c := range []Config{{Format: FormatMP4}, {Path: "x", Format: 9}, {Path: "x", Format: FormatMKV}} {
			if _, err := New(c, nil, nil); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%+v: %v, want ErrInvalidConfig", c, err)
			}
		}
	})
}

func TestPushAllocatesNothing(t *testing.T) {
	f := &fakeMuxer{pkts: make([]written, 0, 10000)}
	cfg := DefaultConfig()
	cfg.Path, cfg.Format = "x.ogg", FormatOgg
	r, err := New(cfg, opener(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	pkt := make([]byte, 80)
	pos := time.Duration(0)
	for range 2 * cfg.QueuePackets { // warm every queued buffer
		r.PushAudio(pkt, pos, base.Add(pos))
		pos += media.FrameDuration
		time.Sleep(50 * time.Microsecond)
	}
	if n := testing.AllocsPerRun(200, func() {
		r.PushAudio(pkt, pos, base.Add(pos))
		pos += media.FrameDuration
	}); n != 0 {
		t.Fatalf("PushAudio allocates %.1f times", n)
	}
}

// TestOggFile writes a real Ogg/Opus file with a 1 s gap and checks with
// ffprobe and ffmpeg that the gap was filled and the tone is there.
func TestOggFile(t *testing.T) {
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	cfg := DefaultConfig()
	cfg.Path, cfg.Format = filepath.Join(t.TempDir(), "t.ogg"), FormatOgg
	r, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tone := audiotest.Tone(600, 0.3, media.SampleRate, 150*media.FrameSamples)
	buf := make([]byte, 1500)
	for i := range 150 { // 3 s, with no packets from 1 s to 2 s
		if i >= 50 && i < 100 {
			continue
		}
		n, err := enc.Encode(tone[i*media.FrameSamples:(i+1)*media.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		pos := time.Duration(i)*media.FrameDuration + 5*time.Second
		r.PushAudio(buf[:n], pos, base.Add(pos))
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", cfg.Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "opus" || math.Abs(dur-3) > 0.05 {
		t.Fatalf("ffprobe: %s", out)
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", cfg.Path, "-f", "f32le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, len(raw)/4)
	for i := range pcm {
		pcm[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
	}
	sec := media.SampleRate
	first, gap := audiotest.ToneDB(pcm[sec/4:sec*3/4], 600, media.SampleRate), audiotest.RMSDB(pcm[sec*5/4:sec*7/4])
	last := audiotest.ToneDB(pcm[sec*9/4:sec*11/4], 600, media.SampleRate)
	t.Logf("duration %.3f s; tone %.1f dBFS, gap %.1f dBFS, tone %.1f dBFS", dur, first, gap, last)
	if first < -16 || last < -16 || gap > -60 {
		t.Fatalf("tone %.1f / gap %.1f / tone %.1f dBFS", first, gap, last)
	}
}
