package transport

import "testing"

func TestParseAudioLevel(t *testing.T) {
	tests := []struct {
		name  string
		ext   []byte
		level uint8
		voice bool
		ok    bool
	}{
		{"empty", nil, 0, false, false},
		{"loudest with voice", []byte{0x80}, 0, true, true},
		{"silence", []byte{0x7f}, 127, false, true},
		{"speech -30 dBov", []byte{0x80 | 30}, 30, true, true},
		{"noise -60 dBov no voice", []byte{60}, 60, false, true},
		{"two-byte form with padding", []byte{0x80 | 42, 0x00}, 42, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, v, ok := ParseAudioLevel(tc.ext)
			if l != tc.level || v != tc.voice || ok != tc.ok {
				t.Fatalf("ParseAudioLevel(%x) = %d, %v, %v; want %d, %v, %v", tc.ext, l, v, ok, tc.level, tc.voice, tc.ok)
			}
		})
	}
}
