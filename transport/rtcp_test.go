package transport

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/internal/udptest"
	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// Our builder and parser against each other and against pion/rtcp, an
// independent implementation, both ways.
func TestRTCPBuildParseRoundTrip(t *testing.T) {
	si := senderInfo{ntp: 0xE1234567_89ABCDEF, rtpTS: 123456, packets: 500, octets: 80000}
	rb := reportBlock{ssrc: 0xBEEF, fractionLost: 64, totalLost: -3, extHighestSeq: 0x1_0005, jitter: 42, lsr: 0x4567_89AB, dlsr: 0x0001_8000}
	b := appendSR(nil, 0xCAFE, si, &rb)
	b = appendSDES(b, 0xCAFE, "openmcu-abc")
	b = appendBYE(b, 0xCAFE)
	info, err := parseRTCP(b, 0xBEEF)
	if err != nil {
		t.Fatal(err)
	}
	if info.senderSSRC != 0xCAFE || !info.hasSR || info.sr != si || !info.hasBlock || info.block != rb || !info.bye {
		t.Fatalf("parsed %+v", info)
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil || len(pkts) != 3 {
		t.Fatalf("pion: %v, %d packets", err, len(pkts))
	}
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok || sr.SSRC != 0xCAFE || sr.NTPTime != si.ntp || sr.RTPTime != si.rtpTS || sr.PacketCount != 500 ||
		sr.OctetCount != 80000 || len(sr.Reports) != 1 {
		t.Fatalf("pion SR %+v", pkts[0])
	}
	r := sr.Reports[0]
	if r.SSRC != 0xBEEF || r.FractionLost != 64 || r.TotalLost != 0xFFFFFD || r.LastSequenceNumber != 0x1_0005 ||
		r.Jitter != 42 || r.LastSenderReport != rb.lsr || r.Delay != rb.dlsr {
		t.Fatalf("pion report %+v", r)
	}
	sdes, ok := pkts[1].(*rtcp.SourceDescription)
	if !ok || len(sdes.Chunks) != 1 || sdes.Chunks[0].Items[0].Type != rtcp.SDESCNAME || sdes.Chunks[0].Items[0].Text != "openmcu-abc" {
		t.Fatalf("pion SDES %+v", pkts[1])
	}
	if bye, ok := pkts[2].(*rtcp.Goodbye); !ok || len(bye.Sources) != 1 || bye.Sources[0] != 0xCAFE {
		t.Fatalf("pion BYE %+v", pkts[2])
	}
	// CNAMEs of every length pad correctly.
	for n := range 9 {
		c := string(bytes.Repeat([]byte{'x'}, n))
		b := appendSDES(appendRR(nil, 1, nil), 1, c)
		if _, err := parseRTCP(b, 0); err != nil || len(b)%4 != 0 {
			t.Fatalf("cname of %d: %v", n, err)
		}
		if _, err := rtcp.Unmarshal(b); err != nil {
			t.Fatalf("cname of %d: pion: %v", n, err)
		}
	}

	// pion's RR (with an SDES and a block about someone else first) reads.
	rr, _ := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 77, Reports: []rtcp.ReceptionReport{
			{SSRC: 1, FractionLost: 1},
			{SSRC: 0xBEEF, FractionLost: 128, TotalLost: 0x800000, LastSequenceNumber: 9, Jitter: 7, LastSenderReport: 5, Delay: 6},
		}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 77, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "gw"}}}}},
	})
	info, err = parseRTCP(rr, 0xBEEF)
	if err != nil {
		t.Fatal(err)
	}
	want := reportBlock{ssrc: 0xBEEF, fractionLost: 128, totalLost: -0x800000, extHighestSeq: 9, jitter: 7, lsr: 5, dlsr: 6}
	if info.senderSSRC != 77 || info.hasSR || !info.hasBlock || info.block != want || info.bye {
		t.Fatalf("pion RR parsed %+v", info)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = parseRTCP(b, 0xBEEF) }); n != 0 {
		t.Errorf("parseRTCP allocates %.0f", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [rtcpMaxPacket]byte
		out := appendSR(buf[:0], 1, si, &rb)
		out = appendSDES(out, 1, "openmcu-0123456789abcdef")
		_ = appendBYE(out, 1)
	}); n != 0 {
		t.Errorf("building a report allocates %.0f", n)
	}
}

