package api

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// defaultDSP fills the DSP fields a CreateRoom request leaves unset when
// Config.DefaultDSP is nil: browsers cancel their own echo, so AEC is
// opt-in; NS and AGC are on.
var defaultDSP = conference.DSPSettings{NS: true, AGC: true}

func roomSettingsFromProto(r *mcuv1.CreateRoomRequest, def conference.DSPSettings) conference.RoomSettings {
	a := r.GetAudio()
	var aec, ns, agc *bool
	if d := a.GetDsp(); d != nil {
		aec, ns, agc = d.Aec, d.Ns, d.Agc
	}
	var video *conference.VideoSettings
	if v := r.GetVideo(); v != nil {
		video = &conference.VideoSettings{
			Width: int(v.GetWidth()), Height: int(v.GetHeight()), FPS: int(v.GetFps()), Bitrate: int(v.GetBitrate()),
			Layout: layoutFromProto(v.GetLayout()),
		}
		for _, r := range v.GetRenditions() {
			video.Renditions = append(video.Renditions, conference.Rendition{
				Width: int(r.GetWidth()), Height: int(r.GetHeight()), Bitrate: int(r.GetBitrate())})
		}
	}
	return conference.RoomSettings{
		ID:    r.GetRoomId(),
		Video: video,
		Audio: conference.AudioSettings{
			MaxActiveSpeakers: int(a.GetMaxActiveSpeakers()),
			OpusBitrate:       int(a.GetOpusBitrate()),
			DSP: conference.DSPSettings{
				AEC: boolOr(aec, def.AEC),
				NS:  boolOr(ns, def.NS),
				AGC: boolOr(agc, def.AGC),
			},
		},
	}
}

// boolOr reads an optional field; p is nil when the field is unset.
func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func participantUpdateFromProto(r *mcuv1.UpdateParticipantRequest) conference.ParticipantUpdate {
	u := conference.ParticipantUpdate{Muted: r.Muted, GainDB: r.GainDb}
	if d := r.GetDsp(); d != nil {
		u.DSP = conference.DSPOverride{AEC: d.Aec, NS: d.Ns, AGC: d.Agc}
	}
	return u
}

func timestampOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func dspToProto(d conference.DSPSettings) *mcuv1.DspSettings {
	return &mcuv1.DspSettings{Aec: proto.Bool(d.AEC), Ns: proto.Bool(d.NS), Agc: proto.Bool(d.AGC)}
}

func roomToProto(r conference.RoomInfo) *mcuv1.Room {
	out := &mcuv1.Room{
		RoomId: r.ID,
		Audio: &mcuv1.AudioSettings{
			MaxActiveSpeakers: uint32(max(r.Audio.MaxActiveSpeakers, 0)),
			OpusBitrate:       uint32(max(r.Audio.OpusBitrate, 0)),
			Dsp:               dspToProto(r.Audio.DSP),
		},
		Video: &mcuv1.VideoSettings{
			Width:   uint32(max(r.Video.Width, 0)),
			Height:  uint32(max(r.Video.Height, 0)),
			Fps:     uint32(max(r.Video.FPS, 0)),
			Bitrate: uint32(max(r.Video.Bitrate, 0)),
			Layout:  layoutToProto(r.Video.Layout),
		},
		Participants:     make([]*mcuv1.Participant, 0, len(r.Participants)),
		ParticipantCount: uint32(len(r.Participants)),
		CreatedAt:        timestampOrNil(r.CreatedAt),
	}
	for _, rd := range r.Video.Renditions {
		out.Video.Renditions = append(out.Video.Renditions, &mcuv1.Rendition{
			Width: uint32(max(rd.Width, 0)), Height: uint32(max(rd.Height, 0)), Bitrate: uint32(max(rd.Bitrate, 0))})
	}
	for i := range r.Participants {
		out.Participants = append(out.Participants, participantToProto(&r.Participants[i]))
	}
	return out
}

func participantToProto(p *conference.ParticipantInfo) *mcuv1.Participant {
	if p == nil {
		return nil
	}
	return &mcuv1.Participant{
		ParticipantId: p.ID,
		DisplayName:   p.DisplayName,
		Kind:          kindToProto(p.Kind),
		Muted:         p.Muted,
		GainDb:        p.GainDB,
		Speaking:      p.Speaking,
		LevelDbfs:     p.LevelDBFS,
		JoinedAt:      timestampOrNil(p.JoinedAt),
		Dsp:           dspToProto(p.DSP),
		DspStats: &mcuv1.DspStats{
			EchoDelayMs:       p.DSPStats.EchoDelayMs,
			ErleDb:            p.DSPStats.ERLEdB,
			AgcGainDb:         p.DSPStats.AGCGainDB,
			SpeechProbability: p.DSPStats.SpeechProbability,
		},
		RtpStats:    rtpStatsToProto(p.RTP),
		SourceStats: sourceStatsToProto(p.Source),
	}
}

