package api

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc/status"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// Service implements mcuv1.ConferenceServer on top of a Manager. Requests
// arrive already validated by the interceptor chain built in NewGRPCServer.
type Service struct {
	mcuv1.UnimplementedConferenceServer

	m          Manager
	log        *slog.Logger
	defaultDSP conference.DSPSettings

	drainOnce sync.Once
	draining  chan struct{}
}

// NewService returns the Conference service; cfg.Token is not used here
// (auth is an interceptor).
func NewService(cfg Config, m Manager) *Service {
	s := &Service{m: m, log: cfg.Logger, defaultDSP: defaultDSP, draining: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultDSP != nil {
		s.defaultDSP = *cfg.DefaultDSP
	}
	return s
}

// Drain ends every open WatchRoom stream with UNAVAILABLE, so that a
// graceful stop is not held up by watchers. It is safe to call twice.
func (s *Service) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

func (s *Service) status(ctx context.Context, err error) error { return toStatus(ctx, s.log, err) }

// CreateRoom creates an empty room.
func (s *Service) CreateRoom(ctx context.Context, req *mcuv1.CreateRoomRequest) (*mcuv1.Room, error) {
	info, err := s.m.CreateRoom(roomSettingsFromProto(req, s.defaultDSP))
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return roomToProto(info), nil
}

// GetRoom returns one room.
func (s *Service) GetRoom(ctx context.Context, req *mcuv1.GetRoomRequest) (*mcuv1.Room, error) {
	info, err := s.m.GetRoom(req.GetRoomId())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return roomToProto(info), nil
}

// ListRooms returns every room.
func (s *Service) ListRooms(ctx context.Context, _ *mcuv1.ListRoomsRequest) (*mcuv1.ListRoomsResponse, error) {
	rooms := s.m.ListRooms()
	out := &mcuv1.ListRoomsResponse{Rooms: make([]*mcuv1.Room, len(rooms))}
	for i := range rooms {
		out.Rooms[i] = roomToProto(rooms[i])
	}
	return out, nil
}

// DeleteRoom closes the room's participants and removes it.
func (s *Service) DeleteRoom(ctx context.Context, req *mcuv1.DeleteRoomRequest) (*mcuv1.DeleteRoomResponse, error) {
	if err := s.m.DeleteRoom(req.GetRoomId()); err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.DeleteRoomResponse{}, nil
}

// Join negotiates a WebRTC participant: offer in, answer out.
func (s *Service) Join(ctx context.Context, req *mcuv1.JoinRequest) (*mcuv1.JoinResponse, error) {
	answer, err := s.m.Join(ctx, req.GetRoomId(), conference.JoinRequest{
		ParticipantID: req.GetParticipantId(),
		DisplayName:   req.GetDisplayName(),
		SDPOffer:      req.GetSdpOffer(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.JoinResponse{SdpAnswer: answer}, nil
}

// JoinRtp adds a plain RTP participant: codec and address, or an SDP offer.
func (s *Service) JoinRtp(ctx context.Context, req *mcuv1.JoinRtpRequest) (*mcuv1.JoinRtpResponse, error) {
	c, err := rtpCodecFromProto(req.GetCodec())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	if req.GetPayloadType() > 127 {
		return nil, s.status(ctx, fmt.Errorf("payload_type %d above 127: %w", req.GetPayloadType(), conference.ErrInvalidArgument))
	}
	r := conference.JoinRTPRequest{
		ParticipantID: req.GetParticipantId(),
		DisplayName:   req.GetDisplayName(),
		Codec:         c,
		PayloadType:   uint8(req.GetPayloadType()),
		RemoteAddr:    req.GetRemoteAddr(),
		SRTPKey:       req.GetSrtpKey(),
		Latch:         req.Latch,
		SDPOffer:      req.GetSdpOffer(),
		RTCPMux:       req.GetRtcpMux(),
	}
	if d := req.GetDsp(); d != nil {
		r.DSP = conference.DSPOverride{AEC: d.Aec, NS: d.Ns, AGC: d.Agc}
	}
	res, err := s.m.JoinRTP(req.GetRoomId(), r)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.JoinRtpResponse{
		LocalAddr: res.LocalAddr,
		Codec:     rtpCodecToProto(res.Codec),
		SdpAnswer: res.SDPAnswer,
		SrtpKey:   res.SRTPKey,
		RtcpAddr:  res.RTCPAddr,
	}, nil
}

// Leave closes one participant.
func (s *Service) Leave(ctx context.Context, req *mcuv1.LeaveRequest) (*mcuv1.LeaveResponse, error) {
	if err := s.m.Leave(req.GetRoomId(), req.GetParticipantId()); err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.LeaveResponse{}, nil
}

// UpdateParticipant changes mute, gain and DSP overrides.
func (s *Service) UpdateParticipant(ctx context.Context, req *mcuv1.UpdateParticipantRequest) (*mcuv1.Participant, error) {
	info, err := s.m.UpdateParticipant(req.GetRoomId(), req.GetParticipantId(), participantUpdateFromProto(req))
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return participantToProto(&info), nil
}

// WatchRoom streams the room's events. It returns after sending
// room_deleted, when the subscription ends, when the caller goes away, or
// with UNAVAILABLE when the server drains.
func (s *Service) WatchRoom(req *mcuv1.WatchRoomRequest, stream mcuv1.Conference_WatchRoomServer) error {
	ctx := stream.Context()
	sub, err := s.m.Watch(req.GetRoomId())
	if err != nil {
		return s.status(ctx, err)
	}
	defer sub.Close()
	events := sub.Events()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.draining:
			return errShuttingDown
		case e, ok := <-events:
			if !ok {
				return nil
			}
			ev, known := eventToProto(&e)
			if !known {
				continue
			}
			if err := stream.Send(ev); err != nil {
				return err // already a status: the stream is done
			}
			if e.Type == conference.EventRoomDeleted {
				return nil
			}
		}
	}
}

// SetLayout changes a room's video layout from the next composite frame.
func (s *Service) SetLayout(ctx context.Context, req *mcuv1.SetLayoutRequest) (*mcuv1.SetLayoutResponse, error) {
	if err := s.m.SetLayout(req.GetRoomId(), layoutFromProto(req.GetLayout())); err != nil {
		return nil, s.status(ctx, err)
	}
	return &mcuv1.SetLayoutResponse{}, nil
}
