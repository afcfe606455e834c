package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// recorder is a Conference server that records what it was asked and
// checks the bearer token.
type recorder struct {
	mcuv1.UnimplementedConferenceServer
	mu    sync.Mutex
	last  proto.Message
	auths []string
}

func (r *recorder) record(ctx context.Context, m proto.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = proto.Clone(m)
	md, _ := metadata.FromIncomingContext(ctx)
	r.auths = append(r.auths, strings.Join(md.Get("authorization"), ","))
}

func (r *recorder) lastReq() proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *recorder) lastAuth() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auths[len(r.auths)-1]
}

func (r *recorder) CreateRoom(ctx context.Context, req *mcuv1.CreateRoomRequest) (*mcuv1.Room, error) {
	r.record(ctx, req)
	return &mcuv1.Room{RoomId: req.GetRoomId(), Audio: req.GetAudio()}, nil
}

func (r *recorder) GetRoom(ctx context.Context, req *mcuv1.GetRoomRequest) (*mcuv1.Room, error) {
	r.record(ctx, req)
	if req.GetRoomId() != "r1" {
		return nil, status.Error(codes.NotFound, "room not found")
	}
	return &mcuv1.Room{RoomId: "r1", ParticipantCount: 1, Participants: []*mcuv1.Participant{{ParticipantId: "alice"}}}, nil
}

func (r *recorder) ListRooms(ctx context.Context, req *mcuv1.ListRoomsRequest) (*mcuv1.ListRoomsResponse, error) {
	r.record(ctx, req)
	return &mcuv1.ListRoomsResponse{Rooms: []*mcuv1.Room{{RoomId: "a"}, {RoomId: "b"}}}, nil
}

func (r *recorder) DeleteRoom(ctx context.Context, req *mcuv1.DeleteRoomRequest) (*mcuv1.DeleteRoomResponse, error) {
	r.record(ctx, req)
	return &mcuv1.DeleteRoomResponse{}, nil
}

func (r *recorder) Leave(ctx context.Context, req *mcuv1.LeaveRequest) (*mcuv1.LeaveResponse, error) {
	r.record(ctx, req)
	return &mcuv1.LeaveResponse{}, nil
}

func (r *recorder) UpdateParticipant(ctx context.Context, req *mcuv1.UpdateParticipantRequest) (*mcuv1.Participant, error) {
	r.record(ctx, req)
	return &mcuv1.Participant{ParticipantId: req.GetParticipantId(), Muted: req.GetMuted(), GainDb: req.GetGainDb()}, nil
}

func (r *recorder) StartRecording(ctx context.Context, req *mcuv1.StartRecordingRequest) (*mcuv1.Recording, error) {
	r.record(ctx, req)
	return &mcuv1.Recording{RecordingId: "rec-1", RoomId: req.GetRoomId(), Path: "/srv/rec/" + req.GetOutput().GetPath(),
		Format: req.GetOutput().GetFormat(), State: mcuv1.RecordingState_RECORDING_STATE_ACTIVE}, nil
}

func (r *recorder) StopRecording(ctx context.Context, req *mcuv1.StopRecordingRequest) (*mcuv1.Recording, error) {
	r.record(ctx, req)
	if req.GetRecordingId() != "rec-1" {
		return nil, status.Error(codes.NotFound, "recording not found")
	}
	return &mcuv1.Recording{RecordingId: "rec-1", RoomId: req.GetRoomId(), State: mcuv1.RecordingState_RECORDING_STATE_STOPPED, Bytes: 1234}, nil
}

func (r *recorder) ListRecordings(ctx context.Context, req *mcuv1.ListRecordingsRequest) (*mcuv1.ListRecordingsResponse, error) {
	r.record(ctx, req)
	return &mcuv1.ListRecordingsResponse{Recordings: []*mcuv1.Recording{
		{RecordingId: "rec-1", State: mcuv1.RecordingState_RECORDING_STATE_STOPPED, Bytes: 1234},
		{RecordingId: "rec-2", State: mcuv1.RecordingState_RECORDING_STATE_FAILED, Reason: "disk full"},
	}}, nil
}

