package client

import (
	"math"
	"math/rand/v2"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

// maxOpusPacket is the largest Opus packet (RFC 6716 §3.2.1: 1275 bytes per
// frame); a 20 ms mono frame at our bitrates is far smaller.
const maxOpusPacket = 1275

// framer turns one 20 ms PCM frame into one RTP packet. It owns every
// buffer, so a frame costs no allocation.
type framer struct {
	enc     codec.AudioEncoder
	pcm     []float32
	payload []byte
	pkt     rtp.Packet
	level   [1]byte
	extID   uint8 // negotiated ssrc-audio-level ID; 0 = not negotiated
}

func newFramer(enc codec.AudioEncoder) *framer {
	f := &framer{
		enc:     enc,
		pcm:     make([]float32, media.FrameSamples),
		payload: make([]byte, maxOpusPacket),
	}
	f.pkt.Version = 2
	// Random starts, as RFC 3550 asks; the track rewrites SSRC and PT.
	f.pkt.SequenceNumber = uint16(rand.Uint32())
	f.pkt.Timestamp = rand.Uint32()
	f.pkt.Marker = true // first packet of a talkspurt
	return f
}

func (f *framer) setAudioLevelID(id int) {
	f.extID = 0
	if id > 0 && id < 15 { // one-byte header extension IDs
		f.extID = uint8(id)
	}
}

// next reads a frame from src and returns the packet to send. The packet
// and its payload are reused by the next call.
func (f *framer) next(src Source) (*rtp.Packet, error) {
	src.Read(f.pcm)
	n, err := f.enc.Encode(f.pcm, f.payload)
	if err != nil {
		return nil, err
	}
	f.pkt.Payload = f.payload[:n]
	if f.extID != 0 {
		lvl, voice := audioLevel(f.pcm)
		f.level[0] = lvl
		if voice {
			f.level[0] |= 0x80
		}
		// Same ID and backing array each time: SetExtension does not allocate.
		if err := f.pkt.SetExtension(f.extID, f.level[:]); err != nil {
			return nil, err
		}
	}
	return &f.pkt, nil
}

// advance moves to the next frame after a send.
func (f *framer) advance() {
	f.pkt.Marker = false
	f.pkt.SequenceNumber++
	f.pkt.Timestamp += media.FrameSamples
}

// skip moves the timestamp over n frames that are never sent (the clock
// fell behind), so RTP time keeps up with real time. Sequence numbers stay
// contiguous: nothing was lost, and the marker starts a new talkspurt.
func (f *framer) skip(n int) {
	f.pkt.Timestamp += uint32(n * media.FrameSamples)
	f.pkt.Marker = true
}

// voiceLevel is the loudest level (in -dBov) still flagged as voice: a
// crude VAD, but it is only a hint for the server's speaker detection.
const voiceLevel = 50

// audioLevel returns the RFC 6464 level of pcm, 0 (loud, 0 dBov) to 127
// (silence, -127 dBov), from its RMS relative to full scale 1.0, and
// whether it is loud enough to flag as voice.
func audioLevel(pcm []float32) (uint8, bool) {
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	if len(pcm) == 0 || sum == 0 {
		return 127, false
	}
	dbov := 10 * math.Log10(sum/float64(len(pcm)))
	lvl := math.Round(-dbov)
	switch {
	case lvl < 0:
		lvl = 0
	case lvl > 127 || math.IsNaN(lvl):
		lvl = 127
	}
	return uint8(lvl), lvl <= voiceLevel
}

// maxConceal is the longest gap (in packets) that is concealed; a longer
// one is a discontinuity (the peer paused), and concealing it would only
// add latency.
const maxConceal = 10

// deframer turns received RTP packets into PCM for a Sink, concealing
// lost packets with FEC from the next packet or PLC.
type deframer struct {
	dec      codec.AudioDecoder
	pcm      []float32
	pkt      rtp.Packet
	started  bool
	lastSeq  uint16
	stats    *counters
	frameLen int // samples in the last decoded packet, the size used to conceal
}

func newDeframer(dec codec.AudioDecoder, stats *counters) *deframer {
	return &deframer{
		dec:      dec,
		pcm:      make([]float32, codec.OpusMaxFrameSamples),
		stats:    stats,
		frameLen: media.FrameSamples,
	}
}

// handle processes one raw RTP packet.
func (d *deframer) handle(raw []byte, sink Sink) {
	if err := d.pkt.Unmarshal(raw); err != nil {
		d.stats.decodeErrors.Add(1)
		return
	}
	d.stats.packetsReceived.Add(1)
	d.stats.bytesReceived.Add(uint64(len(d.pkt.Payload)))
	if len(d.pkt.Payload) == 0 {
		return // padding only
	}
	seq := d.pkt.SequenceNumber
	if d.started {
		gap := int16(seq - d.lastSeq)
		if gap <= 0 {
			// Duplicate or late: the frame was already concealed.
			d.stats.late.Add(1)
			return
		}
		if lost := int(gap) - 1; lost > 0 {
			d.stats.packetsLost.Add(uint64(lost))
			if lost <= maxConceal {
				d.conceal(lost, sink)
			}
		}
	}
	d.started = true
	d.lastSeq = seq
	n, err := d.dec.Decode(d.pkt.Payload, d.pcm)
	if err != nil {
		d.stats.decodeErrors.Add(1)
		return
	}
	d.frameLen = n
	sink.Write(d.pcm[:n])
}

// conceal fills lost frames before the current packet: PLC for all but
// the last, which Opus in-band FEC in the current packet can rebuild.
func (d *deframer) conceal(lost int, sink Sink) {
	pcm := d.pcm[:d.frameLen]
	for i := range lost {
		var err error
		if i == lost-1 {
			err = d.dec.DecodeFEC(d.pkt.Payload, pcm)
		} else {
			err = d.dec.DecodePLC(pcm)
		}
		if err != nil {
			d.stats.decodeErrors.Add(1)
			continue
		}
		d.stats.concealed.Add(1)
		sink.Write(pcm)
	}
}
