package transport

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// The RTCP side of RTPEndpoint: our reports and the peer's.

// rtpUnits converts a duration to RTP clock units without overflow.
func (e *RTPEndpoint) rtpUnits(d time.Duration) int64 {
	return int64(d/time.Second)*e.clockRate + int64(d%time.Second)*e.clockRate/int64(time.Second)
}

// lastValidAt is when the peer was last heard (a valid RTP or RTCP packet).
func (e *RTPEndpoint) lastValidAt() time.Time {
	return e.epoch.Add(time.Duration(e.lastValid.Load()))
}

// isRTCP tells RTCP from RTP on a muxed port (RFC 5761 section 4): RTCP
// packet types 192..223 fall where RTP payload types 64..95 with the
// marker would, which no one negotiates.
func isRTCP(b []byte) bool {
	return len(b) >= 2 && b[1] >= 192 && b[1] <= 223
}

// trackSendClock maps the RTP timestamp of tick to the monotonic clock.
// A tick is only ever late, so the least late one seen gives the mapping.
// One far later than that (the room restarted its clock after a stall)
// moves the mapping down to it at once; a smaller step shows as a whole
// window of late ticks, and moves it to the window's least late.
func (e *RTPEndpoint) trackSendClock(tick uint32, now time.Time) {
	c := int64(tick)*int64(e.tickSample) - e.rtpUnits(now.Sub(e.epoch))
	late := 3 * int64(e.tickSample) // 60 ms
	w := &e.clockWin
	if w.n == 0 || c > w.best {
		w.best = c
	}
	w.n++
	switch {
	case !e.clockSet.Load() || c > e.clockBest || c < e.clockBest-late:
		e.setSendClock(c)
	case w.n >= clockWindow:
		if w.best < e.clockBest-int64(e.tickSample)/2 {
			e.setSendClock(w.best)
		}
		w.n = 0
	}
}

// clockWindow is how many ticks trackSendClock looks at for a step.
const clockWindow = 50

func (e *RTPEndpoint) setSendClock(c int64) {
	e.clockBest = c
	e.sendClock.Store(c)
	e.clockSet.Store(true)
	e.clockWin.n = 0
}

// recordReceived updates the reception statistics with a packet from the
// latched source.
func (e *RTPEndpoint) recordReceived(h rtpHeader, now time.Time, withJitter bool) {
	arrival := uint32(e.rtpUnits(now.Sub(e.epoch)))
	if !e.recv.update(h.ssrc, h.seq, h.ts, arrival, withJitter) {
		return
	}
	p := &e.pub
	p.ssrc.Store(e.recv.ssrc)
	p.extHighest.Store(e.recv.extHighest())
	p.jitter.Store(e.recv.jitter)
	p.expected.Store(e.recv.expected())
	p.receivd.Store(e.recv.received)
	p.have.Store(true)
}

// readRTCP decrypts (with SRTP) and takes one compound RTCP packet.
func (e *RTPEndpoint) readRTCP(pkt, dec []byte, src netip.AddrPort, now time.Time) {
	if e.srtcpIn != nil {
		var err error
		if pkt, err = e.srtcpIn.DecryptRTCP(dec, pkt, nil); err != nil {
			e.rtcpDropped.Add(1)
			return
		}
	}
	e.receiveRTCP(pkt, src, now)
}

// receiveRTCP validates a compound RTCP packet. One from the peer (its
// SSRC is the stream we receive, or it comes from the address we send to)
// keeps the endpoint alive, can latch our RTCP destination, and carries
// the peer's view of our stream.
func (e *RTPEndpoint) receiveRTCP(b []byte, src netip.AddrPort, now time.Time) {
	info, err := parseRTCP(b, e.localSSRC)
	if err != nil {
		e.rtcpDropped.Add(1)
		return
	}
	fromPeer := e.pub.have.Load() && info.senderSSRC == e.pub.ssrc.Load()
	if r := e.remote.Load(); r != nil && r.Addr() == src.Addr() {
		fromPeer = true
	}
	if !fromPeer {
		e.rtcpDropped.Add(1)
		return
	}
	e.rtcpIn.Add(1)
	e.lastValid.Store(int64(now.Sub(e.epoch)))
	if e.params.Latch && !e.params.RTCPMux && !e.rtcpLatched.Load() {
		latched := src // only a latch allocates
		e.rtcpRemote.Store(&latched)
		e.rtcpLatched.Store(true)
	}
	if info.bye && e.pub.have.Load() && info.senderSSRC == e.pub.ssrc.Load() {
		// The peer is leaving; the RTP reader ends the endpoint unless RTP
		// resumes within byeGrace.
		e.byeAt.Store(int64(now.Sub(e.epoch)) + 1)
		e.setReadDeadline()
	}
	arrival := ntpMid(ntpTime(now))
	if info.hasSR {
		e.lastSR.Store(uint64(ntpMid(info.sr.ntp))<<32 | uint64(arrival))
	}
	if !info.hasBlock {
		return
	}
	rb := info.block
	e.remoteFraction.Store(uint32(rb.fractionLost))
	e.remoteLost.Store(int64(rb.totalLost))
	e.remoteJitter.Store(rb.jitter)
	if rb.lsr != 0 {
		// RFC 3550 6.4.1: RTT = A - LSR - DLSR in 1/65536 s. A report
		// within a unit of our own SR rounds below zero: call it 0.
		rtt := int64(int32(arrival - rb.lsr - rb.dlsr))
		if rtt >= -1 && rtt < 60<<16 {
			e.rttNanos.Store(max(rtt, 0) * int64(time.Second) >> 16)
		}
	}
}

