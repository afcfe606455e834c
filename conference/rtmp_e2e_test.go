package conference_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/internal/rtmptest"
	"github.com/openmcu/mcu/media"
)

// live are ffmpeg/ffprobe input options for reading an RTMP stream: a
// server that stops answering is an error, not a hang.
var live = []string{"-rw_timeout", "10000000"}

// rtmpRoom starts a manager with a room "live" of two participants, each
// sending a tone and a colour, and watches its events.
func rtmpRoom(t *testing.T, dir string, reconnectFor time.Duration) (*conference.Manager, *conference.Subscription, *client.Participant) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	m := newManager(t, func(c *conference.Config) {
		c.Recording.Dir = dir
		c.Recording.RTMPReconnectFor = reconnectFor
	})
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "live", Video: &conference.VideoSettings{Width: rtmpW, Height: rtmpH, FPS: 15, Bitrate: 800_000}}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("live")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	red := joinAVPeer(t, m, "live", "red", 440, yuvRed)
	joinAVPeer(t, m, "live", "blue", 1000, yuvBlue)
	time.Sleep(1500 * time.Millisecond) // the first pictures arrive
	return m, sub, red
}

const rtmpW, rtmpH = 640, 360

// checkLive reads the stream back from nginx: ffprobe sees H.264 at the
// room's size and AAC, 3 s of audio decode to both tones, and a picture
// shows both tiles.
func checkLive(t *testing.T, url string) {
	t.Helper()
	p := ffprobe(t, url, live...)
	codecs := map[string]string{}
	for _, s := range p.Streams {
		codecs[s.CodecType] = s.CodecName
		if s.CodecType == "video" && (s.Width != rtmpW || s.Height != rtmpH) {
			t.Errorf("video %dx%d, want %dx%d", s.Width, s.Height, rtmpW, rtmpH)
		}
	}
	t.Logf("ffprobe %s: %v", url, codecs)
	if codecs["video"] != "h264" || codecs["audio"] != "aac" {
		t.Fatalf("streams %v, want h264 and aac", codecs)
	}
	pcm := decodeAudio(t, url, append(live, "-t", "3")...)
	if got := float64(len(pcm)) / media.SampleRate; got < 2.5 {
		t.Fatalf("%.2f s of audio decoded from the stream, want 3", got)
	}
	mid := pcm[len(pcm)/4:]
	for _, f := range []float64{440, 1000} {
		lvl, off := audiotest.ToneDB(mid, f, media.SampleRate), audiotest.ToneDB(mid, 700, media.SampleRate)
		t.Logf("stream: %4.0f Hz at %.1f dBFS (700 Hz: %.1f)", f, lvl, off)
		if lvl < -25 || lvl-off < 20 {
			t.Errorf("tone %.0f Hz at %.1f dBFS (700 Hz at %.1f): not in the stream", f, lvl, off)
		}
	}
	f := decodeFrame(t, url, 0, rtmpW, rtmpH, live...)
	for name, c := range map[string][3]byte{"red": yuvRed, "blue": yuvBlue} {
		if !hasColour(f, c) {
			t.Errorf("no %s tile in the stream's picture", name)
		}
	}
}

// stillFlowing fails the test when the room stopped sending p audio.
func stillFlowing(t *testing.T, p *client.Participant) {
	t.Helper()
	n0 := p.Stats().PacketsReceived
	time.Sleep(300 * time.Millisecond)
	if p.Stats().PacketsReceived == n0 {
		t.Fatal("the room stopped sending audio")
	}
}