func TestRTCPParseRejectsGarbage(t *testing.T) {
	good := appendSDES(appendRR(nil, 5, &reportBlock{ssrc: 1}), 5, "x")
	sdesOff := 4 + 4 + rtcpBlockLen
	binaryLen := func(b []byte, off int, words uint16) []byte {
		c := append([]byte(nil), b...)
		c[off+2], c[off+3] = byte(words>>8), byte(words)
		return c
	}
	if _, err := parseRTCP(good, 1); err != nil {
		t.Fatal(err)
	}
	// Padding on the SDES, the last packet: 4 bytes, counted in its length.
	padded := binaryLen(append(append([]byte(nil), good...), 0, 0, 0, 4), sdesOff, uint16((len(good)+4-sdesOff)/4-1))
	padded[sdesOff] |= 0x20
	if _, err := parseRTCP(padded, 1); err != nil {
		t.Fatalf("padded last packet: %v", err)
	}
	badPad := append([]byte(nil), padded...)
	badPad[len(badPad)-1] = 200
	padFirst := append([]byte(nil), good...)
	padFirst[0] |= 0x20
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:6]},
		{"rtp", rtpPacket(0, 1, 2, 3, make([]byte, 160))},
		{"version 1", append([]byte{0x40 | good[0]&0x3F}, good[1:]...)},
		{"SDES first", appendSDES(nil, 5, "x")},
		{"length past end", binaryLen(good, 0, 200)},
		{"lengths short of the datagram", append(append([]byte(nil), good...), 0, 0)},
		{"count beyond length", append([]byte{0x81}, appendRR(nil, 5, nil)[1:]...)},
		{"padding not last", padFirst},
		{"padding longer than the packet", badPad},
		{"second packet version 0", append(append([]byte(nil), good[:sdesOff]...), append([]byte{0x01}, good[sdesOff+1:]...)...)},
	} {
		if _, err := parseRTCP(c.b, 1); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// Interarrival jitter per RFC 3550 A.8 against a sequence worked by hand:
// transit times 1000, 1000, 1160, 1000, 1000 give |D| 0, 160, 160, 0 and
// J = J + (|D| - J)/16: 0, 10, 19.375, 18.16.
func TestRecvStatsJitter(t *testing.T) {
	var s rtpRecvStats
	arrivals := []uint32{1000, 1160, 1480, 1480, 1640}
	want := []float64{0, 0, 10, 19.375, 18.164}
	for i, a := range arrivals {
		s.update(7, uint16(i), uint32(160*i), a, true)
		if got := float64(s.jitter) / 16; math.Abs(got-want[i]) > 0.6 {
			t.Fatalf("packet %d: jitter %.3f, want %.3f", i, got, want[i])
		}
	}
	if s.jitter>>4 != 18 {
		t.Fatalf("reported jitter %d, want 18", s.jitter>>4)
	}
}

// Sequence accounting per RFC 3550 A.1 and A.3: a wrap, two losses, a
// duplicate, a stray jump and a restart.
func TestRecvStatsSequence(t *testing.T) {
	var s rtpRecvStats
	for _, seq := range []uint16{65534, 65535, 0, 1, 4} { // 2 and 3 lost
		s.update(9, seq, 0, 0, false)
	}
	if s.extHighest() != 1<<16+4 || s.expected() != 7 || s.received != 5 {
		t.Fatalf("after wrap: ext %d expected %d received %d", s.extHighest(), s.expected(), s.received)
	}
	s.update(9, 1, 0, 0, false) // a duplicate counts as received
	if lost := s.expected() - s.received; lost != 1 {
		t.Fatalf("lost %d after a duplicate", lost)
	}
	if s.update(9, 30000, 0, 0, false) { // a jump: not counted yet
		t.Fatal("a lone jump counted")
	}
	s.update(9, 30001, 0, 0, false) // confirmed: the sender restarted
	if s.expected() != 1 || s.received != 1 || s.extHighest() != 30001 {
		t.Fatalf("after restart: ext %d expected %d received %d", s.extHighest(), s.expected(), s.received)
	}
	s.update(10, 5, 0, 0, false) // another SSRC starts afresh
	if s.ssrc != 10 || s.expected() != 1 {
		t.Fatalf("new SSRC: %+v", s)
	}
}

// testEndpointAt is an endpoint without sockets whose clock starts at t0,
// for the report logic under a fake clock.
func testEndpointAt(t0 time.Time, remote netip.AddrPort) *RTPEndpoint {
	e := &RTPEndpoint{localSSRC: 0x1234, epoch: t0, clockRate: 8000, tickSample: 160, tsBase: 1000,
		params: RTPParams{Codec: CodecPCMU}}
	e.remote.Store(&remote)
	return e
}

// The SR maps NTP to the RTP timestamp from the least late tick, and a
// restarted room clock moves the mapping; a report answering the SR gives
// the round-trip time A - LSR - DLSR.
func TestRTCPSenderClockAndRTT(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddrPort("192.0.2.7:4000")
	e := testEndpointAt(t0, peer)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	e.trackSendClock(0, ms(5))  // 5 ms late
	e.trackSendClock(1, ms(21)) // 1 ms late
	e.trackSendClock(2, ms(40)) // on time: the mapping
	e.trackSendClock(3, ms(63))
	e.packetsOut.Store(4)
	e.octetsOut.Store(640)
	var st reportState
	info, err := parseRTCP(e.buildReport(nil, ms(100), &st, false), 0)
	if err != nil || !info.hasSR {
		t.Fatalf("%+v %v", info, err)
	}
	if info.sr.ntp != ntpTime(ms(100)) || info.sr.rtpTS != 1000+800 || info.sr.packets != 4 || info.sr.octets != 640 {
		t.Fatalf("SR %+v, want RTP %d", info.sr, 1000+800)
	}
	e.trackSendClock(4, ms(230)) // the room stalled and restarted its clock
	info, _ = parseRTCP(e.buildReport(nil, ms(330), &st, false), 0)
	if info.sr.rtpTS != 1000+4*160+800 {
		t.Fatalf("after a restart SR RTP %d, want %d", info.sr.rtpTS, 1000+4*160+800)
	}
	// A smaller step: every tick of a window 30 ms late, the least late
	// 25 ms; the mapping follows at the window's end.
	for i := range clockWindow {
		e.trackSendClock(uint32(5+i), ms(230+float64(20*(1+i))+30-float64(5*(i%2))))
	}
	e.packetsOut.Store(54)
	info, _ = parseRTCP(e.buildReport(nil, ms(2000), &st, false), 0)
	if want := uint32(1000 + 4*160 + (2000-230-25)*8); info.sr.rtpTS != want {
		t.Fatalf("after a step SR RTP %d, want %d", info.sr.rtpTS, want)
	}

	// Nothing sent for two reports: an RR.
	if info, _ = parseRTCP(e.buildReport(nil, ms(4000), &st, false), 0); !info.hasSR {
		t.Fatal("no SR one report after sending")
	}
	if info, _ = parseRTCP(e.buildReport(nil, ms(6000), &st, false), 0); info.hasSR {
		t.Fatal("SR without sending")
	}

	// The peer answers the SR sent at 330 ms after holding it 250 ms; it
	// arrives at 630 ms: RTT 50 ms.
	lsr := ntpMid(ntpTime(ms(330)))
	rr := appendRR(nil, 0x9999, &reportBlock{ssrc: 0x1234, fractionLost: 32, totalLost: 12, jitter: 80, lsr: lsr, dlsr: 1 << 14})
	e.receiveRTCP(appendSDES(rr, 0x9999, "gw"), peer, ms(630))
	s := e.RTPStats()
	if math.Abs(s.RTTMs-50) > 0.05 || s.RemoteFractionLost != 0.125 || s.RemotePacketsLost != 12 || s.RemoteJitterMs != 10 || s.RTCPIn != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Its SR is echoed in our next block: LSR its NTP middle bits, DLSR
	// the time we held it.
	e.recordReceived(rtpHeader{ssrc: 0x9999, seq: 1, ts: 0}, ms(700), true)
	peerNTP := ntpTime(ms(640)) + 12345
	srb := appendSR(nil, 0x9999, senderInfo{ntp: peerNTP}, nil)
	e.receiveRTCP(srb, peer, ms(700))
	b := e.buildReport(nil, ms(1500), &st, false)
	var got reportBlock
	if pk, err := rtcp.Unmarshal(b); err == nil {
		r := pk[0].(*rtcp.ReceiverReport).Reports[0]
		got = reportBlock{ssrc: r.SSRC, lsr: r.LastSenderReport, dlsr: r.Delay}
	}
	if got.ssrc != 0x9999 || got.lsr != ntpMid(peerNTP) || math.Abs(float64(got.dlsr)/65536-0.8) > 0.001 {
		t.Fatalf("block %+v, want LSR %x and DLSR 0.8 s", got, ntpMid(peerNTP))
	}
	if n := testing.AllocsPerRun(100, func() { e.receiveRTCP(srb, peer, ms(700)) }); n != 0 {
		t.Errorf("receiveRTCP allocates %.0f", n)
	}
	// The whole RTP receive path, reports included.
	e.handler = nopHandler{}
	pkt := rtpPacket(0, 3, 480, 0x9999, make([]byte, 160))
	if n := testing.AllocsPerRun(100, func() { e.receive(pkt, peer, ms(720)) }); n != 0 {
		t.Errorf("receive allocates %.0f", n)
	}
}

// Garbage and strangers' RTCP is dropped and counted, and does not count
// as the peer being alive.
func TestRTCPGarbageCounted(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddrPort("192.0.2.7:4000")
	e := testEndpointAt(t0, peer)
	now := t0.Add(time.Second)
	e.receiveRTCP([]byte{0x80, 200, 0}, peer, now)
	e.receiveRTCP(rtpPacket(0, 1, 2, 3, make([]byte, 20)), peer, now)
	e.receiveRTCP(appendRR(nil, 5, nil), netip.MustParseAddrPort("198.51.100.1:4001"), now) // a stranger
	if s := e.RTPStats(); s.RTCPDropped != 3 || s.RTCPIn != 0 || e.lastValid.Load() != 0 || s.Dropped() != 3 {
		t.Fatalf("stats %+v, last valid %d", s, e.lastValid.Load())
	}
	e.receiveRTCP(appendRR(nil, 5, nil), peer, now)
	if s := e.RTPStats(); s.RTCPIn != 1 || e.lastValidAt() != now {
		t.Fatalf("stats %+v", s)
	}
}

func TestRTCPInterval(t *testing.T) {
	for _, c := range []struct {
		initial bool
		u       float64
		want    time.Duration
	}{
		{false, 0, 2052 * time.Millisecond},
		{false, 0.5, 4104 * time.Millisecond},
		{false, 0.999999, 6156 * time.Millisecond},
		{true, 0.5, 2052 * time.Millisecond},
	} {
		if got := rtcpInterval(5*time.Second, c.initial, c.u); (got - c.want).Abs() > time.Millisecond {
			t.Errorf("initial %v u %v: %v, want %v", c.initial, c.u, got, c.want)
		}
	}
}

type nopHandler struct{}

func (nopHandler) HandleAudio(uint16, uint32, []byte, int, time.Time) {}
func (nopHandler) HandleClosed(string)                                {}

// rtcpPeer is the far end of a loopback test: it sends RTP and RTCP from
// its own sockets and records what arrives, with SRTP when keyed.
type rtcpPeer struct {
	t         *testing.T
	rtp, rtcp *net.UDPConn // rtcp == rtp with mux
	key       []byte       // what the peer sends with (nil: plain)
	enc, encC *srtp.Context
	dec, decC *srtp.Context // for what the endpoint sends, once known
	mu        sync.Mutex
	media     []peerRTP
	reports   []peerRTCP
	wg        sync.WaitGroup
	mux       bool
}

type peerRTP struct {
	h  rtpHeader
	at time.Time
}

type peerRTCP struct {
	pkts []rtcp.Packet
	at   time.Time
}

func newRTCPPeer(t *testing.T, mux bool, key []byte) *rtcpPeer {
	p := &rtcpPeer{t: t, mux: mux, key: key}
	p.rtp, p.rtcp = udptest.ListenPair(t, 33000, 34000)
	if mux {
		p.rtcp = p.rtp
	}
	if key != nil {
		p.enc, _ = newSRTPContext(key)
		p.encC, _ = newSRTPContext(key)
	}
	return p
}

// start reads until the sockets close; localKey is the endpoint's key.
func (p *rtcpPeer) start(localKey []byte) {
	if localKey != nil {
		p.dec, _ = newSRTPContext(localKey)
		p.decC, _ = newSRTPContext(localKey)
	}
	conns := []*net.UDPConn{p.rtp}
	if !p.mux {
		conns = append(conns, p.rtcp)
	}
	for _, c := range conns {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 1500)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				at := time.Now()
				b := append([]byte(nil), buf[:n]...)
				if isRTCP(b) {
					if p.decC != nil {
						if b, err = p.decC.DecryptRTCP(nil, b, nil); err != nil {
							p.t.Errorf("SRTCP from the endpoint: %v", err)
							continue
						}
					}
					pkts, err := rtcp.Unmarshal(b)
					if err != nil {
						p.t.Errorf("RTCP from the endpoint: %v", err)
						continue
					}
					if c != p.rtcp {
						p.t.Errorf("RTCP on the RTP port without mux")
					}
					p.mu.Lock()
					p.reports = append(p.reports, peerRTCP{pkts, at})
					p.mu.Unlock()
					continue
				}
				if p.dec != nil {
					if b, err = p.dec.DecryptRTP(nil, b, nil); err != nil {
						p.t.Errorf("SRTP from the endpoint: %v", err)
						continue
					}
				}
				h, err := parseRTP(b)
				if err != nil {
					p.t.Errorf("RTP from the endpoint: %v", err)
					continue
				}
				p.mu.Lock()
				p.media = append(p.media, peerRTP{h, at})
				p.mu.Unlock()
			}
		}()
	}
}

