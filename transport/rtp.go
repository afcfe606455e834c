package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/srtp/v3"
)

// RTPCodec is the audio codec of a plain RTP endpoint.
type RTPCodec uint8

// Plain RTP codecs.
const (
	CodecPCMU RTPCodec = iota + 1
	CodecPCMA
	CodecOpus
)

func (c RTPCodec) String() string {
	switch c {
	case CodecPCMU:
		return "PCMU"
	case CodecPCMA:
		return "PCMA"
	case CodecOpus:
		return "opus"
	}
	return "unknown"
}

// ClockRate is the codec's RTP clock in Hz.
func (c RTPCodec) ClockRate() int {
	if c == CodecOpus {
		return 48000
	}
	return 8000
}

// Static and conventional payload types.
const (
	PayloadPCMU         = 0
	PayloadPCMA         = 8
	PayloadCN           = 13 // RFC 3389 comfort noise
	DefaultPayloadOpus  = 111
	DefaultPayloadEvent = 101 // RFC 4733 telephone-event
)

// G.711 payloads reach the handler framed: one byte with the RTP payload
// type (PayloadPCMU, PayloadPCMA or PayloadCN), then the RTP payload. Comfort
// noise thus keeps its place between speech packets in the jitter buffer,
// and the decoder learns from the stream itself when to play noise.

// G711FrameSamples is a framed G.711 payload's duration at 48 kHz, for the
// jitter buffer: a comfort-noise update and a lone 10 ms packet (padded by
// the decoder) count as one 20 ms tick.
func G711FrameSamples(framed []byte) int {
	if len(framed) < 1 || framed[0] == PayloadCN {
		return jbTick
	}
	return max(jbTick, (len(framed)-1)*jbRate/8000)
}

// RTPParams is what was negotiated for one plain RTP endpoint.
type RTPParams struct {
	Codec RTPCodec
	// PayloadType of the codec: 0 for PCMU, 8 for PCMA, dynamic for Opus.
	PayloadType uint8
	// EventPayloadType is the telephone-event type; such packets (DTMF) are
	// counted and ignored. 0 means none was negotiated.
	EventPayloadType uint8
	// Remote is where to send; it may be unset when Latch is on, and then
	// sending starts with the first received packet.
	Remote netip.AddrPort
	// Latch (symmetric RTP): send to the source of the first valid packet
	// received, which is what gets through a NAT.
	Latch bool
	// RemoteKey is the SRTP master key and salt the remote sends with
	// (AES_CM_128_HMAC_SHA1_80: 30 bytes); nil for plain RTP. The endpoint
	// then sends SRTP with its own key, LocalKey, and RTCP is SRTCP.
	RemoteKey []byte
	// RTCPMux carries RTCP on the RTP port (RFC 5761) instead of the odd
	// port above it.
	RTCPMux bool
	// RTCPRemote is where to send RTCP when the offer said (a=rtcp);
	// unset means the remote RTP port plus one, or the RTP address with
	// RTCPMux. With Latch, the source of the first valid RTCP from the
	// peer replaces it.
	RTCPRemote netip.AddrPort
}

// RTPStats counts what a plain RTP endpoint received and sent.
type RTPStats struct {
	PacketsIn    uint64 // valid audio and comfort-noise packets handed on
	PacketsOut   uint64
	SendOverflow uint64 // outgoing packets dropped: the send loop was behind
	NoRemote     uint64 // outgoing packets dropped: no address to send to yet
	Malformed    uint64 // not RTP version 2, truncated, bad padding or empty
	WrongPayload uint64 // a payload type that was not negotiated
	WrongSSRC    uint64 // from another source than the latched one
	SRTPFailed   uint64 // failed SRTP authentication or decryption
	Events       uint64 // telephone-event packets, ignored
	ComfortNoise uint64 // comfort-noise packets (within PacketsIn)
	SSRCChanges  uint64 // the sender restarted with a new SSRC
	Remote       string // where packets go now

	// What we receive, as our reports tell it (RFC 3550 A.3, A.8).
	PacketsLost int64   // expected minus received; negative with duplicates
	JitterMs    float64 // interarrival jitter
	// What the peer's reports say about what we send. RTTMs is 0 until a
	// report answers one of our sender reports.
	RTTMs              float64
	RemoteFractionLost float64 // 0..1, over the peer's last interval
	RemotePacketsLost  int64
	RemoteJitterMs     float64
	RTCPIn             uint64 // valid compound RTCP packets from the peer
	RTCPOut            uint64
	// RTCPDropped: malformed, failed SRTCP authentication, or not from
	// the peer.
	RTCPDropped uint64
	RTCPRemote  string // where our RTCP goes now
}