func (r *recorder) JoinRtp(ctx context.Context, req *mcuv1.JoinRtpRequest) (*mcuv1.JoinRtpResponse, error) {
	r.record(ctx, req)
	res := &mcuv1.JoinRtpResponse{LocalAddr: "127.0.0.1:20000", RtcpAddr: "127.0.0.1:20001", Codec: req.GetCodec()}
	if req.GetSdpOffer() != "" {
		res.Codec = mcuv1.RtpCodec_RTP_CODEC_PCMA
		res.SdpAnswer = "v=0\r\nm=audio 20000 RTP/AVP 8\r\n"
	}
	return res, nil
}

func (r *recorder) AddSource(ctx context.Context, req *mcuv1.AddSourceRequest) (*mcuv1.AddSourceResponse, error) {
	r.record(ctx, req)
	return &mcuv1.AddSourceResponse{Participant: &mcuv1.Participant{ParticipantId: req.GetParticipantId(),
		Kind: mcuv1.ParticipantKind_PARTICIPANT_KIND_SOURCE}}, nil
}

func (r *recorder) RemoveSource(ctx context.Context, req *mcuv1.RemoveSourceRequest) (*mcuv1.RemoveSourceResponse, error) {
	r.record(ctx, req)
	if req.GetParticipantId() != "cam" {
		return nil, status.Error(codes.NotFound, "source not found")
	}
	return &mcuv1.RemoveSourceResponse{}, nil
}

