package conference

import (
	"time"

	"github.com/openmcu/mcu/transport"
)

// DSPSettings switches the voice-processing stages. A nil field in an
// override means "inherit the room default".
type DSPSettings struct {
	AEC bool `yaml:"aec"`
	NS  bool `yaml:"ns"`
	AGC bool `yaml:"agc"`
}

// DSPOverride is a per-participant override of the room's DSPSettings.
type DSPOverride struct {
	AEC, NS, AGC *bool
}

// AudioSettings configures a room's audio mix.
type AudioSettings struct {
	// MaxActiveSpeakers is how many participants get their own mix-minus (default 3).
	MaxActiveSpeakers int
	// OpusBitrate is the encoder bitrate in bits per second (default from Config).
	OpusBitrate int
	// DSP holds the room's default voice-processing stages.
	DSP DSPSettings
}

// RoomSettings is what CreateRoom takes.
type RoomSettings struct {
	ID    string
	Audio AudioSettings
	// Video is the composite's canvas and layout; nil takes the defaults.
	Video *VideoSettings
}

// RoomInfo is a snapshot of a room.
type RoomInfo struct {
	ID           string
	Audio        AudioSettings
	Video        VideoSettings
	VideoStats   VideoStats
	CreatedAt    time.Time
	Participants []ParticipantInfo
}

// ParticipantInfo is a snapshot of one participant.
type ParticipantInfo struct {
	ID          string
	DisplayName string
	Kind        ParticipantKind
	Muted       bool
	GainDB      float64
	Speaking    bool
	// LevelDBFS is the smoothed input level, -127 when silent.
	LevelDBFS float64
	JoinedAt  time.Time
	DSP       DSPSettings
	DSPStats  DSPStats
	// VideoFrames counts the participant\'s decoded video pictures.
	VideoFrames uint64
	// VideoRendition is the index of the rendition the participant
	// receives (0 the largest), -1 when it receives no video (no video
	// section, or its bandwidth is below the smallest rendition).
	VideoRendition int
	// BandwidthEstimate is the participant's last REMB, bits/s (0: none).
	BandwidthEstimate uint64
	// RTP counts a plain RTP participant's packets, and those of a
	// source's send-back; nil otherwise.
	RTP *RTPStats
	// Source describes a pulled source; nil for other kinds.
	Source *SourceStats
}

// RTPStats counts what a plain RTP participant's endpoint received, sent
// and dropped.
type RTPStats = transport.RTPStats

// RTPCodec is a plain RTP participant's codec.
type RTPCodec = transport.RTPCodec

// Plain RTP codecs.
const (
	CodecPCMU = transport.CodecPCMU
	CodecPCMA = transport.CodecPCMA
	CodecOpus = transport.CodecOpus
)

// JoinRTPRequest is what JoinRTP takes: either Codec and RemoteAddr (and
// optionally an SRTP key), or an SDP offer from a SIP gateway.
type JoinRTPRequest struct {
	ParticipantID string
	DisplayName   string
	// Codec: with SDPOffer, a preference (0: the offerer's); without, required.
	Codec RTPCodec
	// PayloadType for Opus without an offer (0: 111). G.711 uses 0 and 8.
	PayloadType uint8
	// RemoteAddr is host:port to send to; empty to wait for the first
	// packet (with latching).
	RemoteAddr string
	// SRTPKey is the remote's base64 AES_CM_128_HMAC_SHA1_80 key and salt;
	// empty for plain RTP.
	SRTPKey string
	// Latch (symmetric RTP) sends to where packets come from; nil means on.
	Latch *bool
	// SDPOffer replaces Codec, RemoteAddr and SRTPKey.
	SDPOffer string
	// RTCPMux carries RTCP on the RTP port (RFC 5761); an offer with
	// a=rtcp-mux turns it on too.
	RTCPMux bool
	// DSP overrides the room's voice processing; AEC defaults to on, as
	// phones and gateways rarely cancel their own echo.
	DSP DSPOverride
}

// JoinRTPResult says where to send and what was chosen.
type JoinRTPResult struct {
	// LocalAddr is our ip:port to send RTP to.
	LocalAddr string
	Codec     RTPCodec
	// SDPAnswer answers SDPOffer (empty without one).
	SDPAnswer string
	// SRTPKey is our base64 key when the remote gave one: we send SRTP with it.
	SRTPKey string
	// RTCPAddr is our ip:port for RTCP: LocalAddr's port plus one, or
	// LocalAddr with RTCPMux.
	RTCPAddr string
}

// DSPStats reports what a participant's voice processing is doing.
type DSPStats struct {
	EchoDelayMs       float64
	ERLEdB            float64
	AGCGainDB         float64
	SpeechProbability float64
}

// JoinRequest is what Join takes.
type JoinRequest struct {
	ParticipantID string
	DisplayName   string
	SDPOffer      string
}

// ParticipantUpdate changes a participant; nil fields are left alone.
type ParticipantUpdate struct {
	Muted  *bool
	GainDB *float64
	DSP    DSPOverride
}

// EventType says what a RoomEvent reports.
type EventType int

// Event types.
const (
	EventParticipantJoined EventType = iota + 1
	EventParticipantLeft
	EventSpeakingStarted
	EventSpeakingStopped
	EventAudioLevels
	EventRoomDeleted
	EventParticipantUpdated
	EventRecordingStarted
	EventRecordingStopped
	EventRecordingFailed
	EventSourceState
	EventRecordingReconnecting
)

// Event is one entry of a room's event stream.
type Event struct {
	Type          EventType
	RoomID        string
	Time          time.Time
	ParticipantID string
	// Participant is set for joined, left and updated events.
	Participant *ParticipantInfo
	// Levels is set for EventAudioLevels: one entry per participant.
	Levels []ParticipantLevel
	// Reason says why a participant left (left, kicked, connection lost,
	// room deleted), why a recording failed or why a stream reconnects.
	Reason string
	// Recording is set for the recording events.
	Recording *RecordingInfo
	// Source is set for EventSourceState.
	Source *SourceStatus
}

// ParticipantLevel is one participant's level in an EventAudioLevels event.
type ParticipantLevel struct {
	ParticipantID string
	LevelDBFS     float64
	Speaking      bool
	DSPStats      DSPStats
}
