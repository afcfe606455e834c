package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Hand-made payloads for the RFC 6184 cases a real encoder rarely shows.
func TestH264DepacketizerPayloads(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x21, 0xa0} // first_mb_in_slice 0
	p := []byte{0x41, 0x9a, 0x02, 0x04}         // first_mb_in_slice 0
	pMid := []byte{0x41, 0x40, 0x02}            // first_mb_in_slice 1
	stapA := append(append(append([]byte{0x78, 0, byte(len(sps))}, sps...), 0, byte(len(pps))), pps...)
	sc := func(nals ...[]byte) []byte {
		var b []byte
		for _, n := range nals {
			b = append(append(b, 0, 0, 0, 1), n...)
		}
		return b
	}
	fu := func(start, end bool, body ...byte) []byte {
		h := byte(0x05)
		if start {
			h |= 0x80
		}
		if end {
			h |= 0x40
		}
		return append([]byte{0x7c, h}, body...)
	}
	type pkt struct {
		payload []byte
		marker  bool
	}
	tests := []struct {
		name      string
		units     [][]pkt // one inner slice per timestamp
		want      [][]byte
		malformed uint64
	}{
		{"stap-a then single", [][]pkt{{{stapA, false}, {idr, true}}, {{p, true}}},
			[][]byte{sc(sps, pps, idr), sc(p)}, 0},
		{"fu-a idr", [][]pkt{{{stapA, false}, {fu(true, false, 0x88, 0x84), false}, {fu(false, false, 0x21), false}, {fu(false, true, 0xa0), true}}},
			[][]byte{sc(sps, pps, idr)}, 0},
		{"unit ends on timestamp change without marker", [][]pkt{{{stapA, false}, {idr, false}}, {{p, true}}},
			[][]byte{sc(sps, pps, idr), sc(p)}, 0},
		{"fu-a without start", [][]pkt{{{fu(false, true, 1, 2), true}}, {{stapA, false}, {idr, true}}},
			[][]byte{sc(sps, pps, idr)}, 1},
		{"fu-a missing end", [][]pkt{{{stapA, false}, {fu(true, false, 0x88), false}, {p, true}}},
			nil, 1},
		{"slice not at macroblock 0", [][]pkt{{{stapA, false}, {idr, true}}, {{pMid, true}}, {{p, true}}},
			[][]byte{sc(sps, pps, idr)}, 0},
		{"parameter sets on their own timestamp", [][]pkt{{{stapA, true}}, {{idr, true}}},
			[][]byte{sc(sps, pps, idr)}, 0},
		{"mode 2 fu-b refused", [][]pkt{{{[]byte{0x7d, 0x85, 1}, true}}}, nil, 1},
		{"stap-a overrun", [][]pkt{{{[]byte{0x78, 0, 9, 0x67}, true}}}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewH264Depacketizer(DefaultDepacketizerConfig())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1, 0)
			seq := uint16(10)
			var got [][]byte
			for i, unit := range tc.units {
				for _, pk := range unit {
					err := d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(i * 3000), Marker: pk.marker}, Payload: pk.payload}, now)
					if err != nil {
						t.Fatal(err)
					}
					seq++
					for {
						au, ok := d.Pop(now)
						if !ok {
							break
						}
						got = append(got, bytes.Clone(au.Data))
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d units, want %d: %x", len(got), len(tc.want), got)
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Fatalf("unit %d = %x, want %x", i, got[i], tc.want[i])
				}
			}
			if m := d.Stats().Malformed; m != tc.malformed {
				t.Fatalf("malformed %d, want %d", m, tc.malformed)
			}
		})
	}
}
