package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

const testToken = "s3cret-token"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	fake   *fakeManager
	srv    *Server
	conn   *grpc.ClientConn
	client mcuv1.ConferenceClient
	logs   *syncBuffer
}

// start serves the API on an in-memory listener. The client sends no token;
// tests add one with authed.
func start(t *testing.T, token string) *harness {
	t.Helper()
	h := &harness{fake: newFakeManager(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.srv = NewGRPCServer(Config{Token: token, Logger: log}, h.fake)
	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.srv.GRPC.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.conn = conn
	h.client = mcuv1.NewConferenceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		h.srv.GRPC.Stop()
		<-done
	})
	return h
}

func authed(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func wantCode(t *testing.T, err error, code codes.Code, msgHas string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a status", err)
	}
	if st.Code() != code {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if !strings.Contains(st.Message(), msgHas) {
		t.Fatalf("message %q does not contain %q", st.Message(), msgHas)
	}
}

func TestErrorCodes(t *testing.T) {
	h := start(t, testToken)
	ctx := authed(t, testToken)
	c := h.client
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p1", SdpOffer: "v=0"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 129)
	maxID := strings.Repeat("x", 128)

	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		msgHas string
	}{
		{"unknown room", func() error {
			_, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "nope"})
			return err
		}, codes.NotFound, "room not found"},
		{"delete unknown room", func() error {
			_, err := c.DeleteRoom(ctx, &mcuv1.DeleteRoomRequest{RoomId: "nope"})
			return err
		}, codes.NotFound, "room not found"},
		{"watch unknown room", func() error {
			s, err := c.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: "nope"})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.NotFound, "room not found"},
		{"unknown participant", func() error {
			_, err := c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r1", ParticipantId: "ghost"})
			return err
		}, codes.NotFound, "participant not found"},
		{"duplicate room", func() error {
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r1"})
			return err
		}, codes.AlreadyExists, "room already exists"},
		{"duplicate participant", func() error {
			_, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p1", SdpOffer: "v=0"})
			return err
		}, codes.AlreadyExists, "participant"},
		{"empty room_id", func() error {
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{})
			return err
		}, codes.InvalidArgument, "room_id: must not be empty"},
		{"oversized room_id", func() error {
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: long})
			return err
		}, codes.InvalidArgument, "room_id: must be at most 128 bytes"},
		{"oversized room_id on watch", func() error {
			s, err := c.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: long})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.InvalidArgument, "room_id"},
		{"128-byte room_id is fine, but unknown", func() error {
			_, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: maxID})
			return err
		}, codes.NotFound, "room not found"},
		{"empty participant_id", func() error {
			_, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", SdpOffer: "v=0"})
			return err
		}, codes.InvalidArgument, "participant_id: must not be empty"},
		{"oversized participant_id", func() error {
			_, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: long})
			return err
		}, codes.InvalidArgument, "participant_id: must be at most 128 bytes"},
		{"empty sdp", func() error {
			_, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p2"})
			return err
		}, codes.InvalidArgument, "sdp_offer: must not be empty"},
		{"unparsable sdp", func() error {
			_, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p2", SdpOffer: "garbage"})
			return err
		}, codes.InvalidArgument, "sdp_offer: invalid SDP offer: no m=audio section"},
		{"gain too high", func() error {
			_, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p1", GainDb: proto.Float64(20.5)})
			return err
		}, codes.InvalidArgument, "gain_db"},
		{"gain too low", func() error {
			_, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p1", GainDb: proto.Float64(-61)})
			return err
		}, codes.InvalidArgument, "gain_db"},
		{"gain NaN", func() error {
			_, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r1", ParticipantId: "p1", GainDb: proto.Float64(math.NaN())})
			return err
		}, codes.InvalidArgument, "gain_db"},
		{"bad bitrate", func() error {
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r9", Audio: &mcuv1.AudioSettings{OpusBitrate: 100}})
			return err
		}, codes.InvalidArgument, "audio.opus_bitrate"},
		{"participant limit", func() error {
			if _, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p2", SdpOffer: "v=0"}); err != nil {
				return err
			}
			_, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r1", ParticipantId: "p3", SdpOffer: "v=0"})
			return err
		}, codes.ResourceExhausted, "participants"},
		{"room limit", func() error {
			for _, id := range []string{"r2", "r3"} {
				if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: id}); err != nil {
					return err
				}
			}
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r4"})
			return err
		}, codes.ResourceExhausted, "rooms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(), tc.code, tc.msgHas)
		})
	}
}

