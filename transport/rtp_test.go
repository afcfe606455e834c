package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, payload...)
}

func TestParseRTP(t *testing.T) {
	ok := rtpPacket(0, 7, 160, 42, []byte{1, 2, 3})
	withCSRC := append([]byte{0x82, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42}, make([]byte, 8)...)
	withCSRC = append(withCSRC, 9, 9)
	withExt := append([]byte{0x90, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4}, 5, 6)
	padded := append([]byte{0xA0, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42}, 5, 6, 0, 0, 3)
	for _, c := range []struct {
		name    string
		b       []byte
		payload []byte // nil: must fail
	}{
		{"plain", ok, []byte{1, 2, 3}},
		{"csrc", withCSRC, []byte{9, 9}},
		{"extension", withExt, []byte{5, 6}},
		{"padding", padded, []byte{5, 6}},
		{"short", ok[:11], nil},
		{"version 1", append([]byte{0x40}, ok[1:]...), nil},
		{"csrc past end", append([]byte{0x8F}, ok[1:]...), nil},
		{"extension past end", append([]byte{0x90, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42, 0xBE, 0xDE, 0, 9}, 1, 2), nil},
		{"padding too long", append([]byte{0xA0, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42}, 5, 9), nil},
		{"padding zero", append([]byte{0xA0, 0, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42}, 5, 0), nil},
		{"no payload", ok[:12], nil},
	} {
		h, err := parseRTP(c.b)
		if c.payload == nil {
			if err == nil {
				t.Errorf("%s: accepted", c.name)
			}
			continue
		}
		if err != nil || string(h.payload) != string(c.payload) || h.seq != 7 || h.ts != 160 || h.ssrc != 42 {
			t.Errorf("%s: %+v, %v", c.name, h, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = parseRTP(withExt) }); n != 0 {
		t.Errorf("parseRTP allocates %.0f", n)
	}
}

type got struct {
	seq     uint16
	ts      uint32
	payload []byte
}

type recHandler struct {
	mu     sync.Mutex
	pkts   []got
	closed chan string // receives HandleClosed's reason when not nil
}

func (h *recHandler) HandleAudio(seq uint16, ts uint32, payload []byte, _ int, _ time.Time) {
	h.mu.Lock()
	h.pkts = append(h.pkts, got{seq, ts, append([]byte(nil), payload...)})
	h.mu.Unlock()
}
func (h *recHandler) HandleClosed(reason string) {
	if h.closed != nil {
		h.closed <- reason
	}
}
func (h *recHandler) snapshot() []got {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]got(nil), h.pkts...)
}

func testRTPConfig() Config {
	c := DefaultConfig()
	c.RTPPorts = "31000-31999"
	return c
}