// Dropped is every received packet that was not handed on.
func (s RTPStats) Dropped() uint64 {
	return s.Malformed + s.WrongPayload + s.WrongSSRC + s.SRTPFailed + s.Events + s.RTCPDropped
}

const (
	rtpHeaderLen = 12
	rtpMaxPacket = 1500
	// srtpKeyLen is the AES_CM_128_HMAC_SHA1_80 master key plus salt.
	srtpKeyLen = 30
	// ssrcSwitchPackets: a new SSRC that sends this many packets in sequence
	// while the latched one is quiet is a restarted stream, not a stray.
	ssrcSwitchPackets = 5
	// g711Half is 10 ms of G.711: packets of that length are paired.
	g711Half = 80
)

var (
	errRTPShort   = errors.New("truncated RTP packet")
	errRTPVersion = errors.New("not RTP version 2")
	errRTPPadding = errors.New("bad RTP padding")
	errRTPEmpty   = errors.New("empty RTP payload")
)

// rtpHeader is the part of a parsed RTP header the endpoint uses; payload
// points into the packet.
type rtpHeader struct {
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// parseRTP validates an RTP packet (RFC 3550 section 5.1) without
// allocating: version 2, a header long enough for its CSRCs and extension,
// valid padding, a non-empty payload.
func parseRTP(b []byte) (rtpHeader, error) {
	if len(b) < rtpHeaderLen {
		return rtpHeader{}, errRTPShort
	}
	if b[0]>>6 != 2 {
		return rtpHeader{}, errRTPVersion
	}
	end := len(b)
	off := rtpHeaderLen + 4*int(b[0]&0x0F)
	if off > end {
		return rtpHeader{}, errRTPShort
	}
	if b[0]&0x10 != 0 { // header extension
		if off+4 > end {
			return rtpHeader{}, errRTPShort
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if off > end {
			return rtpHeader{}, errRTPShort
		}
	}
	if b[0]&0x20 != 0 { // padding: the last byte counts it, itself included
		pad := int(b[end-1])
		if pad == 0 || off+pad > end {
			return rtpHeader{}, errRTPPadding
		}
		end -= pad
	}
	if off == end {
		return rtpHeader{}, errRTPEmpty
	}
	return rtpHeader{
		pt:      b[1] & 0x7F,
		seq:     binary.BigEndian.Uint16(b[2:]),
		ts:      binary.BigEndian.Uint32(b[4:]),
		ssrc:    binary.BigEndian.Uint32(b[8:]),
		payload: b[off:end],
	}, nil
}

// RTPEndpoint is a participant on plain RTP (or SDES-keyed SRTP): a SIP
// gateway or a desk phone. RTP goes over an even UDP port, RTCP over the
// odd one above it (or the same one with RTCPMux). One goroutine reads
// RTP, one sends it, one sends reports every few seconds and, without
// mux, one reads RTCP; Close stops them all and sends a BYE.
type RTPEndpoint struct {
	conn     *net.UDPConn
	rtcpConn *net.UDPConn // nil with RTCPMux
	params   RTPParams
	handler  EndpointHandler
	local    netip.AddrPort
	// localKey is what we send SRTP with (nil for plain RTP).
	localKey []byte
	srtpIn   *srtp.Context // reader-owned
	srtpOut  *srtp.Context // sender-owned
	// SRTCP contexts of their own: pion's contexts are not safe for
	// concurrent use, and RTCP is read and sent on other goroutines.
	srtcpIn  *srtp.Context // RTCP-reader-owned
	srtcpOut *srtp.Context // report-loop-owned

	localSSRC uint32
	cname     string
	clockRate int64
	// epoch is the zero of the endpoint's monotonic clock: liveness and
	// jitter arrival times count from it.
	epoch        time.Time
	rtcpInterval time.Duration
	rtcpRemote   atomic.Pointer[netip.AddrPort] // from the offer or latched
	rtcpLatched  atomic.Bool
	rtcpWG       sync.WaitGroup

	remote  atomic.Pointer[netip.AddrPort]
	latched atomic.Bool

	// sending
	sendQ      chan outPacket
	ring       [sendRingSlots][maxPayload]byte
	ringPos    int
	tsBase     uint32
	tickSample uint32 // RTP clock units per 20 ms tick

	// sendClock maps our RTP timestamps to the monotonic clock for sender
	// reports: RTP units at epoch, from the least late tick seen. Written
	// by SendAudio (the room's goroutine), which also owns clockBest.
	sendClock atomic.Int64
	clockSet  atomic.Bool
	clockBest int64
	clockWin  struct {
		n    int
		best int64
	}
	octetsOut atomic.Uint64

	// timeout ends the endpoint after this long without a valid RTP or
	// RTCP packet from the peer (0: never); lastValid is the last one, in
	// nanoseconds since epoch.
	timeout   time.Duration
	lastValid atomic.Int64
	// byeAt is when the peer's RTCP BYE came (nanoseconds since epoch,
	// plus one; 0: none). RTP after it cancels it: a sender that
	// restarts may say goodbye to its old SSRC.
	byeAt atomic.Int64

	// recv follows the received stream for our reports (reader-owned);
	// pub is its copy for the report loop and Stats.
	recv rtpRecvStats
	pub  struct {
		have              atomic.Bool
		ssrc, extHighest  atomic.Uint32
		jitter            atomic.Uint32 // scaled by 16
		expected, receivd atomic.Int64
	}
	// From the peer's reports. lastSR packs its last SR's NTP middle bits
	// (high half) and our NTP middle bits when it came (low half).
	lastSR          atomic.Uint64
	rttNanos        atomic.Int64
	remoteFraction  atomic.Uint32
	remoteLost      atomic.Int64
	remoteJitter    atomic.Uint32
	rtcpIn, rtcpOut atomic.Uint64
	rtcpDropped     atomic.Uint64

	// reader-owned
	haveSSRC  bool
	ssrc      uint32
	lastSeen  time.Time // last packet from the latched SSRC
	lastSeq   uint16    // last delivered, after renumbering
	lastTS    uint32
	seqOff    uint16 // renumbering after an SSRC change
	tsOff     uint32
	candSSRC  uint32
	candSeq   uint16
	candN     int
	candSince time.Time
	extSeq    int64 // extended input sequence, for pairing 10 ms packets
	extInit   bool
	pairing   bool // 10 ms packets seen: sequence numbers are halved
	half      struct {
		have bool
		seq  int64
		ts   uint32
		pt   uint8
		n    int
		data [g711Half]byte
	}
	frame [1 + rtpMaxPacket]byte

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	closed    atomic.Bool

	packetsIn, packetsOut, overflow, noRemote         atomic.Uint64
	malformed, wrongPT, wrongSSRC, srtpFailed, events atomic.Uint64
	comfortNoise, ssrcChanges                         atomic.Uint64
}

// NewRTPEndpoint binds a UDP port from cfg's RTP range and starts the
// endpoint. Packets are handed to h.HandleAudio with timestamps at 48 kHz
// (an 8 kHz clock is scaled by 6); G.711 payloads are framed, see
// G711FrameSamples.
func NewRTPEndpoint(cfg Config, p RTPParams, h EndpointHandler) (*RTPEndpoint, error) {
	switch p.Codec {
	case CodecPCMU, CodecPCMA, CodecOpus:
	default:
		return nil, fmt.Errorf("%w: codec %d", ErrInvalidRTP, p.Codec)
	}
	if p.PayloadType > 127 || p.EventPayloadType > 127 {
		return nil, fmt.Errorf("%w: payload type above 127", ErrInvalidRTP)
	}
	if !p.Remote.IsValid() && !p.Latch {
		return nil, fmt.Errorf("%w: no remote address and latching off", ErrInvalidRTP)
	}
	if p.RemoteKey != nil && len(p.RemoteKey) != srtpKeyLen {
		return nil, fmt.Errorf("%w: SRTP key is %d bytes, want %d", ErrInvalidRTP, len(p.RemoteKey), srtpKeyLen)
	}
	e := &RTPEndpoint{
		params:       p,
		handler:      h,
		sendQ:        make(chan outPacket, sendQueueLen),
		done:         make(chan struct{}),
		tsBase:       rand.Uint32(),
		tickSample:   uint32(p.Codec.ClockRate() / 50),
		timeout:      cfg.RTPTimeout,
		localSSRC:    rand.Uint32(),
		cname:        fmt.Sprintf("openmcu-%016x", rand.Uint64()),
		clockRate:    int64(p.Codec.ClockRate()),
		epoch:        time.Now(),
		rtcpInterval: cfg.RTCPInterval,
	}
	if e.rtcpInterval <= 0 {
		e.rtcpInterval = DefaultConfig().RTCPInterval
	}
	if p.Remote.IsValid() {
		r := p.Remote
		e.remote.Store(&r)
	}
	if p.RTCPRemote.IsValid() {
		r := p.RTCPRemote
		e.rtcpRemote.Store(&r)
	}
	if p.RemoteKey != nil {
		e.localKey = make([]byte, srtpKeyLen)
		for i := range e.localKey {
			e.localKey[i] = byte(rand.Uint32())
		}
		for _, c := range []struct {
			dst **srtp.Context
			key []byte
		}{{&e.srtpIn, p.RemoteKey}, {&e.srtcpIn, p.RemoteKey}, {&e.srtpOut, e.localKey}, {&e.srtcpOut, e.localKey}} {
			var err error
			if *c.dst, err = newSRTPContext(c.key); err != nil {
				return nil, fmt.Errorf("%w: SRTP: %v", ErrInvalidRTP, err)
			}
		}
	}
	conn, rtcpConn, err := listenRTP(cfg, !p.RTCPMux)
	if err != nil {
		return nil, err
	}
	e.conn, e.rtcpConn = conn, rtcpConn
	e.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	e.wg.Add(2)
	go e.readLoop()
	go e.sendLoop()
	if rtcpConn != nil {
		e.wg.Add(1)
		go e.rtcpReadLoop()
	}
	e.rtcpWG.Add(1)
	go e.reportLoop()
	return e, nil
}

func newSRTPContext(key []byte) (*srtp.Context, error) {
	return srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
}

// listenRTP binds an even port of the configured range and, withRTCP, the
// odd one above it for RTCP, starting at a random place in the range.
func listenRTP(cfg Config, withRTCP bool) (rtpConn, rtcpConn *net.UDPConn, err error) {
	lo, hi, err := cfg.rtpPortRange()
	if err != nil {
		return nil, nil, err
	}
	ip, err := netip.ParseAddr(cfg.RTPBindAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: rtp_bind_addr: %v", ErrInvalidConfig, err)
	}
	lo += lo & 1
	top := hi
	if withRTCP {
		top = hi - 1 // the pair must fit
	}
	if top < lo {
		return nil, nil, fmt.Errorf("%w: %d-%d on %s", ErrNoRTPPort, lo, hi, ip)
	}
	n := (top-lo)/2 + 1
	start := rand.IntN(n)
	for i := range n {
		port := lo + 2*((start+i)%n)
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			continue
		}
		if !withRTCP {
			return conn, nil, nil
		}
		rc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
		if err == nil {
			return conn, rc, nil
		}
		_ = conn.Close()
	}
	return nil, nil, fmt.Errorf("%w: %d-%d on %s", ErrNoRTPPort, lo, hi, ip)
}

// LocalAddr is the bound address (the advertised one may differ, see
// Config.RTPAdvertiseAddr).
func (e *RTPEndpoint) LocalAddr() netip.AddrPort { return e.local }

// LocalKey is the SRTP master key and salt the endpoint sends with, nil
// for plain RTP.
func (e *RTPEndpoint) LocalKey() []byte { return e.localKey }

// SendAudio queues one encoded 20 ms frame. The RTP timestamp follows the
// room's tick, so it advances across anything not sent; the sequence number
// advances per packet sent. It never blocks.
func (e *RTPEndpoint) SendAudio(payload []byte, tick uint32) {
	if len(payload) > maxPayload || e.closed.Load() {
		return
	}
	e.trackSendClock(tick, time.Now())
	slot := e.ringPos
	n := copy(e.ring[slot][:], payload)
	select {
	case e.sendQ <- outPacket{slot: slot, n: n, timestamp: e.tsBase + tick*e.tickSample}:
		e.ringPos = (e.ringPos + 1) % sendRingSlots
	default:
		e.overflow.Add(1)
	}
}

func (e *RTPEndpoint) sendLoop() {
	defer e.wg.Done()
	var buf, enc [rtpMaxPacket + 64]byte
	seq := uint16(rand.Uint32())
	ssrc := e.localSSRC
	marker := true
	for {
		var out outPacket
		select {
		case <-e.done:
			return
		case out = <-e.sendQ:
		}
		dst := e.remote.Load()
		if dst == nil {
			e.noRemote.Add(1)
			continue
		}
		buf[0] = 0x80
		buf[1] = e.params.PayloadType
		if marker {
			buf[1] |= 0x80
		}
		binary.BigEndian.PutUint16(buf[2:], seq)
		binary.BigEndian.PutUint32(buf[4:], out.timestamp)
		binary.BigEndian.PutUint32(buf[8:], ssrc)
		n := rtpHeaderLen + copy(buf[rtpHeaderLen:], e.ring[out.slot][:out.n])
		pkt := buf[:n]
		if e.srtpOut != nil {
			var err error
			if pkt, err = e.srtpOut.EncryptRTP(enc[:0], pkt, nil); err != nil {
				continue
			}
		}
		if _, err := e.conn.WriteToUDPAddrPort(pkt, *dst); err == nil {
			e.packetsOut.Add(1)
			e.octetsOut.Add(uint64(out.n))
		}
		seq++
		marker = false
	}
}

func (e *RTPEndpoint) readLoop() {
	defer e.wg.Done()
	var buf, dec [rtpMaxPacket + 64]byte
	for {
		e.setReadDeadline()
		n, src, err := e.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if e.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if bye, ok := e.byeTime(); ok && time.Since(bye) >= byeGrace {
					e.handler.HandleClosed("RTCP BYE from the peer")
					return
				}
				if e.timeout > 0 && time.Since(e.lastValidAt()) >= e.timeout {
					e.handler.HandleClosed(fmt.Sprintf("no RTP or RTCP for %v", e.timeout))
					return
				}
			}
			continue
		}
		pkt := buf[:n]
		if e.params.RTCPMux && isRTCP(pkt) {
			e.readRTCP(pkt, dec[:0], src, time.Now())
			continue
		}
		if e.srtpIn != nil {
			if pkt, err = e.srtpIn.DecryptRTP(dec[:0], pkt, nil); err != nil {
				e.srtpFailed.Add(1)
				continue
			}
		}
		e.receive(pkt, src, time.Now())
	}
}

