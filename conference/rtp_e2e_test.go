package conference_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/internal/udptest"
)

// rtpPhone is a plain RTP desk phone made from a UDP socket: it sends
// μ-law (or, made by newOpusPhone, Opus) RTP of a tone every 20 ms in real
// time and records what it gets.
type rtpPhone struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	freq   float64
	silent atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	// Opus: payload type, encoder and decoder (nil for PCMU); rate is the
	// RTP clock and the rate of pcm.
	pt   uint8
	rate int
	enc  *codec.OpusEncoder
	dec  *codec.OpusDecoder

	mu    sync.Mutex
	pcm   []float32 // decoded, at rate
	pkts  []rtpSeen
	other int // packets that were not 20 ms of the codec
}

type rtpSeen struct {
	seq    uint16
	ts     uint32
	ssrc   uint32
	marker bool
}

func newRTPPhone(t *testing.T, freq float64) *rtpPhone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &rtpPhone{conn: conn, freq: freq, stop: make(chan struct{}), rate: 8000}
}

// newOpusPhone is an rtpPhone that speaks Opus with payload type pt.
func newOpusPhone(t *testing.T, conn *net.UDPConn, freq float64, pt uint8) *rtpPhone {
	t.Helper()
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := codec.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return &rtpPhone{conn: conn, freq: freq, stop: make(chan struct{}), pt: pt, rate: 48000, enc: enc, dec: dec}
}

func (ph *rtpPhone) start(server string) error {
	addr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return err
	}
	ph.server = addr
	ph.wg.Add(2)
	go ph.sendLoop()
	go ph.recvLoop()
	return nil
}

func (ph *rtpPhone) close() {
	close(ph.stop)
	_ = ph.conn.Close()
	ph.wg.Wait()
}

func (ph *rtpPhone) sendLoop() {
	defer ph.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	ssrc := rand.Uint32()
	seq := uint16(rand.Uint32())
	ts := rand.Uint32()
	phase := 0.0
	frame := ph.rate / 50
	pkt := make([]byte, 1500)
	pcm := make([]float32, frame)
	for {
		select {
		case <-ph.stop:
			return
		case <-tick.C:
		}
		ts += uint32(frame)
		if ph.silent.Load() {
			continue // silence suppression: nothing sent, the clock runs on
		}
		pkt[0], pkt[1] = 0x80, ph.pt
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		for i := range pcm {
			pcm[i] = float32(0.1 * math.Sin(phase))
			phase += 2 * math.Pi * ph.freq / float64(ph.rate)
		}
		n := frame
		if ph.enc == nil {
			for i, v := range pcm {
				pkt[12+i] = codec.MulawEncode(int16(32767 * v))
			}
		} else {
			var err error
			if n, err = ph.enc.Encode(pcm, pkt[12:]); err != nil {
				panic(err)
			}
		}
		seq++
		_, _ = ph.conn.WriteToUDP(pkt[:12+n], ph.server)
	}
}

func (ph *rtpPhone) recvLoop() {
	defer ph.wg.Done()
	buf := make([]byte, 1500)
	pcm := make([]float32, ph.rate/50)
	for {
		n, err := ph.conn.Read(buf)
		if err != nil {
			return
		}
		ph.mu.Lock()
		ok := n > 12 && buf[0] == 0x80 && buf[1]&0x7F == ph.pt
		if ok && ph.dec != nil {
			d, err := ph.dec.Decode(buf[12:n], pcm)
			ok = err == nil && d == len(pcm)
		} else if ok {
			ok = n == 12+160
			for i, b := range buf[12:n] {
				pcm[i%len(pcm)] = float32(codec.MulawDecode(b)) / 32768
			}
		}
		if !ok {
			ph.other++
			ph.mu.Unlock()
			continue
		}
		ph.pkts = append(ph.pkts, rtpSeen{
			seq: binary.BigEndian.Uint16(buf[2:]), ts: binary.BigEndian.Uint32(buf[4:]),
			ssrc: binary.BigEndian.Uint32(buf[8:]), marker: buf[1]&0x80 != 0,
		})
		ph.pcm = append(ph.pcm, pcm...)
		ph.mu.Unlock()
	}
}

