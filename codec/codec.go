// Package codec holds every cgo binding of the server: Opus today (through
// gopkg.in/hraban/opus.v2), H.264 and muxing later. The rest of the code
// depends on the small interfaces below, never on the C types.
//
// Build with the project's tags (see the Makefile). The Opus part needs only
// libopus through pkg-config; the `nolibopusfile` tag leaves out hraban's
// Ogg stream reader so libopusfile is not needed.
package codec

// AudioDecoder turns one compressed packet into 48 kHz mono float32 PCM.
// Implementations are not safe for concurrent use: one decoder belongs to one
// participant and is driven by the room goroutine.
type AudioDecoder interface {
	// Decode decodes pkt into pcm and returns the number of samples written.
	Decode(pkt []byte, pcm []float32) (int, error)
	// DecodeFEC rebuilds the frame lost just before pkt from the redundancy
	// carried in pkt; len(pcm) is the duration that was lost.
	DecodeFEC(pkt []byte, pcm []float32) error
	// DecodePLC conceals len(pcm) lost samples from the decoder's history.
	DecodePLC(pcm []float32) error
	// Close releases the decoder. It is safe to call more than once.
	Close() error
}

// AudioEncoder turns 48 kHz mono float32 PCM into compressed packets.
// Implementations are not safe for concurrent use.
type AudioEncoder interface {
	// Encode encodes one frame of pcm into dst and returns the packet size.
	Encode(pcm []float32, dst []byte) (int, error)
	// SetBitrate changes the target bitrate in bits per second.
	SetBitrate(bps int) error
	// Close releases the encoder. It is safe to call more than once.
	Close() error
}