func TestGainBoundsAccepted(t *testing.T) {
	h := start(t, "")
	ctx := authed(t, "")
	if _, err := h.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Join(ctx, &mcuv1.JoinRequest{RoomId: "r", ParticipantId: "p", SdpOffer: "v=0"}); err != nil {
		t.Fatal(err)
	}
	for _, db := range []float64{-60, -6, 0, 20} {
		p, err := h.client.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r", ParticipantId: "p", GainDb: proto.Float64(db)})
		if err != nil {
			t.Fatalf("gain %v: %v", db, err)
		}
		if p.GetGainDb() != db {
			t.Fatalf("gain_db = %v, want %v", p.GetGainDb(), db)
		}
	}
}

// Internals never reach the client: unexpected errors and panics become a
// plain INTERNAL, while the log keeps the detail.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	h := start(t, testToken)
	ctx := authed(t, testToken)

	_, err := h.client.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "panic-room"})
	wantCode(t, err, codes.Internal, "internal error")
	if st := status.Convert(err); st.Message() != "internal error" {
		t.Fatalf("panic message leaked: %q", st.Message())
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "secret-panic-value panic-room") || !strings.Contains(logs, "goroutine") {
		t.Fatalf("panic and stack not logged:\n%s", logs)
	}

	h.fake.errFor["CreateRoom"] = errors.New("dial postgres://admin:hunter2@db: refused")
	_, err = h.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "x"})
	wantCode(t, err, codes.Internal, "internal error")
	if strings.Contains(status.Convert(err).Message(), "hunter2") {
		t.Fatal("internal error text leaked")
	}

	// An SDP error without the field name gets it added.
	h.fake.errFor["Join"] = fmt.Errorf("%w: truncated", conference.ErrInvalidSDP)
	_, err = h.client.Join(ctx, &mcuv1.JoinRequest{RoomId: "x", ParticipantId: "p", SdpOffer: "v=0"})
	wantCode(t, err, codes.InvalidArgument, "sdp_offer: invalid SDP offer: truncated")

	h.fake.errFor["CreateRoom"] = conference.ErrClosed
	_, err = h.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "x"})
	wantCode(t, err, codes.Unavailable, "shutting down")

	// The server survives the panic.
	if _, err := h.client.ListRooms(ctx, &mcuv1.ListRoomsRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestAuth(t *testing.T) {
	h := start(t, testToken)
	bg, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md := func(v string) context.Context { return metadata.AppendToOutgoingContext(bg, "authorization", v) }

	tests := []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"missing token", bg, codes.Unauthenticated},
		{"wrong token", md("Bearer nope"), codes.Unauthenticated},
		{"token prefix", md("Bearer " + testToken[:4]), codes.Unauthenticated},
		{"wrong scheme", md("Basic " + testToken), codes.Unauthenticated},
		{"no scheme", md(testToken), codes.Unauthenticated},
		{"right token", md("Bearer " + testToken), codes.OK},
		{"scheme is case-insensitive", md("bearer " + testToken), codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.ListRooms(tc.ctx, &mcuv1.ListRoomsRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("ListRooms: %v, want %v", err, tc.code)
			}
			// Streams are guarded too.
			s, err := h.client.WatchRoom(tc.ctx, &mcuv1.WatchRoomRequest{RoomId: "none"})
			if err == nil {
				_, err = s.Recv()
			}
			want := tc.code
			if want == codes.OK {
				want = codes.NotFound
			}
			if status.Code(err) != want {
				t.Fatalf("WatchRoom: %v, want %v", err, want)
			}
		})
	}

	// Health needs no token; reflection does.
	resp, err := healthpb.NewHealthClient(h.conn).Check(bg, &healthpb.HealthCheckRequest{Service: "mcu.v1.Conference"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without token: %v %v", resp, err)
	}
	rs, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(bg)
	if err != nil {
		t.Fatal(err)
	}
	// Send may see io.EOF when the server has already refused the stream;
	// Recv then reports why.
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reflection without token: %v", err)
	}
}

