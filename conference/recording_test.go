package conference_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/conference"
)

func newRecordingManager(t *testing.T) (*conference.Manager, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := conference.DefaultConfig()
	cfg.Recording.Dir = dir
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m, dir
}

// TestRecordingOutputRefusedAtStart: a path that cannot be created is
// refused by StartRecording itself, naming the path and the reason, and
// leaves no recording behind.
func TestRecordingOutputRefusedAtStart(t *testing.T) {
	m, dir := newRecordingManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "taken.ogg"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, reason string }{
		{"blocker/x.ogg", "not a directory"},
		{"taken.ogg", "is a directory"},
	} {
		_, err := m.StartRecording("r", conference.RecordingOutput{Path: tc.path, Format: conference.RecordingOgg})
		if !errors.Is(err, conference.ErrRecordingOutput) || !strings.Contains(err.Error(), filepath.Join(dir, tc.path)) ||
			!strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: err %v, want ErrRecordingOutput naming the path and %q", tc.path, err, tc.reason)
		}
	}
	if l, err := m.ListRecordings("r"); err != nil || len(l) != 0 {
		t.Fatalf("ListRecordings after refusals: %v, %v", l, err)
	}
}

// TestListRecordingsKeepsFinished: ended recordings stay listed with their
// state, reason, end time, size and duration; the list keeps the last 100.
func TestListRecordingsKeepsFinished(t *testing.T) {
	m, dir := newRecordingManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Watch("r")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// A full disk: every write to /dev/full fails with ENOSPC. An empty
	// room sends no packets, so the Ogg trailer is the first write to fail.
	if err := os.Symlink("/dev/full", filepath.Join(dir, "full.ogg")); err != nil {
		t.Fatal(err)
	}
	failed, err := m.StartRecording("r", conference.RecordingOutput{Path: "full.ogg", Format: conference.RecordingOgg})
	if err != nil {
		t.Fatalf("/dev/full opens: %v", err)
	}
	if info, err := m.StopRecording("r", failed.ID); err != nil || info.State != conference.RecordingFailed ||
		!strings.Contains(info.Reason, "No space left") || info.StoppedAt.IsZero() || info.Bytes != 0 {
		t.Fatalf("stopping the full-disk recording: %+v, %v", info, err)
	}
	e := waitEvent(t, sub, conference.EventRecordingFailed, 5*time.Second)
	if e.Recording == nil || e.Recording.ID != failed.ID || e.Reason != e.Recording.Reason {
		t.Fatalf("failed event %+v", e)
	}
	if l, err := m.ListRecordings("r"); err != nil || len(l) != 1 || l[0].ID != failed.ID || l[0].State != conference.RecordingFailed ||
		l[0].Reason != e.Reason {
		t.Fatalf("ListRecordings: %+v, %v", l, err)
	}

	const n = 102
	var ids []string
	for i := range n {
		info, err := m.StartRecording("r", conference.RecordingOutput{Path: fmt.Sprintf("many/%03d.ogg", i),
			Format: conference.RecordingOgg})
		if err != nil {
			t.Fatal(err)
		}
		if i < n-1 {
			if _, err := m.StopRecording("r", info.ID); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, info.ID)
	}
	l, err := m.ListRecordings("r")
	if err != nil {
		t.Fatal(err)
	}
	// The running one first, then the last 100 that ended, oldest first:
	// the failed one and the first stopped one have dropped out.
	if len(l) != 101 || l[0].ID != ids[n-1] || l[0].State != conference.RecordingActive || !l[0].StoppedAt.IsZero() {
		t.Fatalf("%d listed, first %+v", len(l), l[0])
	}
	for i, x := range l[1:] {
		if x.ID != ids[i+1] || x.State != conference.RecordingStopped || x.StoppedAt.Before(x.StartedAt) ||
			x.Bytes <= 0 || x.Duration != x.StoppedAt.Sub(x.StartedAt) {
			t.Fatalf("finished %d: %+v, want %s stopped with a size", i, x, ids[i+1])
		}
	}
	if _, err := m.StopRecording("r", ids[n-1]); err != nil {
		t.Fatal(err)
	}

}