// newTestEndpoint starts an endpoint and a peer socket that talks to it.
func newTestEndpoint(t *testing.T, p RTPParams) (*RTPEndpoint, *net.UDPConn, *recHandler) {
	t.Helper()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	h := &recHandler{}
	if !p.Remote.IsValid() {
		p.Remote = peer.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	e, err := NewRTPEndpoint(testRTPConfig(), p, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if port := e.LocalAddr().Port(); port%2 != 0 || port < 31000 || port > 31999 {
		t.Fatalf("bound %v: want an even port in the range", e.LocalAddr())
	}
	return e, peer, h
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRTPEndpointValidatesAndCounts(t *testing.T) {
	e, peer, h := newTestEndpoint(t, RTPParams{Codec: CodecPCMU, PayloadType: 0, EventPayloadType: 101, Latch: true})
	to := net.UDPAddrFromAddrPort(e.LocalAddr())
	send := func(b []byte) {
		if _, err := peer.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	voice := make([]byte, 160)
	send(rtpPacket(0, 100, 1000, 0xAAAA, voice))          // latches SSRC
	send(rtpPacket(8, 101, 1160, 0xAAAA, voice))          // PCMA: not negotiated
	send(rtpPacket(101, 102, 1160, 0xAAAA, []byte{1, 2})) // DTMF
	send(rtpPacket(0, 103, 1160, 0xBBBB, voice))          // stray SSRC
	send([]byte{0x80, 0, 1})                              // truncated
	send(rtpPacket(13, 104, 1320, 0xAAAA, []byte{50}))    // comfort noise
	send(rtpPacket(0, 105, 1480, 0xAAAA, voice))
	waitFor(t, "counters", func() bool { s := e.RTPStats(); return s.PacketsIn+s.Dropped() == 7 })
	s := e.RTPStats()
	if s.PacketsIn != 3 || s.WrongPayload != 1 || s.Events != 1 || s.WrongSSRC != 1 || s.Malformed != 1 || s.ComfortNoise != 1 {
		t.Fatalf("stats %+v", s)
	}
	if st := e.Stats(); st.PacketsDropped != 4 || st.PacketsIn != 3 {
		t.Fatalf("endpoint stats %+v", st)
	}
	pk := h.snapshot()
	if len(pk) != 3 || pk[0].ts != 6000 || pk[0].payload[0] != PayloadPCMU || len(pk[0].payload) != 161 ||
		pk[1].payload[0] != PayloadCN || pk[2].seq != 105 || pk[2].ts != 1480*6 {
		t.Fatalf("handed on %+v", pk)
	}
}

// A gateway that stops sending without hanging up is closed after
// RTPTimeout; garbage does not keep it alive.
func TestRTPEndpointTimesOutWhenTheSenderVanishes(t *testing.T) {
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	cfg := testRTPConfig()
	cfg.RTPTimeout = 400 * time.Millisecond
	h := &recHandler{closed: make(chan string, 1)}
	e, err := NewRTPEndpoint(cfg, RTPParams{Codec: CodecPCMU, Latch: true,
		Remote: peer.LocalAddr().(*net.UDPAddr).AddrPort()}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	to := net.UDPAddrFromAddrPort(e.LocalAddr())
	start := time.Now()
	for i := range 10 { // 200 ms of voice, then only garbage
		_, _ = peer.WriteToUDP(rtpPacket(0, uint16(i), uint32(160*i), 0xAAAA, make([]byte, 160)), to)
		time.Sleep(20 * time.Millisecond)
	}
	last := time.Now()
	stopGarbage := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopGarbage:
				return
			case <-time.After(50 * time.Millisecond):
				_, _ = peer.WriteToUDP([]byte{0x80, 0, 1}, to)
			}
		}
	}()
	defer close(stopGarbage)
	select {
	case reason := <-h.closed:
		if idle := time.Since(last); idle < 350*time.Millisecond {
			t.Fatalf("closed after %v of silence, want about 400ms", idle)
		}
		if !strings.Contains(reason, "no RTP") {
			t.Fatalf("reason %q", reason)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("not closed %v after the sender stopped", time.Since(start))
	}
}

// The sender restarts with a new SSRC: after a few packets in sequence it
// is followed, renumbered to continue the old stream.
func TestRTPEndpointFollowsRestartedStream(t *testing.T) {
	e, peer, h := newTestEndpoint(t, RTPParams{Codec: CodecPCMA, PayloadType: 8, Latch: true})
	to := net.UDPAddrFromAddrPort(e.LocalAddr())
	voice := make([]byte, 160)
	for i := range 3 {
		_, _ = peer.WriteToUDP(rtpPacket(8, uint16(10+i), uint32(160*i), 1, voice), to)
	}
	waitFor(t, "first stream", func() bool { return len(h.snapshot()) == 3 })
	for i := range 8 {
		_, _ = peer.WriteToUDP(rtpPacket(8, uint16(60000+i), uint32(9999+160*i), 2, voice), to)
	}
	waitFor(t, "restart", func() bool { s := e.RTPStats(); return s.PacketsIn+s.WrongSSRC == 11 })
	s := e.RTPStats()
	if s.SSRCChanges != 1 || s.WrongSSRC != ssrcSwitchPackets-1 {
		t.Fatalf("stats %+v", s)
	}
	pk := h.snapshot()
	if pk[3].seq != 13 || pk[4].seq != 14 {
		t.Fatalf("new stream not renumbered: %+v", pk[3:])
	}
}

// 10 ms packets are paired into 20 ms ones with halved sequence numbers.
func TestRTPEndpointPairsTenMillisecondPackets(t *testing.T) {
	e, peer, h := newTestEndpoint(t, RTPParams{Codec: CodecPCMU, PayloadType: 0})
	to := net.UDPAddrFromAddrPort(e.LocalAddr())
	for i := range 6 {
		_, _ = peer.WriteToUDP(rtpPacket(0, uint16(i), uint32(80*i), 5, make([]byte, 80)), to)
	}
	waitFor(t, "pairs", func() bool { return len(h.snapshot()) == 3 })
	for i, p := range h.snapshot() {
		if len(p.payload) != 161 || p.ts != uint32(960*i) || p.seq != uint16(i) {
			t.Fatalf("pair %d: seq %d ts %d %d bytes", i, p.seq, p.ts, len(p.payload))
		}
	}
}

// Sending: our own SSRC, a marker on the first packet, the sequence +1 per
// packet and the timestamp from the room tick; with latching the address
// follows the first valid packet.
func TestRTPEndpointSendsAndLatches(t *testing.T) {
	// The configured remote is a socket nobody reads; latching moves us.
	dead, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer dead.Close()
	e, peer, _ := newTestEndpoint(t, RTPParams{Codec: CodecPCMU, PayloadType: 0, Latch: true,
		Remote: dead.LocalAddr().(*net.UDPAddr).AddrPort()})
	_, _ = peer.WriteToUDP(rtpPacket(0, 1, 0, 9, make([]byte, 160)), net.UDPAddrFromAddrPort(e.LocalAddr()))
	waitFor(t, "latch", func() bool { return e.RTPStats().Remote == peer.LocalAddr().String() })
	payload := make([]byte, 160)
	for tick := uint32(5); tick < 10; tick++ {
		e.SendAudio(payload, tick)
		if tick == 7 {
			tick++ // a tick not sent: the timestamp still advances
		}
	}
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	var first rtpHeader
	for i := range 4 {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		h, err := parseRTP(buf[:n])
		if err != nil || len(h.payload) != 160 || h.pt != 0 {
			t.Fatalf("packet %d: %+v %v", i, h, err)
		}
		if marker := buf[1]&0x80 != 0; marker != (i == 0) {
			t.Fatalf("packet %d: marker %v", i, marker)
		}
		if i == 0 {
			first = h
			continue
		}
		wantTS := first.ts + uint32(160*i)
		if i == 3 {
			wantTS += 160
		}
		if h.seq != first.seq+uint16(i) || h.ts != wantTS || h.ssrc != first.ssrc || h.ssrc == 9 {
			t.Fatalf("packet %d: seq %d ts %d ssrc %x (first %d %d %x)", i, h.seq, h.ts, h.ssrc, first.seq, first.ts, first.ssrc)
		}
	}
}

func TestRTPEndpointSRTP(t *testing.T) {
	key := make([]byte, 30)
	for i := range key {
		key[i] = byte(i * 7)
	}
	e, peer, h := newTestEndpoint(t, RTPParams{Codec: CodecPCMU, PayloadType: 0, RemoteKey: key})
	to := net.UDPAddrFromAddrPort(e.LocalAddr())
	enc, _ := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	plain := rtpPacket(0, 1, 0, 3, make([]byte, 160))
	pkt, err := enc.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = peer.WriteToUDP(pkt, to)
	_, _ = peer.WriteToUDP(plain, to) // unauthenticated: dropped
	waitFor(t, "srtp", func() bool { s := e.RTPStats(); return s.PacketsIn == 1 && s.SRTPFailed == 1 })
	if len(h.snapshot()) != 1 {
		t.Fatal("decrypted packet not handed on")
	}
	// What we send decrypts with the key we announce.
	e.SendAudio(make([]byte, 160), 0)
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	lk := e.LocalKey()
	dec, _ := srtp.CreateContext(lk[:16], lk[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	out, err := dec.DecryptRTP(nil, buf[:n], nil)
	if err != nil || len(out) != 12+160 {
		t.Fatalf("decrypt ours: %d bytes, %v", len(out), err)
	}
}

func TestRTPEndpointRejectsBadParams(t *testing.T) {
	h := &recHandler{}
	for _, p := range []RTPParams{
		{Codec: 0, Latch: true},
		{Codec: CodecPCMU}, // nowhere to send
		{Codec: CodecPCMU, Latch: true, RemoteKey: []byte{1}}, // short key
		{Codec: CodecOpus, PayloadType: 200, Latch: true},
	} {
		if e, err := NewRTPEndpoint(testRTPConfig(), p, h); err == nil {
			_ = e.Close()
			t.Errorf("%+v accepted", p)
		}
	}
	c := testRTPConfig()
	for _, ports := range []string{"", "5", "9-3", "0-10", "100-70000"} {
		c.RTPPorts = ports
		if c.Validate() == nil {
			t.Errorf("rtp_ports %q accepted", ports)
		}
	}
}

const testOffer = "v=0\r\no=gw 1 1 IN IP4 192.0.2.10\r\ns=call\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/SAVP 8 0 13 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:13 CN/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n" +
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^20\r\n"

func TestParseRTPOfferAndAnswer(t *testing.T) {
	o, err := ParseRTPOffer(testOffer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o.Params.Codec != CodecPCMA || o.Params.PayloadType != 8 || o.Params.EventPayloadType != 101 || !o.CN ||
		o.Ptime != 30 || !o.SRTP || len(o.Params.RemoteKey) != 30 || o.Params.RemoteKey[29] != 29 ||
		o.Params.Remote != netip.MustParseAddrPort("192.0.2.10:40000") {
		t.Fatalf("offer %+v", o)
	}
	if o, err := ParseRTPOffer(testOffer, CodecPCMU); err != nil || o.Params.Codec != CodecPCMU || o.Params.PayloadType != 0 {
		t.Fatalf("PCMU preferred: %+v %v", o, err)
	}
	if _, err := ParseRTPOffer(testOffer, CodecOpus); err == nil {
		t.Fatal("opus not offered but chosen")
	}
	ans := RTPAnswer(o, netip.MustParseAddrPort("198.51.100.1:20002"), make([]byte, 30), 7)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(ans); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, ans)
	}
	back, err := ParseRTPOffer(ans, 0)
	if err != nil || back.Params.Codec != CodecPCMA || back.Params.Remote.String() != "198.51.100.1:20002" || !back.SRTP {
		t.Fatalf("answer read back: %+v %v\n%s", back, err, ans)
	}
	for _, bad := range []string{
		"",
		"not sdp",
		strings.Replace(testOffer, "RTP/SAVP 8 0 13 101", "RTP/SAVP 13 101", 1),
		strings.Replace(testOffer, "RTP/SAVP", "UDP/TLS/RTP/SAVPF", 1),
		strings.Replace(testOffer, "inline:AAEC", "inline:!!", 1),
		strings.Replace(testOffer, "c=IN IP4 192.0.2.10", "c=IN IP4 gw.example", 1),
		strings.Replace(testOffer, "m=audio", "m=video", 1),
	} {
		if _, err := ParseRTPOffer(bad, 0); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}
