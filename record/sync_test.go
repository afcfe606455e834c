package record

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

// simPacket is one packet of a simulated room: what the room hands the
// recorder, and the true (jitter-free) wall time of what it carries.
type simPacket struct {
	video, key bool
	pos        time.Duration // room clock
	now        time.Time     // wall clock as the room read it (with jitter)
	truth      time.Duration // true wall time since the start
}

// simRoom generates a room's packets over d of wall time, in the order the
// room would hand them over. The room clock runs at 1+drift of the wall
// clock; audio ticks come 0 to 6 ms late (1 in 100 by 30 ms); the mix is
// silent with DTX (a packet every 400 ms) for 3 s of every 60 s; the
// canvas stalls (no pictures) for 2 s every 100 s; and once the whole room
// stalls for 510 ms and restarts its clock, as room.go does.
func simRoom(d time.Duration, drift float64, fps int, seed uint64) []simPacket {
	rng := rand.New(rand.NewPCG(seed, 1))
	const frame = media.FrameDuration
	stallAt, stallFor := 250*time.Second, 510*time.Millisecond
	// clock maps true wall time to the room clock: rate 1+drift, and the
	// stall leaves the clock where it was while wall time goes on.
	clock := func(w time.Duration) time.Duration {
		if w >= stallAt+stallFor {
			w -= stallFor
		}
		return time.Duration(float64(w) * (1 + drift))
	}
	var out []simPacket
	vInterval := time.Second / time.Duration(fps)
	nextVideo := time.Duration(0)
	for k := 0; ; k++ {
		// Tick k produces room-clock position k*frame; its true wall time
		// inverts clock().
		pos := time.Duration(k) * frame
		w := time.Duration(float64(pos) / (1 + drift))
		if w >= stallAt {
			w += stallFor
		}
		if w >= d {
			break
		}
		// Pictures due before this tick go first.
		for ; nextVideo <= w; nextVideo += vInterval {
			if nextVideo >= stallAt && nextVideo < stallAt+stallFor {
				continue // the room is stalled
			}
			if sec := nextVideo % (100 * time.Second); sec >= 40*time.Second && sec < 42*time.Second {
				continue // the canvas stalled
			}
			out = append(out, simPacket{video: true, key: nextVideo == 0, pos: clock(nextVideo),
				now: base.Add(nextVideo), truth: nextVideo})
		}
		if sec := w % (60 * time.Second); sec >= 20*time.Second && sec < 23*time.Second && (sec-20*time.Second)%(400*time.Millisecond) >= frame {
			continue // DTX: the silent mix sends a packet every 400 ms
		}
		late := time.Duration(rng.Int64N(int64(6 * time.Millisecond)))
		if rng.IntN(100) == 0 {
			late = 30 * time.Millisecond
		}
		out = append(out, simPacket{pos: pos, now: base.Add(w + late), truth: w})
	}
	return out
}

// syncMuxer keeps what the recorder writes; each packet's payload carries
// the index of its simPacket (silence does not).
type syncMuxer struct {
	audio, video []syncWrite
}

type syncWrite struct {
	pts time.Duration
	idx int // -1 for filled silence
}

func simIndex(b []byte) int {
	if len(b) != 12 || b[0] != 0xee {
		return -1
	}
	return int(binary.LittleEndian.Uint64(b[4:]))
}

func (m *syncMuxer) WriteAudio(pkt []byte, pts, _ time.Duration) error {
	m.audio = append(m.audio, syncWrite{pts, simIndex(pkt)})
	return nil
}

func (m *syncMuxer) WriteVideo(au []byte, pts time.Duration, _ bool) error {
	m.video = append(m.video, syncWrite{pts, simIndex(au)})
	return nil
}

func (m *syncMuxer) Close() error { return nil }

