package rtmptest

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPushAndPlay pushes a test pattern with ffmpeg over RTMPS and reads it
// back over plain RTMP with ffprobe, which proves the harness serves real
// RTMP both ways and terminates TLS in front of it.
func TestPushAndPlay(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	push := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-t", "20",
		"-f", "flv", s.SecureURL("probe"))
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = push.Process.Kill(); _ = push.Wait() }()
	time.Sleep(1500 * time.Millisecond)
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "10000000",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", s.URL("probe")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s\n%s", err, out, s.ErrorLog())
	}
	got := strings.Fields(string(out))
	if len(got) != 2 || !strings.Contains(string(out), "h264") || !strings.Contains(string(out), "aac") {
		t.Fatalf("streams %q, want h264 and aac", got)
	}
}

// TestRestart: a stopped server refuses connections and, restarted,
// listens on the same address again.
func TestRestart(t *testing.T) {
	s := Start(t)
	addr := s.Addr
	s.Stop()
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		_ = c.Close()
		t.Fatal("a stopped server still accepts")
	}
	s.Restart(t)
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil || s.Addr != addr {
		t.Fatalf("restarted at %s: %v", s.Addr, err)
	}
	_ = c.Close()
}