func (p *rtcpPeer) stop() {
	_ = p.rtp.Close()
	_ = p.rtcp.Close()
	p.wg.Wait()
}

func (p *rtcpPeer) sendRTP(to netip.AddrPort, b []byte) {
	if p.enc != nil {
		b, _ = p.enc.EncryptRTP(nil, b, nil)
	}
	_, _ = p.rtp.WriteToUDPAddrPort(b, to)
}

func (p *rtcpPeer) sendRTCP(to netip.AddrPort, pkts ...rtcp.Packet) {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		p.t.Fatal(err)
	}
	if p.encC != nil {
		b, _ = p.encC.EncryptRTCP(nil, b, nil)
	}
	_, _ = p.rtcp.WriteToUDPAddrPort(b, to)
}

// lastReport returns the last compound the endpoint sent and when.
func (p *rtcpPeer) lastReport() (peerRTCP, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reports) == 0 {
		return peerRTCP{}, 0
	}
	return p.reports[len(p.reports)-1], len(p.reports)
}

// TestRTCPLoopback runs an endpoint against a peer on loopback: the peer
// sends RTP (two packets lost, across a sequence wrap) and an SR, and
// reads our SRs; their NTP/RTP mapping matches the RTP that arrives, their
// counts match what was sent, and the report block describes the peer's
// stream. The peer's RR gives us an RTT and its loss; garbage on the RTCP
// port is counted; Close sends a BYE. Plain, rtcp-mux and SRTP/SRTCP.
func TestRTCPLoopback(t *testing.T) {
	key := make([]byte, 30)
	for i := range key {
		key[i] = byte(100 + i)
	}
	for _, tc := range []struct {
		name string
		mux  bool
		key  []byte
	}{{"plain", false, nil}, {"rtcp-mux", true, nil}, {"srtp", false, key}} {
		t.Run(tc.name, func(t *testing.T) { testRTCPLoopback(t, tc.mux, tc.key) })
	}
}

