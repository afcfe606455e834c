package api

import (
	"context"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// AddSource adds a participant that pulls an RTSP or RTMP stream.
func (s *Service) AddSource(ctx context.Context, req *mcuv1.AddSourceRequest) (*mcuv1.AddSourceResponse, error) {
	sr := conference.SourceRequest{ParticipantID: req.GetParticipantId(), DisplayName: req.GetDisplayName(),
		URL: req.GetUrl(), Transport: sourceTransportFromProto(req.GetTransport())}
	if d := req.GetDsp(); d != nil {
		sr.DSP = conference.DSPOverride{NS: d.Ns, AGC: d.Agc}
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

func sourceStateToProto(id string, st *conference.SourceStatus) *mcuv1.SourceState {
	if st == nil {
		return &mcuv1.SourceState{ParticipantId: id}
	}
	kind := mcuv1.SourceStateKind_SOURCE_STATE_KIND_UNSPECIFIED
	switch st.State {
	case conference.SourceConnected:
		kind = mcuv1.SourceStateKind_SOURCE_STATE_KIND_CONNECTED
	case conference.SourceLost:
		kind = mcuv1.SourceStateKind_SOURCE_STATE_KIND_LOST
	case conference.SourceReconnecting:
		kind = mcuv1.SourceStateKind_SOURCE_STATE_KIND_RECONNECTING
	}
	return &mcuv1.SourceState{ParticipantId: id, State: kind, Url: st.URL, Reason: st.Reason,
		Attempt: uint32(max(st.Attempt, 0)), RetryInMs: uint32(max(st.RetryIn.Milliseconds(), 0)),
		AudioCodec: st.AudioCodec, VideoCodec: st.VideoCodec,
		Width: uint32(max(st.Width, 0)), Height: uint32(max(st.Height, 0))}
}
