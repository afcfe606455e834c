package conference_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
)

// joinAVPeer joins a participant that sends a tone and a flat colour.
func joinAVPeer(t *testing.T, m *conference.Manager, room, id string, freq float64, c [3]byte) *client.Participant {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Source = client.ToneSource(freq, 0.3)
	cfg.Video = &client.VideoConfig{Source: newColorSource(320, 180, c), FPS: 15, Bitrate: 200_000, Codec: "vp8"}
	return connect(t, m, room, id, cfg)
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeAudio decodes a file's audio to 48 kHz mono float32 with ffmpeg.
// A truncated file may make ffmpeg complain at its end; what it decoded
// before that counts.
func decodeAudio(t *testing.T, path string) []float32 {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-f", "f32le", "-ac", "1", "-ar", "48000", "-")
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run()
	pcm := make([]float32, out.Len()/4)
	if err := binary.Read(&out, binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// decodeFrame extracts one yuv420p picture at position at.
func decodeFrame(t *testing.T, path string, at time.Duration, w, h int) *media.VideoFrame {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
	if err != nil || len(out) != w*h*3/2 {
		t.Fatalf("decode frame of %s: %v (%d bytes)", path, err, len(out))
	}
	f := media.NewVideoFrame(w, h)
	for y := 0; y < h; y++ {
		copy(f.Y[y*f.StrideY:y*f.StrideY+w], out[y*w:])
	}
	cw, ch := w/2, h/2
	for y := 0; y < ch; y++ {
		copy(f.U[y*f.StrideC:y*f.StrideC+cw], out[w*h+y*cw:])
		copy(f.V[y*f.StrideC:y*f.StrideC+cw], out[w*h+cw*ch+y*cw:])
	}
	return f
}

// hasColour reports whether some point of a coarse grid over f shows c.
func hasColour(f *media.VideoFrame, c [3]byte) bool {
	for y := 8; y < f.Height-8; y += 8 {
		for x := 8; x < f.Width-8; x += 8 {
			if near(sample(f, x, y), c, 12) {
				return true
			}
		}
	}
	return false
}

func waitEvent(t *testing.T, sub *conference.Subscription, typ conference.EventType, timeout time.Duration) conference.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatalf("events ended waiting for %d", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no event %d within %v", typ, timeout)
		}
	}
}

// TestRecordingEndToEnd records a room of two participants, each sending a
// tone and a colour, as MP4, MKV and Ogg at once, and checks the files
// with ffprobe and ffmpeg: streams, duration, tones, colours; and that a
// copy taken mid-recording (what a SIGKILL leaves) decodes to near its end.
func TestRecordingEndToEnd(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	// The three formats are recorded at once from one room, so 10 s of
	// recording costs the suite 10 s.
	const recordFor = 10 * time.Second
	dir := t.TempDir()
	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	cfg.Recording.Dir = dir
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	const w, h = 640, 360
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "rec", Video: &conference.VideoSettings{Width: w, Height: h, FPS: 15, Bitrate: 800_000}}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("rec")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	red := joinAVPeer(t, m, "rec", "red", 440, yuvRed)
	joinAVPeer(t, m, "rec", "blue", 1000, yuvBlue)
	time.Sleep(1500 * time.Millisecond) // the first pictures arrive

	// Path traversal is refused, naming the field.
	for _, p := range []string{"../escape.mp4", "a/../../escape.mp4", "/etc/escape.mp4", ""} {
		_, err := m.StartRecording("rec", conference.RecordingOutput{Path: p, Format: conference.RecordingMP4})
		if !errors.Is(err, conference.ErrInvalidArgument) || !strings.Contains(err.Error(), "output.path") {
			t.Errorf("path %q: err %v, want invalid output.path", p, err)
		}
	}

	outs := []struct {
		path   string
		format conference.RecordingFormat
		video  bool
	}{
		{"meet/a.mp4", conference.RecordingMP4, true},
		{"meet/a.mkv", conference.RecordingMKV, true},
		{"meet/a.ogg", conference.RecordingOgg, false},
	}
	var recs []conference.RecordingInfo
	start := time.Now()
	for _, o := range outs {
		info, err := m.StartRecording("rec", conference.RecordingOutput{Path: o.path, Format: o.format})
		if err != nil {
			t.Fatal(err)
		}
		if info.Path != filepath.Join(dir, o.path) || info.State != conference.RecordingActive {
			t.Fatalf("recording %+v", info)
		}
		recs = append(recs, info)
		waitEvent(t, sub, conference.EventRecordingStarted, 2*time.Second)
	}
	if l, _ := m.ListRecordings("rec"); len(l) != 3 {
		t.Fatalf("ListRecordings: %d, want 3", len(l))
	}

	// Mid-recording, copy the files as they are on disk: a process killed
	// now leaves exactly this.
	time.Sleep(recordFor * 3 / 5)
	copyAt := time.Since(start)
	for _, o := range outs[:2] {
		b, err := os.ReadFile(filepath.Join(dir, o.path))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "killed-"+filepath.Base(o.path)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(recordFor - copyAt)
	for _, r := range recs {
		if _, err := m.StopRecording("rec", r.ID); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	for range recs {
		e := waitEvent(t, sub, conference.EventRecordingStopped, 5*time.Second)
		if e.Recording == nil || e.Recording.State != conference.RecordingStopped {
			t.Fatalf("stopped event %+v", e)
		}
	}
	// Ended recordings stay listed, with their end and size.
	if l, _ := m.ListRecordings("rec"); len(l) != 3 {
		t.Fatalf("ListRecordings after stop: %d, want 3", len(l))
	} else {
		for _, x := range l {
			if x.State != conference.RecordingStopped || x.StoppedAt.IsZero() || x.Bytes < 10_000 ||
				math.Abs(x.Duration.Seconds()-recordFor.Seconds()) > 0.5 {
				t.Errorf("listed after stop: %+v", x)
			}
		}
	}

	for _, o := range outs {
		path := filepath.Join(dir, o.path)
		p := ffprobe(t, path)
		codecs := map[string]string{}
		for _, s := range p.Streams {
			codecs[s.CodecType] = s.CodecName
			if s.CodecType == "video" && (s.Width != w || s.Height != h) {
				t.Errorf("%s: video %dx%d, want %dx%d", o.path, s.Width, s.Height, w, h)
			}
		}
		if codecs["audio"] != "opus" {
			t.Errorf("%s: audio codec %q, want opus", o.path, codecs["audio"])
		}
		if o.video && codecs["video"] != "h264" {
			t.Errorf("%s: video codec %q, want h264", o.path, codecs["video"])
		}
		if !o.video && len(p.Streams) != 1 {
			t.Errorf("%s: %d streams, want audio only", o.path, len(p.Streams))
		}
		dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
		t.Logf("%s: streams %v, duration %.2f s (recorded for %.2f s)", o.path, codecs, dur, elapsed.Seconds())
		if math.Abs(dur-recordFor.Seconds()) > 0.5 {
			t.Errorf("%s: duration %.2f s, want %.0f ± 0.5 s", o.path, dur, recordFor.Seconds())
		}
		pcm := decodeAudio(t, path)
		if got := float64(len(pcm)) / media.SampleRate; math.Abs(got-recordFor.Seconds()) > 0.5 {
			t.Errorf("%s: %.2f s of audio decoded, want %.0f ± 0.5 s", o.path, got, recordFor.Seconds())
		}
		mid := pcm[len(pcm)/4 : len(pcm)*3/4]
		for _, f := range []float64{440, 1000} {
			lvl, off := audiotest.ToneDB(mid, f, media.SampleRate), audiotest.ToneDB(mid, 700, media.SampleRate)
			t.Logf("%s: %4.0f Hz at %.1f dBFS (700 Hz: %.1f)", o.path, f, lvl, off)
			if lvl < -25 || lvl-off < 20 {
				t.Errorf("%s: tone %.0f Hz at %.1f dBFS (700 Hz at %.1f): not in the recording", o.path, f, lvl, off)
			}
		}
		if o.video {
			f := decodeFrame(t, path, elapsed/2, w, h)
			for name, c := range map[string][3]byte{"red": yuvRed, "blue": yuvBlue} {
				if !hasColour(f, c) {
					t.Errorf("%s: no %s tile in the frame at %v", o.path, name, elapsed/2)
				}
			}
			// The copy taken mid-recording decodes up to near where it
			// was taken.
			killed := filepath.Join(dir, "killed-"+filepath.Base(o.path))
			got := float64(len(decodeAudio(t, killed))) / media.SampleRate
			t.Logf("%s: copy at %.2f s decodes %.2f s of audio", killed, copyAt.Seconds(), got)
			if got < copyAt.Seconds()-2 {
				t.Errorf("%s: copy taken at %.2f s decodes only %.2f s", killed, copyAt.Seconds(), got)
			}
			vf := decodeFrame(t, killed, time.Duration((got-1.5)*float64(time.Second)), w, h)
			if !hasColour(vf, yuvRed) || !hasColour(vf, yuvBlue) {
				t.Errorf("%s: picture near its end lacks the tiles", killed)
			}
		}
	}

	// An output that cannot be created is refused at once, naming the path.
	if err := os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = m.StartRecording("rec", conference.RecordingOutput{Path: "blocker/x.mkv", Format: conference.RecordingMKV})
	if !errors.Is(err, conference.ErrRecordingOutput) || !strings.Contains(err.Error(), filepath.Join(dir, "blocker/x.mkv")) {
		t.Errorf("unwritable path: err %v, want ErrRecordingOutput naming the path", err)
	}
	// A disk that fills up mid-recording (every write to /dev/full fails
	// with ENOSPC) fails that recording with an event and a reason; the
	// room goes on.
	if err := os.Symlink("/dev/full", filepath.Join(dir, "full.mkv")); err != nil {
		t.Fatal(err)
	}
	full, err := m.StartRecording("rec", conference.RecordingOutput{Path: "full.mkv", Format: conference.RecordingMKV})
	if err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, sub, conference.EventRecordingFailed, 5*time.Second)
	t.Logf("failed: %s", e.Reason)
	if e.Recording == nil || e.Recording.ID != full.ID || e.Recording.State != conference.RecordingFailed ||
		!strings.Contains(e.Reason, "No space left on device") {
		t.Errorf("failed event %+v, want ENOSPC as the reason", e)
	}
	if l, _ := m.ListRecordings("rec"); len(l) != 4 || l[3].ID != full.ID || l[3].Reason != e.Reason {
		t.Errorf("ListRecordings after the failure: %+v", l)
	}
	if info, err := m.GetRoom("rec"); err != nil || len(info.Participants) != 2 {
		t.Fatalf("room after a failed recording: %v, %d participants", err, len(info.Participants))
	}
	n0 := red.Stats().PacketsReceived
	time.Sleep(300 * time.Millisecond)
	if red.Stats().PacketsReceived == n0 {
		t.Error("the room stopped sending after a failed recording")
	}
}
