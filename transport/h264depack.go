package transport

// NewH264Depacketizer returns a depacketizer for H.264 in packetization
// mode 0 or 1 (RFC 6184: single NAL unit, STAP-A, FU-A). Access units are
// Annex-B with 4-byte start codes.
//
// It parses payloads itself rather than with pion's codecs.H264Packet,
// which allocates per packet.
func NewH264Depacketizer(cfg DepacketizerConfig) (*VideoDepacketizer, error) {
	return newVideoDepacketizer(cfg, &h264Payload{})
}

// H.264 NAL unit types used here.
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALPPS   = 8
	h264NALSTAPA = 24
	h264NALFUA   = 28
)

type h264Payload struct {
	inFU     bool // an FU-A NAL unit is open
	sawVCL   bool
	firstMB0 bool // the first slice starts at macroblock 0
	sawSPS   bool
	sawPPS   bool

	// The last parameter sets seen, put in front of an IDR that comes
	// without them (their packet was lost, or the sender sends them once).
	sps, pps []byte
	scratch  []byte
}

func (h *h264Payload) appendPayload(a *auAssembler, p []byte, _ bool) bool {
	t := p[0] & 0x1f
	switch {
	case t >= 1 && t <= 23:
		if h.inFU {
			return false // the end of the fragmented unit was lost
		}
		h.appendNAL(a, p)
	case t == h264NALSTAPA:
		if h.inFU {
			return false
		}
		for off := 1; off < len(p); {
			if off+2 > len(p) {
				return false
			}
			n := int(p[off])<<8 | int(p[off+1])
			off += 2
			if n == 0 || off+n > len(p) {
				return false
			}
			h.appendNAL(a, p[off:off+n])
			off += n
		}
	case t == h264NALFUA:
		if len(p) < 3 {
			return false
		}
		fu := p[1]
		start, end := fu&0x80 != 0, fu&0x40 != 0
		if start {
			if h.inFU {
				return false
			}
			h.inFU = true
			hdr := p[0]&0xe0 | fu&0x1f
			a.buf = append(a.buf, 0, 0, 0, 1, hdr)
			h.note(a, hdr&0x1f, p[2:])
		} else if !h.inFU {
			return false // its start was lost
		}
		a.buf = append(a.buf, p[2:]...)
		if end {
			h.inFU = false
		}
	default:
		return false // STAP-B, MTAP, FU-B (mode 2) and reserved types
	}
	return true
}

func (h *h264Payload) appendNAL(a *auAssembler, nal []byte) {
	a.buf = append(a.buf, 0, 0, 0, 1)
	a.buf = append(a.buf, nal...)
	switch nal[0] & 0x1f {
	case h264NALSPS:
		h.sps, h.sawSPS = append(h.sps[:0], nal...), true
	case h264NALPPS:
		h.pps, h.sawPPS = append(h.pps[:0], nal...), true
	}
	h.note(a, nal[0]&0x1f, nal[1:])
}

// note records what the unit holds: an IDR slice makes a keyframe, and the
// first slice must start at macroblock 0 (first_mb_in_slice is ue(v), so
// 0 is a single 1 bit) or the picture's head was lost.
func (h *h264Payload) note(a *auAssembler, t byte, body []byte) {
	if t < 1 || t > 5 {
		return
	}
	if t == h264NALIDR {
		a.keyframe = true
	}
	if !h.sawVCL {
		h.sawVCL = true
		h.firstMB0 = len(body) > 0 && body[0]&0x80 != 0
	}
}

func (h *h264Payload) finish(a *auAssembler) {
	switch {
	case h.inFU || (h.sawVCL && !h.firstMB0):
		a.broken = true
	case !h.sawVCL:
		a.empty = true
	case a.keyframe && (!h.sawSPS || !h.sawPPS) && len(h.sps) > 0 && len(h.pps) > 0:
		b := append(h.scratch[:0], 0, 0, 0, 1)
		if !h.sawSPS {
			b = append(append(b, h.sps...), 0, 0, 0, 1)
		}
		if !h.sawPPS {
			b = append(append(b, h.pps...), 0, 0, 0, 1)
		}
		b = append(b[:len(b)-4], a.buf...)
		h.scratch, a.buf = a.buf[:0], b
	}
}

// reset forgets the unit, not the cached parameter sets; with carry the
// carried bytes still hold the sets seen.
func (h *h264Payload) reset(carry bool) {
	h.inFU, h.sawVCL, h.firstMB0 = false, false, false
	if !carry {
		h.sawSPS, h.sawPPS = false, false
	}
}
