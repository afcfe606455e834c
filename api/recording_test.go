package api

import (
	"testing"
	"time"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// TestRecordingEventsToProto: a live stream's events reach WatchRoom with
// the URL, the reconnect count and the reason.
func TestRecordingEventsToProto(t *testing.T) {
	info := &conference.RecordingInfo{ID: "rec-1", RoomID: "r", URL: "rtmp://h/live/k", Format: conference.RecordingFLV,
		State: conference.RecordingActive, Reconnects: 2, StartedAt: time.Unix(1, 0)}
	ev, ok := eventToProto(&conference.Event{Type: conference.EventRecordingReconnecting, RoomID: "r",
		Reason: "broken pipe", Recording: info})
	rc := ev.GetRecordingReconnecting()
	if !ok || rc == nil || rc.GetReason() != "broken pipe" {
		t.Fatalf("event %v, %v", ev, ok)
	}
	r := rc.GetRecording()
	if r.GetUrl() != info.URL || r.GetPath() != "" || r.GetReconnects() != 2 ||
		r.GetFormat() != mcuv1.RecordingFormat_RECORDING_FORMAT_FLV || r.GetState() != mcuv1.RecordingState_RECORDING_STATE_ACTIVE {
		t.Fatalf("recording %v", r)
	}
	if recordingFormatFromProto(mcuv1.RecordingFormat_RECORDING_FORMAT_FLV) != conference.RecordingFLV ||
		recordingFormatFromProto(mcuv1.RecordingFormat(99)) == 0 {
		t.Fatal("format mapping")
	}
}
