package transport

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// RTCP for plain RTP endpoints (RFC 3550 section 6): sender and receiver
// reports, SDES CNAME and BYE, built into and parsed from caller-owned
// buffers without allocating.

const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
	rtcpBYE  = 203

	rtcpHeaderLen  = 4
	rtcpBlockLen   = 24
	rtcpSenderInfo = 20
	// rtcpMaxPacket bounds a compound packet we build: SR with one block,
	// SDES with a short CNAME, BYE.
	rtcpMaxPacket = 256
	// ntpEpochOffset is 1900-01-01 to 1970-01-01 in seconds.
	ntpEpochOffset = 2208988800
	// rtcpCompensation is RFC 3550 6.3.1's e-3/2: the randomised interval
	// is divided by it so that reconsideration does not make the mean
	// interval shorter than Td.
	rtcpCompensation = math.E - 1.5
)

var (
	errRTCPShort   = errors.New("truncated RTCP packet")
	errRTCPVersion = errors.New("not RTCP version 2")
	errRTCPFirst   = errors.New("compound RTCP does not start with SR or RR")
	errRTCPLength  = errors.New("RTCP lengths do not add up")
	errRTCPPadding = errors.New("RTCP padding before the last packet")
)

// ntpTime is t as a 64-bit NTP timestamp: seconds since 1900 and a
// binary fraction.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// ntpMid is the middle 32 bits of an NTP timestamp (LSR, DLSR and RTT are
// in these units: 1/65536 s).
func ntpMid(ntp uint64) uint32 { return uint32(ntp >> 16) }

// senderInfo is an SR's sender section.
type senderInfo struct {
	ntp     uint64
	rtpTS   uint32
	packets uint32
	octets  uint32
}

// reportBlock is one reception report (RFC 3550 6.4.1).
type reportBlock struct {
	ssrc          uint32
	fractionLost  uint8
	totalLost     int32 // 24-bit signed on the wire
	extHighestSeq uint32
	jitter        uint32 // RTP clock units
	lsr, dlsr     uint32
}

func appendHeader(b []byte, count int, pt uint8, words int) []byte {
	return append(b, 0x80|byte(count), pt, byte(words>>8), byte(words))
}

func appendU32(b []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(b, v)
}

func appendBlock(b []byte, rb *reportBlock) []byte {
	lost := min(max(rb.totalLost, -0x800000), 0x7FFFFF)
	b = appendU32(b, rb.ssrc)
	b = appendU32(b, uint32(rb.fractionLost)<<24|uint32(lost)&0xFFFFFF)
	b = appendU32(b, rb.extHighestSeq)
	b = appendU32(b, rb.jitter)
	b = appendU32(b, rb.lsr)
	return appendU32(b, rb.dlsr)
}

// appendSR appends a sender report with rb as its only block (nil: none).
func appendSR(b []byte, ssrc uint32, si senderInfo, rb *reportBlock) []byte {
	n := 0
	if rb != nil {
		n = 1
	}
	b = appendHeader(b, n, rtcpSR, (4+rtcpSenderInfo+n*rtcpBlockLen)/4)
	b = appendU32(b, ssrc)
	b = binary.BigEndian.AppendUint64(b, si.ntp)
	b = appendU32(b, si.rtpTS)
	b = appendU32(b, si.packets)
	b = appendU32(b, si.octets)
	if rb != nil {
		b = appendBlock(b, rb)
	}
	return b
}

// appendRR appends a receiver report with rb as its only block (nil: none).
func appendRR(b []byte, ssrc uint32, rb *reportBlock) []byte {
	n := 0
	if rb != nil {
		n = 1
	}
	b = appendHeader(b, n, rtcpRR, (4+n*rtcpBlockLen)/4)
	b = appendU32(b, ssrc)
	if rb != nil {
		b = appendBlock(b, rb)
	}
	return b
}

// appendSDES appends an SDES packet with one chunk: our CNAME (at most 255
// bytes), ended by a null item and padded to 32 bits.
func appendSDES(b []byte, ssrc uint32, cname string) []byte {
	cname = cname[:min(len(cname), 255)]
	chunk := 4 + 2 + len(cname) + 1
	chunk = (chunk + 3) &^ 3
	b = appendHeader(b, 1, rtcpSDES, chunk/4)
	b = appendU32(b, ssrc)
	b = append(b, 1, byte(len(cname)))
	b = append(b, cname...)
	for range chunk - 4 - 2 - len(cname) {
		b = append(b, 0)
	}
	return b
}

// appendBYE appends a BYE for ssrc.
func appendBYE(b []byte, ssrc uint32) []byte {
	b = appendHeader(b, 1, rtcpBYE, 1)
	return appendU32(b, ssrc)
}

// rtcpInfo is what the endpoint takes from a compound RTCP packet.
type rtcpInfo struct {
	// senderSSRC is the first packet's (the SR's or RR's) sender.
	senderSSRC uint32
	hasSR      bool
	sr         senderInfo
	// block is the first report block about the SSRC asked for.
	hasBlock bool
	block    reportBlock
	bye      bool // a BYE for senderSSRC
}

