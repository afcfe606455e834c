package conference

import "errors"

// Sentinel errors. The api package maps them to gRPC codes.
var (
	// ErrRoomNotFound means no room has the given ID.
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomExists means a room with the given ID already exists.
	ErrRoomExists = errors.New("room already exists")
	// ErrParticipantNotFound means the room has no participant with the given ID.
	ErrParticipantNotFound = errors.New("participant not found")
	// ErrParticipantExists means the participant ID is already in the room.
	ErrParticipantExists = errors.New("participant already in room")
	// ErrTooManyRooms means the configured maximum number of rooms is reached.
	ErrTooManyRooms = errors.New("maximum number of rooms reached")
	// ErrTooManyParticipants means the room or server participant limit is reached.
	ErrTooManyParticipants = errors.New("maximum number of participants reached")
	// ErrInvalidSDP means the offer could not be parsed or has no usable audio.
	ErrInvalidSDP = errors.New("invalid SDP offer")
	// ErrInvalidArgument means a value is out of range; the wrapping error names the field.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrRecordingNotFound means the room has no running recording with the given ID.
	ErrRecordingNotFound = errors.New("recording not found")
	// ErrRecordingOutput means a recording's file cannot be created; the
	// wrapping error names the path and the reason.
	ErrRecordingOutput = errors.New("recording output cannot be written")
	// ErrClosed means the manager or room is shutting down.
	ErrClosed = errors.New("closed")
)