// byeGrace is how long RTP may resume after the peer's BYE (a restarted
// sender) before the BYE ends the participant.
const byeGrace = 2 * time.Second

// byeTime reports when the peer said BYE, if it did and sent nothing since.
func (e *RTPEndpoint) byeTime() (time.Time, bool) {
	b := e.byeAt.Load()
	if b == 0 {
		return time.Time{}, false
	}
	return e.epoch.Add(time.Duration(b - 1)), true
}

// setReadDeadline wakes the reader when the peer has been silent for the
// timeout, or when a BYE's grace ends, whichever is first.
func (e *RTPEndpoint) setReadDeadline() {
	var d time.Time
	if e.timeout > 0 {
		d = e.lastValidAt().Add(e.timeout)
	}
	if bye, ok := e.byeTime(); ok && (d.IsZero() || bye.Add(byeGrace).Before(d)) {
		d = bye.Add(byeGrace)
	}
	_ = e.conn.SetReadDeadline(d)
}

// receive validates one packet and hands it on.
func (e *RTPEndpoint) receive(b []byte, src netip.AddrPort, now time.Time) {
	h, err := parseRTP(b)
	if err != nil {
		e.malformed.Add(1)
		return
	}
	g711 := e.params.Codec != CodecOpus
	switch {
	case h.pt == e.params.PayloadType:
	case h.pt == PayloadCN && g711:
	case e.params.EventPayloadType != 0 && h.pt == e.params.EventPayloadType:
		e.events.Add(1)
		if e.haveSSRC && h.ssrc == e.ssrc {
			// In the sequence, so not lost; its timestamp is the event's
			// start, so not for jitter.
			e.recordReceived(h, now, false)
		}
		return
	default:
		e.wrongPT.Add(1)
		return
	}
	if !e.acceptSSRC(h, now) {
		e.wrongSSRC.Add(1)
		return
	}
	e.recordReceived(h, now, true)
	if e.params.Latch && !e.latched.Load() {
		latched := src // only a latch allocates
		e.remote.Store(&latched)
		e.latched.Store(true)
	}
	seq, ts := h.seq+e.seqOff, h.ts+e.tsOff
	e.lastSeq, e.lastTS, e.lastSeen = seq, ts, now
	e.lastValid.Store(int64(now.Sub(e.epoch)))
	e.byeAt.Store(0)
	e.packetsIn.Add(1)
	if !g711 {
		e.handler.HandleAudio(seq, ts, h.payload, -1, now)
		return
	}
	if h.pt == PayloadCN {
		e.comfortNoise.Add(1)
	}
	e.deliverG711(seq, ts, h.pt, h.payload, now)
}

