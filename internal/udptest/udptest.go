// Package udptest binds UDP sockets on loopback for tests.
package udptest

import (
	"net"
	"testing"
)

// ListenPair binds an even loopback port in [from, to) and the odd one
// above it, as an RTP endpoint and its RTCP do. Both close when the test
// ends. Packages that run at the same time should use distinct ranges.
func ListenPair(t testing.TB, from, to int) (rtpConn, rtcpConn *net.UDPConn) {
	t.Helper()
	for port := from &^ 1; port+1 < to; port += 2 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			_ = a.Close()
			continue
		}
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		return a, b
	}
	t.Fatalf("udptest: no free port pair in %d..%d", from, to)
	return nil, nil
}
