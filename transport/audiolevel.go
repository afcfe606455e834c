package transport

// ParseAudioLevel reads the RFC 6464 client-to-mixer audio level header
// extension payload (its data bytes, without the extension header): one byte,
// V (voice activity) in the top bit, the level in -dBov in the low 7 bits
// (0 loudest, 127 silence). ok is false when ext is empty.
func ParseAudioLevel(ext []byte) (dBov uint8, voice bool, ok bool) {
	if len(ext) == 0 {
		return 0, false, false
	}
	return ext[0] & 0x7f, ext[0]&0x80 != 0, true
}