// heard returns what arrived since the last call (the first 300 ms
// skipped, as listen does) and the packets' headers.
func (ph *rtpPhone) heard() ([]float32, []rtpSeen) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	s, p := ph.pcm, ph.pkts
	ph.pcm, ph.pkts = nil, nil
	if skip := ph.rate * 3 / 10; len(s) > skip {
		s = s[skip:]
	}
	return s, p
}

func (ph *rtpPhone) sendRaw(b []byte) { _, _ = ph.conn.WriteToUDP(b, ph.server) }

// TestRTPParticipantEndToEnd: a plain RTP phone (G.711 μ-law over UDP) and
// two WebRTC participants in one room hear each other, the phone does not
// hear itself, its stream stays continuous while it is silent, and garbage
// sent to its port is dropped and counted without disturbing the room.
func TestRTPParticipantEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	// Tones on a 200 Hz grid, the phone's off it: no intermodulation
	// product of the WebRTC tones lands on 1100 Hz.
	var peers []*peer
	for i, f := range []float64{400, 600} {
		p := joinPeer(t, m, "r", []string{"w1", "w2"}[i], client.ToneSource(f, 0.1))
		p.freq = f
		peers = append(peers, p)
	}
	ph := newRTPPhone(t, 1100)
	res, err := m.JoinRTP("r", conference.JoinRTPRequest{
		ParticipantID: "phone", DisplayName: "Desk phone", Codec: conference.CodecPCMU,
		RemoteAddr: ph.conn.LocalAddr().String(),
		// Tones are what this test measures; the echo canceller is tested elsewhere.
		DSP: conference.DSPOverride{AEC: ptr(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Codec != conference.CodecPCMU || res.SDPAnswer != "" {
		t.Fatalf("result %+v", res)
	}
	if err := ph.start(res.LocalAddr); err != nil {
		t.Fatal(err)
	}
	defer ph.close()

	time.Sleep(time.Second)
	ph.heard()
	heard := listen(peers, 2300*time.Millisecond)
	phone, _ := ph.heard()
	if len(phone) < 8000 {
		t.Fatalf("the phone received %d samples", len(phone))
	}
	own := audiotest.ToneDB(phone, 1100, 8000)
	t.Logf("phone hears 400 Hz %.1f, 600 Hz %.1f, own 1100 Hz %.1f dBFS", audiotest.ToneDB(phone, 400, 8000),
		audiotest.ToneDB(phone, 600, 8000), own)
	for _, p := range peers {
		got := audiotest.ToneDB(phone, p.freq, 8000)
		if got < -30 || got-own < 30 {
			t.Errorf("phone hears %s's %.0f Hz at %.1f dBFS (own tone %.1f)", p.id, p.freq, got, own)
		}
	}
	phoneLevel := make([]float64, len(peers))
	for i, p := range peers {
		phoneLevel[i] = toneDB(heard[i], 1100)
		t.Logf("%s hears the phone's 1100 Hz at %.1f dBFS", p.id, phoneLevel[i])
		if phoneLevel[i] < -30 {
			t.Errorf("%s hears the phone at %.1f dBFS, want it audible", p.id, phoneLevel[i])
		}
	}

	// Garbage at the phone's port: a wrong payload type, truncated headers,
	// strangers' SSRCs. All dropped and counted; the tone keeps flowing.
	garbage := make([]byte, 12+160)
	stopGarbage := make(chan struct{})
	var gwg sync.WaitGroup
	gwg.Add(1)
	go func() {
		defer gwg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopGarbage:
				return
			case <-time.After(7 * time.Millisecond):
			}
			garbage[0] = 0x80
			binary.BigEndian.PutUint16(garbage[2:], uint16(i))
			binary.BigEndian.PutUint32(garbage[4:], uint32(160*i))
			binary.BigEndian.PutUint32(garbage[8:], rand.Uint32())
			switch i % 3 {
			case 0:
				garbage[1] = 96
				ph.sendRaw(garbage)
			case 1:
				ph.sendRaw(garbage[:7])
			case 2:
				garbage[1] = 0
				ph.sendRaw(garbage) // a random SSRC each time
			}
		}
	}()
	heard = listen(peers, 1800*time.Millisecond)
	close(stopGarbage)
	gwg.Wait()
	for i, p := range peers {
		if got := toneDB(heard[i], 1100); math.Abs(got-phoneLevel[i]) > 3 {
			t.Errorf("under garbage %s hears the phone at %.1f dBFS (was %.1f)", p.id, got, phoneLevel[i])
		}
	}
	info, err := m.GetRoom("r")
	if err != nil {
		t.Fatal(err)
	}
	var st *conference.RTPStats
	for _, pi := range info.Participants {
		if pi.ID == "phone" {
			st = pi.RTP
			if pi.Kind != conference.KindRTP {
				t.Errorf("phone is %v", pi.Kind)
			}
		}
	}
	if st == nil {
		t.Fatal("no RTP stats for the phone")
	}
	t.Logf("phone stats %+v", *st)
	if st.WrongPayload < 50 || st.Malformed < 50 || st.WrongSSRC < 50 || st.SSRCChanges != 0 || st.PacketsIn < 150 {
		t.Errorf("garbage not dropped and counted: %+v", *st)
	}

	// The phone goes silent (silence suppression): the mix keeps coming
	// with one packet per 20 ms, sequence +1 and timestamp +160 each.
	ph.silent.Store(true)
	ph.heard()
	time.Sleep(1500 * time.Millisecond)
	quiet, pkts := ph.heard()
	if len(pkts) < 60 {
		t.Fatalf("only %d packets in 1.5 s of silence", len(pkts))
	}
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		if b.seq != a.seq+1 || b.ts != a.ts+160 || b.ssrc != a.ssrc || b.marker {
			t.Fatalf("packet %d: seq %d→%d ts %d→%d ssrc %x→%x marker %v", i, a.seq, b.seq, a.ts, b.ts, a.ssrc, b.ssrc, b.marker)
		}
	}
	if got := audiotest.ToneDB(quiet, 400, 8000); got < -30 {
		t.Errorf("silent phone hears 400 Hz at %.1f dBFS", got)
	}
	ph.mu.Lock()
	other := ph.other
	ph.mu.Unlock()
	if other != 0 {
		t.Errorf("%d packets to the phone were not 20 ms of PCMU", other)
	}
	heard = listen(peers, 1000*time.Millisecond)
	for i, p := range peers {
		if got := toneDB(heard[i], 1100); got > -60 {
			t.Errorf("%s still hears the silent phone at %.1f dBFS", p.id, got)
		}
	}
	// It talks again and is heard again.
	ph.silent.Store(false)
	time.Sleep(500 * time.Millisecond)
	heard = listen(peers, 1500*time.Millisecond)
	for i, p := range peers {
		if got := toneDB(heard[i], 1100); got < phoneLevel[i]-3 {
			t.Errorf("%s hears the phone at %.1f dBFS after its silence (was %.1f)", p.id, got, phoneLevel[i])
		}
	}

	if err := m.Leave("r", "phone"); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		_ = p.p.Close()
	}
	if err := m.DeleteRoom("r"); err != nil {
		t.Fatal(err)
	}
}