// acceptSSRC latches the first SSRC. Another one is a stray unless it sends
// ssrcSwitchPackets in sequence while the latched one is quiet: then the
// sender restarted, and the new stream is renumbered to continue the old
// one's sequence and timestamps, so the jitter buffer sees no jump.
func (e *RTPEndpoint) acceptSSRC(h rtpHeader, now time.Time) bool {
	if !e.haveSSRC {
		e.haveSSRC, e.ssrc = true, h.ssrc
		return true
	}
	if h.ssrc == e.ssrc {
		return true
	}
	if h.ssrc == e.candSSRC && h.seq == e.candSeq+1 && !e.lastSeen.After(e.candSince) {
		e.candN++
	} else {
		e.candSSRC, e.candN, e.candSince = h.ssrc, 1, now
	}
	e.candSeq = h.seq
	if e.candN < ssrcSwitchPackets {
		return false
	}
	e.ssrcChanges.Add(1)
	e.ssrc, e.candN = h.ssrc, 0
	e.seqOff = e.lastSeq + 1 - h.seq
	gap := uint32(now.Sub(e.lastSeen).Seconds() * float64(e.params.Codec.ClockRate()))
	e.tsOff = e.lastTS + gap - h.ts
	e.extInit = false
	e.half.have = false
	return true
}