func (r *recorder) WatchRoom(req *mcuv1.WatchRoomRequest, s mcuv1.Conference_WatchRoomServer) error {
	r.record(s.Context(), req)
	for _, ev := range []*mcuv1.RoomEvent{
		{RoomId: req.GetRoomId(), Event: &mcuv1.RoomEvent_SpeakingStarted{SpeakingStarted: &mcuv1.SpeakingStarted{ParticipantId: "alice"}}},
		{RoomId: req.GetRoomId(), Event: &mcuv1.RoomEvent_RoomDeleted{RoomDeleted: &mcuv1.RoomDeleted{}}},
	} {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	return nil
}

func startServer(t *testing.T) (*recorder, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	gs := grpc.NewServer()
	mcuv1.RegisterConferenceServer(gs, rec)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return rec, lis.Addr().String()
}

func runCtl(t *testing.T, addr string, envs map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if envs == nil {
		envs = map[string]string{}
	}
	if _, ok := envs["MCU_ADDR"]; !ok {
		envs["MCU_ADDR"] = addr
	}
	code = run(context.Background(), args, &out, &errb, func(k string) string { return envs[k] })
	return code, out.String(), errb.String()
}

func TestCommandsBuildRequests(t *testing.T) {
	rec, addr := startServer(t)
	offer := "v=0\r\no=gw 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
	sdpFile := filepath.Join(t.TempDir(), "offer.sdp")
	if err := os.WriteFile(sdpFile, []byte(offer), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want proto.Message
	}{
		{[]string{"create", "--room", "r1"}, &mcuv1.CreateRoomRequest{RoomId: "r1", Audio: &mcuv1.AudioSettings{}}},
		{[]string{"create", "--room", "r1", "--max-speakers", "4", "--bitrate", "24000", "--aec", "--ns=false"},
			&mcuv1.CreateRoomRequest{RoomId: "r1", Audio: &mcuv1.AudioSettings{MaxActiveSpeakers: 4, OpusBitrate: 24000,
				Dsp: &mcuv1.DspSettings{Aec: proto.Bool(true), Ns: proto.Bool(false)}}}},
		{[]string{"create", "positional"}, &mcuv1.CreateRoomRequest{RoomId: "positional", Audio: &mcuv1.AudioSettings{}}},
		{[]string{"list"}, &mcuv1.ListRoomsRequest{}},
		{[]string{"get", "--room", "r1"}, &mcuv1.GetRoomRequest{RoomId: "r1"}},
		{[]string{"delete", "r1"}, &mcuv1.DeleteRoomRequest{RoomId: "r1"}},
		{[]string{"leave", "--room", "r1", "--id", "p"}, &mcuv1.LeaveRequest{RoomId: "r1", ParticipantId: "p"}},
		{[]string{"mute", "--room", "r1", "--id", "p"}, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p", Muted: proto.Bool(true)}},
		{[]string{"unmute", "--room", "r1", "--id", "p"}, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p", Muted: proto.Bool(false)}},
		{[]string{"gain", "--room", "r1", "--id", "p", "--db", "-6"}, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p", GainDb: proto.Float64(-6)}},
		{[]string{"gain", "--room", "r1", "--id", "p", "--db=0"}, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p", GainDb: proto.Float64(0)}},
		{[]string{"dsp", "--room", "r1", "--id", "p", "--aec", "--agc=false"},
			&mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p", Dsp: &mcuv1.DspOverride{Aec: proto.Bool(true), Agc: proto.Bool(false)}}},
		{[]string{"record", "start", "--room", "r1", "--path", "day1/a.mp4"}, &mcuv1.StartRecordingRequest{RoomId: "r1",
			Output: &mcuv1.RecordingOutput{Path: "day1/a.mp4", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_MP4}}},
		{[]string{"record", "start", "--room", "r1", "--path", "a.mkv", "--format", "MKV", "--audio-only"}, &mcuv1.StartRecordingRequest{RoomId: "r1",
			Output: &mcuv1.RecordingOutput{Path: "a.mkv", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_MKV, AudioOnly: true}}},
		{[]string{"record", "start", "--room", "r1", "--path", "a.ogg", "--format=ogg"}, &mcuv1.StartRecordingRequest{RoomId: "r1",
			Output: &mcuv1.RecordingOutput{Path: "a.ogg", Format: mcuv1.RecordingFormat_RECORDING_FORMAT_OGG}}},
		{[]string{"record", "stop", "--room", "r1", "--id", "rec-1"}, &mcuv1.StopRecordingRequest{RoomId: "r1", RecordingId: "rec-1"}},
		{[]string{"record", "list", "--room", "r1"}, &mcuv1.ListRecordingsRequest{RoomId: "r1"}},
		{[]string{"record", "list", "r1"}, &mcuv1.ListRecordingsRequest{RoomId: "r1"}},
		{[]string{"join-rtp", "--room", "r1", "--id", "gw", "--codec", "pcmu", "--remote", "192.0.2.1:4000"},
			&mcuv1.JoinRtpRequest{RoomId: "r1", ParticipantId: "gw", Codec: mcuv1.RtpCodec_RTP_CODEC_PCMU, RemoteAddr: "192.0.2.1:4000"}},
		{[]string{"join-rtp", "--room", "r1", "--id", "gw", "--codec", "OPUS", "--payload-type", "96", "--remote", "192.0.2.1:4000",
			"--srtp-key", "a2V5", "--no-latch", "--no-aec", "--rtcp-mux", "--name", "Gateway"},
			&mcuv1.JoinRtpRequest{RoomId: "r1", ParticipantId: "gw", DisplayName: "Gateway", Codec: mcuv1.RtpCodec_RTP_CODEC_OPUS,
				PayloadType: 96, RemoteAddr: "192.0.2.1:4000", SrtpKey: "a2V5", Latch: proto.Bool(false), RtcpMux: true,
				Dsp: &mcuv1.DspOverride{Aec: proto.Bool(false)}}},
		{[]string{"join-rtp", "--room", "r1", "--id", "phone", "--codec", "pcma"},
			&mcuv1.JoinRtpRequest{RoomId: "r1", ParticipantId: "phone", Codec: mcuv1.RtpCodec_RTP_CODEC_PCMA}},
		{[]string{"join-rtp", "--room", "r1", "--id", "gw", "--sdp-file", sdpFile},
			&mcuv1.JoinRtpRequest{RoomId: "r1", ParticipantId: "gw", SdpOffer: offer}},
		{[]string{"join-rtp", "--room", "r1", "--id", "gw", "--sdp-file", sdpFile, "--codec", "pcmu"},
			&mcuv1.JoinRtpRequest{RoomId: "r1", ParticipantId: "gw", SdpOffer: offer, Codec: mcuv1.RtpCodec_RTP_CODEC_PCMU}},
		{[]string{"source", "add", "--room", "r1", "--id", "cam", "--url", "rtsp://cam.local/stream"},
			&mcuv1.AddSourceRequest{RoomId: "r1", ParticipantId: "cam", Url: "rtsp://cam.local/stream"}},
		{[]string{"source", "add", "--room", "r1", "--id", "cam", "--url", "rtsp://cam.local/s", "--transport", "UDP", "--name", "Door"},
			&mcuv1.AddSourceRequest{RoomId: "r1", ParticipantId: "cam", DisplayName: "Door", Url: "rtsp://cam.local/s",
				Transport: mcuv1.SourceTransport_SOURCE_TRANSPORT_UDP}},
		{[]string{"source", "add", "--room", "r1", "--id", "enc", "--url", "rtmp://enc/live", "--transport=tcp"},
			&mcuv1.AddSourceRequest{RoomId: "r1", ParticipantId: "enc", Url: "rtmp://enc/live", Transport: mcuv1.SourceTransport_SOURCE_TRANSPORT_TCP}},
		{[]string{"source", "remove", "--room", "r1", "--id", "cam"}, &mcuv1.RemoveSourceRequest{RoomId: "r1", ParticipantId: "cam"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCtl(t, addr, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := rec.lastReq(); !proto.Equal(got, tc.want) {
				t.Fatalf("request = %v, want %v", got, tc.want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
		})
	}
}

func TestOutputUsesProtoNames(t *testing.T) {
	_, addr := startServer(t)
	code, out, errOut := runCtl(t, addr, nil, "get", "--room", "r1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var room struct {
		RoomID           string `json:"room_id"`
		ParticipantCount int    `json:"participant_count"`
		Participants     []struct {
			ID    string `json:"participant_id"`
			Muted *bool  `json:"muted"`
		} `json:"participants"`
	}
	if err := json.Unmarshal([]byte(out), &room); err != nil {
		t.Fatal(err)
	}
	if room.RoomID != "r1" || room.ParticipantCount != 1 || len(room.Participants) != 1 ||
		room.Participants[0].ID != "alice" || room.Participants[0].Muted == nil {
		t.Fatalf("output = %s", out)
	}
}

func TestWatchPrintsJSONLines(t *testing.T) {
	_, addr := startServer(t)
	code, out, errOut := runCtl(t, addr, nil, "watch", "--room", "r1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var keys []string
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev["room_id"] != "r1" {
			t.Fatalf("line %q lacks room_id", sc.Text())
		}
		for k := range ev {
			if k != "room_id" && k != "time" {
				keys = append(keys, k)
			}
		}
	}
	if strings.Join(keys, ",") != "speaking_started,room_deleted" {
		t.Fatalf("events = %v\n%s", keys, out)
	}
}

func TestRecordListOutput(t *testing.T) {
	_, addr := startServer(t)
	code, out, errOut := runCtl(t, addr, nil, "record", "list", "--room", "r1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var l struct {
		Recordings []struct {
			ID     string `json:"recording_id"`
			State  string `json:"state"`
			Bytes  string `json:"bytes"` // int64 is a JSON string in protojson
			Reason string `json:"reason"`
		} `json:"recordings"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Recordings) != 2 || l.Recordings[0].State != "RECORDING_STATE_STOPPED" || l.Recordings[0].Bytes != "1234" ||
		l.Recordings[1].State != "RECORDING_STATE_FAILED" || l.Recordings[1].Reason != "disk full" {
		t.Fatalf("output = %s", out)
	}
}

func TestJoinRTPOutput(t *testing.T) {
	_, addr := startServer(t)
	code, out, errOut := runCtl(t, addr, nil, "join-rtp", "--room", "r1", "--id", "gw", "--codec", "opus")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		LocalAddr string  `json:"local_addr"`
		RTCPAddr  string  `json:"rtcp_addr"`
		Codec     string  `json:"codec"`
		Answer    *string `json:"sdp_answer"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.LocalAddr != "127.0.0.1:20000" || r.RTCPAddr != "127.0.0.1:20001" || r.Codec != "RTP_CODEC_OPUS" || r.Answer == nil {
		t.Fatalf("output = %s", out)
	}
}

func TestTokenAndGlobalFlags(t *testing.T) {
	rec, addr := startServer(t)
	// From the environment.
	if code, _, e := runCtl(t, addr, map[string]string{"MCU_API_TOKEN": "env-tok"}, "list"); code != 0 {
		t.Fatal(e)
	}
	if got := rec.lastAuth(); got != "Bearer env-tok" {
		t.Fatalf("authorization = %q", got)
	}
	// A flag wins, before or after the command.
	if code, _, e := runCtl(t, addr, map[string]string{"MCU_API_TOKEN": "env-tok"}, "--token", "flag-tok", "list"); code != 0 {
		t.Fatal(e)
	}
	if got := rec.lastAuth(); got != "Bearer flag-tok" {
		t.Fatalf("authorization = %q", got)
	}
	if code, _, e := runCtl(t, "127.0.0.1:1", nil, "get", "--room", "r1", "--addr="+addr, "--token=late", "--timeout", "5s"); code != 0 {
		t.Fatal(e)
	}
	if got := rec.lastAuth(); got != "Bearer late" {
		t.Fatalf("authorization = %q", got)
	}
	// No token, no header.
	if code, _, e := runCtl(t, addr, nil, "list"); code != 0 {
		t.Fatal(e)
	}
	if got := rec.lastAuth(); got != "" {
		t.Fatalf("authorization = %q", got)
	}
}

func TestErrorsAndUsage(t *testing.T) {
	_, addr := startServer(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		errHas string
	}{
		{"server error", []string{"get", "--room", "nope"}, 1, "NotFound: room not found"},
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frob"}, 2, "unknown command"},
		{"missing room", []string{"get"}, 2, "--room is required"},
		{"missing id", []string{"mute", "--room", "r"}, 2, "--id is required"},
		{"missing db", []string{"gain", "--room", "r", "--id", "p"}, 2, "--db is required"},
		{"bad db", []string{"gain", "--room", "r", "--id", "p", "--db", "loud"}, 2, "invalid value"},
		{"empty dsp", []string{"dsp", "--room", "r", "--id", "p"}, 2, "at least one"},
		{"bad timeout", []string{"--timeout", "x", "list"}, 2, "--timeout"},
		{"dangling flag", []string{"list", "--addr"}, 2, "needs a value"},
		{"record without subcommand", []string{"record"}, 2, "want a subcommand"},
		{"record unknown subcommand", []string{"record", "pause", "--room", "r"}, 2, "unknown subcommand"},
		{"record start without path", []string{"record", "start", "--room", "r"}, 2, "--path is required"},
		{"record start bad format", []string{"record", "start", "--room", "r", "--path", "a.avi", "--format", "avi"}, 2, "want mp4, mkv or ogg"},
		{"record stop without id", []string{"record", "stop", "--room", "r"}, 2, "--id is required"},
		{"record list without room", []string{"record", "list"}, 2, "--room is required"},
		{"record stop unknown", []string{"record", "stop", "--room", "r", "--id", "ghost"}, 1, "NotFound: recording not found"},
		{"join usage", []string{"join", "--id", "p"}, 2, "mcuctl join: --room is required"},
		{"join-rtp without codec or offer", []string{"join-rtp", "--room", "r", "--id", "p", "--remote", "192.0.2.1:4000"}, 2, "give --codec"},
		{"join-rtp bad codec", []string{"join-rtp", "--room", "r", "--id", "p", "--codec", "g729"}, 2, "want pcmu, pcma or opus"},
		{"join-rtp no latch, no remote", []string{"join-rtp", "--room", "r", "--id", "p", "--codec", "pcmu", "--no-latch"}, 2, "--remote is required"},
		{"join-rtp offer and remote", []string{"join-rtp", "--room", "r", "--id", "p", "--sdp-file", "x.sdp", "--remote", "192.0.2.1:4000"}, 2, "leave out --remote"},
		{"join-rtp missing offer file", []string{"join-rtp", "--room", "r", "--id", "p", "--sdp-file", "/nonexistent/offer.sdp"}, 2, "--sdp-file"},
		{"join-rtp without id", []string{"join-rtp", "--room", "r", "--codec", "pcmu"}, 2, "--id is required"},
		{"source without subcommand", []string{"source"}, 2, "want a subcommand"},
		{"source unknown subcommand", []string{"source", "pause", "--room", "r"}, 2, "unknown subcommand"},
		{"source add without url", []string{"source", "add", "--room", "r", "--id", "cam"}, 2, "--url is required"},
		{"source add bad transport", []string{"source", "add", "--room", "r", "--id", "cam", "--url", "rtsp://x", "--transport", "sctp"}, 2, "want tcp or udp"},
		{"source remove without id", []string{"source", "remove", "--room", "r"}, 2, "--id is required"},
		{"source remove unknown", []string{"source", "remove", "--room", "r", "--id", "ghost"}, 1, "NotFound: source not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCtl(t, addr, nil, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.errHas) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.errHas)
			}
		})
	}
}
