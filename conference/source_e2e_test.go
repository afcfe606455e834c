package conference_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
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
	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	cfg.Video.StallTimeout = time.Second
	cfg.Source.ReconnectMin = 200 * time.Millisecond
	cfg.Source.ReconnectMax = 800 * time.Millisecond
	cfg.Source.ReadTimeout = 2 * time.Second
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return m
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
