package codec

import "math/bits"

// G711Law is one of the two G.711 companding laws (ITU-T G.711): 8-bit
// samples at 8 kHz, one byte per sample. Pure Go: the tables are 256 bytes
// each way, and encoding is a few integer operations.
type G711Law uint8

// G.711 laws.
const (
	// MuLaw is PCMU (RTP payload type 0), used in North America and Japan.
	MuLaw G711Law = iota + 1
	// ALaw is PCMA (RTP payload type 8), used elsewhere.
	ALaw
)

func (l G711Law) String() string {
	switch l {
	case MuLaw:
		return "PCMU"
	case ALaw:
		return "PCMA"
	}
	return "G711Law(?)"
}

// Decode tables: one linear 16-bit value per code.
var mulawToLinear, alawToLinear [256]int16

func init() {
	for i := range 256 {
		mulawToLinear[i] = mulawDecode(byte(i))
		alawToLinear[i] = alawDecode(byte(i))
	}
}

// MulawEncode compresses one 16-bit sample to μ-law.
func MulawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int32(s)
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	v = min(v, clip) + bias
	// The segment is the position of the top bit above bit 7.
	seg := bits.Len32(uint32(v)) - 8
	return (byte(seg<<4) | byte(v>>(seg+3))&0x0F) ^ mask
}

// MulawDecode expands one μ-law code to a 16-bit sample.
func MulawDecode(b byte) int16 { return mulawToLinear[b] }

func mulawDecode(b byte) int16 {
	const bias = 0x84
	b = ^b
	t := (int32(b&0x0F)<<3 + bias) << ((b & 0x70) >> 4)
	if b&0x80 != 0 {
		return int16(bias - t)
	}
	return int16(t - bias)
}

// AlawEncode compresses one 16-bit sample to A-law.
func AlawEncode(s int16) byte {
	v := int32(s) >> 3 // A-law works on 13 bits
	mask := byte(0xD5)
	if v < 0 {
		v = -v - 1
		mask = 0x55
	}
	// Segment 0 and 1 share a step; above them each segment doubles it.
	seg := bits.Len32(uint32(v)) - 5
	if seg < 0 {
		seg = 0
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	code := byte(seg << 4)
	if seg < 2 {
		code |= byte(v>>1) & 0x0F
	} else {
		code |= byte(v>>seg) & 0x0F
	}
	return code ^ mask
}

// AlawDecode expands one A-law code to a 16-bit sample.
func AlawDecode(b byte) int16 { return alawToLinear[b] }

func alawDecode(b byte) int16 {
	b ^= 0x55
	t := int32(b&0x0F) << 4
	switch seg := (b & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if b&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// Encode compresses float samples (full scale ±1, clipped) into dst, one
// byte each, and returns the count: min(len(dst), len(src)).
func (l G711Law) Encode(dst []byte, src []float32) int {
	n := min(len(dst), len(src))
	enc := MulawEncode
	if l == ALaw {
		enc = AlawEncode
	}
	for i, x := range src[:n] {
		dst[i] = enc(floatToInt16(x))
	}
	return n
}

// Decode expands codes into float samples (full scale ±1) and returns the
// count: min(len(dst), len(src)).
func (l G711Law) Decode(dst []float32, src []byte) int {
	n := min(len(dst), len(src))
	tab := &mulawToLinear
	if l == ALaw {
		tab = &alawToLinear
	}
	for i, b := range src[:n] {
		dst[i] = float32(tab[b]) / 32768
	}
	return n
}

func floatToInt16(x float32) int16 {
	v := x * 32768
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}