func TestNoTokenNoAuth(t *testing.T) {
	h := start(t, "")
	if _, err := h.client.ListRooms(authed(t, ""), &mcuv1.ListRoomsRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestReflectionListsConference(t *testing.T) {
	h := start(t, testToken)
	rs, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(authed(t, testToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"mcu.v1.Conference", "grpc.health.v1.Health"} {
		if !strings.Contains(got, want) {
			t.Fatalf("services %s lack %s", got, want)
		}
	}
}

func TestRoomLifecycleAndConversion(t *testing.T) {
	h := start(t, testToken)
	ctx := authed(t, testToken)
	c := h.client

	// Unset DSP fields take the defaults (NS, AGC on; AEC off); set ones win.
	room, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r", Audio: &mcuv1.AudioSettings{
		MaxActiveSpeakers: 2, OpusBitrate: 24000, Dsp: &mcuv1.DspSettings{Aec: proto.Bool(true), Agc: proto.Bool(false)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := h.fake.lastSettings
	want := conference.AudioSettings{MaxActiveSpeakers: 2, OpusBitrate: 24000, DSP: conference.DSPSettings{AEC: true, NS: true, AGC: false}}
	if s.ID != "r" || s.Audio != want {
		t.Fatalf("settings = %+v, want %+v", s, want)
	}
	if d := room.GetAudio().GetDsp(); d.Aec == nil || !d.GetAec() || !d.GetNs() || d.GetAgc() || d.Agc == nil {
		t.Fatalf("room dsp = %v", d)
	}
	if !room.GetCreatedAt().AsTime().Equal(h.fake.now) {
		t.Fatalf("created_at = %v", room.GetCreatedAt())
	}

	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "plain"}); err != nil {
		t.Fatal(err)
	}
	if got := h.fake.lastSettings.Audio.DSP; got != (conference.DSPSettings{NS: true, AGC: true}) {
		t.Fatalf("default dsp = %+v", got)
	}

	ans, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "r", ParticipantId: "alice", DisplayName: "Alice", SdpOffer: "v=0"})
	if err != nil || ans.GetSdpAnswer() != "v=0 answer for alice" {
		t.Fatalf("join: %v %v", ans, err)
	}
	got, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetParticipantCount() != 1 || got.GetParticipants()[0].GetDisplayName() != "Alice" || got.GetParticipants()[0].GetLevelDbfs() != -127 {
		t.Fatalf("room = %v", got)
	}

	// Only the fields set in the request reach the manager.
	p, err := c.UpdateParticipant(ctx, &mcuv1.UpdateParticipantRequest{RoomId: "r", ParticipantId: "alice", Muted: proto.Bool(true),
		Dsp: &mcuv1.DspOverride{Aec: proto.Bool(false)}})
	if err != nil {
		t.Fatal(err)
	}
	u := h.fake.lastUpdate
	if u.Muted == nil || !*u.Muted || u.GainDB != nil || u.DSP.AEC == nil || *u.DSP.AEC || u.DSP.NS != nil || u.DSP.AGC != nil {
		t.Fatalf("update = %+v", u)
	}
	if !p.GetMuted() || p.GetDsp().GetAec() {
		t.Fatalf("participant = %v", p)
	}

	list, err := c.ListRooms(ctx, &mcuv1.ListRoomsRequest{})
	if err != nil || len(list.GetRooms()) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r", ParticipantId: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRoom(ctx, &mcuv1.DeleteRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	wantCode(t, err, codes.NotFound, "room not found")
	if !strings.Contains(h.logs.String(), "mcu.v1.Conference") {
		t.Fatal("calls are not logged")
	}
}

