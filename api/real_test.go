package api

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/rtmptest"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// TestRealManagerOverGRPC runs the API over the real conference manager:
// the error codes a backend sees, and a real WebRTC participant joining
// through gRPC.
func TestRealManagerOverGRPC(t *testing.T) {
	cfg := conference.DefaultConfig()
	cfg.MaxRooms = 2
	cfg.Recording.Dir = t.TempDir()
	c := startReal(t, cfg, "secret")
	ctx := authed(t, "secret")

	_, err := c.GetRoom(authed(t, ""), &mcuv1.GetRoomRequest{RoomId: "r"})
	wantCode(t, err, codes.Unauthenticated, "")
	_, err = c.GetRoom(authed(t, "wrong"), &mcuv1.GetRoomRequest{RoomId: "r"})
	wantCode(t, err, codes.Unauthenticated, "")
	_, err = c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "nope"})
	wantCode(t, err, codes.NotFound, "")

	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"})
	wantCode(t, err, codes.AlreadyExists, "")
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r2"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r3"})
	wantCode(t, err, codes.ResourceExhausted, "")

	_, err = c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r", ParticipantId: "p", SdpOffer: "v=0\r\ngarbage"})
	wantCode(t, err, codes.InvalidArgument, "sdp_offer")
	_, err = c.Join(ctx, &mcuv1.JoinRequest{RoomId: "nope", ParticipantId: "p", SdpOffer: "v=0"})
	wantCode(t, err, codes.NotFound, "")
	_, err = c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r", ParticipantId: "p", GainDb: proto.Float64(25)})
	wantCode(t, err, codes.InvalidArgument, "gain_db")
	_, err = c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r", ParticipantId: "ghost", GainDb: proto.Float64(-3)})
	wantCode(t, err, codes.NotFound, "")

	// A real participant joins through gRPC and can be updated.
	pcfg := client.DefaultConfig()
	pcfg.Source = client.ToneSource(440, 0.1)
	pcfg.IncludeLoopback = true
	p, err := client.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	offer, err := p.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r", ParticipantId: "alice", DisplayName: "Alice", SdpOffer: offer})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(ans.GetSdpAnswer()); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r", ParticipantId: "alice", SdpOffer: offer})
	wantCode(t, err, codes.AlreadyExists, "")
	got, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r", ParticipantId: "alice",
		Muted: proto.Bool(true), GainDb: proto.Float64(-6)})
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetMuted() || got.GetGainDb() != -6 || got.GetDisplayName() != "Alice" {
		t.Fatalf("updated participant: %v", got)
	}
	room, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if room.GetParticipantCount() != 1 || !room.GetAudio().GetDsp().GetNs() {
		t.Fatalf("room: %v", room)
	}
	// Recording: traversal and bad formats are refused naming the field; a
	// file recording runs, is listed and stops.
	for _, path := range []string{"../x.ogg", "/etc/x.ogg", "a/../../x.ogg"} {
		_, err = c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: &mcuv1.RecordingOutput{
			Path: path, Format: mcuv1.RecordingFormat_RECORDING_FORMAT_OGG}})
		wantCode(t, err, codes.InvalidArgument, "output.path")
	}
	_, err = c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: &mcuv1.RecordingOutput{Path: "x.mp4"}})
	wantCode(t, err, codes.InvalidArgument, "output.format")
	_, err = c.StopRecording(ctx, &mcuv1.StopRecordingRequest{RoomId: "r", RecordingId: "ghost"})
	wantCode(t, err, codes.NotFound, "recording")
	rec, err := c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: &mcuv1.RecordingOutput{
		Path: "day1/r.ogg", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_OGG}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetState() != mcuv1.RecordingState_RECORDING_STATE_ACTIVE || rec.GetPath() != filepath.Join(cfg.Recording.Dir, "day1/r.ogg") {
		t.Fatalf("recording: %v", rec)
	}
	if l, err := c.ListRecordings(ctx, &mcuv1.ListRecordingsRequest{RoomId: "r"}); err != nil || len(l.GetRecordings()) != 1 {
		t.Fatalf("ListRecordings: %v, %v", l, err)
	}
	time.Sleep(500 * time.Millisecond)
	stopped, err := c.StopRecording(ctx, &mcuv1.StopRecordingRequest{RoomId: "r", RecordingId: rec.GetRecordingId()})
	if err != nil || stopped.GetState() != mcuv1.RecordingState_RECORDING_STATE_STOPPED {
		t.Fatalf("StopRecording: %v, %v", stopped, err)
	}
	if st, err := os.Stat(rec.GetPath()); err != nil || st.Size() == 0 {
		t.Fatalf("recorded file: %v", err)
	}
	// The stopped recording stays listed, with its end, size and duration.
	l, err := c.ListRecordings(ctx, &mcuv1.ListRecordingsRequest{RoomId: "r"})
	if err != nil || len(l.GetRecordings()) != 1 {
		t.Fatalf("ListRecordings after stop: %v, %v", l, err)
	}
	if x := l.GetRecordings()[0]; x.GetState() != mcuv1.RecordingState_RECORDING_STATE_STOPPED || x.GetStoppedAt() == nil ||
		x.GetBytes() <= 0 || x.GetDuration().AsDuration() < 400*time.Millisecond {
		t.Fatalf("listed after stop: %v", x)
	}
	// A path that cannot be created is refused at once, naming it.
	if err := os.WriteFile(filepath.Join(cfg.Recording.Dir, "blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: &mcuv1.RecordingOutput{
		Path: "blocker/r.ogg", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_OGG}})
	wantCode(t, err, codes.FailedPrecondition, filepath.Join(cfg.Recording.Dir, "blocker/r.ogg")+": not a directory")

	// Live streams: a URL that is not rtmp(s) with a host, both path and
	// url, or a file format with a url are refused naming the field; an
	// RTMP stream to a real nginx runs as FLV.
	srv := rtmptest.Start(t)
	for _, o := range []*mcuv1.RecordingOutput{
		{Url: "ftp://127.0.0.1/live/x"},
		{Url: "rtmp:///live/x"},
		{Url: "rtmp//nohost"},
		{Url: "http://127.0.0.1/live/x"},
		{Url: srv.URL("a"), Path: "x.flv"},
		{Url: srv.URL("a"), Format: mcuv1.RecordingFormat_RECORDING_FORMAT_MP4},
		{Path: "x.flv", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_FLV},
	} {
		_, err = c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: o})
		wantCode(t, err, codes.InvalidArgument, "output")
	}
	live, err := c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "r", Output: &mcuv1.RecordingOutput{
		Url: srv.URL("a"), AudioOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The stream key (the last path segment) is not handed back.
	if want := strings.TrimSuffix(srv.URL("a"), "a") + "xxxxx"; live.GetUrl() != want || live.GetPath() != "" || live.GetFormat() != mcuv1.RecordingFormat_RECORDING_FORMAT_FLV {
		t.Fatalf("stream: %v", live)
	}
	time.Sleep(500 * time.Millisecond)
	if stopped, err := c.StopRecording(ctx, &mcuv1.StopRecordingRequest{RoomId: "r", RecordingId: live.GetRecordingId()}); err != nil ||
		stopped.GetState() != mcuv1.RecordingState_RECORDING_STATE_STOPPED || stopped.GetReconnects() != 0 {
		t.Fatalf("StopRecording of the stream: %v, %v", stopped, err)
	}

	if _, err := c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r", ParticipantId: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r", ParticipantId: "alice"})
	wantCode(t, err, codes.NotFound, "")
	if err := p.Close(); err != nil {
		t.Logf("client close: %v", err)
	}
}

