package api

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/conference"
)

// startGateway serves the API over HTTP/JSON through a real gateway and gRPC
// server (with the given token) in front of the fake manager.
func startGateway(t *testing.T, token string) (*fakeManager, *httptest.Server) {
	t.Helper()
	fake := newFakeManager()
	srv := NewGRPCServer(Config{Token: token, Logger: slog.New(slog.DiscardHandler)}, fake)
	gw, err := NewGateway(srv)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.Handle("GET /openapi.json", OpenAPIHandler())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		gw.Close()
		srv.GRPC.Stop()
	})
	return fake, hs
}

type httpReply struct {
	code int
	body map[string]any
}

func call(t *testing.T, hs *httptest.Server, token, method, path, body string) httpReply {
	t.Helper()
	req, err := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := httpReply{code: resp.StatusCode}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	return r
}

// Every route, its HTTP code, and the JSON error body, through the same
// interceptors (auth, validation) as gRPC.
func TestGatewayRoutesAndErrors(t *testing.T) {
	fake, hs := startGateway(t, testToken)
	tok := testToken
	cases := []struct {
		name, token, method, path, body string
		code                            int
		has                             string // in the message (errors) or the JSON text
	}{
		{"no token", "", "GET", "/v1/rooms", "", http.StatusUnauthorized, "bearer"},
		{"wrong token", "nope", "GET", "/v1/rooms", "", http.StatusUnauthorized, "invalid token"},
		{"create", tok, "POST", "/v1/rooms", `{"roomId":"r","video":{"width":640,"height":360}}`, 200, `"roomId":"r"`},
		{"create again", tok, "POST", "/v1/rooms", `{"roomId":"r","video":{"width":640,"height":360}}`, http.StatusConflict, "exists"},
		{"create invalid", tok, "POST", "/v1/rooms", `{"roomId":""}`, http.StatusBadRequest, "room_id"},
		{"bad json", tok, "POST", "/v1/rooms", `{"roomId":`, http.StatusBadRequest, ""},
		{"get", tok, "GET", "/v1/rooms/r", "", 200, `"participantCount":0`},
		{"get missing", tok, "GET", "/v1/rooms/nope", "", http.StatusNotFound, "room not found"},
		{"list", tok, "GET", "/v1/rooms", "", 200, `"rooms":[{`},
		{"join", tok, "POST", "/v1/rooms/r/participants", `{"participantId":"alice","displayName":"Alice","sdpOffer":"v=0 offer"}`, 200, `"sdpAnswer":"v=0 answer for alice"`},
		{"join bad sdp", tok, "POST", "/v1/rooms/r/participants", `{"participantId":"bob","sdpOffer":"garbage"}`, http.StatusBadRequest, "sdp_offer"},
		{"join missing room", tok, "POST", "/v1/rooms/nope/participants", `{"participantId":"bob","sdpOffer":"v=0"}`, http.StatusNotFound, "room not found"},
		{"mute", tok, "PATCH", "/v1/rooms/r/participants/alice", `{"muted":true}`, 200, `"muted":true`},
		{"mute missing", tok, "PATCH", "/v1/rooms/r/participants/zed", `{"muted":true}`, http.StatusNotFound, "participant not found"},
		{"layout", tok, "PUT", "/v1/rooms/r/layout", `{"layout":{"kind":"LAYOUT_KIND_SPEAKER"}}`, 200, `{}`},
		{"add source", tok, "POST", "/v1/rooms/r/sources", `{"participantId":"cam","url":"rtsp://cam.local/s","transport":"SOURCE_TRANSPORT_UDP"}`, 200, `"kind":"PARTICIPANT_KIND_SOURCE"`},
		{"add source no url", tok, "POST", "/v1/rooms/r/sources", `{"participantId":"cam2"}`, http.StatusBadRequest, "url"},
		{"add source again", tok, "POST", "/v1/rooms/r/sources", `{"participantId":"cam","url":"rtsp://cam.local/s"}`, http.StatusConflict, "already in room"},
		{"remove source", tok, "DELETE", "/v1/rooms/r/sources/cam", "", 200, `{}`},
		{"remove source missing", tok, "DELETE", "/v1/rooms/r/sources/cam", "", http.StatusNotFound, "participant not found"},
		{"leave", tok, "DELETE", "/v1/rooms/r/participants/alice", "", 200, `{}`},
		{"delete", tok, "DELETE", "/v1/rooms/r", "", 200, `{}`},
		{"delete missing", tok, "DELETE", "/v1/rooms/r", "", http.StatusNotFound, "room not found"},
	}
	for _, c := range cases {
		r := call(t, hs, c.token, c.method, c.path, c.body)
		if r.code != c.code {
			t.Fatalf("%s: %s %s = %d %v, want %d", c.name, c.method, c.path, r.code, r.body, c.code)
		}
		text, _ := json.Marshal(r.body)
		if c.code != 200 {
			msg, _ := r.body["message"].(string)
			if _, ok := r.body["code"].(float64); !ok || (c.has != "" && !strings.Contains(msg, c.has)) {
				t.Fatalf("%s: error body %s, want a code and a message with %q", c.name, text, c.has)
			}
		} else if !strings.Contains(string(text), c.has) {
			t.Fatalf("%s: body %s lacks %s", c.name, text, c.has)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.lastSettings.Video == nil || fake.lastSettings.Video.Width != 640 {
		t.Fatalf("video settings did not reach the manager: %+v", fake.lastSettings.Video)
	}
	if fake.lastUpdate.Muted == nil || !*fake.lastUpdate.Muted {
		t.Fatalf("mute did not reach the manager: %+v", fake.lastUpdate)
	}
	if fake.lastLayout.Kind != conference.LayoutSpeaker {
		t.Fatalf("layout = %+v, want speaker", fake.lastLayout)
	}
}

// WatchRoom streams one JSON object per line while the events happen, and
// the stream ends when the room is deleted.
func TestGatewayWatchRoomNDJSON(t *testing.T) {
	fake, hs := startGateway(t, "")
	if r := call(t, hs, "", "POST", "/v1/rooms", `{"roomId":"r"}`); r.code != 200 {
		t.Fatal(r)
	}
	now := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	// The gateway sends the headers with the first event, so that one is
	// sent while the request waits.
	subc := make(chan *fakeSub, 1)
	go func() {
		sub, err := fake.waitSub(0)
		if err == nil {
			sub.ch <- conference.Event{Type: conference.EventSpeakingStarted, RoomID: "r", Time: now, ParticipantID: "alice"}
		}
		subc <- sub
	}()
	resp, err := hs.Client().Get(hs.URL + "/v1/rooms/r/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sub := <-subc
	if sub == nil {
		t.Fatal("no subscription")
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		res, ok := m["result"].(map[string]any)
		if !ok {
			t.Fatalf("line without result: %s", lines.Text())
		}
		return res
	}
	// One event at a time: each line must arrive before the next is sent,
	// which proves the gateway flushes per message.
	if ev := next(); ev["speakingStarted"].(map[string]any)["participantId"] != "alice" || ev["time"] != "2025-05-06T07:08:09Z" {
		t.Fatalf("event = %v", ev)
	}
	sub.ch <- conference.Event{Type: conference.EventAudioLevels, RoomID: "r", Time: now,
		Levels: []conference.ParticipantLevel{{ParticipantID: "alice", LevelDBFS: -20, Speaking: true}}}
	ev := next()
	lv := ev["audioLevels"].(map[string]any)["levels"].([]any)[0].(map[string]any)
	if lv["participantId"] != "alice" || lv["levelDbfs"] != -20.0 || lv["speaking"] != true {
		t.Fatalf("levels = %v", ev)
	}
	sub.ch <- conference.Event{Type: conference.EventRoomDeleted, RoomID: "r", Time: now}
	if ev := next(); ev["roomDeleted"] == nil {
		t.Fatalf("event = %v", ev)
	}
	if lines.Scan() {
		t.Fatalf("line after room_deleted: %s", lines.Text())
	}
}

// A missing room ends the stream with one error line and the HTTP code.
func TestGatewayWatchMissingRoom(t *testing.T) {
	_, hs := startGateway(t, "")
	r := call(t, hs, "", "GET", "/v1/rooms/nope/events", "")
	if r.code != http.StatusNotFound {
		t.Fatalf("code %d %v", r.code, r.body)
	}
	errBody, _ := r.body["error"].(map[string]any)
	if msg, _ := errBody["message"].(string); !strings.Contains(msg, "room not found") {
		t.Fatalf("body %v", r.body)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	_, hs := startGateway(t, "")
	resp, err := hs.Client().Get(hs.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"/v1/rooms":                       {"get", "post"},
		"/v1/rooms/{roomId}":              {"get", "delete"},
		"/v1/rooms/{roomId}/participants": {"post"},
		"/v1/rooms/{roomId}/participants/{participantId}": {"delete", "patch"},
		"/v1/rooms/{roomId}/events":                       {"get"},
		"/v1/rooms/{roomId}/layout":                       {"put"},
		"/v1/rooms/{roomId}/sources":                      {"post"},
		"/v1/rooms/{roomId}/sources/{participantId}":      {"delete"},
	}
	if doc.Swagger != "2.0" {
		t.Fatalf("swagger = %q", doc.Swagger)
	}
	for p, methods := range want {
		for _, m := range methods {
			if doc.Paths[p][m] == nil {
				t.Errorf("OpenAPI lacks %s %s (paths: %v)", m, p, doc.Paths)
			}
		}
	}
}
