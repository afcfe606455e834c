package api

import (
	"context"
	"fmt"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// AddSource adds a participant that pulls an RTSP or RTMP stream.
func (s *Service) AddSource(ctx context.Context, req *mcuv1.AddSourceRequest) (*mcuv1.AddSourceResponse, error) {
	sr := conference.SourceRequest{ParticipantID: req.GetParticipantId(), DisplayName: req.GetDisplayName(),
		URL: req.GetUrl(), Transport: sourceTransportFromProto(req.GetTransport())}
	if d := req.GetDsp(); d != nil {
		sr.DSP = conference.DSPOverride{AEC: d.Aec, NS: d.Ns, AGC: d.Agc}
	}
	if sb := req.GetSendBack(); sb != nil {
		c, err := rtpCodecFromProto(sb.GetCodec())
		if err != nil || c == 0 {
			return nil, s.status(ctx, fmt.Errorf("send_back.codec %v: must be PCMU, PCMA or OPUS: %w", sb.GetCodec(), conference.ErrInvalidArgument))
		}
		sr.SendBack = &conference.SourceSendBack{Codec: c, RemoteAddr: sb.GetRemoteAddr()}
	}
	info, err := s.m.AddSource(req.GetRoomId(), sr)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.AddSourceResponse{Participant: participantToProto(&info)}, nil
}

// RemoveSource stops a source and removes its participant.
func (s *Service) RemoveSource(ctx context.Context, req *mcuv1.RemoveSourceRequest) (*mcuv1.RemoveSourceResponse, error) {
	if err := s.m.RemoveSource(req.GetRoomId(), req.GetParticipantId()); err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.RemoveSourceResponse{}, nil
}

func sourceTransportFromProto(t mcuv1.SourceTransport) conference.SourceTransport {
	switch t {
	case mcuv1.SourceTransport_SOURCE_TRANSPORT_TCP:
		return conference.SourceTransportTCP
	case mcuv1.SourceTransport_SOURCE_TRANSPORT_UDP:
		return conference.SourceTransportUDP
	}
	return conference.SourceTransportAuto
}

func sourceStateKindToProto(st conference.SourceState) mcuv1.SourceStateKind {
	switch st {
	case conference.SourceConnected:
		return mcuv1.SourceStateKind_SOURCE_STATE_KIND_CONNECTED
	case conference.SourceLost:
		return mcuv1.SourceStateKind_SOURCE_STATE_KIND_LOST
	case conference.SourceReconnecting:
		return mcuv1.SourceStateKind_SOURCE_STATE_KIND_RECONNECTING
	case conference.SourceConnecting:
		return mcuv1.SourceStateKind_SOURCE_STATE_KIND_CONNECTING
	}
	return mcuv1.SourceStateKind_SOURCE_STATE_KIND_UNSPECIFIED
}

func sourceStatsToProto(st *conference.SourceStats) *mcuv1.SourceStats {
	if st == nil {
		return nil
	}
	return &mcuv1.SourceStats{State: sourceStateKindToProto(st.State), Url: st.URL,
		AudioCodec: st.AudioCodec, VideoCodec: st.VideoCodec,
		Connections: st.Connections, Reconnects: st.Reconnects, Packets: st.Packets, VideoFrames: st.VideoFrames,
		BufferedMs: st.BufferedMs, Underruns: st.Underruns, DroppedSamples: st.DroppedSamples,
		InsertedSamples: st.InsertedSamples, OverflowSamples: st.OverflowSamples,
		SendBackCodec: rtpCodecToProto(st.SendBack)}
}

func sourceStateToProto(id string, st *conference.SourceStatus) *mcuv1.SourceState {
	if st == nil {
		return &mcuv1.SourceState{ParticipantId: id}
	}
	return &mcuv1.SourceState{ParticipantId: id, State: sourceStateKindToProto(st.State), Url: st.URL, Reason: st.Reason,
		Attempt: uint32(max(st.Attempt, 0)), RetryInMs: uint32(max(st.RetryIn.Milliseconds(), 0)),
		AudioCodec: st.AudioCodec, VideoCodec: st.VideoCodec,
		Width: uint32(max(st.Width, 0)), Height: uint32(max(st.Height, 0))}
}
