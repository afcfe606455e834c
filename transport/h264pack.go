package transport

import (
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// H264PacketizerConfig configures an H264Packetizer.
type H264PacketizerConfig struct {
	// MTU is the largest RTP payload (not packet) in bytes.
	MTU         int    `yaml:"mtu"`
	PayloadType uint8  `yaml:"payload_type"`
	SSRC        uint32 `yaml:"ssrc"`
	// FirstSeq is the first sequence number; senders pick it at random.
	FirstSeq uint16 `yaml:"first_seq"`
}

// DefaultH264PacketizerConfig returns a 1200-byte payload MTU, which fits
// SRTP, TURN and tunnel overheads under a 1500-byte link MTU.
func DefaultH264PacketizerConfig() H264PacketizerConfig {
	return H264PacketizerConfig{MTU: 1200, PayloadType: 102}
}

// H264Packetizer splits Annex-B access units into RTP packets in
// packetization mode 1 (pion's H264Payloader: SPS and PPS in one STAP-A,
// FU-A for NAL units above the MTU, AUD and filler dropped), sets the
// marker on each unit's last packet and numbers the packets.
//
// The packets reuse one slice across calls; pion's payloader allocates the
// payloads (a few small slices per access unit, not per receiver: one
// packetizer serves a whole rendition).
type H264Packetizer struct {
	cfg  H264PacketizerConfig
	pay  codecs.H264Payloader
	seq  uint16
	pkts []rtp.Packet
}

// NewH264Packetizer returns a packetizer.
func NewH264Packetizer(cfg H264PacketizerConfig) (*H264Packetizer, error) {
	if cfg.MTU < 100 || cfg.MTU > 65000 {
		return nil, fmt.Errorf("%w: h264 packetizer mtu %d (want 100..65000)", ErrInvalidConfig, cfg.MTU)
	}
	if cfg.PayloadType > 127 {
		return nil, fmt.Errorf("%w: h264 payload type %d", ErrInvalidConfig, cfg.PayloadType)
	}
	return &H264Packetizer{cfg: cfg, seq: cfg.FirstSeq}, nil
}

// Packetize returns the RTP packets of one access unit with RTP timestamp
// ts (90 kHz). The slice and the packets are reused by the next call.
func (p *H264Packetizer) Packetize(au []byte, ts uint32) []rtp.Packet {
	payloads := p.pay.Payload(uint16(p.cfg.MTU), au)
	p.pkts = p.pkts[:0]
	for i, pl := range payloads {
		p.pkts = append(p.pkts, rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				PayloadType:    p.cfg.PayloadType,
				SequenceNumber: p.seq,
				Timestamp:      ts,
				SSRC:           p.cfg.SSRC,
				Marker:         i == len(payloads)-1,
			},
			Payload: pl,
		})
		p.seq++
	}
	return p.pkts
}

// NextSeq is the sequence number the next packet will carry.
func (p *H264Packetizer) NextSeq() uint16 { return p.seq }
