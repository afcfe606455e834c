package transport

import "github.com/pion/rtp/codecs"

// NewVP8Depacketizer returns a depacketizer for VP8 (RFC 7741). Access
// units are whole VP8 frames, the payload descriptors stripped.
func NewVP8Depacketizer(cfg DepacketizerConfig) (*VideoDepacketizer, error) {
	return newVideoDepacketizer(cfg, &vp8Payload{})
}

type vp8Payload struct {
	pkt codecs.VP8Packet // pion's descriptor parser; Unmarshal does not allocate
}

func (v *vp8Payload) appendPayload(a *auAssembler, payload []byte, first bool) bool {
	body, err := v.pkt.Unmarshal(payload)
	if err != nil || len(body) == 0 {
		return false
	}
	if first {
		// A frame starts at the start of partition 0; anything else means
		// its first packets are missing.
		if v.pkt.S != 1 || v.pkt.PID != 0 {
			return false
		}
		a.keyframe = isVP8Keyframe(body)
	}
	a.buf = append(a.buf, body...)
	return true
}

// isVP8Keyframe reads the frame tag (RFC 6386 9.1): P bit clear, then the
// keyframe start code 9d 01 2a.
func isVP8Keyframe(frame []byte) bool {
	return len(frame) >= 10 && frame[0]&1 == 0 && frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a
}

func (v *vp8Payload) finish(*auAssembler) {}

func (v *vp8Payload) reset(bool) {}
