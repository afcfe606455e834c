// Package rtmptest runs a real nginx with the RTMP module on a loopback
// port for tests that push or pull RTMP streams.
package rtmptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one nginx-rtmp instance with a single "live" application that
// accepts publishers and players on any stream name.
type Server struct {
	Addr   string // host:port of the RTMP listener
	prefix string
	cmd    *exec.Cmd
}

// modulePath is where Debian's libnginx-mod-rtmp installs the module.
const modulePath = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// Start runs nginx until the test ends. It fails the test when nginx or
// the module is missing: make test installs both.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("rtmptest: nginx not found (apt-get install nginx libnginx-mod-rtmp): %v", err)
	}
	if _, err := os.Stat(modulePath); err != nil {
		t.Fatalf("rtmptest: RTMP module not found (apt-get install libnginx-mod-rtmp): %v", err)
	}
	port := freePort(t)
	prefix := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers must be able to read the prefix the test made.
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`load_module %s;
%sdaemon off;
master_process on;
worker_processes 1;
error_log %s/logs/error.log info;
pid %s/nginx.pid;
events { worker_connections 256; }
rtmp {
    server {
        listen 127.0.0.1:%d;
        chunk_size 4096;
        application live {
            live on;
            record off;
            wait_key on;
            wait_video off;
            meta copy;
        }
    }
}
`, modulePath, user, prefix, prefix, port)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), prefix: prefix}
	s.cmd = exec.Command(bin, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log"))
	// Its own process group, so Stop kills the workers with the master.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("rtmptest: start nginx: %v", err)
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtmptest: nginx did not listen on %s: %v\n%s", s.Addr, err, s.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the rtmp:// address of stream name in the live application.
func (s *Server) URL(stream string) string {
	return "rtmp://" + s.Addr + "/live/" + stream
}

// ErrorLog returns nginx's error log, for failure messages.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.prefix, "logs", "error.log"))
	return strings.TrimSpace(string(b))
}

// Stop kills nginx and waits for it; a stopped server drops every
// publisher and player, which tests use to simulate a server going away.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	// Wait for the port to close so a restart on it succeeds.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd = nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Publish pushes a sine tone of freq Hz (AAC, 44.1 kHz stereo) and a flat
// colour (an ffmpeg colour name; H.264, 320x240 at 15 fps, a keyframe
// every second) to stream in real time with ffmpeg, until the test ends.
func (s *Server) Publish(t testing.TB, stream string, freq int, color string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=44100", freq),
		"-f", "lavfi", "-i", "color=c="+color+":s=320x240:r=15",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ac", "2", "-b:a", "96k", "-f", "flv", s.URL(stream))
	if err := cmd.Start(); err != nil {
		t.Fatalf("rtmptest: ffmpeg: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}
