package api

import (
	"context"

	"github.com/openmcu/mcu/conference"
)

// Manager is what the API needs from the conference layer. The real
// *conference.Manager satisfies it through FromConference; tests use a fake.
type Manager interface {
	CreateRoom(s conference.RoomSettings) (conference.RoomInfo, error)
	GetRoom(id string) (conference.RoomInfo, error)
	ListRooms() []conference.RoomInfo
	DeleteRoom(id string) error
	Join(ctx context.Context, roomID string, r conference.JoinRequest) (sdpAnswer string, err error)
	JoinRTP(roomID string, r conference.JoinRTPRequest) (conference.JoinRTPResult, error)
	Leave(roomID, participantID string) error
	UpdateParticipant(roomID, participantID string, u conference.ParticipantUpdate) (conference.ParticipantInfo, error)
	Watch(roomID string) (Subscription, error)
	SetLayout(roomID string, l conference.Layout) error
	StartRecording(roomID string, o conference.RecordingOutput) (conference.RecordingInfo, error)
	StopRecording(roomID, recordingID string) (conference.RecordingInfo, error)
	ListRecordings(roomID string) ([]conference.RecordingInfo, error)
	AddSource(roomID string, r conference.SourceRequest) (conference.ParticipantInfo, error)
	RemoveSource(roomID, participantID string) error
}

// Subscription is a room's event stream. Events is closed when the
// subscription ends; Close releases it and may be called more than once.
type Subscription interface {
	Events() <-chan conference.Event
	Close()
}