// deliverG711 frames a G.711 or comfort-noise payload and hands it on with
// a 48 kHz timestamp. 10 ms packets are paired into one 20 ms tick: the
// room plays 20 ms per tick.
func (e *RTPEndpoint) deliverG711(seq uint16, ts uint32, pt uint8, payload []byte, now time.Time) {
	if !e.extInit {
		e.extSeq, e.extInit = int64(seq), true
	} else {
		e.extSeq += int64(int16(seq - uint16(e.extSeq)))
	}
	hv := &e.half
	if pt != PayloadCN && len(payload) == g711Half {
		e.pairing = true
		if hv.have && e.extSeq == hv.seq+1 && ts == hv.ts+g711Half && pt == hv.pt {
			e.frame[0] = pt
			n := 1 + copy(e.frame[1:], hv.data[:hv.n])
			n += copy(e.frame[n:], payload)
			hv.have = false
			e.handler.HandleAudio(e.outSeq(e.extSeq), hv.ts*6, e.frame[:n], -1, now)
			return
		}
		e.flushHalf(now)
		hv.have, hv.seq, hv.ts, hv.pt = true, e.extSeq, ts, pt
		hv.n = copy(hv.data[:], payload)
		return
	}
	e.flushHalf(now)
	e.frame[0] = pt
	n := 1 + copy(e.frame[1:], payload)
	e.handler.HandleAudio(e.outSeq(e.extSeq), ts*6, e.frame[:n], -1, now)
}