func rtpStatsToProto(s *conference.RTPStats) *mcuv1.RtpStats {
	if s == nil {
		return nil
	}
	return &mcuv1.RtpStats{
		PacketsIn:          s.PacketsIn,
		PacketsOut:         s.PacketsOut,
		Malformed:          s.Malformed,
		WrongPayloadType:   s.WrongPayload,
		WrongSsrc:          s.WrongSSRC,
		SrtpFailed:         s.SRTPFailed,
		TelephoneEvents:    s.Events,
		ComfortNoise:       s.ComfortNoise,
		SsrcChanges:        s.SSRCChanges,
		SendOverflow:       s.SendOverflow,
		RemoteAddr:         s.Remote,
		PacketsLost:        s.PacketsLost,
		JitterMs:           s.JitterMs,
		RttMs:              s.RTTMs,
		RemoteFractionLost: s.RemoteFractionLost,
		RemotePacketsLost:  s.RemotePacketsLost,
		RemoteJitterMs:     s.RemoteJitterMs,
		RtcpPacketsIn:      s.RTCPIn,
		RtcpPacketsOut:     s.RTCPOut,
		RtcpDropped:        s.RTCPDropped,
		RtcpRemoteAddr:     s.RTCPRemote,
	}
}

func rtpCodecFromProto(c mcuv1.RtpCodec) (conference.RTPCodec, error) {
	switch c {
	case mcuv1.RtpCodec_RTP_CODEC_UNSPECIFIED:
		return 0, nil
	case mcuv1.RtpCodec_RTP_CODEC_PCMU:
		return conference.CodecPCMU, nil
	case mcuv1.RtpCodec_RTP_CODEC_PCMA:
		return conference.CodecPCMA, nil
	case mcuv1.RtpCodec_RTP_CODEC_OPUS:
		return conference.CodecOpus, nil
	}
	return 0, fmt.Errorf("codec %d unknown (PCMU, PCMA or OPUS): %w", c, conference.ErrInvalidArgument)
}

func rtpCodecToProto(c conference.RTPCodec) mcuv1.RtpCodec {
	switch c {
	case conference.CodecPCMU:
		return mcuv1.RtpCodec_RTP_CODEC_PCMU
	case conference.CodecPCMA:
		return mcuv1.RtpCodec_RTP_CODEC_PCMA
	case conference.CodecOpus:
		return mcuv1.RtpCodec_RTP_CODEC_OPUS
	}
	return mcuv1.RtpCodec_RTP_CODEC_UNSPECIFIED
}

func kindToProto(k conference.ParticipantKind) mcuv1.ParticipantKind {
	switch k {
	case conference.KindWebRTC:
		return mcuv1.ParticipantKind_PARTICIPANT_KIND_WEBRTC
	case conference.KindRTP:
		return mcuv1.ParticipantKind_PARTICIPANT_KIND_RTP
	case conference.KindSource:
		return mcuv1.ParticipantKind_PARTICIPANT_KIND_SOURCE
	}
	return mcuv1.ParticipantKind_PARTICIPANT_KIND_UNSPECIFIED
}

