package mixer

import (
	"github.com/openmcu/mcu/media"
)

// glyphs is a 5x7 bitmap font for the initials on placeholder tiles: one
// byte per row, bit 4 is the leftmost pixel. Index 0-25 is A-Z, 26-35 is
// 0-9, 36 is '?'.
var glyphs = [37][7]byte{
	{0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}, // A
	{0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110}, // B
	{0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110}, // C
	{0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110}, // D
	{0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111}, // E
	{0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000}, // F
	{0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111}, // G
	{0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}, // H
	{0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}, // I
	{0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100}, // J
	{0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001}, // K
	{0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111}, // L
	{0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001}, // M
	{0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001}, // N
	{0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}, // O
	{0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000}, // P
	{0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101}, // Q
	{0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001}, // R
	{0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110}, // S
	{0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100}, // T
	{0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}, // U
	{0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100}, // V
	{0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010}, // W
	{0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001}, // X
	{0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100}, // Y
	{0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111}, // Z
	{0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110}, // 0
	{0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}, // 1
	{0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111}, // 2
	{0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110}, // 3
	{0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010}, // 4
	{0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110}, // 5
	{0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110}, // 6
	{0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000}, // 7
	{0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110}, // 8
	{0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100}, // 9
	{0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100}, // ?
}

const (
	glyphW, glyphH = 5, 7
	glyphUnknown   = 36
)

// glyphIndex returns the glyph of an ASCII letter or digit, or -1.
func glyphIndex(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	case c >= '0' && c <= '9':
		return 26 + int(c-'0')
	}
	return -1
}

// initials picks up to two glyphs: the first drawable character of the
// first word and of the last word of name. Words are split on anything the
// font cannot draw, so "Ana-María López" gives "AL". No drawable character
// gives "?".
func initials(name string) (g [2]int, n int) {
	first, last := -1, -1
	inWord := false
	for i := 0; i < len(name); i++ {
		gi := glyphIndex(name[i])
		if gi < 0 {
			inWord = false
			continue
		}
		if !inWord {
			if first < 0 {
				first = gi
			} else {
				last = gi
			}
			inWord = true
		}
	}
	switch {
	case first < 0:
		return [2]int{glyphUnknown}, 1
	case last < 0:
		return [2]int{first}, 1
	}
	return [2]int{first, last}, 2
}

// placeholderPalette holds muted colours (BT.601 limited-range YUV) light
// enough to tell apart and dark enough for white initials.
var placeholderPalette = func() [12][3]byte {
	rgb := [12][3]float64{
		{192, 57, 43}, {211, 84, 0}, {183, 149, 11}, {39, 174, 96}, {22, 160, 133}, {41, 128, 185},
		{142, 68, 173}, {44, 62, 80}, {194, 24, 91}, {93, 109, 126}, {110, 44, 0}, {20, 90, 50},
	}
	var p [12][3]byte
	for i, c := range rgb {
		p[i] = rgbToYUV(c[0], c[1], c[2])
	}
	return p
}()

func rgbToYUV(r, g, b float64) [3]byte {
	y := 16 + (65.481*r+128.553*g+24.966*b)/255
	u := 128 + (-37.797*r-74.203*g+112.0*b)/255
	v := 128 + (112.0*r-93.786*g-18.214*b)/255
	return [3]byte{byte(y + 0.5), byte(u + 0.5), byte(v + 0.5)}
}

// PlaceholderColor is the YUV colour of a participant's placeholder tile,
// stable for an ID (FNV-1a over the ID picks a palette entry).
func PlaceholderColor(participantID string) [3]byte {
	h := uint32(2166136261)
	for i := 0; i < len(participantID); i++ {
		h ^= uint32(participantID[i])
		h *= 16777619
	}
	return placeholderPalette[h%uint32(len(placeholderPalette))]
}

// textColor is white in limited-range YUV.
var textColor = [3]byte{235, 128, 128}

// drawPlaceholder fills the tile with the ID's colour and draws the
// initials of name (or of the ID when name is empty), centred and as large
// as fits about 40% of the tile's height.
func drawPlaceholder(dst *media.VideoFrame, t Tile, name string) {
	fillRect(dst, t.X, t.Y, t.W, t.H, PlaceholderColor(t.ParticipantID))
	if name == "" {
		name = t.ParticipantID
	}
	g, n := initials(name)
	units := n*(glyphW+1) - 1
	// An even scale keeps every glyph pixel on whole chroma samples.
	s := even(min(t.H*2/5/glyphH, t.W*3/4/units))
	if s < 2 {
		return
	}
	x0 := t.X + even((t.W-units*s)/2)
	y0 := t.Y + even((t.H-glyphH*s)/2)
	for k := 0; k < n; k++ {
		gx := x0 + k*(glyphW+1)*s
		for row, bits := range glyphs[g[k]] {
			for col := 0; col < glyphW; col++ {
				if bits&(1<<(glyphW-1-col)) != 0 {
					fillRect(dst, gx+col*s, y0+row*s, s, s, textColor)
				}
			}
		}
	}
}
