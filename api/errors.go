package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// Messages for errors whose details stay on the server.
const (
	msgInternal     = "internal error"
	msgShuttingDown = "server is shutting down"
)

// errShuttingDown ends open WatchRoom streams when the server drains.
var errShuttingDown = status.Error(codes.Unavailable, msgShuttingDown)

// toStatus maps a conference error to a gRPC status error. Sentinel errors
// keep their fixed text; only errors about the caller's own input (invalid
// argument, invalid SDP) carry the wrapped detail, which names the field.
// Anything unexpected is logged and reported as a plain INTERNAL.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *mcuv1.FieldError
	switch {
	case errors.Is(err, conference.ErrRoomNotFound):
		return status.Error(codes.NotFound, conference.ErrRoomNotFound.Error())
	case errors.Is(err, conference.ErrRecordingNotFound):
		return status.Error(codes.NotFound, conference.ErrRecordingNotFound.Error())
	case errors.Is(err, conference.ErrParticipantNotFound):
		return status.Error(codes.NotFound, conference.ErrParticipantNotFound.Error())
	case errors.Is(err, conference.ErrRoomExists):
		return status.Error(codes.AlreadyExists, conference.ErrRoomExists.Error())
	case errors.Is(err, conference.ErrParticipantExists):
		return status.Error(codes.AlreadyExists, conference.ErrParticipantExists.Error())
	case errors.Is(err, conference.ErrTooManyRooms):
		return status.Error(codes.ResourceExhausted, conference.ErrTooManyRooms.Error())
	case errors.Is(err, conference.ErrTooManyParticipants):
		return status.Error(codes.ResourceExhausted, conference.ErrTooManyParticipants.Error())
	case errors.Is(err, conference.ErrInvalidSDP):
		msg := err.Error()
		if !strings.HasPrefix(msg, "sdp_offer") {
			msg = "sdp_offer: " + msg
		}
		return status.Error(codes.InvalidArgument, msg)
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, fe.Error())
	case errors.Is(err, conference.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, conference.ErrRecordingOutput):
		// The caller chose the path: the detail (path, OS reason) is theirs.
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, conference.ErrClosed):
		return errShuttingDown
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, context.Canceled.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	log.ErrorContext(ctx, "unexpected error", "err", err)
	return status.Error(codes.Internal, msgInternal)
}