// parseRTCP validates a compound RTCP packet as RFC 3550 A.2 does (version
// 2 throughout, SR or RR first, padding only on the last packet, lengths
// that add up to the datagram, reports that fit their packets) and picks
// out the sender report and the report block about ssrc `about`.
func parseRTCP(b []byte, about uint32) (rtcpInfo, error) {
	var info rtcpInfo
	if len(b) < rtcpHeaderLen+4 {
		return info, errRTCPShort
	}
	if pt := b[1]; pt != rtcpSR && pt != rtcpRR {
		return info, errRTCPFirst
	}
	for off := 0; off < len(b); {
		if len(b)-off < rtcpHeaderLen {
			return info, errRTCPLength
		}
		h := b[off]
		if h>>6 != 2 {
			return info, errRTCPVersion
		}
		end := off + 4*(int(binary.BigEndian.Uint16(b[off+2:]))+1)
		if end > len(b) {
			return info, errRTCPLength
		}
		body := b[off+rtcpHeaderLen : end]
		if h&0x20 != 0 {
			if end != len(b) {
				return info, errRTCPPadding
			}
			pad := int(b[end-1])
			if pad == 0 || pad > len(body) {
				return info, errRTCPLength
			}
			body = body[:len(body)-pad]
		}
		count := int(h & 0x1F)
		switch pt := b[off+1]; pt {
		case rtcpSR, rtcpRR:
			fixed := 4
			if pt == rtcpSR {
				fixed += rtcpSenderInfo
			}
			if len(body) < fixed+count*rtcpBlockLen {
				return info, errRTCPShort
			}
			ssrc := binary.BigEndian.Uint32(body)
			if off == 0 {
				info.senderSSRC = ssrc
			}
			if pt == rtcpSR && !info.hasSR && ssrc == info.senderSSRC {
				info.hasSR = true
				info.sr = senderInfo{
					ntp:     binary.BigEndian.Uint64(body[4:]),
					rtpTS:   binary.BigEndian.Uint32(body[12:]),
					packets: binary.BigEndian.Uint32(body[16:]),
					octets:  binary.BigEndian.Uint32(body[20:]),
				}
			}
			for i := range count {
				blk := body[fixed+i*rtcpBlockLen:]
				if info.hasBlock || binary.BigEndian.Uint32(blk) != about {
					continue
				}
				info.hasBlock = true
				lost := binary.BigEndian.Uint32(blk[4:])
				info.block = reportBlock{
					ssrc:          about,
					fractionLost:  uint8(lost >> 24),
					totalLost:     int32(lost<<8) >> 8, // sign-extend 24 bits
					extHighestSeq: binary.BigEndian.Uint32(blk[8:]),
					jitter:        binary.BigEndian.Uint32(blk[12:]),
					lsr:           binary.BigEndian.Uint32(blk[16:]),
					dlsr:          binary.BigEndian.Uint32(blk[20:]),
				}
			}
		case rtcpBYE:
			if len(body) < 4*count {
				return info, errRTCPShort
			}
			for i := range count {
				if binary.BigEndian.Uint32(body[4*i:]) == info.senderSSRC {
					info.bye = true
				}
			}
		}
		// SDES, APP and feedback packets are valid and skipped.
		off = end
	}
	return info, nil
}

// rtcpInterval is the time to the next report (RFC 3550 6.3.1 and A.7)
// for a two-party session: the deterministic interval is the minimum
// (the bandwidth share of two members' small reports is far below it),
// halved before the first report, randomised over [0.5, 1.5] by u in
// [0, 1) and divided by e-3/2.
func rtcpInterval(minInterval time.Duration, initial bool, u float64) time.Duration {
	td := float64(minInterval)
	if initial {
		td /= 2
	}
	return time.Duration(td * (0.5 + u) / rtcpCompensation)
}

// rtpRecvStats follows the stream we receive for our reports: sequence
// numbers as RFC 3550 A.1 does (cycles, large jumps, restarts) and the
// interarrival jitter of A.8. It is reader-owned.
type rtpRecvStats struct {
	ssrc     uint32
	init     bool
	maxSeq   uint16
	cycles   uint32
	baseSeq  uint32
	badSeq   uint32
	received int64
	transit  uint32
	haveTr   bool
	jitter   uint32 // scaled by 16, as in A.8
}

const (
	maxDropout  = 3000
	maxMisorder = 100
)

func (s *rtpRecvStats) reset(ssrc uint32, seq uint16) {
	*s = rtpRecvStats{ssrc: ssrc, init: true, maxSeq: seq, baseSeq: uint32(seq), badSeq: 1 << 16}
}

// update takes one packet of the stream: its sequence number and, when
// withJitter, its RTP timestamp and arrival time in the same clock's
// units. It returns false for a packet A.1 does not count (a large jump
// not yet confirmed by the next packet).
func (s *rtpRecvStats) update(ssrc uint32, seq uint16, ts, arrival uint32, withJitter bool) bool {
	if !s.init || ssrc != s.ssrc {
		s.reset(ssrc, seq)
	} else {
		switch udelta := seq - s.maxSeq; {
		case udelta < maxDropout:
			if seq < s.maxSeq {
				s.cycles += 1 << 16
			}
			s.maxSeq = seq
		case udelta <= 1<<16-maxMisorder:
			if uint32(seq) != s.badSeq {
				s.badSeq = uint32(seq+1) & 0xFFFF
				return false
			}
			// Two in sequence after a jump: the sender restarted.
			s.reset(ssrc, seq)
		default:
			// duplicate or reordered
		}
	}
	s.received++
	if withJitter {
		transit := arrival - ts
		if s.haveTr {
			d := int64(int32(transit - s.transit))
			if d < 0 {
				d = -d
			}
			s.jitter = uint32(int64(s.jitter) + d - int64((s.jitter+8)>>4))
		}
		s.transit, s.haveTr = transit, true
	}
	return true
}

// extHighest is the extended highest sequence number received.
func (s *rtpRecvStats) extHighest() uint32 { return s.cycles + uint32(s.maxSeq) }

// expected is how many packets the sequence numbers say were sent.
func (s *rtpRecvStats) expected() int64 { return int64(s.extHighest()) - int64(s.baseSeq) + 1 }
