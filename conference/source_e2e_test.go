package conference_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/internal/rtmptest"
	"github.com/openmcu/mcu/internal/rtsptest"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
)

// verifyNoLeaks checks for leaked goroutines after every cleanup of the
// test (servers, manager) has run.
func verifyNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// sourceManager is newManager with quick reconnection, for tests that
// kill servers.
func sourceManager(t *testing.T) *conference.Manager {
	t.Helper()
	return newManager(t, func(c *conference.Config) {
		c.Video.StallTimeout = time.Second
		c.Source.ReconnectMin = 200 * time.Millisecond
		c.Source.ReconnectMax = 800 * time.Millisecond
		c.Source.ReadTimeout = 2 * time.Second
	})
}

// joinViewer joins a silent pion participant that receives the composite.
func joinViewer(t *testing.T, m *conference.Manager, room, id string) *peer {
	t.Helper()
	rec := client.NewRecorder()
	cfg := client.DefaultConfig()
	cfg.Source = client.SilenceSource()
	cfg.Sink = rec
	cfg.Video = &client.VideoConfig{Receive: true}
	return &peer{id: id, p: connect(t, m, room, id, cfg), rec: rec}
}

// waitSource reads events until participant id's source reaches state,
// and returns that event's status.
func waitSource(t *testing.T, sub *conference.Subscription, id string, state conference.SourceState, timeout time.Duration) *conference.SourceStatus {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatalf("event stream ended waiting for %s %v", id, state)
			}
			if e.Type == conference.EventSourceState && e.ParticipantID == id {
				t.Logf("%s: %v %+v", id, e.Source.State, *e.Source)
				if e.Source.State == state {
					return e.Source
				}
			}
		case <-deadline.C:
			t.Fatalf("no %v event for %s within %v", state, id, timeout)
			return nil
		}
	}
}

// halves is a custom layout with a on the left and b on the right.
func halves(a, b string) mixer.Layout {
	return mixer.Layout{Kind: mixer.LayoutCustom, Custom: []mixer.Region{
		{X: 0, Y: 0, W: 0.5, H: 1, Participant: a},
		{X: 0.5, Y: 0, W: 0.5, H: 1, Participant: b},
	}}
}

