package conference

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openmcu/mcu/record"
)

// RecordingConfig holds the recorder settings.
type RecordingConfig struct {
	// Dir is where recordings are written; output paths are relative to it.
	Dir string `yaml:"dir"`
	// QueuePackets bounds the packets waiting for the disk per recording.
	QueuePackets int `yaml:"queue_packets"`
	// FragmentDuration is how often a file is made playable on disk, so
	// a crash loses at most about this much.
	FragmentDuration time.Duration `yaml:"fragment_duration"`
}

// DefaultRecordingConfig records into ./recordings.
func DefaultRecordingConfig() RecordingConfig {
	return RecordingConfig{Dir: "recordings", QueuePackets: 512, FragmentDuration: time.Second}
}

// RecordingFormat is a recording's container.
type RecordingFormat = record.Format

// Recording formats.
const (
	RecordingMP4 = record.FormatMP4
	RecordingMKV = record.FormatMKV
	RecordingOgg = record.FormatOgg
)

// RecordingState says where a recording is.
type RecordingState int

// Recording states.
const (
	RecordingActive RecordingState = iota + 1
	RecordingStopped
	RecordingFailed
)

// RecordingOutput is what StartRecording takes.
type RecordingOutput struct {
	// Path is relative to the recordings directory (or absolute inside it).
	Path      string
	Format    RecordingFormat
	AudioOnly bool
}

// RecordingInfo is a snapshot of one recording.
type RecordingInfo struct {
	ID        string
	RoomID    string
	Path      string // absolute
	Format    RecordingFormat
	AudioOnly bool
	StartedAt time.Time
	State     RecordingState
	// Reason says why a failed recording failed.
	Reason string
	// StoppedAt is when a stopped or failed recording ended.
	StoppedAt time.Time
	// Bytes is the file's size when the snapshot was taken (0 without a file).
	Bytes int64
	// Duration is how long it has recorded: to now while it runs, to
	// StoppedAt after.
	Duration time.Duration
}

// maxFinishedRecordings bounds the ended recordings a room remembers for
// ListRecordings.
const maxFinishedRecordings = 100

// snapshot fills in the file size and duration as of now. It reads the
// disk, so callers do not hold the room's lock.
func (i RecordingInfo) snapshot(now time.Time) RecordingInfo {
	end := now
	if !i.StoppedAt.IsZero() {
		end = i.StoppedAt
	}
	i.Duration = max(end.Sub(i.StartedAt), 0)
	i.Bytes = fileSize(i.Path)
	return i
}

// fileSize is the size of a regular file, 0 when there is none.
func fileSize(path string) int64 {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Size()
	}
	return 0
}

// recording is one running recorder of a room.
type recording struct {
	info RecordingInfo
	rec  *record.Recorder
}

// resolveRecordingPath maps an API path into the recordings directory and
// refuses anything that would leave it.
func resolveRecordingPath(dir, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("output.path is empty: %w", ErrInvalidArgument)
	}
	base, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("recordings directory: %v: %w", err, ErrInvalidArgument)
	}
	var rel string
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(base, filepath.Clean(p))
		if err != nil || !filepath.IsLocal(r) {
			return "", fmt.Errorf("output.path %q is outside the recordings directory: %w", p, ErrInvalidArgument)
		}
		rel = r
	} else {
		if !filepath.IsLocal(p) || strings.Contains(filepath.ToSlash(p), "../") {
			return "", fmt.Errorf("output.path %q must stay inside the recordings directory (no \"..\"): %w", p, ErrInvalidArgument)
		}
		rel = p
	}
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return "", fmt.Errorf("output.path %q must not contain \"..\": %w", p, ErrInvalidArgument)
		}
	}
	return filepath.Join(base, rel), nil
}

func newRecordingID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rec-" + hex.EncodeToString(b[:])
}