// rtcpReadLoop reads the RTCP port (without mux).
func (e *RTPEndpoint) rtcpReadLoop() {
	defer e.wg.Done()
	var buf, dec [rtpMaxPacket + 64]byte
	for {
		n, src, err := e.rtcpConn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if e.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		e.readRTCP(buf[:n], dec[:0], src, time.Now())
	}
}

// rtcpDest is where our RTCP goes: the latched or offered address, else
// the RTP destination (plus one without mux).
func (e *RTPEndpoint) rtcpDest() (netip.AddrPort, bool) {
	r := e.remote.Load()
	if e.params.RTCPMux {
		if r == nil {
			return netip.AddrPort{}, false
		}
		return *r, true
	}
	if rr := e.rtcpRemote.Load(); rr != nil {
		return *rr, true
	}
	if r == nil || r.Port() == 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(r.Addr(), r.Port()+1), true
}

// reportState is the report loop's memory between reports.
type reportState struct {
	ssrc                     uint32 // the source the priors are about
	expPrior, recvPrior      int64
	sentAtLast, sentAtBefore uint64 // packetsOut at the last two reports
	haveSentAt               bool
}

// reportLoop sends a compound report (SR or RR, SDES CNAME) at RFC 3550's
// randomised interval, and a BYE when the endpoint closes.
func (e *RTPEndpoint) reportLoop() {
	defer e.rtcpWG.Done()
	var buf [rtcpMaxPacket]byte
	var enc [rtcpMaxPacket + 64]byte
	var st reportState
	timer := time.NewTimer(rtcpInterval(e.rtcpInterval, true, rand.Float64()))
	defer timer.Stop()
	for {
		select {
		case <-e.done:
			e.sendRTCP(e.buildReport(buf[:0], time.Now(), &st, true), enc[:0])
			return
		case <-timer.C:
		}
		e.sendRTCP(e.buildReport(buf[:0], time.Now(), &st, false), enc[:0])
		timer.Reset(rtcpInterval(e.rtcpInterval, false, rand.Float64()))
	}
}

func (e *RTPEndpoint) sendRTCP(pkt, enc []byte) {
	dst, ok := e.rtcpDest()
	if !ok {
		return
	}
	if e.srtcpOut != nil {
		var err error
		if pkt, err = e.srtcpOut.EncryptRTCP(enc, pkt, nil); err != nil {
			return
		}
	}
	conn := e.rtcpConn
	if conn == nil {
		conn = e.conn
	}
	if _, err := conn.WriteToUDPAddrPort(pkt, dst); err == nil {
		e.rtcpOut.Add(1)
	}
}

// buildReport appends our compound RTCP packet at now: an SR when we sent
// RTP since the report before last (else an RR), a report block when we
// receive a stream, our CNAME, and a BYE when bye.
func (e *RTPEndpoint) buildReport(b []byte, now time.Time, st *reportState, bye bool) []byte {
	out := e.packetsOut.Load()
	weSent := out > 0 && (!st.haveSentAt || out != st.sentAtBefore)
	st.sentAtBefore, st.sentAtLast, st.haveSentAt = st.sentAtLast, out, true

	var rb *reportBlock
	var block reportBlock
	p := &e.pub
	if p.have.Load() {
		ssrc := p.ssrc.Load()
		expected, received := p.expected.Load(), p.receivd.Load()
		if ssrc != st.ssrc {
			st.ssrc, st.expPrior, st.recvPrior = ssrc, 0, 0
		}
		expInt, recvInt := expected-st.expPrior, received-st.recvPrior
		st.expPrior, st.recvPrior = expected, received
		var fraction uint8
		if lostInt := expInt - recvInt; expInt > 0 && lostInt > 0 {
			fraction = uint8(min(lostInt<<8/expInt, 255))
		}
		block = reportBlock{
			ssrc:          ssrc,
			fractionLost:  fraction,
			totalLost:     int32(min(max(expected-received, -0x800000), 0x7FFFFF)),
			extHighestSeq: p.extHighest.Load(),
			jitter:        p.jitter.Load() >> 4,
		}
		if sr := e.lastSR.Load(); sr != 0 {
			block.lsr = uint32(sr >> 32)
			block.dlsr = ntpMid(ntpTime(now)) - uint32(sr)
		}
		rb = &block
	}
	if weSent && e.clockSet.Load() {
		rtpNow := e.sendClock.Load() + e.rtpUnits(now.Sub(e.epoch))
		b = appendSR(b, e.localSSRC, senderInfo{
			ntp:     ntpTime(now),
			rtpTS:   e.tsBase + uint32(rtpNow),
			packets: uint32(out),
			octets:  uint32(e.octetsOut.Load()),
		}, rb)
	} else {
		b = appendRR(b, e.localSSRC, rb)
	}
	b = appendSDES(b, e.localSSRC, e.cname)
	if bye {
		b = appendBYE(b, e.localSSRC)
	}
	return b
}

// rtcpStats fills the RTCP part of s.
func (e *RTPEndpoint) rtcpStats(s *RTPStats) {
	rate := float64(e.clockRate)
	if e.pub.have.Load() {
		s.PacketsLost = e.pub.expected.Load() - e.pub.receivd.Load()
		s.JitterMs = float64(e.pub.jitter.Load()) / 16 / rate * 1000
	}
	s.RTTMs = float64(e.rttNanos.Load()) / 1e6
	s.RemoteFractionLost = float64(e.remoteFraction.Load()) / 256
	s.RemotePacketsLost = e.remoteLost.Load()
	s.RemoteJitterMs = float64(e.remoteJitter.Load()) / rate * 1000
	s.RTCPIn = e.rtcpIn.Load()
	s.RTCPOut = e.rtcpOut.Load()
	s.RTCPDropped = e.rtcpDropped.Load()
	if d, ok := e.rtcpDest(); ok {
		s.RTCPRemote = d.String()
	}
}
