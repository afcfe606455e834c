package conference_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
)

// TestSharedUDPPort carries two participants' media over one server UDP
// port (udp_mux_port) and checks they hear each other.
func TestSharedUDPPort(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	_ = l.Close()

	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	cfg.Transport.UDPMuxPort = uint16(port)
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "mux"}); err != nil {
		t.Fatal(err)
	}
	a := joinPeer(t, m, "mux", "a", client.ToneSource(400, 0.1))
	b := joinPeer(t, m, "mux", "b", client.ToneSource(600, 0.1))
	time.Sleep(time.Second)
	heard := listen([]*peer{a, b}, 1500*time.Millisecond)
	if got := toneDB(heard[0], 600); got < -35 {
		t.Errorf("a hears b at %.1f dBFS", got)
	}
	if got := toneDB(heard[1], 400); got < -35 {
		t.Errorf("b hears a at %.1f dBFS", got)
	}
	_ = a.p.Close()
	_ = b.p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The port is free again once the manager is closed.
	l, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("udp port %d still held after Close: %v", port, err)
	}
	_ = l.Close()
}
