package conference_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
)

// heapPeersEnv, when set, makes the test binary a child that runs that
// many client participants for TestHeapPerParticipantWebRTC, so their heap
// is not counted with the server's.
const heapPeersEnv = "MCU_HEAP_CLIENT_PEERS"

// heapProfileEnv names a file for the server's heap profile after the
// joins (go tool pprof -top -inuse_space conference.test FILE).
const heapProfileEnv = "MCU_HEAP_PROFILE"

// heapPeers participants join: enough that per-connection cost dominates
// what the first join allocates once (pion's shared state, pools).
const heapPeers = 20

// heapReadings are taken after the joins; the lowest counts.
const heapReadings = 5

// signal is one line of the parent/child exchange: the child sends offers,
// the parent answers, the child says when every peer hears the mix.
type signal struct {
	Offer  string `json:"offer,omitempty"`
	Answer string `json:"answer,omitempty"`
	Ready  bool   `json:"ready,omitempty"`
	Err    string `json:"err,omitempty"`
}

// TestHeapPerParticipantWebRTC reports the server-side heap of one audio
// participant with its pion PeerConnection, over the shared ICE UDP port
// (udp_mux_port) and the default voice chain. The clients run in a child
// process (this test binary, re-executed) so only the server's heap is
// counted.
func TestHeapPerParticipantWebRTC(t *testing.T) {
	if os.Getenv(heapPeersEnv) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("joins 20 real peers")
	}
	if p := os.Getenv(heapProfileEnv); p != "" {
		runtime.MemProfileRate = 1
		defer func() { runtime.MemProfileRate = 512 * 1024 }()
	}
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	_ = l.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg := conference.DefaultConfig()
	cfg.Transport.UDPMuxPort = uint16(port)
	cfg.Transport.IncludeLoopback = true
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	}()
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "heap"}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHeapClientPeers$")
	cmd.Env = append(os.Environ(), heapPeersEnv+"="+strconv.Itoa(heapPeers))
	cmd.Stderr = os.Stderr
	toChild, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChild, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = toChild.Close() // the child closes its peers and exits
		if err := cmd.Wait(); err != nil {
			t.Errorf("client process: %v", err)
		}
	}()
	in := json.NewDecoder(fromChild)
	out := json.NewEncoder(toChild)
	for i := 0; ; i++ {
		var s signal
		if err := in.Decode(&s); err != nil {
			t.Fatalf("client process: %v", err)
		}
		if s.Err != "" {
			t.Fatalf("client process: %s", s.Err)
		}
		if s.Ready {
			break
		}
		answer, err := m.Join(ctx, "heap", conference.JoinRequest{ParticipantID: fmt.Sprint("p", i), SDPOffer: s.Offer})
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		if err := out.Encode(signal{Answer: answer}); err != nil {
			t.Fatal(err)
		}
	}
	// Let jitter buffers, RTCP reports and NACK histories fill up, then take
	// the lowest of several readings: packets in flight and buffers pion
	// grows under a momentary backlog come and go.
	time.Sleep(2 * time.Second)
	for i := range heapReadings {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		if i == 0 || m.HeapAlloc < after.HeapAlloc {
			after = m
		}
	}
	if p := os.Getenv(heapProfileEnv); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / heapPeers
	t.Logf("heap per WebRTC participant (pion, udp mux, default voice chain): %.1f KiB", per/1024)
	// About 234 KiB, within a few KiB from run to run.
	if per > 256*1024 {
		t.Fatalf("%.0f KiB per WebRTC participant, budget 256 KiB", per/1024)
	}
}

// TestHeapClientPeers is the child side of TestHeapPerParticipantWebRTC:
// it joins its peers one by one through the parent over stdin/stdout.
func TestHeapClientPeers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(heapPeersEnv))
	if n == 0 {
		t.Skip("run by TestHeapPerParticipantWebRTC")
	}
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) {
		_ = out.Encode(signal{Err: err.Error()})
		t.Fatal(err)
	}
	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var peers []*client.Participant
	defer func() {
		for _, p := range peers {
			_ = p.Close()
		}
	}()
	for i := range n {
		cfg := client.DefaultConfig()
		cfg.Source = client.ToneSource(300+float64(i)*50, 0.1)
		cfg.IncludeLoopback = true
		p, err := client.New(cfg)
		if err != nil {
			fail(err)
		}
		peers = append(peers, p)
		offer, err := p.Offer(ctx)
		if err != nil {
			fail(err)
		}
		if err := out.Encode(signal{Offer: offer}); err != nil {
			t.Fatal(err)
		}
		var s signal
		if err := in.Decode(&s); err != nil {
			t.Fatal(err)
		}
		if err := p.Accept(s.Answer); err != nil {
			fail(err)
		}
		if err := p.WaitConnected(ctx); err != nil {
			fail(fmt.Errorf("peer %d: %w", i, err))
		}
	}
	for i, p := range peers {
		for p.Stats().PacketsReceived == 0 {
			if ctx.Err() != nil {
				fail(fmt.Errorf("peer %d: no audio from the server", i))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := out.Encode(signal{Ready: true}); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done measuring
}