// TestAVSyncTenMinutes drives ten simulated minutes through the recorder,
// as fast as it goes, with the room clock drifting ±0.1% from the wall
// clock, tick jitter, DTX, a stalled canvas and a stalled room. Audio and
// picture must start together, keep within 40 ms of wall time and of each
// other, and the audio track must have no hole (gaps filled, not
// collapsed).
func TestAVSyncTenMinutes(t *testing.T) {
	const total = 10 * time.Minute
	for _, drift := range []float64{-0.001, 0, 0.001} {
		t.Run(fmt.Sprintf("drift=%+.1f%%", drift*100), func(t *testing.T) {
			pkts := simRoom(total, drift, 30, 7)
			m := &syncMuxer{}
			cfg := DefaultConfig()
			cfg.Path, cfg.QueuePackets = "sim.mp4", len(pkts)+1 // no pacing: the whole run is queued
			r, err := New(cfg, func(codec.MuxerConfig) (codec.Muxer, error) { return m, nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			payload := make([]byte, 12)
			payload[0] = 0xee
			for i, p := range pkts {
				binary.LittleEndian.PutUint64(payload[4:], uint64(i))
				ok := true
				switch {
				case p.key:
					ok = r.PushVideo(append(append([]byte(nil), keyAU...), payload...), p.pos, p.now, true)
				case p.video:
					ok = r.PushVideo(payload, p.pos, p.now, false)
				default:
					ok = r.PushAudio(payload, p.pos, p.now)
				}
				if !ok {
					t.Fatalf("packet %d refused", i)
				}
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			truthOf := func(w syncWrite) time.Duration {
				if w.idx >= 0 && w.idx < len(pkts) {
					return pkts[w.idx].truth
				}
				return -1
			}
			// The keyframe carries keyAU before the index.
			if len(m.video) == 0 || m.video[0].pts != 0 {
				t.Fatalf("video starts with %+v", m.video[:1])
			}
			m.video[0].idx = 0

			// Start: the first audio packet is the first tick at or after
			// the keyframe.
			if a0 := m.audio[0].pts; a0 < 0 || a0 >= media.FrameDuration {
				t.Errorf("audio starts at %v, video at 0", a0)
			}
			// No hole: one packet every 20 ms, from start to end.
			for i := 1; i < len(m.audio); i++ {
				if m.audio[i].pts-m.audio[i-1].pts != media.FrameDuration {
					t.Fatalf("audio packet %d at %v follows %v", i, m.audio[i].pts, m.audio[i-1].pts)
				}
			}
			end := m.audio[len(m.audio)-1].pts + media.FrameDuration
			if lastTruth := pkts[len(pkts)-1].truth; (end - lastTruth).Abs() > 40*time.Millisecond {
				t.Errorf("audio ends at %v, the room at %v", end, lastTruth)
			}
			// Against wall time.
			var worstA, worstV time.Duration
			silence := 0
			for _, w := range m.audio {
				tr := truthOf(w)
				if tr < 0 {
					silence++
					continue
				}
				worstA = max(worstA, (w.pts - tr).Abs())
			}
			for _, w := range m.video {
				worstV = max(worstV, (w.pts - truthOf(w)).Abs())
			}
			// Against each other: each picture against the audio written
			// nearest its wall time.
			var worstAV time.Duration
			ai := 0
			for _, v := range m.video {
				vt := truthOf(v)
				for ai+1 < len(m.audio) && (truthOf(m.audio[ai]) < 0 || truthOf(m.audio[ai]) < vt) {
					ai++
				}
				if a := m.audio[ai]; truthOf(a) >= 0 && (truthOf(a)-vt).Abs() <= media.FrameDuration {
					worstAV = max(worstAV, ((a.pts - v.pts) - (truthOf(a) - vt)).Abs())
				}
			}
			a, s, v := r.Stats()
			t.Logf("%d audio (%d silence filled), %d video; worst error against wall: audio %v, video %v; audio against video %v",
				a, s, v, worstA, worstV, worstAV)
			if worstA > 40*time.Millisecond || worstV > 40*time.Millisecond || worstAV > 40*time.Millisecond {
				t.Errorf("drift beyond 40 ms: audio %v, video %v, between %v", worstA, worstV, worstAV)
			}
			if s != silence || s < 10*3*50*9/10 { // DTX alone leaves about 3 s a minute to fill
				t.Errorf("%d silence packets (%d seen), want the DTX gaps and the stall filled", s, silence)
			}
		})
	}
}

// TestAVSyncTenMinutesFiles writes ten minutes, generated as fast as it
// goes, through libavformat (a real Opus packet, a tiny real H.264 stream)
// into a fragmented MP4, and into an FLV whose audio is transcoded to AAC
// as an RTMP stream's is (the drift LiveKit's recorder users report came
// from AAC timestamps), and reads the streams' ends back with ffprobe.
func TestAVSyncTenMinutesFiles(t *testing.T) {
	const total = 10 * time.Minute
	const w, h, fps = 64, 48, 30
	ecfg := codec.DefaultH264EncoderConfig()
	ecfg.Width, ecfg.Height, ecfg.FPS, ecfg.Bitrate = w, h, fps, 50_000
	enc, err := codec.NewH264Encoder(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	frame := media.NewVideoFrame(w, h)
	buf := make([]byte, codec.MaxH264FrameBytes(w, h))
	var key, delta []byte
	for i := 0; key == nil || delta == nil; i++ {
		frame.Fill(byte(16+i*8), 128, 128)
		n, isKey, err := enc.Encode(buf, frame, i == 0)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case n > 0 && isKey && key == nil:
			key = append([]byte(nil), buf[:n]...)
		case n > 0 && !isKey:
			delta = append([]byte(nil), buf[:n]...)
		}
	}
	opus, err := silencePacket()
	if err != nil {
		t.Fatal(err)
	}
	pkts := simRoom(total, 0.001, fps, 11)
	want := pkts[len(pkts)-1].truth.Seconds()

	for _, format := range []Format{FormatMP4, FormatFLV} {
		t.Run(format.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Path, cfg.Format = filepath.Join(t.TempDir(), "ten."+format.String()), format
			cfg.Width, cfg.Height, cfg.FPS = w, h, fps
			cfg.QueuePackets = len(pkts) + 1
			r, err := New(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			var lastVideo time.Duration
			for _, p := range pkts {
				switch {
				case p.video:
					// A keyframe every 2 s cuts the fragments.
					isKey := p.key || p.truth-lastVideo >= 2*time.Second
					if isKey {
						lastVideo = p.truth
					}
					au := delta
					if isKey {
						au = key
					}
					r.PushVideo(au, p.pos, p.now, isKey)
				default:
					r.PushAudio(opus, p.pos, p.now)
				}
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			wrote := time.Since(t0)
			audioStart, audio := streamSpan(t, cfg.Path, "a")
			videoStart, video := streamSpan(t, cfg.Path, "v")
			if math.Abs(audioStart-videoStart) > 0.04 {
				t.Errorf("audio starts at %.3f s, video at %.3f s", audioStart, videoStart)
			}
			a, s, v := r.Stats()
			t.Logf("%d audio (%d filled), %d video written in %v; ffprobe: audio %.3f..%.3f s, video %.3f..%.3f s; the room ran %.3f s",
				a, s, v, wrote.Round(time.Millisecond), audioStart, audio, videoStart, video, want)
			// Each stream ends within 40 ms of the room's last packet, plus
			// for AAC the silence that pads its last 1024-sample frame.
			pad := 0.0
			if format == FormatFLV {
				pad = float64(codec.AACFrameSamples) / media.SampleRate
			}
			if math.Abs(audio-want) > 0.04+pad || math.Abs(video-want) > 0.04 || math.Abs(audio-video) > 0.04 {
				t.Fatalf("audio ends at %.3f s, video at %.3f s; want both %.3f ± 0.04 s (audio +%.3f s of padding)",
					audio, video, want, pad)
			}
		})
	}
}

// streamSpan is where the first packet of a file's audio ("a") or video
// ("v") stream starts and its last ends, in seconds, from ffprobe's packet
// list.
func streamSpan(t *testing.T, path, stream string) (start, end float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream,
		"-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	// Fragmented MP4 leaves packet durations out (N/A): the last interval
	// stands in for the last packet's.
	start, last, step := -1.0, -1.0, 0.0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if last >= 0 && pts > last {
			step = pts - last
		}
		if start < 0 || pts < start {
			start = pts
		}
		last = pts
		dur := step
		if len(f) > 1 {
			if d, err := strconv.ParseFloat(f[1], 64); err == nil {
				dur = d
			}
		}
		end = max(end, pts+dur)
	}
	if end == 0 {
		t.Fatalf("ffprobe found no %s packets in %s", stream, path)
	}
	return start, end
}