func testRTCPLoopback(t *testing.T, mux bool, key []byte) {
	p := newRTCPPeer(t, mux, key)
	cfg := testRTPConfig()
	cfg.RTCPInterval = 300 * time.Millisecond
	h := &recHandler{}
	e, err := NewRTPEndpoint(cfg, RTPParams{Codec: CodecPCMU, PayloadType: 0, Latch: true, RTCPMux: mux, RemoteKey: key,
		Remote: p.rtp.LocalAddr().(*net.UDPAddr).AddrPort()}, h)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = e.Close()
		}
	}()
	p.start(e.LocalKey())
	defer p.stop()
	rtpTo := e.LocalAddr()
	rtcpTo := rtpTo
	if !mux {
		rtcpTo = netip.AddrPortFrom(rtpTo.Addr(), rtpTo.Port()+1)
	}

	// The room: a tick every 20 ms on a fixed schedule, late ones caught
	// up, as the room's clock does.
	stopTicks := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Add(1)
	go func() {
		defer tickWG.Done()
		payload := make([]byte, 160)
		start := time.Now()
		for tick := uint32(0); ; tick++ {
			select {
			case <-stopTicks:
				return
			case <-time.After(time.Until(start.Add(time.Duration(tick) * 20 * time.Millisecond))):
			}
			e.SendAudio(payload, tick)
		}
	}()
	defer func() { close(stopTicks); tickWG.Wait() }()

	// The peer: 52 packets from seq 65500 (wrapping), 65510 and 65511
	// lost; an SR of its own after the first 20.
	const peerSSRC = 0xA1B2C3D4
	var peerSR *rtcp.SenderReport
	var peerSRAt time.Time
	for i := range 52 {
		if i != 10 && i != 11 {
			p.sendRTP(rtpTo, rtpPacket(0, uint16(65500+i), uint32(160*i), peerSSRC, make([]byte, 160)))
		}
		if i == 20 {
			peerSRAt = time.Now()
			peerSR = &rtcp.SenderReport{SSRC: peerSSRC, NTPTime: ntpTime(peerSRAt), RTPTime: 160 * 20, PacketCount: 19, OctetCount: 19 * 160}
			p.sendRTCP(rtcpTo, peerSR, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{
				{Source: peerSSRC, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "peer"}}}}})
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Wait for a report sent after all of that.
	lastSent := time.Now()
	waitFor(t, "a report after the peer's stream", func() bool { r, _ := p.lastReport(); return r.at.After(lastSent) })
	rep, _ := p.lastReport()
	p.mu.Lock()
	media := append([]peerRTP(nil), p.media...)
	p.mu.Unlock()
	if len(media) < 20 {
		t.Fatalf("peer got %d RTP packets", len(media))
	}
	ourSSRC := media[0].h.ssrc

	sr, ok := rep.pkts[0].(*rtcp.SenderReport)
	if !ok || sr.SSRC != ourSSRC {
		t.Fatalf("first packet %#v, want an SR from %x", rep.pkts[0], ourSSRC)
	}
	var cname string
	for _, pk := range rep.pkts[1:] {
		if sd, ok := pk.(*rtcp.SourceDescription); ok && sd.Chunks[0].Source == ourSSRC {
			cname = sd.Chunks[0].Items[0].Text
		}
	}
	if !strings.HasPrefix(cname, "openmcu-") {
		t.Fatalf("no CNAME in %v", rep.pkts)
	}
	// NTP is the wall clock when it was sent (loopback: when it came).
	srWall := time.Unix(int64(sr.NTPTime>>32)-ntpEpochOffset, int64((sr.NTPTime&0xFFFFFFFF)*1e9>>32))
	if d := rep.at.Sub(srWall); d < -time.Millisecond || d > 20*time.Millisecond {
		t.Fatalf("SR NTP is %v before its arrival", d)
	}
	// Its RTP timestamp is the one our stream has at that instant: a
	// packet that arrived before it, advanced by the time since. Packets
	// leave on or after their tick, never before, so none may look early
	// and the most punctual of the last 25 must be close.
	best := math.Inf(1)
	for _, m := range media[len(media)-25:] {
		predicted := float64(m.h.ts) + 8000*srWall.Sub(m.at).Seconds()
		late := float64(int32(sr.RTPTime-uint32(int64(predicted)))) / 8 // ms
		if late < -1 {
			t.Errorf("SR RTP %d maps packet ts %d %.1f ms before it came", sr.RTPTime, m.h.ts, -late)
		}
		best = min(best, late)
	}
	t.Logf("SR NTP→RTP mapping: the most punctual recent packet within %.2f ms", best)
	if best > 5 {
		t.Errorf("SR RTP %d: every recent packet at least %.1f ms off", sr.RTPTime, best)
	}
	var before uint32
	for _, m := range media {
		if m.at.Before(rep.at) {
			before++
		}
	}
	// A packet can overtake the SR between its building and its sending,
	// and the count follows the write that sent one.
	if sr.PacketCount+2 < before || sr.PacketCount > before+2 || sr.OctetCount != 160*sr.PacketCount {
		t.Fatalf("SR counts %d packets %d octets; the peer had %d packets by then", sr.PacketCount, sr.OctetCount, before)
	}
	if len(sr.Reports) != 1 {
		t.Fatalf("SR reports %v", sr.Reports)
	}
	rb := sr.Reports[0]
	if rb.SSRC != peerSSRC || rb.TotalLost != 2 || rb.LastSequenceNumber != 65500+51 || rb.Jitter > 8*10 {
		t.Fatalf("report block %+v, want lost 2, highest %d, jitter under 10 ms", rb, 65500+51)
	}
	rtt := float64(int32(ntpMid(ntpTime(rep.at))-rb.LastSenderReport-rb.Delay)) / 65536
	if rb.LastSenderReport != ntpMid(peerSR.NTPTime) || rtt < -0.001 || rtt > 0.02 {
		t.Fatalf("LSR %x (want %x), DLSR %d: RTT %.4f s", rb.LastSenderReport, ntpMid(peerSR.NTPTime), rb.Delay, rtt)
	}

	// The peer reports on our stream: RTT and its loss reach our stats.
	held := 30 * time.Millisecond
	time.Sleep(held)
	p.sendRTCP(rtcpTo, &rtcp.ReceiverReport{SSRC: peerSSRC, Reports: []rtcp.ReceptionReport{{
		SSRC: ourSSRC, FractionLost: 64, TotalLost: 5, LastSequenceNumber: 1, Jitter: 40,
		LastSenderReport: ntpMid(sr.NTPTime), Delay: uint32(time.Since(rep.at).Seconds() * 65536),
	}}})
	garbage := [][]byte{{0x80, 201, 0, 9, 1, 2}, rtpPacket(0, 1, 2, 3, []byte{1})}
	if !mux {
		for _, g := range garbage {
			_, _ = p.rtcp.WriteToUDPAddrPort(g, rtcpTo)
		}
	} else {
		_, _ = p.rtcp.WriteToUDPAddrPort(garbage[0], rtcpTo)
	}
	waitFor(t, "the peer's RR", func() bool { return e.RTPStats().RemoteFractionLost > 0 })
	wantDropped := uint64(2)
	if mux {
		wantDropped = 1
	}
	waitFor(t, "garbage counted", func() bool { return e.RTPStats().RTCPDropped == wantDropped })
	s := e.RTPStats()
	t.Logf("stats %+v", s)
	if s.RemoteFractionLost != 0.25 || s.RemotePacketsLost != 5 || s.RemoteJitterMs != 5 || s.RTTMs <= 0 || s.RTTMs > 20 ||
		s.RTCPIn != 2 || s.RTCPOut < 2 || s.PacketsLost != 2 || s.JitterMs > 10 || s.PacketsIn != 50 || s.Malformed != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Close: a BYE is the last thing sent.
	_, n := p.lastReport()
	closed = true
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BYE", func() bool { _, m := p.lastReport(); return m > n })
	rep, _ = p.lastReport()
	bye, ok := rep.pkts[len(rep.pkts)-1].(*rtcp.Goodbye)
	if !ok || bye.Sources[0] != ourSSRC {
		t.Fatalf("last compound %v", rep.pkts)
	}
}

