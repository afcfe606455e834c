// Package rtmptest runs a real nginx with the RTMP module on a loopback
// port for tests that push or pull RTMP streams, and RTMPS through nginx's
// stream module terminating TLS (with a self-signed certificate) in front
// of it, as streaming platforms do.
package rtmptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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
	Addr    string // host:port of the RTMP listener
	TLSAddr string // host:port of the RTMPS (TLS) listener
	prefix  string
	bin     string
	conf    string
	cmd     *exec.Cmd
}

// Where Debian's libnginx-mod-rtmp and libnginx-mod-stream install the
// modules.
const (
	modulePath       = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	streamModulePath = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

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
	if _, err := os.Stat(streamModulePath); err != nil {
		t.Fatalf("rtmptest: stream module not found (apt-get install libnginx-mod-stream): %v", err)
	}
	port, tlsPort := freePort(t), freePort(t)
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
	certPath, keyPath := filepath.Join(prefix, "cert.pem"), filepath.Join(prefix, "key.pem")
	writeSelfSigned(t, certPath, keyPath)
	conf := fmt.Sprintf(`load_module %s;
load_module %s;
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
stream {
    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        proxy_pass 127.0.0.1:%d;
    }
}
`, modulePath, streamModulePath, user, prefix, prefix, port, tlsPort, certPath, keyPath, port)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSAddr: fmt.Sprintf("127.0.0.1:%d", tlsPort),
		prefix: prefix, bin: bin, conf: confPath}
	t.Cleanup(s.Stop)
	s.run(t)
	return s
}

// Restart starts a stopped server again on the same address, as a
// server coming back after an outage.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("rtmptest: Restart of a running server")
	}
	s.run(t)
}

func (s *Server) run(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "-p", s.prefix, "-c", s.conf, "-e", filepath.Join(s.prefix, "logs", "error.log"))
	// Its own process group, so Stop kills the workers with the master.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("rtmptest: start nginx: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
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

// SecureURL is the rtmps:// address of stream name: TLS to nginx, which
// hands the stream to the same live application.
func (s *Server) SecureURL(stream string) string {
	return "rtmps://" + s.TLSAddr + "/live/" + stream
}

// writeSelfSigned writes a fresh self-signed certificate for 127.0.0.1.
func writeSelfSigned(t testing.TB, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rtmptest"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
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
