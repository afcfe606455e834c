package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openmcu/mcu/conference"
)

// fakeManager is an in-memory Manager with the real one's error contract.
// Room IDs starting with "panic" make GetRoom panic, and errFor lets a test
// force any error from any call.
type fakeManager struct {
	mu              sync.Mutex
	rooms           map[string]*conference.RoomInfo
	maxRooms        int
	maxParticipants int
	errFor          map[string]error // method name -> forced error
	subs            []*fakeSub
	lastSettings    conference.RoomSettings
	lastUpdate      conference.ParticipantUpdate
	lastLayout      conference.Layout
	now             time.Time
	recs            []conference.RecordingInfo
}

func newFakeManager() *fakeManager {
	return &fakeManager{
		rooms:           map[string]*conference.RoomInfo{},
		maxRooms:        3,
		maxParticipants: 2,
		errFor:          map[string]error{},
		now:             time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func (f *fakeManager) forced(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errFor[method]
}

func (f *fakeManager) CreateRoom(s conference.RoomSettings) (conference.RoomInfo, error) {
	if err := f.forced("CreateRoom"); err != nil {
		return conference.RoomInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastSettings = s
	if _, ok := f.rooms[s.ID]; ok {
		return conference.RoomInfo{}, fmt.Errorf("create %q: %w", s.ID, conference.ErrRoomExists)
	}
	if len(f.rooms) >= f.maxRooms {
		return conference.RoomInfo{}, fmt.Errorf("create %q: %w", s.ID, conference.ErrTooManyRooms)
	}
	r := &conference.RoomInfo{ID: s.ID, Audio: s.Audio, CreatedAt: f.now}
	f.rooms[s.ID] = r
	return *r, nil
}

func (f *fakeManager) GetRoom(id string) (conference.RoomInfo, error) {
	if len(id) >= 5 && id[:5] == "panic" {
		panic("secret-panic-value " + id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	if !ok {
		return conference.RoomInfo{}, fmt.Errorf("get %q: %w", id, conference.ErrRoomNotFound)
	}
	return *r, nil
}

func (f *fakeManager) ListRooms() []conference.RoomInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]conference.RoomInfo, 0, len(f.rooms))
	for _, r := range f.rooms {
		out = append(out, *r)
	}
	return out
}

func (f *fakeManager) DeleteRoom(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rooms[id]; !ok {
		return fmt.Errorf("delete %q: %w", id, conference.ErrRoomNotFound)
	}
	delete(f.rooms, id)
	return nil
}

// JoinRTP is not modelled by the fake; the real-manager tests cover it.
func (f *fakeManager) JoinRTP(string, conference.JoinRTPRequest) (conference.JoinRTPResult, error) {
	return conference.JoinRTPResult{}, errors.New("fake: JoinRTP not modelled")
}

func (f *fakeManager) Join(_ context.Context, roomID string, r conference.JoinRequest) (string, error) {
	if err := f.forced("Join"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	room, ok := f.rooms[roomID]
	if !ok {
		return "", conference.ErrRoomNotFound
	}
	if r.SDPOffer == "garbage" {
		return "", fmt.Errorf("sdp_offer: %w: no m=audio section", conference.ErrInvalidSDP) // as the real manager words it
	}
	for _, p := range room.Participants {
		if p.ID == r.ParticipantID {
			return "", conference.ErrParticipantExists
		}
	}
	if len(room.Participants) >= f.maxParticipants {
		return "", conference.ErrTooManyParticipants
	}
	room.Participants = append(room.Participants, conference.ParticipantInfo{
		ID: r.ParticipantID, DisplayName: r.DisplayName, JoinedAt: f.now, DSP: room.Audio.DSP, LevelDBFS: -127,
	})
	return "v=0 answer for " + r.ParticipantID, nil
}

func (f *fakeManager) find(roomID, pid string) (*conference.ParticipantInfo, error) {
	room, ok := f.rooms[roomID]
	if !ok {
		return nil, conference.ErrRoomNotFound
	}
	for i := range room.Participants {
		if room.Participants[i].ID == pid {
			return &room.Participants[i], nil
		}
	}
	return nil, fmt.Errorf("%s/%s: %w", roomID, pid, conference.ErrParticipantNotFound)
}

func (f *fakeManager) Leave(roomID, pid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(roomID, pid); err != nil {
		return err
	}
	room := f.rooms[roomID]
	for i := range room.Participants {
		if room.Participants[i].ID == pid {
			room.Participants = append(room.Participants[:i], room.Participants[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeManager) UpdateParticipant(roomID, pid string, u conference.ParticipantUpdate) (conference.ParticipantInfo, error) {
	if err := f.forced("UpdateParticipant"); err != nil {
		return conference.ParticipantInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastUpdate = u
	p, err := f.find(roomID, pid)
	if err != nil {
		return conference.ParticipantInfo{}, err
	}
	if u.Muted != nil {
		p.Muted = *u.Muted
	}
	if u.GainDB != nil {
		p.GainDB = *u.GainDB
	}
	if u.DSP.AEC != nil {
		p.DSP.AEC = *u.DSP.AEC
	}
	return *p, nil
}

func (f *fakeManager) Watch(roomID string) (Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rooms[roomID]; !ok {
		return nil, conference.ErrRoomNotFound
	}
	s := &fakeSub{ch: make(chan conference.Event, 16), closed: make(chan struct{})}
	f.subs = append(f.subs, s)
	return s, nil
}

// waitSub returns the n-th subscription once a WatchRoom call has made it.
func (f *fakeManager) waitSub(n int) (*fakeSub, error) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		if len(f.subs) > n {
			s := f.subs[n]
			f.mu.Unlock()
			return s, nil
		}
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	return nil, errors.New("no subscription")
}

type fakeSub struct {
	ch     chan conference.Event
	once   sync.Once
	closed chan struct{}
}

func (s *fakeSub) Events() <-chan conference.Event { return s.ch }
func (s *fakeSub) Close()                          { s.once.Do(func() { close(s.closed) }) }

func (f *fakeManager) SetLayout(roomID string, l conference.Layout) error {
	if err := f.forced("SetLayout"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[roomID]
	if !ok {
		return fmt.Errorf("room %q: %w", roomID, conference.ErrRoomNotFound)
	}
	f.lastLayout = l
	r.Video.Layout = l
	return nil
}

func (f *fakeManager) StartRecording(roomID string, o conference.RecordingOutput) (conference.RecordingInfo, error) {
	if err := f.forced("StartRecording"); err != nil {
		return conference.RecordingInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rooms[roomID]; !ok {
		return conference.RecordingInfo{}, fmt.Errorf("room %q: %w", roomID, conference.ErrRoomNotFound)
	}
	f.recs = append(f.recs, conference.RecordingInfo{ID: fmt.Sprintf("rec-%d", len(f.recs)+1), RoomID: roomID,
		Path: "/rec/" + o.Path, Format: o.Format, AudioOnly: o.AudioOnly, StartedAt: f.now, State: conference.RecordingActive})
	return f.recs[len(f.recs)-1], nil
}

func (f *fakeManager) StopRecording(roomID, id string) (conference.RecordingInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.recs {
		if r.RoomID == roomID && r.ID == id {
			f.recs = append(f.recs[:i], f.recs[i+1:]...)
			r.State = conference.RecordingStopped
			return r, nil
		}
	}
	return conference.RecordingInfo{}, fmt.Errorf("recording %q: %w", id, conference.ErrRecordingNotFound)
}

func (f *fakeManager) ListRecordings(roomID string) ([]conference.RecordingInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rooms[roomID]; !ok {
		return nil, fmt.Errorf("room %q: %w", roomID, conference.ErrRoomNotFound)
	}
	var out []conference.RecordingInfo
	for _, r := range f.recs {
		if r.RoomID == roomID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeManager) AddSource(roomID string, r conference.SourceRequest) (conference.ParticipantInfo, error) {
	if err := f.forced("AddSource"); err != nil {
		return conference.ParticipantInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	room, ok := f.rooms[roomID]
	if !ok {
		return conference.ParticipantInfo{}, conference.ErrRoomNotFound
	}
	for _, p := range room.Participants {
		if p.ID == r.ParticipantID {
			return conference.ParticipantInfo{}, conference.ErrParticipantExists
		}
	}
	p := conference.ParticipantInfo{ID: r.ParticipantID, DisplayName: r.DisplayName, Kind: conference.KindSource,
		JoinedAt: f.now, LevelDBFS: -127}
	room.Participants = append(room.Participants, p)
	return p, nil
}

func (f *fakeManager) RemoveSource(roomID, pid string) error {
	if err := f.forced("RemoveSource"); err != nil {
		return err
	}
	return f.Leave(roomID, pid)
}
