package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The whole server: flags in, both listeners up, auth on, then SIGTERM
// drains it and the exit code is 0.
func TestServeAndSIGTERM(t *testing.T) {
	logs := &lockedBuffer{}
	type addrs struct{ grpc, http string }
	ready := make(chan addrs, 1)
	code := make(chan int, 1)
	args := []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--udp-port-min", "0", "--udp-port-max", "0"}
	go func() {
		code <- serveMain(args, envMap(map[string]string{"MCU_API_TOKEN": "tok"}), logs, func(g, h string) { ready <- addrs{g, h} })
	}()
	var a addrs
	select {
	case a = <-ready:
	case c := <-code:
		t.Fatalf("serve exited with %d:\n%s", c, logs)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}

	if st, body := get(t, "http://"+a.http+"/healthz"); st != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", st, body)
	}
	if st, body := get(t, "http://"+a.http+"/metrics"); st != http.StatusOK || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Fatalf("/metrics = %d, missing runtime collectors:\n%.500s", st, body)
	}
	// The HTTP port also serves the demo page, the OpenAPI document and the
	// HTTP/JSON API, which takes the same token as gRPC.
	if st, body := get(t, "http://"+a.http+"/"); st != http.StatusOK || !strings.Contains(body, "Join a meeting") {
		t.Fatalf("/ = %d %.200q", st, body)
	}
	if st, body := get(t, "http://"+a.http+"/openapi.json"); st != http.StatusOK || !strings.Contains(body, `"/v1/rooms/{roomId}/events"`) {
		t.Fatalf("/openapi.json = %d %.200q", st, body)
	}
	if st, body := get(t, "http://"+a.http+"/v1/rooms"); st != http.StatusUnauthorized || !strings.Contains(body, `"message"`) {
		t.Fatalf("/v1/rooms without a token = %d %q", st, body)
	}
	req, _ := http.NewRequest("POST", "http://"+a.http+"/v1/rooms", strings.NewReader(`{"roomId":"gw"}`))
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/rooms with the token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	conn, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	client := mcuv1.NewConferenceClient(conn)
	if _, err := client.ListRooms(ctx, &mcuv1.ListRoomsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer tok")
	if _, err := client.ListRooms(actx, &mcuv1.ListRoomsRequest{}); err != nil {
		t.Fatalf("with token: %v", err)
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d after SIGTERM:\n%s", c, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not stop after SIGTERM:\n%s", logs)
	}
	for _, want := range []string{"mcu serving", "shutting down", "mcu stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestServeBadConfigExits2(t *testing.T) {
	var stderr bytes.Buffer
	if c := serveMain([]string{"--max-rooms", "-1"}, envMap(nil), &stderr, nil); c != 2 {
		t.Fatalf("exit %d, want 2", c)
	}
	if !strings.Contains(stderr.String(), "max_rooms") {
		t.Fatalf("stderr = %q", stderr.String())
	}
	if c := serveMain([]string{"--help"}, envMap(nil), io.Discard, nil); c != 0 {
		t.Fatalf("--help exit %d", c)
	}
}

func TestHealthzDraining(t *testing.T) {
	var draining atomic.Bool
	h := httpHandler(prometheus.NewRegistry(), &draining, nil)
	for _, tc := range []struct {
		draining bool
		code     int
		body     string
	}{{false, 200, "ok\n"}, {true, 503, "draining\n"}} {
		draining.Store(tc.draining)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Fatalf("draining=%v: %d %q", tc.draining, rec.Code, rec.Body.String())
		}
	}
}

func TestRunDispatch(t *testing.T) {
	var stderr bytes.Buffer
	if c := run([]string{"bogus"}, &stderr); c != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Fatalf("bogus: %d %q", c, stderr.String())
	}
	stderr.Reset()
	if c := run([]string{"help"}, &stderr); c != 0 || !strings.Contains(stderr.String(), "serve") {
		t.Fatalf("help: %d %q", c, stderr.String())
	}
}