// outSeq is the sequence number handed on: once 10 ms packets were seen, it
// is halved, so a pair and its neighbours stay consecutive.
func (e *RTPEndpoint) outSeq(ext int64) uint16 {
	if e.pairing {
		return uint16(ext >> 1)
	}
	return uint16(ext)
}

// flushHalf hands on a 10 ms packet whose partner did not come.
func (e *RTPEndpoint) flushHalf(now time.Time) {
	hv := &e.half
	if !hv.have {
		return
	}
	hv.have = false
	e.frame[0] = hv.pt
	n := 1 + copy(e.frame[1:], hv.data[:hv.n])
	e.handler.HandleAudio(e.outSeq(hv.seq), hv.ts*6, e.frame[:n], -1, now)
}

// RTPStats returns the endpoint's detailed counters.
func (e *RTPEndpoint) RTPStats() RTPStats {
	s := RTPStats{
		PacketsIn:    e.packetsIn.Load(),
		PacketsOut:   e.packetsOut.Load(),
		SendOverflow: e.overflow.Load(),
		NoRemote:     e.noRemote.Load(),
		Malformed:    e.malformed.Load(),
		WrongPayload: e.wrongPT.Load(),
		WrongSSRC:    e.wrongSSRC.Load(),
		SRTPFailed:   e.srtpFailed.Load(),
		Events:       e.events.Load(),
		ComfortNoise: e.comfortNoise.Load(),
		SSRCChanges:  e.ssrcChanges.Load(),
	}
	if r := e.remote.Load(); r != nil {
		s.Remote = r.String()
	}
	e.rtcpStats(&s)
	return s
}

// Stats implements the room's endpoint interface.
func (e *RTPEndpoint) Stats() EndpointStats {
	s := e.RTPStats()
	return EndpointStats{PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut, PacketsDropped: s.Dropped(), SendOverflow: s.SendOverflow}
}

// Close sends a BYE, stops the goroutines and releases the ports.
func (e *RTPEndpoint) Close() error {
	var err error
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		e.rtcpWG.Wait() // the BYE is out
		err = e.conn.Close()
		if e.rtcpConn != nil {
			_ = e.rtcpConn.Close()
		}
		e.wg.Wait()
	})
	return err
}
