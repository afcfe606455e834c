package transport

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestVP8DepacketizerFrameStart(t *testing.T) {
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xaa}
	inter := []byte{0x31, 0x02, 0x00, 0xbb, 0xcc}
	if !isVP8Keyframe(key) || isVP8Keyframe(inter) || isVP8Keyframe(key[:6]) {
		t.Fatal("isVP8Keyframe is wrong")
	}
	tests := []struct {
		name     string
		desc     []byte // payload descriptor
		frame    []byte
		wantOut  bool
		wantKey  bool
		malforms uint64
	}{
		{"keyframe, S=1 PID=0", []byte{0x10}, key, true, true, 0},
		{"keyframe with picture id", []byte{0x90, 0x80, 0x81, 0x23}, key, true, true, 0},
		{"starts mid-partition (S=0)", []byte{0x00}, key, false, false, 1},
		{"starts in partition 1", []byte{0x11}, key, false, false, 1},
		{"interframe before any keyframe", []byte{0x10}, inter, false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewVP8Depacketizer(DefaultDepacketizerConfig())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1, 0)
			pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1, Timestamp: 90, Marker: true}, Payload: append(tc.desc, tc.frame...)}
			if err := d.Push(pkt, now); err != nil {
				t.Fatal(err)
			}
			au, ok := d.Pop(now)
			if ok != tc.wantOut || au.Keyframe != tc.wantKey {
				t.Fatalf("out %v keyframe %v, want %v %v", ok, au.Keyframe, tc.wantOut, tc.wantKey)
			}
			if ok && string(au.Data) != string(tc.frame) {
				t.Fatalf("frame %x, want %x", au.Data, tc.frame)
			}
			if m := d.Stats().Malformed; m != tc.malforms {
				t.Fatalf("malformed %d, want %d", m, tc.malforms)
			}
			if d.NeedKeyframe() == tc.wantKey {
				t.Fatalf("NeedKeyframe %v after keyframe=%v", d.NeedKeyframe(), tc.wantKey)
			}
		})
	}
}