// eventToProto converts one conference event; ok is false for event types
// this API version does not know, which the stream skips.
func eventToProto(e *conference.Event) (ev *mcuv1.RoomEvent, ok bool) {
	ev = &mcuv1.RoomEvent{RoomId: e.RoomID, Time: timestampOrNil(e.Time)}
	switch e.Type {
	case conference.EventParticipantJoined:
		ev.Event = &mcuv1.RoomEvent_ParticipantJoined{ParticipantJoined: &mcuv1.ParticipantJoined{
			Participant: participantOrID(e),
		}}
	case conference.EventParticipantLeft:
		ev.Event = &mcuv1.RoomEvent_ParticipantLeft{ParticipantLeft: &mcuv1.ParticipantLeft{
			ParticipantId: eventParticipantID(e),
			Reason:        e.Reason,
			Participant:   participantToProto(e.Participant),
		}}
	case conference.EventParticipantUpdated:
		ev.Event = &mcuv1.RoomEvent_ParticipantUpdated{ParticipantUpdated: &mcuv1.ParticipantUpdated{
			Participant: participantOrID(e),
		}}
	case conference.EventSpeakingStarted:
		ev.Event = &mcuv1.RoomEvent_SpeakingStarted{SpeakingStarted: &mcuv1.SpeakingStarted{
			ParticipantId: eventParticipantID(e),
		}}
	case conference.EventSpeakingStopped:
		ev.Event = &mcuv1.RoomEvent_SpeakingStopped{SpeakingStopped: &mcuv1.SpeakingStopped{
			ParticipantId: eventParticipantID(e),
		}}
	case conference.EventAudioLevels:
		levels := make([]*mcuv1.ParticipantLevel, len(e.Levels))
		for i, l := range e.Levels {
			levels[i] = &mcuv1.ParticipantLevel{
				ParticipantId:     l.ParticipantID,
				LevelDbfs:         l.LevelDBFS,
				Speaking:          l.Speaking,
				EchoDelayMs:       l.DSPStats.EchoDelayMs,
				ErleDb:            l.DSPStats.ERLEdB,
				AgcGainDb:         l.DSPStats.AGCGainDB,
				SpeechProbability: l.DSPStats.SpeechProbability,
			}
		}
		ev.Event = &mcuv1.RoomEvent_AudioLevels{AudioLevels: &mcuv1.AudioLevels{Levels: levels}}
	case conference.EventRoomDeleted:
		ev.Event = &mcuv1.RoomEvent_RoomDeleted{RoomDeleted: &mcuv1.RoomDeleted{}}
	case conference.EventRecordingStarted:
		ev.Event = &mcuv1.RoomEvent_RecordingStarted{RecordingStarted: &mcuv1.RecordingStarted{
			Recording: recordingToProto(e.Recording)}}
	case conference.EventRecordingStopped:
		ev.Event = &mcuv1.RoomEvent_RecordingStopped{RecordingStopped: &mcuv1.RecordingStopped{
			Recording: recordingToProto(e.Recording)}}
	case conference.EventRecordingFailed:
		ev.Event = &mcuv1.RoomEvent_RecordingFailed{RecordingFailed: &mcuv1.RecordingFailed{
			Recording: recordingToProto(e.Recording), Reason: e.Reason}}
	case conference.EventSourceState:
		ev.Event = &mcuv1.RoomEvent_SourceState{SourceState: sourceStateToProto(e.ParticipantID, e.Source)}
	case conference.EventRecordingReconnecting:
		ev.Event = &mcuv1.RoomEvent_RecordingReconnecting{RecordingReconnecting: &mcuv1.RecordingReconnecting{
			Recording: recordingToProto(e.Recording), Reason: e.Reason}}
	default:
		return nil, false
	}
	return ev, true
}

func eventParticipantID(e *conference.Event) string {
	if e.ParticipantID == "" && e.Participant != nil {
		return e.Participant.ID
	}
	return e.ParticipantID
}

// participantOrID returns the event's snapshot, or a stub carrying the ID
// when the manager sent none.
func participantOrID(e *conference.Event) *mcuv1.Participant {
	if p := participantToProto(e.Participant); p != nil {
		return p
	}
	return &mcuv1.Participant{ParticipantId: e.ParticipantID}
}

// layoutFromProto converts a layout; nil is the default grid. Values the
// validator let through but the conference cannot place are rejected
// there, with the field named.
func layoutFromProto(l *mcuv1.Layout) conference.Layout {
	var out conference.Layout
	if l == nil {
		return out
	}
	switch l.GetKind() {
	case mcuv1.LayoutKind_LAYOUT_KIND_SPEAKER:
		out.Kind = conference.LayoutSpeaker
	case mcuv1.LayoutKind_LAYOUT_KIND_PIP:
		out.Kind = conference.LayoutPIP
	case mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM:
		out.Kind = conference.LayoutCustom
	}
	if l.GetFit() == mcuv1.FitMode_FIT_MODE_CROP {
		out.Fit = conference.FitCrop
	}
	for _, r := range l.GetRegions() {
		reg := conference.LayoutRegion{X: r.GetX(), Y: r.GetY(), W: r.GetW(), H: r.GetH(), Z: int(r.GetZ())}
		reg.Participant, reg.Speaker = conference.ParseRegionBinding(r.GetBind())
		out.Custom = append(out.Custom, reg)
	}
	return out
}

func layoutToProto(l conference.Layout) *mcuv1.Layout {
	out := &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_GRID, Fit: mcuv1.FitMode_FIT_MODE_LETTERBOX}
	switch l.Kind {
	case conference.LayoutSpeaker:
		out.Kind = mcuv1.LayoutKind_LAYOUT_KIND_SPEAKER
	case conference.LayoutPIP:
		out.Kind = mcuv1.LayoutKind_LAYOUT_KIND_PIP
	case conference.LayoutCustom:
		out.Kind = mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM
	}
	if l.Fit == conference.FitCrop {
		out.Fit = mcuv1.FitMode_FIT_MODE_CROP
	}
	for _, r := range l.Custom {
		bind := r.Participant
		if r.Speaker > 0 {
			bind = fmt.Sprintf("speaker %d", r.Speaker)
		}
		out.Regions = append(out.Regions, &mcuv1.LayoutRegion{X: r.X, Y: r.Y, W: r.W, H: r.H, Z: int32(r.Z), Bind: bind})
	}
	return out
}
