package mcuv1

// Hand-written: request validation. The server's validation interceptor
// (go-grpc-middleware's validator) calls Validate on every request, and a
// failure becomes INVALID_ARGUMENT with the message below, which names the
// field. Clients may call Validate before sending, too.

import (
	"errors"
	"fmt"
	"math"
	"net/url"
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
	// MaxURLBytes bounds a source URL.
	MaxURLBytes = 2048
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

// Validate checks the room ID and the audio and video settings.
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
	return ValidateVideo("video", r.GetVideo())
}

// Validate checks the room ID.
func (r *GetRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the room ID.
func (r *DeleteRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the room ID.
func (r *WatchRoomRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// validateMember checks what every request that adds a participant carries.
func validateMember(roomID, participantID, displayName string) error {
	if err := validateParticipant(roomID, participantID); err != nil {
		return err
	}
	if n := len(displayName); n > MaxDisplayNameBytes {
		return fieldErr("display_name", "must be at most %d bytes, got %d", MaxDisplayNameBytes, n)
	}
	return nil
}

// validateParticipant checks a room ID and a participant ID.
func validateParticipant(roomID, participantID string) error {
	if err := ValidateID("room_id", roomID); err != nil {
		return err
	}
	return ValidateID("participant_id", participantID)
}

// Validate checks the IDs, the display name and that an offer is present.
// Whether the offer parses is the server's business.
func (r *JoinRequest) Validate() error {
	if err := validateMember(r.GetRoomId(), r.GetParticipantId(), r.GetDisplayName()); err != nil {
		return err
	}
	switch n := len(r.GetSdpOffer()); {
	case n == 0:
		return fieldErr("sdp_offer", "must not be empty")
	case n > MaxSDPBytes:
		return fieldErr("sdp_offer", "must be at most %d bytes, got %d", MaxSDPBytes, n)
	}
	return nil
}

// Validate checks the IDs, the display name and the offer's size; the
// codec, address, key and offer themselves are the server's checks.
func (r *JoinRtpRequest) Validate() error {
	if err := validateMember(r.GetRoomId(), r.GetParticipantId(), r.GetDisplayName()); err != nil {
		return err
	}
	if n := len(r.GetSdpOffer()); n > MaxSDPBytes {
		return fieldErr("sdp_offer", "must be at most %d bytes, got %d", MaxSDPBytes, n)
	}
	return nil
}

// Validate checks the IDs.
func (r *LeaveRequest) Validate() error {
	return validateParticipant(r.GetRoomId(), r.GetParticipantId())
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

// Video limits the API enforces.
const (
	MaxVideoWidth   = 4096
	MaxVideoHeight  = 2304
	MaxVideoFPS     = 60
	MinVideoBitrate = 50_000
	MaxVideoBitrate = 20_000_000
	// MaxRenditions bounds a room's rendition ladder.
	MaxRenditions = 4
	// MaxLayoutRegions bounds a custom layout.
	MaxLayoutRegions = 64
)

// ValidateVideo checks video settings; zero fields mean the default.
func ValidateVideo(field string, v *VideoSettings) error {
	if v == nil {
		return nil
	}
	dim := func(name string, n, hi uint32) error {
		if n != 0 && (n < 16 || n > hi || n%2 != 0) {
			return fieldErr(field+"."+name, "must be 0 (default) or even and 16..%d, got %d", hi, n)
		}
		return nil
	}
	if err := dim("width", v.GetWidth(), MaxVideoWidth); err != nil {
		return err
	}
	if err := dim("height", v.GetHeight(), MaxVideoHeight); err != nil {
		return err
	}
	if f := v.GetFps(); f > MaxVideoFPS {
		return fieldErr(field+".fps", "must be 0 (default) or 1..%d, got %d", MaxVideoFPS, f)
	}
	if b := v.GetBitrate(); b != 0 && (b < MinVideoBitrate || b > MaxVideoBitrate) {
		return fieldErr(field+".bitrate", "must be 0 (default) or %d..%d bit/s, got %d", MinVideoBitrate, MaxVideoBitrate, b)
	}
	if rs := v.GetRenditions(); len(rs) > MaxRenditions {
		return fieldErr(field+".renditions", "at most %d, got %d", MaxRenditions, len(rs))
	}
	for i, r := range v.GetRenditions() {
		f := fmt.Sprintf("%s.renditions[%d]", field, i)
		if w := r.GetWidth(); w < 16 || w > MaxVideoWidth || w%2 != 0 {
			return fieldErr(f+".width", "must be even and 16..%d, got %d", MaxVideoWidth, w)
		}
		if h := r.GetHeight(); h < 16 || h > MaxVideoHeight || h%2 != 0 {
			return fieldErr(f+".height", "must be even and 16..%d, got %d", MaxVideoHeight, h)
		}
		if b := r.GetBitrate(); b < MinVideoBitrate || b > MaxVideoBitrate {
			return fieldErr(f+".bitrate", "must be %d..%d bit/s, got %d", MinVideoBitrate, MaxVideoBitrate, b)
		}
	}
	if v.Layout != nil {
		return ValidateLayout(field+".layout", v.Layout)
	}
	return nil
}

// ValidateLayout checks a layout's enums and, for a custom layout, its
// regions: inside the canvas, not empty, bound to someone.
func ValidateLayout(field string, l *Layout) error {
	if l == nil {
		return fieldErr(field, "must be set")
	}
	if _, ok := LayoutKind_name[int32(l.GetKind())]; !ok {
		return fieldErr(field+".kind", "unknown kind %d", l.GetKind())
	}
	if _, ok := FitMode_name[int32(l.GetFit())]; !ok {
		return fieldErr(field+".fit", "unknown fit mode %d", l.GetFit())
	}
	regions := l.GetRegions()
	if l.GetKind() != LayoutKind_LAYOUT_KIND_CUSTOM {
		if len(regions) > 0 {
			return fieldErr(field+".regions", "only a custom layout has regions")
		}
		return nil
	}
	switch {
	case len(regions) == 0:
		return fieldErr(field+".regions", "a custom layout needs at least one region")
	case len(regions) > MaxLayoutRegions:
		return fieldErr(field+".regions", "at most %d regions, got %d", MaxLayoutRegions, len(regions))
	}
	const eps = 1e-9
	for i, r := range regions {
		f := fmt.Sprintf("%s.regions[%d]", field, i)
		for _, c := range []struct {
			name string
			v    float64
		}{{"x", r.GetX()}, {"y", r.GetY()}, {"w", r.GetW()}, {"h", r.GetH()}} {
			if math.IsNaN(c.v) || c.v < 0 || c.v > 1 {
				return fieldErr(f+"."+c.name, "must be in [0,1], got %g", c.v)
			}
		}
		switch {
		case r.GetW() == 0 || r.GetH() == 0:
			return fieldErr(f, "is empty (%gx%g)", r.GetW(), r.GetH())
		case r.GetX()+r.GetW() > 1+eps || r.GetY()+r.GetH() > 1+eps:
			return fieldErr(f, "extends past the canvas")
		case r.GetBind() == "":
			return fieldErr(f+".bind", "must name a participant or \"speaker N\"")
		case len(r.GetBind()) > MaxIDBytes:
			return fieldErr(f+".bind", "must be at most %d bytes", MaxIDBytes)
		}
	}
	return nil
}

// Validate checks the room ID and the layout.
func (r *SetLayoutRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	return ValidateLayout("layout", r.GetLayout())
}

// Validate checks the room ID and the output: a path or an rtmp(s) URL,
// exactly one; whether the path stays in the recordings directory is the
// server's check.
func (r *StartRecordingRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	o := r.GetOutput()
	if o == nil {
		return fieldErr("output", "must be set")
	}
	if o.GetUrl() != "" {
		if o.GetPath() != "" {
			return fieldErr("output", "set path or url, not both")
		}
		if err := validateStreamURL(o.GetUrl()); err != nil {
			return err
		}
		switch o.GetFormat() {
		case RecordingFormat_RECORDING_FORMAT_UNSPECIFIED, RecordingFormat_RECORDING_FORMAT_FLV:
		default:
			return fieldErr("output.format", "must be FLV (or unset) for a url")
		}
		return nil
	}
	if o.GetPath() == "" {
		return fieldErr("output.path", "must not be empty (or give output.url)")
	}
	switch o.GetFormat() {
	case RecordingFormat_RECORDING_FORMAT_MP4, RecordingFormat_RECORDING_FORMAT_MKV, RecordingFormat_RECORDING_FORMAT_OGG:
	default:
		return fieldErr("output.format", "must be MP4, MKV or OGG for a path")
	}
	return nil
}

// validateStreamURL accepts rtmp:// and rtmps:// URLs with a host.
func validateStreamURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fieldErr("output.url", "not a URL")
	case u.Scheme != "rtmp" && u.Scheme != "rtmps":
		return fieldErr("output.url", "scheme must be rtmp or rtmps, got %q", u.Scheme)
	case u.Hostname() == "":
		return fieldErr("output.url", "has no host")
	}
	return nil
}

// Validate checks the IDs.
func (r *StopRecordingRequest) Validate() error {
	if err := ValidateID("room_id", r.GetRoomId()); err != nil {
		return err
	}
	return ValidateID("recording_id", r.GetRecordingId())
}

// Validate checks the room ID.
func (r *ListRecordingsRequest) Validate() error { return ValidateID("room_id", r.GetRoomId()) }

// Validate checks the IDs, the display name and that a URL is present;
// whether the URL is one the server may open is the server's check.
func (r *AddSourceRequest) Validate() error {
	if err := validateMember(r.GetRoomId(), r.GetParticipantId(), r.GetDisplayName()); err != nil {
		return err
	}
	switch n := len(r.GetUrl()); {
	case n == 0:
		return fieldErr("url", "must not be empty")
	case n > MaxURLBytes:
		return fieldErr("url", "must be at most %d bytes, got %d", MaxURLBytes, n)
	}
	switch r.GetTransport() {
	case SourceTransport_SOURCE_TRANSPORT_UNSPECIFIED, SourceTransport_SOURCE_TRANSPORT_TCP, SourceTransport_SOURCE_TRANSPORT_UDP:
	default:
		return fieldErr("transport", "unknown value %d", r.GetTransport())
	}
	return nil
}

// Validate checks the IDs.
func (r *RemoveSourceRequest) Validate() error {
	return validateParticipant(r.GetRoomId(), r.GetParticipantId())
}
