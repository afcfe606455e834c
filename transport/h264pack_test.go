package transport

import (
	"testing"
)

func TestH264Packetizer(t *testing.T) {
	s := h264TestStream(t, 25, 0) // packetized with MTU 1200 from seq 65500
	var seq uint16 = 65500
	for i, k := range s.first {
		end := len(s.pkts)
		if i+1 < len(s.first) {
			end = s.first[i+1]
		}
		for j := k; j < end; j++ {
			p := s.pkts[j]
			if p.SequenceNumber != seq || p.Timestamp != uint32(i*3000) || p.Marker != (j == end-1) {
				t.Fatalf("unit %d packet %d: seq %d ts %d marker %v", i, j-k, p.SequenceNumber, p.Timestamp, p.Marker)
			}
			if len(p.Payload) > 1200 || p.Version != 2 || p.PayloadType != 102 {
				t.Fatalf("unit %d packet %d: %d bytes, version %d, pt %d", i, j-k, len(p.Payload), p.Version, p.PayloadType)
			}
			seq++
		}
	}
	// The IDR (tens of kB at 800 kb/s) must have been fragmented, and its
	// parameter sets aggregated.
	fuA := 0
	for _, p := range s.pkts[:s.first[1]] {
		if p.Payload[0]&0x1f == 28 {
			fuA++
		}
	}
	if fuA < 2 || s.pkts[0].Payload[0]&0x1f != 24 {
		t.Fatalf("IDR in %d packets, %d FU-A, first type %d", s.first[1], fuA, s.pkts[0].Payload[0]&0x1f)
	}
	if _, err := NewH264Packetizer(H264PacketizerConfig{MTU: 10}); err == nil {
		t.Fatal("MTU 10 accepted")
	}
}
