package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
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