// createOutput makes the file (and its directory) so that a path that
// cannot be written is refused at once, naming the path and the reason.
// The muxer opens it again on the recorder's goroutine.
func createOutput(path string) error {
	fail := func(err error) error {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return fmt.Errorf("output.path: cannot write %s: %v: %w", path, err, ErrRecordingOutput)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return nil
}

// StartRecording starts recording a room's composite into a file. The file
// is created before it returns, so a path that cannot be written is an
// ErrRecordingOutput; a write that fails later (a full disk) ends as
// EventRecordingFailed, and the room goes on.
func (m *Manager) StartRecording(roomID string, o RecordingOutput) (RecordingInfo, error) {
	if err := validateID("room_id", roomID); err != nil {
		return RecordingInfo{}, err
	}
	switch o.Format {
	case RecordingMP4, RecordingMKV:
	case RecordingOgg:
		o.AudioOnly = true
	default:
		return RecordingInfo{}, fmt.Errorf("output.format must be MP4, MKV or OGG: %w", ErrInvalidArgument)
	}
	path, err := resolveRecordingPath(m.cfg.Recording.Dir, o.Path)
	if err != nil {
		return RecordingInfo{}, err
	}
	r, err := m.room(roomID)
	if err != nil {
		return RecordingInfo{}, err
	}
	info := RecordingInfo{ID: newRecordingID(), RoomID: roomID, Path: path, Format: o.Format,
		AudioOnly: o.AudioOnly, StartedAt: time.Now(), State: RecordingActive}
	if err := createOutput(path); err != nil {
		return RecordingInfo{}, err
	}
	rc := record.Config{Path: path, Format: o.Format, AudioOnly: o.AudioOnly,
		Width: r.video.Width, Height: r.video.Height, FPS: r.video.FPS,
		QueuePackets: m.cfg.Recording.QueuePackets, FragmentDuration: m.cfg.Recording.FragmentDuration}
	rg := &recording{info: info}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return RecordingInfo{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	rec, err := record.New(rc, record.OpenLibav, func(err error) { r.recordingEnded(rg, err) })
	if err != nil {
		r.mu.Unlock()
		return RecordingInfo{}, fmt.Errorf("recording: %v: %w", err, ErrInvalidArgument)
	}
	rg.rec = rec
	r.recordings = append(r.recordings, rg)
	r.publishRecordings()
	if rec.WantsVideo() {
		r.recKey.Store(true)
	}
	// Published under mu, so that a failure's event cannot come first.
	r.hub.publish(Event{Type: EventRecordingStarted, RoomID: roomID, Time: time.Now(), Recording: ptr(info)})
	r.mu.Unlock()
	return info, nil
}

// StopRecording stops a recording cleanly and finalises its file.
func (m *Manager) StopRecording(roomID, recordingID string) (RecordingInfo, error) {
	r, err := m.room(roomID)
	if err != nil {
		return RecordingInfo{}, err
	}
	r.mu.Lock()
	var rg *recording
	for _, x := range r.recordings {
		if x.info.ID == recordingID {
			rg = x
		}
	}
	r.mu.Unlock()
	if rg == nil {
		return RecordingInfo{}, fmt.Errorf("recording %q: %w", recordingID, ErrRecordingNotFound)
	}
	_ = rg.rec.Stop() // recordingEnded has run when Stop returns
	r.mu.Lock()
	defer r.mu.Unlock()
	return rg.info, nil
}

// ListRecordings lists a room's running recordings, then the last
// maxFinishedRecordings that stopped or failed, oldest first.
func (m *Manager) ListRecordings(roomID string) ([]RecordingInfo, error) {
	r, err := m.room(roomID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	out := make([]RecordingInfo, 0, len(r.recordings)+len(r.finished))
	for _, x := range r.recordings {
		out = append(out, x.info)
	}
	out = append(out, r.finished...)
	r.mu.Unlock()
	// Sizes are read outside the lock: a stat is disk I/O.
	now := time.Now()
	for i := range out {
		out[i] = out[i].snapshot(now)
	}
	return out, nil
}

// recordingEnded runs on the recorder's goroutine when it stops or fails.
func (r *room) recordingEnded(rg *recording, err error) {
	// The file is closed: its final size goes in the event and the list.
	end, size := time.Now(), fileSize(rg.info.Path)
	r.mu.Lock()
	ev := Event{Type: EventRecordingStopped, RoomID: r.id, Time: end}
	if err != nil {
		rg.info.State, rg.info.Reason = RecordingFailed, err.Error()
		ev.Type, ev.Reason = EventRecordingFailed, err.Error()
	} else {
		rg.info.State = RecordingStopped
	}
	rg.info.StoppedAt, rg.info.Bytes, rg.info.Duration = end, size, end.Sub(rg.info.StartedAt)
	for i, x := range r.recordings {
		if x == rg {
			r.recordings = append(r.recordings[:i:i], r.recordings[i+1:]...)
			break
		}
	}
	if len(r.finished) >= maxFinishedRecordings {
		r.finished = append(r.finished[:0], r.finished[len(r.finished)-maxFinishedRecordings+1:]...)
	}
	r.finished = append(r.finished, rg.info)
	r.publishRecordings()
	ev.Recording = ptr(rg.info)
	r.mu.Unlock()
	r.hub.publish(ev)
}

// publishRecordings hands the tick and video goroutines the recorders.
// Called with r.mu held.
func (r *room) publishRecordings() {
	snap := make([]*record.Recorder, len(r.recordings))
	video := false
	for i, x := range r.recordings {
		snap[i] = x.rec
		video = video || x.rec.WantsVideo()
	}
	r.recs.Store(&snap)
	r.recVideo.Store(video)
}

// stopRecordings ends every recording of a closing room, finalising files.
func (r *room) stopRecordings() {
	r.mu.Lock()
	rs := append([]*recording(nil), r.recordings...)
	r.mu.Unlock()
	for _, x := range rs {
		_ = x.rec.Stop()
	}
}