func TestWatchRoomStreamsUntilDeleted(t *testing.T) {
	h := start(t, testToken)
	ctx := authed(t, testToken)
	if _, err := h.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	stream, err := h.client.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := h.fake.waitSub(0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	alice := &conference.ParticipantInfo{ID: "alice", DisplayName: "Alice"}
	events := []conference.Event{
		{Type: conference.EventParticipantJoined, RoomID: "r", Time: now, ParticipantID: "alice", Participant: alice},
		{Type: conference.EventSpeakingStarted, RoomID: "r", Time: now, ParticipantID: "alice"},
		{Type: conference.EventType(99), RoomID: "r", Time: now}, // unknown: skipped
		{Type: conference.EventAudioLevels, RoomID: "r", Time: now, Levels: []conference.ParticipantLevel{
			{ParticipantID: "alice", LevelDBFS: -20, Speaking: true, DSPStats: conference.DSPStats{EchoDelayMs: 120, ERLEdB: 30, AGCGainDB: 3, SpeechProbability: 0.9}},
		}},
		{Type: conference.EventSpeakingStopped, RoomID: "r", Time: now, ParticipantID: "alice"},
		{Type: conference.EventParticipantUpdated, RoomID: "r", Time: now, ParticipantID: "alice", Participant: alice},
		{Type: conference.EventParticipantLeft, RoomID: "r", Time: now, ParticipantID: "alice", Reason: "left"},
		{Type: conference.EventRoomDeleted, RoomID: "r", Time: now},
		{Type: conference.EventSpeakingStarted, RoomID: "r", Time: now, ParticipantID: "late"}, // after deletion: never sent
	}
	for _, e := range events {
		sub.ch <- e
	}

	var got []*mcuv1.RoomEvent
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 7 {
		t.Fatalf("got %d events, want 7: %v", len(got), got)
	}
	for _, ev := range got {
		if ev.GetRoomId() != "r" || !ev.GetTime().AsTime().Equal(now) {
			t.Fatalf("event header = %v", ev)
		}
	}
	if p := got[0].GetParticipantJoined().GetParticipant(); p.GetParticipantId() != "alice" || p.GetDisplayName() != "Alice" {
		t.Fatalf("joined = %v", got[0])
	}
	if got[1].GetSpeakingStarted().GetParticipantId() != "alice" {
		t.Fatalf("speaking started = %v", got[1])
	}
	lv := got[2].GetAudioLevels().GetLevels()
	if len(lv) != 1 || lv[0].GetLevelDbfs() != -20 || !lv[0].GetSpeaking() || lv[0].GetEchoDelayMs() != 120 ||
		lv[0].GetErleDb() != 30 || lv[0].GetAgcGainDb() != 3 || lv[0].GetSpeechProbability() != 0.9 {
		t.Fatalf("levels = %v", got[2])
	}
	if got[3].GetSpeakingStopped().GetParticipantId() != "alice" {
		t.Fatalf("speaking stopped = %v", got[3])
	}
	if got[4].GetParticipantUpdated().GetParticipant().GetParticipantId() != "alice" {
		t.Fatalf("updated = %v", got[4])
	}
	if l := got[5].GetParticipantLeft(); l.GetParticipantId() != "alice" || l.GetReason() != "left" {
		t.Fatalf("left = %v", got[5])
	}
	if got[6].GetRoomDeleted() == nil {
		t.Fatalf("last = %v, want room_deleted", got[6])
	}
	select {
	case <-sub.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not closed after the stream ended")
	}
}

func TestWatchRoomEndsOnCancelAndDrain(t *testing.T) {
	h := start(t, "")
	ctx := authed(t, "")
	if _, err := h.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}

	// The caller cancels: the server closes the subscription.
	cctx, cancel := context.WithCancel(ctx)
	s1, err := h.client.WatchRoom(cctx, &mcuv1.WatchRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	sub1, err := h.fake.waitSub(0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s1.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("recv after cancel: %v", err)
	}
	select {
	case <-sub1.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not closed after cancel")
	}

	// The server drains: open streams end with UNAVAILABLE and health says so.
	s2, err := h.client.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.waitSub(1); err != nil {
		t.Fatal(err)
	}
	h.srv.Drain()
	_, err = s2.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
	resp, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while draining: %v %v", resp, err)
	}

	// A subscription the manager ends (no room_deleted) ends the stream cleanly.
	h2 := start(t, "")
	if _, err := h2.client.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	s3, err := h2.client.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	sub3, err := h2.fake.waitSub(0)
	if err != nil {
		t.Fatal(err)
	}
	close(sub3.ch)
	if _, err := s3.Recv(); err != io.EOF {
		t.Fatalf("recv after manager ended the subscription: %v", err)
	}
}