// TestSourceRTSPEndToEnd pulls two real RTSP servers (one over TCP, one
// over UDP) into a room with a WebRTC viewer, who hears both tones and
// sees both colours. One server is killed: the loss and the reconnection
// attempts are reported, the viewer keeps receiving the other source, and
// when the server comes back the source recovers on its own.
func TestSourceRTSPEndToEnd(t *testing.T) {
	verifyNoLeaks(t)
	tcpSrv := rtsptest.Start(t, 1000, 0xff0000) // red
	udpSrv := rtsptest.Start(t, 600, 0x0000ff)  // blue
	m := sourceManager(t)
	const w, h = 320, 180
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "s", Audio: conference.AudioSettings{MaxActiveSpeakers: 3},
		Video: &conference.VideoSettings{Width: w, Height: h, FPS: 15, Bitrate: 300_000, Layout: halves("cam-tcp", "cam-udp")}}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("s")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	viewer := joinViewer(t, m, "s", "viewer")
	defer func() { _ = viewer.p.Close() }()

	info, err := m.AddSource("s", conference.SourceRequest{ParticipantID: "cam-tcp", DisplayName: "TCP camera", URL: tcpSrv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != conference.KindSource {
		t.Errorf("source listed as %v", info.Kind)
	}
	if _, err := m.AddSource("s", conference.SourceRequest{ParticipantID: "cam-udp", URL: udpSrv.URL(),
		Transport: conference.SourceTransportUDP}); err != nil {
		t.Fatal(err)
	}
	st := waitSource(t, sub, "cam-tcp", conference.SourceConnected, 10*time.Second)
	if st.AudioCodec != "opus" || st.VideoCodec != "h264" || st.Width != 320 {
		t.Errorf("connected: %+v", *st)
	}
	// The events interleave; both sources report connected.
	colors := map[string][3]byte{"cam-tcp": yuvRed, "cam-udp": yuvBlue}
	took := waitComposite(t, viewer.p, tileChecks(halves("cam-tcp", "cam-udp"), w, h, []string{"cam-tcp", "cam-udp"}, nil, colors, nil), 10*time.Second)
	t.Logf("both sources' colours in the composite %v after connecting", took)

	heard := listen([]*peer{viewer}, 1500*time.Millisecond)[0]
	t.Logf("viewer hears 1000 Hz %.1f dBFS, 600 Hz %.1f dBFS", toneDB(heard, 1000), toneDB(heard, 600))
	logSources(t, m, "s")
	for _, f := range []float64{1000, 600} {
		if got := toneDB(heard, f); got < -30 {
			t.Errorf("viewer hears the %.0f Hz source at %.1f dBFS, want it clearly", f, got)
		}
	}

	// The TCP camera's server dies.
	tcpSrv.Stop()
	lostAt := time.Now()
	st = waitSource(t, sub, "cam-tcp", conference.SourceLost, 5*time.Second)
	t.Logf("loss reported after %v: %s", time.Since(lostAt), st.Reason)
	if st.Reason == "" {
		t.Error("lost without a reason")
	}
	st = waitSource(t, sub, "cam-tcp", conference.SourceReconnecting, 3*time.Second)
	if st.Attempt != 1 || st.RetryIn != 200*time.Millisecond {
		t.Errorf("first reconnection: attempt %d in %v", st.Attempt, st.RetryIn)
	}
	st = waitSource(t, sub, "cam-tcp", conference.SourceReconnecting, 3*time.Second)
	if st.Attempt != 2 || st.RetryIn != 400*time.Millisecond {
		t.Errorf("second reconnection: attempt %d in %v (want doubling backoff)", st.Attempt, st.RetryIn)
	}
	// The room goes on: the viewer still receives a full stream and the
	// UDP camera, without the dead one.
	start := viewer.p.Stats().PacketsReceived
	heard = listen([]*peer{viewer}, 1500*time.Millisecond)[0]
	packets := viewer.p.Stats().PacketsReceived - start
	t.Logf("while cam-tcp is down: %d packets in 1.5 s; 1000 Hz %.1f dBFS, 600 Hz %.1f dBFS", packets, toneDB(heard, 1000), toneDB(heard, 600))
	if packets < 60 {
		t.Errorf("viewer got %d audio packets in 1.5 s while a source was down", packets)
	}
	if got := toneDB(heard, 1000); got > -50 {
		t.Errorf("dead source's tone still heard at %.1f dBFS", got)
	}
	if got := toneDB(heard, 600); got < -30 {
		t.Errorf("the live source's tone fell to %.1f dBFS", got)
	}
	ri, err := m.GetRoom("s")
	if err != nil {
		t.Fatal(err)
	}
	if len(ri.Participants) != 3 {
		t.Errorf("%d participants while a source reconnects, want 3", len(ri.Participants))
	}

	// The server comes back: the source reconnects by itself.
	if err := tcpSrv.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitSource(t, sub, "cam-tcp", conference.SourceConnected, 5*time.Second)
	t.Logf("reconnected %v after the server came back", time.Since(back))
	waitComposite(t, viewer.p, tileChecks(halves("cam-tcp", "cam-udp"), w, h, []string{"cam-tcp", "cam-udp"}, nil, colors, nil), 10*time.Second)
	heard = listen([]*peer{viewer}, 1500*time.Millisecond)[0]
	logSources(t, m, "s")
	if got := toneDB(heard, 1000); got < -30 {
		t.Errorf("after reconnecting the 1000 Hz source is at %.1f dBFS", got)
	}

	// RemoveSource stops it; Leave-style errors for what is not a source.
	if err := m.RemoveSource("s", "cam-tcp"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveSource("s", "cam-tcp"); !errors.Is(err, conference.ErrParticipantNotFound) {
		t.Errorf("second RemoveSource: %v", err)
	}
	if err := m.RemoveSource("s", "viewer"); !errors.Is(err, conference.ErrParticipantNotFound) {
		t.Errorf("RemoveSource of a WebRTC participant: %v", err)
	}
	// The UDP source goes with the room.
	if err := m.DeleteRoom("s"); err != nil {
		t.Fatal(err)
	}
	_ = viewer.p.Close()
}

// TestSourceRTMPEndToEnd pulls an RTMP stream (AAC and FLV's H.264) from a
// real nginx-rtmp that ffmpeg publishes to.
func TestSourceRTMPEndToEnd(t *testing.T) {
	verifyNoLeaks(t)
	srv := rtmptest.Start(t)
	srv.Publish(t, "cam", 440, "green")
	m := sourceManager(t)
	const w, h = 320, 180
	only := mixer.Layout{Kind: mixer.LayoutCustom, Custom: []mixer.Region{{X: 0, Y: 0, W: 1, H: 1, Participant: "rtmp"}}}
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "r",
		Video: &conference.VideoSettings{Width: w, Height: h, FPS: 15, Bitrate: 300_000, Layout: only}}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("r")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	viewer := joinViewer(t, m, "r", "viewer")
	defer func() { _ = viewer.p.Close() }()
	// ffmpeg may not be publishing yet: the source retries until it is.
	if _, err := m.AddSource("r", conference.SourceRequest{ParticipantID: "rtmp", URL: srv.URL("cam")}); err != nil {
		t.Fatal(err)
	}
	st := waitSource(t, sub, "rtmp", conference.SourceConnected, 15*time.Second)
	if st.AudioCodec != "aac" || st.VideoCodec != "h264" {
		t.Errorf("connected: %+v", *st)
	}
	// ffmpeg's "green" is RGB (0, 128, 0).
	green := [3]byte{81, 91, 81}
	took := waitComposite(t, viewer.p, tileChecks(only, w, h, []string{"rtmp"}, nil, map[string][3]byte{"rtmp": green}, nil), 10*time.Second)
	t.Logf("RTMP source's colour in the composite %v after connecting", took)
	heard := listen([]*peer{viewer}, 1500*time.Millisecond)[0]
	if len(heard) < media.SampleRate/2 {
		t.Fatalf("viewer received %d samples", len(heard))
	}
	got := toneDB(heard, 440)
	t.Logf("viewer hears 440 Hz at %.1f dBFS", got)
	if got < -35 {
		t.Errorf("RTMP source's 440 Hz tone at %.1f dBFS, want it audible", got)
	}
	if err := m.RemoveSource("r", "rtmp"); err != nil {
		t.Fatal(err)
	}
}

func TestAddSourceValidation(t *testing.T) {
	verifyNoLeaks(t)
	m := sourceManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "v"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		room string
		req  conference.SourceRequest
		want error
	}{
		{"v", conference.SourceRequest{ParticipantID: "a", URL: "file:///etc/passwd"}, conference.ErrInvalidArgument},
		{"v", conference.SourceRequest{ParticipantID: "a", URL: "http://example.com/live.flv"}, conference.ErrInvalidArgument},
		{"v", conference.SourceRequest{ParticipantID: "a", URL: "rtmp://127.0.0.1/live/x", Transport: conference.SourceTransportUDP}, conference.ErrInvalidArgument},
		{"v", conference.SourceRequest{ParticipantID: "", URL: "rtsp://127.0.0.1/x"}, conference.ErrInvalidArgument},
		{"nope", conference.SourceRequest{ParticipantID: "a", URL: "rtsp://127.0.0.1/x"}, conference.ErrRoomNotFound},
	} {
		if _, err := m.AddSource(c.room, c.req); !errors.Is(err, c.want) {
			t.Errorf("AddSource(%q, %+v): %v, want %v", c.room, c.req, err, c.want)
		}
	}
	// A source nobody serves stays in the room, retrying.
	if _, err := m.AddSource("v", conference.SourceRequest{ParticipantID: "a", URL: "rtsp://127.0.0.1:1/x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddSource("v", conference.SourceRequest{ParticipantID: "a", URL: "rtsp://127.0.0.1:1/y"}); !errors.Is(err, conference.ErrParticipantExists) {
		t.Errorf("duplicate source id: %v", err)
	}
	if err := m.DeleteRoom("v"); err != nil {
		t.Fatal(err)
	}
}

// With give_up_after, a source that stays unreachable leaves the room.
func TestSourceGivesUp(t *testing.T) {
	verifyNoLeaks(t)
	cfg := conference.DefaultConfig()
	cfg.Source.ReconnectMin = 100 * time.Millisecond
	cfg.Source.ReconnectMax = 200 * time.Millisecond
	cfg.Source.GiveUpAfter = 600 * time.Millisecond
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "g"}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("g")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	start := time.Now()
	if _, err := m.AddSource("g", conference.SourceRequest{ParticipantID: "gone", URL: "rtmp://127.0.0.1:1/live/x"}); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for e := range sub.Events() {
		if e.Type == conference.EventSourceState && e.Source.State == conference.SourceReconnecting {
			attempts++
		}
		if e.Type == conference.EventParticipantLeft && e.ParticipantID == "gone" {
			took := time.Since(start)
			t.Logf("left after %v and %d attempts: %s", took, attempts, e.Reason)
			if took < 600*time.Millisecond || took > 3*time.Second || attempts < 3 {
				t.Errorf("gave up after %v and %d attempts, want after about 600 ms", took, attempts)
			}
			break
		}
	}
	if info, err := m.GetRoom("g"); err != nil || len(info.Participants) != 0 {
		t.Fatalf("room after giving up: %+v, %v", info, err)
	}
}

