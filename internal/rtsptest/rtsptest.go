// Package rtsptest runs a real RTSP server (GStreamer's rtsp-server through
// python3-gi) on a loopback port for tests that pull RTSP streams.
package rtsptest

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed server.py
var script []byte

// python is Debian's interpreter, which has the GStreamer bindings (a
// virtualenv's python3 on PATH may not).
const python = "/usr/bin/python3"

// Server is one GStreamer RTSP server serving a flat colour in H.264 and
// a sine tone in Opus at /s.
type Server struct {
	Addr   string // host:port
	freq   float64
	rgb    uint32
	script string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *strings.Builder // read only after exited
}

// Start runs the server until the test ends: tone freq Hz, colour rgb
// (0xRRGGBB). It fails the test when GStreamer, its RTSP server or the
// encoders (openh264enc from plugins-bad, opusenc) are missing: make test
// installs them.
func Start(t testing.TB, freq float64, rgb uint32) *Server {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("rtsptest: %s not found (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0): %v", python, err)
	}
	dir := t.TempDir()
	s := &Server{freq: freq, rgb: rgb, script: filepath.Join(dir, "server.py")}
	if err := os.WriteFile(s.script, script, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	_ = l.Close()
	t.Cleanup(s.Stop)
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL is the stream's rtsp:// address.
func (s *Server) URL() string { return "rtsp://" + s.Addr + "/s" }

// Restart starts the server again on the same port after Stop, and waits
// until it accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("rtsptest: already running")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	s.log = &strings.Builder{}
	cmd := exec.Command(python, s.script, port, fmt.Sprint(s.freq), fmt.Sprintf("%06x", s.rgb))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rtsptest: start: %w", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() {
		// Reaps the process when it dies on its own; Stop waits on exited.
		_ = cmd.Wait()
		close(exited)
	}()
	s.exited = exited
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("rtsptest: server exited: %s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rtsptest: not listening on %s: %v", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server, dropping every client, which tests use to make a
// source go away.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}