// rtcpSeen is a compound RTCP packet the phone got, and when.
type rtcpSeen struct {
	pkts []rtcp.Packet
	at   time.Time
}

// TestRTPOpusParticipantEndToEnd: a plain RTP participant speaking Opus
// (payload type 111, 48 kHz clock) and a WebRTC participant hear each
// other; the server's RTCP reaches the phone's RTCP port (an SR about the
// stream the phone gets, with a report on the phone's stream), the phone's
// RR gives the server an RTT, and leaving sends a BYE.
func TestRTPOpusParticipantEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	w := joinPeer(t, m, "r", "w1", client.ToneSource(400, 0.1))
	w.freq = 400

	conn, rtcpConn := udptest.ListenPair(t, 34000, 35000)
	defer rtcpConn.Close()
	ph := newOpusPhone(t, conn, 1100, 111)
	var mu sync.Mutex
	var reports []rtcpSeen
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := rtcpConn.Read(buf)
			if err != nil {
				return
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				t.Errorf("RTCP from the server does not parse: %v", err)
				continue
			}
			mu.Lock()
			reports = append(reports, rtcpSeen{pkts, time.Now()})
			mu.Unlock()
		}
	}()
	defer func() { _ = rtcpConn.Close(); rwg.Wait() }()

	res, err := m.JoinRTP("r", conference.JoinRTPRequest{
		ParticipantID: "opus-phone", Codec: conference.CodecOpus,
		RemoteAddr: conn.LocalAddr().String(),
		DSP:        conference.DSPOverride{AEC: ptr(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Codec != conference.CodecOpus || res.RTCPAddr == "" || res.RTCPAddr == res.LocalAddr {
		t.Fatalf("result %+v", res)
	}
	if err := ph.start(res.LocalAddr); err != nil {
		t.Fatal(err)
	}
	defer ph.close()

	time.Sleep(time.Second)
	ph.heard()
	heard := listen([]*peer{w}, 2300*time.Millisecond)
	phone, pkts := ph.heard()
	if len(phone) < 48000 {
		t.Fatalf("the phone received %d samples", len(phone))
	}
	own := audiotest.ToneDB(phone, 1100, 48000)
	got := audiotest.ToneDB(phone, 400, 48000)
	t.Logf("phone hears 400 Hz at %.1f dBFS, its own 1100 Hz at %.1f", got, own)
	if got < -30 || got-own < 30 {
		t.Errorf("the phone hears w1 at %.1f dBFS (own tone %.1f)", got, own)
	}
	wHears := toneDB(heard[0], 1100)
	t.Logf("w1 hears the phone's 1100 Hz at %.1f dBFS", wHears)
	if wHears < -30 {
		t.Errorf("w1 hears the phone at %.1f dBFS", wHears)
	}
	for i := 1; i < len(pkts); i++ {
		if a, b := pkts[i-1], pkts[i]; b.seq != a.seq+1 || b.ts != a.ts+960 || b.ssrc != a.ssrc {
			t.Fatalf("packet %d: seq %d→%d ts %d→%d", i, a.seq, b.seq, a.ts, b.ts)
		}
	}
	ph.mu.Lock()
	other := ph.other
	ph.mu.Unlock()
	if other != 0 {
		t.Errorf("%d packets to the phone were not 20 ms of Opus with PT 111", other)
	}

	// The server's SR (its first comes within about 3 s) is about the
	// stream the phone receives, and reports on the phone's stream.
	serverSSRC := pkts[0].ssrc
	var sr *rtcp.SenderReport
	var srAt time.Time
	deadline := time.Now().Add(8 * time.Second)
	for sr == nil || len(sr.Reports) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no SR with a report block from the server")
		}
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		for _, r := range reports {
			if s, ok := r.pkts[0].(*rtcp.SenderReport); ok {
				sr, srAt = s, r.at
			}
		}
		mu.Unlock()
	}
	// Its first may come within a second and a half of joining.
	if sr.SSRC != serverSSRC || sr.PacketCount < 40 || sr.OctetCount < 10*sr.PacketCount || sr.Reports[0].TotalLost != 0 ||
		sr.Reports[0].Jitter > 48*20 {
		t.Fatalf("SR %+v", sr)
	}
	// The phone answers with an RR: the server learns the round trip.
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x5EED, Reports: []rtcp.ReceptionReport{{
		SSRC: serverSSRC, LastSenderReport: uint32(sr.NTPTime >> 16), Delay: uint32(time.Since(srAt).Seconds() * 65536),
	}}}})
	rtcpTo, err := net.ResolveUDPAddr("udp", res.RTCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtcpConn.WriteToUDP(rr, rtcpTo); err != nil {
		t.Fatal(err)
	}
	var st *conference.RTPStats
	for range 100 {
		info, err := m.GetRoom("r")
		if err != nil {
			t.Fatal(err)
		}
		for _, pi := range info.Participants {
			if pi.ID == "opus-phone" {
				st = pi.RTP
			}
		}
		if st != nil && st.RTCPIn > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("phone stats %+v", *st)
	if st.RTCPIn != 1 || st.RTCPOut == 0 || st.RTTMs <= 0 || st.RTTMs > 50 || st.PacketsLost != 0 || st.JitterMs > 20 ||
		st.RTCPRemote != rtcpConn.LocalAddr().String() {
		t.Fatalf("RTCP stats %+v", *st)
	}

	// Leaving sends a BYE to the phone's RTCP port.
	if err := m.Leave("r", "opus-phone"); err != nil {
		t.Fatal(err)
	}
	waitBye := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		last := reports[len(reports)-1].pkts
		mu.Unlock()
		if bye, ok := last[len(last)-1].(*rtcp.Goodbye); ok && bye.Sources[0] == serverSSRC {
			break
		}
		if time.Now().After(waitBye) {
			t.Fatal("no BYE after leaving")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = w.p.Close()
	if err := m.DeleteRoom("r"); err != nil {
		t.Fatal(err)
	}
}