// rtpDevice is the speaker side of a two-way camera: a UDP socket that
// takes the RTP the room sends back and decodes it (μ-law or Opus).
type rtpDevice struct {
	conn  *net.UDPConn
	opus  *codec.OpusDecoder // nil for μ-law
	wg    sync.WaitGroup
	mu    sync.Mutex
	pcm   []float32
	rate  float64
	seqs  []uint16
	tss   []uint32
	bad   int // packets of another payload type or size
	pt    byte
	dec   []float32
	fails int
}

func newRTPDevice(t *testing.T, c conference.RTPCodec) *rtpDevice {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	d := &rtpDevice{conn: conn, rate: 8000, pt: 0}
	if c == conference.CodecOpus {
		if d.opus, err = codec.NewOpusDecoder(); err != nil {
			t.Fatal(err)
		}
		d.rate, d.pt, d.dec = media.SampleRate, 111, make([]float32, media.FrameSamples*6)
	}
	d.wg.Add(1)
	go d.recv()
	t.Cleanup(d.close)
	return d
}

func (d *rtpDevice) close() {
	_ = d.conn.Close()
	d.wg.Wait()
	if d.opus != nil {
		_ = d.opus.Close()
	}
}

func (d *rtpDevice) recv() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, err := d.conn.Read(buf)
		if err != nil {
			return
		}
		d.mu.Lock()
		switch {
		case n <= 12 || buf[0] != 0x80 || buf[1]&0x7F != d.pt || (d.opus == nil && n != 12+160):
			d.bad++
		case d.opus != nil:
			k, err := d.opus.Decode(buf[12:n], d.dec)
			if err != nil {
				d.fails++
				break
			}
			d.pcm = append(d.pcm, d.dec[:k]...)
		default:
			for _, b := range buf[12:n] {
				d.pcm = append(d.pcm, float32(codec.MulawDecode(b))/32768)
			}
		}
		d.seqs = append(d.seqs, binary.BigEndian.Uint16(buf[2:]))
		d.tss = append(d.tss, binary.BigEndian.Uint32(buf[4:]))
		d.mu.Unlock()
	}
}