// startReal serves the API over the real conference manager on an
// in-memory listener; everything stops when the test ends.
func startReal(t *testing.T, cfg conference.Config, token string) mcuv1.ConferenceClient {
	t.Helper()
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewGRPCServer(Config{Token: token, Logger: slog.New(slog.DiscardHandler), DefaultDSP: &cfg.DSP}, FromConference(m))
	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.GRPC.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.GRPC.Stop()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return mcuv1.NewConferenceClient(conn)
}

// TestSourcesOverGRPC checks AddSource's validation and errors against the
// real manager, and that a source nobody serves is reported lost and
// retried in WatchRoom.
func TestSourcesOverGRPC(t *testing.T) {
	cfg := conference.DefaultConfig()
	cfg.Source.ReconnectMin = 100 * time.Millisecond
	c := startReal(t, cfg, "")
	ctx := authed(t, "")
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req   *mcuv1.AddSourceRequest
		code  codes.Code
		field string
	}{
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "file:///etc/passwd"}, codes.InvalidArgument, "url"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "http://example.com/live.flv"}, codes.InvalidArgument, "url"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "/dev/video0"}, codes.InvalidArgument, "url"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam"}, codes.InvalidArgument, "url"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtmp://127.0.0.1/live/x",
			Transport: mcuv1.SourceTransport_SOURCE_TRANSPORT_UDP}, codes.InvalidArgument, "url"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x", Transport: 9}, codes.InvalidArgument, "transport"},
		{&mcuv1.AddSourceRequest{RoomId: "r", Url: "rtsp://127.0.0.1/x"}, codes.InvalidArgument, "participant_id"},
		{&mcuv1.AddSourceRequest{RoomId: "nope", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x"}, codes.NotFound, ""},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			SendBack: &mcuv1.SourceSendBack{RemoteAddr: "127.0.0.1:5004"}}, codes.InvalidArgument, "send_back.codec"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			SendBack: &mcuv1.SourceSendBack{Codec: 9, RemoteAddr: "127.0.0.1:5004"}}, codes.InvalidArgument, "send_back.codec"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			SendBack: &mcuv1.SourceSendBack{Codec: mcuv1.RtpCodec_RTP_CODEC_PCMU}}, codes.InvalidArgument, "send_back.remote_addr"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			SendBack: &mcuv1.SourceSendBack{Codec: mcuv1.RtpCodec_RTP_CODEC_OPUS, RemoteAddr: "127.0.0.1"}}, codes.InvalidArgument, "send_back.remote_addr"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			SendBack: &mcuv1.SourceSendBack{Codec: mcuv1.RtpCodec_RTP_CODEC_PCMA, RemoteAddr: "0.0.0.0:5004"}}, codes.InvalidArgument, "send_back.remote_addr"},
		{&mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1/x",
			Dsp: &mcuv1.DspOverride{Aec: proto.Bool(true)}}, codes.InvalidArgument, "dsp.aec"},
	} {
		_, err := c.AddSource(ctx, tc.req)
		wantCode(t, err, tc.code, tc.field)
	}

	watch, err := c.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback refuses: the source joins and keeps retrying.
	got, err := c.AddSource(ctx, &mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", DisplayName: "Door",
		Url: "rtsp://user:pw@127.0.0.1:1/x?transport=udp"})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.GetParticipant(); p.GetKind() != mcuv1.ParticipantKind_PARTICIPANT_KIND_SOURCE || p.GetDisplayName() != "Door" || p.GetDsp().GetAec() {
		t.Fatalf("added source: %v", p)
	}
	_, err = c.AddSource(ctx, &mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "cam", Url: "rtsp://127.0.0.1:1/y"})
	wantCode(t, err, codes.AlreadyExists, "")
	var lost, retry *mcuv1.SourceState
	for lost == nil || retry == nil {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if st := ev.GetSourceState(); st != nil {
			switch st.GetState() {
			case mcuv1.SourceStateKind_SOURCE_STATE_KIND_LOST:
				lost = st
			case mcuv1.SourceStateKind_SOURCE_STATE_KIND_RECONNECTING:
				retry = st
			}
		}
	}
	if lost.GetParticipantId() != "cam" || lost.GetReason() == "" || strings.Contains(lost.GetUrl(), "pw") || lost.GetUrl() == "" {
		t.Errorf("lost event: %v (want a reason and the URL without its password)", lost)
	}
	if retry.GetAttempt() != 1 || retry.GetRetryInMs() != 100 {
		t.Errorf("reconnecting event: %v", retry)
	}
	room, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	st := room.GetParticipants()[0].GetSourceStats()
	if st.GetReconnects() == 0 || st.GetConnections() != 0 || st.GetUrl() != lost.GetUrl() ||
		st.GetSendBackCodec() != mcuv1.RtpCodec_RTP_CODEC_UNSPECIFIED || room.GetParticipants()[0].GetRtpStats() != nil {
		t.Errorf("source stats of a listen-only source that never connected: %v", st)
	}
	if _, err := c.RemoveSource(ctx, &mcuv1.RemoveSourceRequest{RoomId: "r", ParticipantId: "cam"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RemoveSource(ctx, &mcuv1.RemoveSourceRequest{RoomId: "r", ParticipantId: "cam"})
	wantCode(t, err, codes.NotFound, "")

	// With send_back, the device is sent the room's mix as RTP (here,
	// silence), even while its stream is down, and cancels its echo.
	dev, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dev.Close() }()
	got, err = c.AddSource(ctx, &mcuv1.AddSourceRequest{RoomId: "r", ParticipantId: "door", Url: "rtsp://127.0.0.1:1/x",
		SendBack: &mcuv1.SourceSendBack{Codec: mcuv1.RtpCodec_RTP_CODEC_PCMA, RemoteAddr: dev.LocalAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	p := got.GetParticipant()
	if !p.GetDsp().GetAec() || p.GetSourceStats().GetSendBackCodec() != mcuv1.RtpCodec_RTP_CODEC_PCMA ||
		p.GetSourceStats().GetState() != mcuv1.SourceStateKind_SOURCE_STATE_KIND_CONNECTING ||
		p.GetRtpStats().GetRemoteAddr() != dev.LocalAddr().String() {
		t.Errorf("two-way source: %v", p)
	}
	_ = dev.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := dev.Read(buf)
	if err != nil {
		t.Fatalf("no RTP sent back: %v", err)
	}
	if n != 12+160 || buf[0] != 0x80 || buf[1]&0x7F != 8 {
		t.Errorf("sent back %d bytes, payload type %d: want 20 ms of PCMA", n, buf[1]&0x7F)
	}
	if _, err := c.RemoveSource(ctx, &mcuv1.RemoveSourceRequest{RoomId: "r", ParticipantId: "door"}); err != nil {
		t.Fatal(err)
	}
}