// A peer that only sends RTCP (it is on hold, or muted with DTX) stays:
// its reports keep the endpoint alive; garbage does not.
func TestRTCPKeepsEndpointAlive(t *testing.T) {
	p := newRTCPPeer(t, false, nil)
	cfg := testRTPConfig()
	cfg.RTPTimeout = 400 * time.Millisecond
	h := &recHandler{closed: make(chan string, 1)}
	e, err := NewRTPEndpoint(cfg, RTPParams{Codec: CodecPCMU, Latch: true, Remote: p.rtp.LocalAddr().(*net.UDPAddr).AddrPort()}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p.start(nil)
	defer p.stop()
	rtcpTo := netip.AddrPortFrom(e.LocalAddr().Addr(), e.LocalAddr().Port()+1)
	p.sendRTP(e.LocalAddr(), rtpPacket(0, 1, 0, 77, make([]byte, 160)))
	var start time.Time
	for range 12 { // 1.2 s of reports only
		p.sendRTCP(rtcpTo, &rtcp.ReceiverReport{SSRC: 77})
		start = time.Now()
		select {
		case r := <-h.closed:
			t.Fatalf("closed while reports came: %s", r)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for range 10 {
		_, _ = p.rtcp.WriteToUDPAddrPort([]byte{0x80, 201, 0, 7}, rtcpTo)
		time.Sleep(50 * time.Millisecond)
		select {
		case r := <-h.closed:
			if d := time.Since(start); d < 350*time.Millisecond || !strings.Contains(r, "no RTP or RTCP") {
				t.Fatalf("closed after %v: %q", d, r)
			}
			if s := e.RTPStats(); s.RTCPIn != 12 || s.RTCPDropped == 0 {
				t.Fatalf("stats %+v", s)
			}
			return
		default:
		}
	}
	select {
	case <-h.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("not closed after the reports stopped")
	}
}

func TestRTPOfferRTCPAttributes(t *testing.T) {
	o, err := ParseRTPOffer(testOffer+"a=rtcp:40011 IN IP4 192.0.2.11\r\n", 0)
	if err != nil || o.Params.RTCPRemote != netip.MustParseAddrPort("192.0.2.11:40011") || o.Params.RTCPMux {
		t.Fatalf("a=rtcp with an address: %+v %v", o.Params, err)
	}
	o, err = ParseRTPOffer(testOffer+"a=rtcp:40005\r\n", 0)
	if err != nil || o.Params.RTCPRemote != netip.MustParseAddrPort("192.0.2.10:40005") {
		t.Fatalf("a=rtcp port only: %+v %v", o.Params, err)
	}
	ans := RTPAnswer(o, netip.MustParseAddrPort("198.51.100.1:20002"), make([]byte, 30), 7)
	if !strings.Contains(ans, "a=rtcp:20003\r\n") || strings.Contains(ans, "rtcp-mux") {
		t.Fatalf("answer:\n%s", ans)
	}
	o, err = ParseRTPOffer(testOffer+"a=rtcp-mux\r\n", 0)
	if err != nil || !o.Params.RTCPMux {
		t.Fatalf("a=rtcp-mux: %+v %v", o.Params, err)
	}
	ans = RTPAnswer(o, netip.MustParseAddrPort("198.51.100.1:20002"), make([]byte, 30), 7)
	if !strings.Contains(ans, "a=rtcp-mux\r\n") || strings.Contains(ans, "a=rtcp:") {
		t.Fatalf("answer:\n%s", ans)
	}
	for _, bad := range []string{"a=rtcp:\r\n", "a=rtcp:0\r\n", "a=rtcp:99999\r\n", "a=rtcp:4000 IN IP4 gw.example\r\n"} {
		if _, err := ParseRTPOffer(testOffer+bad, 0); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// The peer's RTCP BYE ends the endpoint after byeGrace, unless its RTP
// resumes (a sender restarting its stream says goodbye to the old SSRC).
func TestRTCPByeEndsEndpoint(t *testing.T) {
	for _, resume := range []bool{false, true} {
		t.Run(fmt.Sprintf("resume=%v", resume), func(t *testing.T) {
			p := newRTCPPeer(t, false, nil)
			h := &recHandler{closed: make(chan string, 1)}
			e, err := NewRTPEndpoint(testRTPConfig(), RTPParams{Codec: CodecPCMU, Latch: true,
				Remote: p.rtp.LocalAddr().(*net.UDPAddr).AddrPort()}, h)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			p.start(nil)
			defer p.stop()
			rtcpTo := netip.AddrPortFrom(e.LocalAddr().Addr(), e.LocalAddr().Port()+1)
			for i := range 5 {
				p.sendRTP(e.LocalAddr(), rtpPacket(0, uint16(i), uint32(160*i), 77, make([]byte, 160)))
			}
			waitFor(t, "the stream", func() bool { return e.RTPStats().PacketsIn == 5 })
			// A stranger's BYE changes nothing.
			// Compound packets begin with a report (RFC 3550 A.2).
			p.sendRTCP(rtcpTo, &rtcp.ReceiverReport{SSRC: 99}, &rtcp.Goodbye{Sources: []uint32{99}})
			p.sendRTCP(rtcpTo, &rtcp.ReceiverReport{SSRC: 77}, &rtcp.Goodbye{Sources: []uint32{77}})
			bye := time.Now()
			if resume {
				for i := range 150 { // 3 s of a new SSRC's stream
					p.sendRTP(e.LocalAddr(), rtpPacket(0, uint16(100+i), uint32(160*i), 78, make([]byte, 160)))
					time.Sleep(20 * time.Millisecond)
				}
				select {
				case r := <-h.closed:
					t.Fatalf("closed although RTP resumed: %s", r)
				default:
				}
				return
			}
			select {
			case r := <-h.closed:
				if d := time.Since(bye); d < byeGrace-100*time.Millisecond || !strings.Contains(r, "BYE") {
					t.Fatalf("closed %v after the BYE: %q", d, r)
				}
			case <-time.After(byeGrace + 2*time.Second):
				t.Fatal("not closed after the peer's BYE")
			}
		})
	}
}
