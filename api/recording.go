package api

import (
	"context"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// StartRecording records the room's composite into a file.
func (s *Service) StartRecording(ctx context.Context, req *mcuv1.StartRecordingRequest) (*mcuv1.Recording, error) {
	o := req.GetOutput()
	info, err := s.m.StartRecording(req.GetRoomId(), conference.RecordingOutput{
		Path: o.GetPath(), Format: recordingFormatFromProto(o.GetFormat()), AudioOnly: o.GetAudioOnly()})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return recordingToProto(&info), nil
}

// StopRecording stops a recording and finalises its file.
func (s *Service) StopRecording(ctx context.Context, req *mcuv1.StopRecordingRequest) (*mcuv1.Recording, error) {
	info, err := s.m.StopRecording(req.GetRoomId(), req.GetRecordingId())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return recordingToProto(&info), nil
}

// ListRecordings lists a room's running recordings and the last ones that
// ended.
func (s *Service) ListRecordings(ctx context.Context, req *mcuv1.ListRecordingsRequest) (*mcuv1.ListRecordingsResponse, error) {
	recs, err := s.m.ListRecordings(req.GetRoomId())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &mcuv1.ListRecordingsResponse{Recordings: make([]*mcuv1.Recording, len(recs))}
	for i := range recs {
		out.Recordings[i] = recordingToProto(&recs[i])
	}
	return out, nil
}

func recordingFormatFromProto(f mcuv1.RecordingFormat) conference.RecordingFormat {
	switch f {
	case mcuv1.RecordingFormat_RECORDING_FORMAT_MP4:
		return conference.RecordingMP4
	case mcuv1.RecordingFormat_RECORDING_FORMAT_MKV:
		return conference.RecordingMKV
	case mcuv1.RecordingFormat_RECORDING_FORMAT_OGG:
		return conference.RecordingOgg
	}
	return 0
}

func recordingFormatToProto(f conference.RecordingFormat) mcuv1.RecordingFormat {
	switch f {
	case conference.RecordingMP4:
		return mcuv1.RecordingFormat_RECORDING_FORMAT_MP4
	case conference.RecordingMKV:
		return mcuv1.RecordingFormat_RECORDING_FORMAT_MKV
	case conference.RecordingOgg:
		return mcuv1.RecordingFormat_RECORDING_FORMAT_OGG
	}
	return mcuv1.RecordingFormat_RECORDING_FORMAT_UNSPECIFIED
}

func recordingToProto(r *conference.RecordingInfo) *mcuv1.Recording {
	if r == nil {
		return nil
	}
	st := mcuv1.RecordingState_RECORDING_STATE_UNSPECIFIED
	switch r.State {
	case conference.RecordingActive:
		st = mcuv1.RecordingState_RECORDING_STATE_ACTIVE
	case conference.RecordingStopped:
		st = mcuv1.RecordingState_RECORDING_STATE_STOPPED
	case conference.RecordingFailed:
		st = mcuv1.RecordingState_RECORDING_STATE_FAILED
	}
	return &mcuv1.Recording{RecordingId: r.ID, RoomId: r.RoomID, Path: r.Path,
		Format: recordingFormatToProto(r.Format), AudioOnly: r.AudioOnly,
		StartedAt: timestampOrNil(r.StartedAt), State: st, Reason: r.Reason,
		StoppedAt: timestampOrNil(r.StoppedAt), Bytes: r.Bytes, Duration: durationpb.New(r.Duration)}
}
