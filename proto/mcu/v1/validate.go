package mcuv1

// Hand-written: request validation. The server's validation interceptor
// (go-grpc-middleware's validator) calls Validate on every request, and a
// failure becomes INVALID_ARGUMENT with the message below, which names the
// field. Clients may call Validate before sending, too.

import (
	"errors"
	"fmt"
	"math"
)

// Limits the API enforces on its input.
const (
	// MaxIDBytes is the longest room or participant ID, in bytes.
	MaxIDBytes = 128
	// MaxDisplayNameBytes is the longest display name, in bytes.
	MaxDisplayNameBytes = 256
	// MinGainDB and MaxGainDB bound a participant's gain.
	MinGainDB = -60.0
	MaxGainDB = 20.0
	// MaxActiveSpeakersLimit bounds audio.max_active_speakers.
	MaxActiveSpeakersLimit = 64
	// MinOpusBitrate and MaxOpusBitrate are Opus's own limits, in bit/s.
	MinOpusBitrate = 6000
	MaxOpusBitrate = 510000
	// MaxSDPBytes bounds an SDP offer; real offers are a few KiB.
	MaxSDPBytes = 64 << 10
)

// ErrInvalidField is wrapped by every validation error.
var ErrInvalidField = errors.New("invalid field")

// FieldError names the request field that failed validation.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is match ErrInvalidField.
func (e *FieldError) Unwrap() error { return ErrInvalidField }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateID checks a room or participant ID: 1..MaxIDBytes bytes.
func ValidateID(field, id string) error {
	switch {
	case id == "":
		return fieldErr(field, "must not be empty")
	case len(id) > MaxIDBytes:
		return fieldErr(field, "must be at most %d bytes, got %d", MaxIDBytes, len(id))
	}
	return nil
}

// ValidateGainDB checks a gain in dB against MinGainDB..MaxGainDB.
func ValidateGainDB(field string, db float64) error {
	if math.IsNaN(db) || db < MinGainDB || db > MaxGainDB {
		return fieldErr(field, "must be between %g and %+g dB, got %g", MinGainDB, MaxGainDB, db)
	}
	return nil
}

// Validate checks the room ID and audio settings.
func (r *CreateRoomRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	a := r.GetAudio()
	if n := a.GetMaxActiveSpeakers(); n > MaxActiveSpeakersLimit {
		return fieldErr("audio.max_active_speakers", "must be at most %d, got %d", MaxActiveSpeakersLimit, n)
	}
	if b := a.GetOpusBitrate(); b != 0 && (b < MinOpusBitrate || b > MaxOpusBitrate) {
		return fieldErr("audio.opus_bitrate", "must be 0 (default) or %d..%d bit/s, got %d", MinOpusBitrate, MaxOpusBitrate, b)
	}
	return nil
}

// Validate checks the room ID.
func (r *GetRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the room ID.
func (r *DeleteRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the room ID.
func (r *WatchRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the IDs, the display name and that an offer is present.
// Whether the offer parses is the server's business.
func (r *JoinRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	if err := ValidateID("participant_id", r.GetParticipantId()); err != nil {
		return err
	}
	if n := len(r.GetDisplayName()); n > MaxDisplayNameBytes {
		return fieldErr("display_name", "must be at most %d bytes, got %d", MaxDisplayNameBytes, n)
	}
	switch n := len(r.GetSdpOffer()); {
	case n == 0:
		return fieldErr("sdp_offer", "must not be empty")
	case n > MaxSDPBytes:
		return fieldErr("sdp_offer", "must be at most %d bytes, got %d", MaxSDPBytes, n)
	}
	return nil
}

// Validate checks the IDs.
func (r *LeaveRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	return ValidateID("participant_id", r.GetParticipantId())
}

// Validate checks the IDs and the gain when it is set.
func (r *UpdateParticipantRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	if err := ValidateID("participant_id", r.GetParticipantId()); err != nil {
		return err
	}
	if r.GainDb != nil {
		return ValidateGainDB("gain_db", r.GetGainDb())
	}
	return nil
}
