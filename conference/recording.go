package conference

import (
	"crypto/rand"
	"encoding/hex"
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
	// RTMPReconnectFor is how long a live stream whose server refuses or
	// hangs up keeps reconnecting (with backoff) before it fails.
	RTMPReconnectFor time.Duration `yaml:"rtmp_reconnect_for"`
}

// DefaultRecordingConfig records into ./recordings.
func DefaultRecordingConfig() RecordingConfig {
	return RecordingConfig{Dir: "recordings", QueuePackets: 512, FragmentDuration: time.Second,
		RTMPReconnectFor: 30 * time.Second}
}

// RecordingFormat is a recording's container.
type RecordingFormat = record.Format

// Recording formats.
const (
	RecordingMP4 = record.FormatMP4
	RecordingMKV = record.FormatMKV
	RecordingOgg = record.FormatOgg
	RecordingFLV = record.FormatFLV // live streams
)

// RecordingState says where a recording is.
type RecordingState int

// Recording states.
const (
	RecordingActive RecordingState = iota + 1
	RecordingStopped
	RecordingFailed
)

// RecordingOutput is what StartRecording takes: a file (Path) or a live
// stream (URL), exactly one.
type RecordingOutput struct {
	// Path is relative to the recordings directory (or absolute inside it).
	Path string
	// URL is an rtmp:// or rtmps:// address to stream to, as FLV.
	URL       string
	Format    RecordingFormat
	AudioOnly bool
}

// RecordingInfo is a snapshot of one recording.
type RecordingInfo struct {
	ID        string
	RoomID    string
	Path      string // absolute
	URL       string // a live stream's address
	Format    RecordingFormat
	AudioOnly bool
	StartedAt time.Time
	State     RecordingState
	// Reason says why a failed recording failed.
	Reason string
	// Reconnects counts a live stream's lost connections.
	Reconnects int
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

// StartRecording starts recording a room's composite into a file. Opening
// the file happens on the recorder's goroutine: a path that cannot be
// written ends as EventRecordingFailed, and the room goes on.
func (m *Manager) StartRecording(roomID string, o RecordingOutput) (RecordingInfo, error) {
	if err := validateID("room_id", roomID); err != nil {
		return RecordingInfo{}, err
	}
	var path string
	if o.URL != "" {
		if o.Path != "" {
			return RecordingInfo{}, fmt.Errorf("output: give path or url, not both: %w", ErrInvalidArgument)
		}
		if err := record.ValidateURL(o.URL); err != nil {
			return RecordingInfo{}, fmt.Errorf("output.url %q: %v: %w", o.URL, err, ErrInvalidArgument)
		}
		switch o.Format {
		case 0, RecordingFLV:
			o.Format = RecordingFLV
		default:
			return RecordingInfo{}, fmt.Errorf("output.format of a url must be FLV (or unset): %w", ErrInvalidArgument)
		}
	} else {
		switch o.Format {
		case RecordingMP4, RecordingMKV:
		case RecordingOgg:
			o.AudioOnly = true
		default:
			return RecordingInfo{}, fmt.Errorf("output.format of a path must be MP4, MKV or OGG: %w", ErrInvalidArgument)
		}
		p, err := resolveRecordingPath(m.cfg.Recording.Dir, o.Path)
		if err != nil {
			return RecordingInfo{}, err
		}
		path = p
	}
	r, err := m.room(roomID)
	if err != nil {
		return RecordingInfo{}, err
	}
	info := RecordingInfo{ID: newRecordingID(), RoomID: roomID, Path: path, URL: o.URL, Format: o.Format,
		AudioOnly: o.AudioOnly, StartedAt: time.Now(), State: RecordingActive}
	if path != "" {
		// The directory is made here so that a missing one is not a
		// failure; one that cannot be made fails the recording when it
		// opens the file.
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	rc := record.DefaultConfig()
	rc.Path, rc.URL, rc.Format, rc.AudioOnly = path, o.URL, o.Format, o.AudioOnly
	rc.Width, rc.Height, rc.FPS = r.video.Width, r.video.Height, r.video.FPS
	rc.QueuePackets, rc.FragmentDuration = m.cfg.Recording.QueuePackets, m.cfg.Recording.FragmentDuration
	rc.ReconnectFor = m.cfg.Recording.RTMPReconnectFor
	rg := &recording{info: info}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return RecordingInfo{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	rec, err := record.New(rc, record.OpenLibav, func(err error) { r.recordingEnded(rg, err) },
		// A stream's new session after a reconnect starts at a keyframe.
		record.WithKeyframeRequest(func() { r.recKey.Store(true) }),
		record.WithReconnecting(func(err error) { r.recordingReconnecting(rg, err) }))
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

// ListRecordings lists a room's running recordings.
func (m *Manager) ListRecordings(roomID string) ([]RecordingInfo, error) {
	r, err := m.room(roomID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RecordingInfo, len(r.recordings))
	for i, x := range r.recordings {
		out[i] = x.info
	}
	return out, nil
}

// recordingEnded runs on the recorder's goroutine when it stops or fails.
func (r *room) recordingEnded(rg *recording, err error) {
	r.mu.Lock()
	ev := Event{Type: EventRecordingStopped, RoomID: r.id, Time: time.Now()}
	if err != nil {
		rg.info.State, rg.info.Reason = RecordingFailed, err.Error()
		ev.Type, ev.Reason = EventRecordingFailed, err.Error()
	} else {
		rg.info.State = RecordingStopped
	}
	for i, x := range r.recordings {
		if x == rg {
			r.recordings = append(r.recordings[:i:i], r.recordings[i+1:]...)
			break
		}
	}
	r.publishRecordings()
	ev.Recording = ptr(rg.info)
	r.mu.Unlock()
	r.hub.publish(ev)
}

// recordingReconnecting runs on the recorder's goroutine when a live
// stream lost its server and starts retrying.
func (r *room) recordingReconnecting(rg *recording, err error) {
	r.mu.Lock()
	rg.info.Reconnects++
	ev := Event{Type: EventRecordingReconnecting, RoomID: r.id, Time: time.Now(), Reason: err.Error(),
		Recording: ptr(rg.info)}
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