// listen clears what the device got, waits dur, and returns the audio
// after the first 300 ms and the packets' sequence numbers and timestamps.
func (d *rtpDevice) listen(dur time.Duration) ([]float32, []uint16, []uint32) {
	d.mu.Lock()
	d.pcm, d.seqs, d.tss = nil, nil, nil
	d.mu.Unlock()
	time.Sleep(dur)
	d.mu.Lock()
	defer d.mu.Unlock()
	pcm := d.pcm
	if skip := int(d.rate * 0.3); len(pcm) > skip {
		pcm = pcm[skip:]
	}
	return pcm, d.seqs, d.tss
}

// TestSourceSendBackEndToEnd: a two-way RTSP camera (a 1000 Hz tone from
// its microphone) is sent its mix-minus as RTP, in μ-law and in Opus. It
// hears the WebRTC participant's 600 Hz tone and not its own 1000 Hz,
// which the WebRTC participant does hear; its echo canceller is on.
func TestSourceSendBackEndToEnd(t *testing.T) {
	for _, c := range []conference.RTPCodec{conference.CodecPCMU, conference.CodecOpus} {
		t.Run(c.String(), func(t *testing.T) {
			verifyNoLeaks(t)
			srv := rtsptest.Start(t, 1000, 0x00ff00)
			m := sourceManager(t)
			if _, err := m.CreateRoom(conference.RoomSettings{ID: "b", Audio: conference.AudioSettings{MaxActiveSpeakers: 3}}); err != nil {
				t.Fatal(err)
			}
			sub, err := m.Watch("b")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			talker := joinPeer(t, m, "b", "talker", client.ToneSource(600, 0.1))
			defer func() { _ = talker.p.Close() }()
			dev := newRTPDevice(t, c)
			info, err := m.AddSource("b", conference.SourceRequest{ParticipantID: "cam", URL: srv.URL(),
				SendBack: &conference.SourceSendBack{Codec: c, RemoteAddr: dev.conn.LocalAddr().String()}})
			if err != nil {
				t.Fatal(err)
			}
			if !info.DSP.AEC || info.Source == nil || info.Source.SendBack != c {
				t.Errorf("two-way source: AEC %v, source stats %+v", info.DSP.AEC, info.Source)
			}
			waitSource(t, sub, "cam", conference.SourceConnected, 10*time.Second)

			heard, seqs, tss := dev.listen(2 * time.Second)
			own, other := audiotest.ToneDB(heard, 1000, dev.rate), audiotest.ToneDB(heard, 600, dev.rate)
			t.Logf("device got %d packets: 600 Hz (the talker) %.1f dBFS, 1000 Hz (its own) %.1f dBFS", len(seqs), other, own)
			if len(seqs) < 80 {
				t.Fatalf("%d packets in 2 s, want about 100", len(seqs))
			}
			if other < -30 {
				t.Errorf("device hears the talker at %.1f dBFS, want it clearly", other)
			}
			if own > other-40 {
				t.Errorf("device hears itself at %.1f dBFS (the talker at %.1f)", own, other)
			}
			step := uint32(c.ClockRate() / 50)
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[i-1]+1 || tss[i] != tss[i-1]+step {
					t.Errorf("packet %d: seq %d after %d, ts +%d: want consecutive 20 ms packets", i, seqs[i], seqs[i-1], tss[i]-tss[i-1])
					break
				}
			}
			dev.mu.Lock()
			bad, fails := dev.bad, dev.fails
			dev.mu.Unlock()
			if bad != 0 || fails != 0 {
				t.Errorf("%d packets of the wrong type or size, %d undecodable", bad, fails)
			}
			// The source is in the mix: the talker hears it.
			if got := toneDB(listen([]*peer{talker}, 1500*time.Millisecond)[0], 1000); got < -30 {
				t.Errorf("talker hears the camera at %.1f dBFS", got)
			}
			ri, err := m.GetRoom("b")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ri.Participants {
				if p.ID != "cam" {
					continue
				}
				st := p.Source
				t.Logf("source stats %+v; rtp %+v", *st, *p.RTP)
				if st.State != conference.SourceConnected || st.Connections != 1 || st.AudioCodec != "opus" ||
					st.Underruns > 1 || st.BufferedMs <= 0 || p.RTP.PacketsOut < 100 {
					t.Errorf("source stats %+v, rtp %+v", *st, *p.RTP)
				}
			}
			mfs, err := m.Registry().Gather()
			if err != nil {
				t.Fatal(err)
			}
			exported := map[string]float64{}
			for _, mf := range mfs {
				for _, mt := range mf.GetMetric() {
					isCam := false
					for _, l := range mt.GetLabel() {
						isCam = isCam || (l.GetName() == "participant" && l.GetValue() == "cam")
					}
					if strings.HasPrefix(mf.GetName(), "mcu_source_") && isCam {
						exported[mf.GetName()] += mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
					}
				}
			}
			t.Logf("exported %v", exported)
			if exported["mcu_source_connected"] != 1 || exported["mcu_source_buffer_seconds"] <= 0 || len(exported) != 6 {
				t.Errorf("source metrics %v", exported)
			}
			if err := m.RemoveSource("b", "cam"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// logSources logs the room's sources' stats.
func logSources(t *testing.T, m *conference.Manager, room string) {
	t.Helper()
	ri, err := m.GetRoom(room)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ri.Participants {
		if p.Source != nil {
			t.Logf("%s: %+v", p.ID, *p.Source)
		}
	}
}