// TestRTMPStreamEndToEnd streams a room to a real nginx-rtmp alongside a
// file recording, reads the stream back, kills nginx mid-stream, and
// checks that the stream reconnects when nginx returns on the same port.
func TestRTMPStreamEndToEnd(t *testing.T) {
	srv := rtmptest.Start(t)
	dir := t.TempDir()
	m, sub, red := rtmpRoom(t, dir, 30*time.Second)
	url := srv.URL("room1")

	for _, o := range []conference.RecordingOutput{
		{URL: "ftp://127.0.0.1/live/x"},
		{URL: "rtmp:///live/x"},
		{URL: "rtmp://%zz/live"},
		{URL: url, Path: "x.flv"},
		{URL: url, Format: conference.RecordingMP4},
		{Path: "x.flv", Format: conference.RecordingFLV},
	} {
		if _, err := m.StartRecording("live", o); !errors.Is(err, conference.ErrInvalidArgument) || !strings.Contains(err.Error(), "output") {
			t.Errorf("%+v: %v, want invalid output", o, err)
		}
	}

	file, err := m.StartRecording("live", conference.RecordingOutput{Path: "a.mkv", Format: conference.RecordingMKV})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, conference.EventRecordingStarted, 2*time.Second)
	stream, err := m.StartRecording("live", conference.RecordingOutput{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	// The stream key (the last path segment) is not handed back.
	if want := strings.TrimSuffix(url, "room1") + "xxxxx"; stream.URL != want || stream.Path != "" || stream.Format != conference.RecordingFLV {
		t.Fatalf("stream %+v", stream)
	}
	waitEvent(t, sub, conference.EventRecordingStarted, 2*time.Second)
	start := time.Now()
	time.Sleep(time.Second)
	checkLive(t, url)

	// RTMPS: TLS to the server (nginx terminates it in front of the same
	// application), read back over plain RTMP.
	secure, err := m.StartRecording("live", conference.RecordingOutput{URL: srv.SecureURL("room1tls")})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, conference.EventRecordingStarted, 2*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if p := ffprobe(t, srv.URL("room1tls"), live...); len(p.Streams) != 2 {
		t.Fatalf("rtmps stream read back: %+v", p.Streams)
	}
	if info, err := m.StopRecording("live", secure.ID); err != nil || info.State != conference.RecordingStopped {
		t.Fatalf("stop rtmps: %+v, %v", info, err)
	}

	// The server goes away: the stream reconnects, the room goes on.
	srv.Stop()
	e := waitEvent(t, sub, conference.EventRecordingReconnecting, 10*time.Second)
	t.Logf("reconnecting: %s", e.Reason)
	if e.Recording == nil || e.Recording.ID != stream.ID || e.Recording.Reconnects != 1 || e.Reason == "" {
		t.Fatalf("reconnecting event %+v", e)
	}
	stillFlowing(t, red)
	time.Sleep(time.Second)
	srv.Restart(t)
	// Backoff is at most 5 s; the stream is readable again after that.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command("ffprobe", append(append([]string{"-v", "error"}, live...),
			"-show_entries", "stream=codec_name", "-of", "csv=p=0", url)...).Output()
		if err == nil && strings.Contains(string(out), "h264") && strings.Contains(string(out), "aac") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not come back: %v %s\n%s", err, out, srv.ErrorLog())
		}
		time.Sleep(500 * time.Millisecond)
	}
	checkLive(t, url)
	l, err := m.ListRecordings("live")
	if err != nil || len(l) != 3 { // the file, the stream, the stopped rtmps one
		t.Fatalf("ListRecordings: %v, %d", err, len(l))
	}
	for _, r := range l {
		if r.ID == stream.ID && (r.State != conference.RecordingActive || r.Reconnects != 1) {
			t.Fatalf("stream after reconnecting: %+v", r)
		}
	}

	for _, id := range []string{stream.ID, file.ID} {
		info, err := m.StopRecording("live", id)
		if err != nil || info.State != conference.RecordingStopped {
			t.Fatalf("stop %s: %+v, %v", id, info, err)
		}
	}
	elapsed := time.Since(start)
	// The file recording went on, whole, through the stream's outage.
	path := filepath.Join(dir, "a.mkv")
	pcm := decodeAudio(t, path)
	t.Logf("file: %.2f s of audio over %.2f s", float64(len(pcm))/media.SampleRate, elapsed.Seconds())
	if got := float64(len(pcm)) / media.SampleRate; got < elapsed.Seconds()-1.5 {
		t.Errorf("file has %.2f s of audio, want about %.2f", got, elapsed.Seconds())
	}
}

// TestRTMPStreamFails: with nginx gone for longer than rtmp_reconnect_for
// the stream fails with an event and a reason; the room keeps running.
func TestRTMPStreamFails(t *testing.T) {
	srv := rtmptest.Start(t)
	m, sub, red := rtmpRoom(t, t.TempDir(), 2*time.Second)
	url := srv.URL("room2")
	if _, err := m.StartRecording("live", conference.RecordingOutput{URL: url, AudioOnly: true}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, conference.EventRecordingStarted, 2*time.Second)
	time.Sleep(1500 * time.Millisecond)
	p := ffprobe(t, url, live...)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "aac" {
		t.Fatalf("audio-only stream: %+v", p.Streams)
	}
	srv.Stop()
	t0 := time.Now()
	waitEvent(t, sub, conference.EventRecordingReconnecting, 10*time.Second)
	e := waitEvent(t, sub, conference.EventRecordingFailed, 10*time.Second)
	t.Logf("failed after %v: %s", time.Since(t0).Round(time.Millisecond), e.Reason)
	if e.Recording == nil || e.Recording.State != conference.RecordingFailed ||
		!strings.Contains(e.Reason, "stream lost") || !strings.Contains(e.Reason, e.Recording.URL) ||
		strings.Contains(e.Reason, "room2") {
		t.Fatalf("failed event %+v, want a reason naming the lost stream without its key", e)
	}
	if l, _ := m.ListRecordings("live"); len(l) != 1 || l[0].State != conference.RecordingFailed {
		t.Fatalf("ListRecordings after the failure: %+v, want the failed one", l)
	}
	if info, err := m.GetRoom("live"); err != nil || len(info.Participants) != 2 {
		t.Fatalf("room after a failed stream: %v, %+v", err, info)
	}
	stillFlowing(t, red)
}
