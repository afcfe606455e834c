package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// videoStream is a real encoded stream and its RTP packets.
type videoStream struct {
	codec string
	aus   [][]byte
	keys  []bool
	pkts  []rtp.Packet
	first []int // index of each unit's first packet
}

// ffmpegOut runs the ffmpeg CLI and returns the file it wrote, skipping
// the test when ffmpeg or its encoder is missing.
func ffmpegOut(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Skip("ffmpeg CLI not installed")
	}
	out := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command(bin, append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Skipf("ffmpeg cannot make %s: %v: %s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const testSource = "testsrc2=s=640x360:r=30"

// vp8TestStream encodes frames of a moving pattern with libvpx (a keyframe
// every 20 frames) and packetizes them with pion's VP8 payloader.
func vp8TestStream(tb testing.TB, frames int) *videoStream {
	tb.Helper()
	b := ffmpegOut(tb, "v.ivf", "-f", "lavfi", "-i", testSource, "-frames:v", strconv.Itoa(frames),
		"-c:v", "libvpx", "-b:v", "800k", "-deadline", "realtime", "-cpu-used", "8", "-g", "20", "-keyint_min", "20", "-f", "ivf")
	s := &videoStream{codec: "vp8"}
	b = b[binary.LittleEndian.Uint16(b[6:]):]
	for len(b) >= 12 {
		n := int(binary.LittleEndian.Uint32(b))
		s.aus = append(s.aus, b[12:12+n])
		b = b[12+n:]
	}
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	seq := uint16(65500) // wraps during the stream
	for i, au := range s.aus {
		s.keys = append(s.keys, isVP8Keyframe(au))
		s.first = append(s.first, len(s.pkts))
		payloads := pay.Payload(1200, au)
		for j, pl := range payloads {
			s.pkts = append(s.pkts, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq,
				Timestamp: uint32(i * 3000), Marker: j == len(payloads)-1}, Payload: pl})
			seq++
		}
	}
	return s
}

// h264TestStream encodes frames with libx264 (an IDR every 20 frames) and
// packetizes them with H264Packetizer. sliceMax > 0 cuts slices to that
// many bytes, giving single-NAL packets as well as STAP-A and FU-A.
func h264TestStream(tb testing.TB, frames, sliceMax int) *videoStream {
	tb.Helper()
	params := "keyint=20:min-keyint=20:scenecut=0"
	if sliceMax > 0 {
		params += ":slice-max-size=" + strconv.Itoa(sliceMax)
	}
	b := ffmpegOut(tb, "v.h264", "-f", "lavfi", "-i", testSource, "-frames:v", strconv.Itoa(frames),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-b:v", "800k",
		"-x264-params", params, "-bsf:v", "h264_mp4toannexb", "-f", "h264")
	s := &videoStream{codec: "h264", aus: splitAnnexBUnits(b)}
	cfg := DefaultH264PacketizerConfig()
	cfg.FirstSeq = 65500
	p, err := NewH264Packetizer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	for i, au := range s.aus {
		s.keys = append(s.keys, bytes.Contains(au, []byte{0, 0, 0, 1, 0x65}))
		s.first = append(s.first, len(s.pkts))
		s.pkts = append(s.pkts, p.Packetize(au, uint32(i*3000))...)
	}
	return s
}

// splitAnnexBUnits groups an Annex-B stream into access units with 4-byte
// start codes: a unit starts at a non-VCL NAL or at a slice with
// first_mb_in_slice 0 once the current unit holds a slice.
func splitAnnexBUnits(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				nals = append(nals, b[start:end])
			}
			start, i = i+3, i+2
		}
	}
	nals = append(nals, b[start:])
	var aus [][]byte
	var cur []byte
	slice := false
	for _, nal := range nals {
		t := nal[0] & 0x1f
		vcl := t >= 1 && t <= 5
		if slice && (!vcl || nal[1]&0x80 != 0) {
			aus, cur, slice = append(aus, cur), nil, false
		}
		cur = append(append(cur, 0, 0, 0, 1), nal...)
		slice = slice || vcl
	}
	return append(aus, cur)
}

// feed pushes the packets in the given order (1 ms apart), pops after each
// one and once more much later, and returns copies of the units.
func feed(t *testing.T, d *VideoDepacketizer, pkts []rtp.Packet, order []int, onPop func(i int)) []AccessUnit {
	t.Helper()
	now := time.Unix(1000, 0)
	var out []AccessUnit
	pop := func() {
		for {
			au, ok := d.Pop(now)
			if !ok {
				return
			}
			au.Data = bytes.Clone(au.Data)
			out = append(out, au)
		}
	}
	for i, k := range order {
		if err := d.Push(&pkts[k], now); err != nil {
			t.Fatalf("Push(%d): %v", k, err)
		}
		pop()
		if onPop != nil {
			onPop(i)
		}
		now = now.Add(time.Millisecond)
	}
	now = now.Add(time.Second)
	pop()
	return out
}

func newDepacketizer(t testing.TB, codec string) *VideoDepacketizer {
	t.Helper()
	var d *VideoDepacketizer
	var err error
	if codec == "vp8" {
		d, err = NewVP8Depacketizer(DefaultDepacketizerConfig())
	} else {
		d, err = NewH264Depacketizer(DefaultDepacketizerConfig())
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkUnits compares the output with the stream's units want (indices).
func checkUnits(t *testing.T, s *videoStream, got []AccessUnit, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d units out, want %d", len(got), len(want))
	}
	for i, k := range want {
		if !bytes.Equal(got[i].Data, s.aus[k]) {
			t.Fatalf("unit %d (source %d): %d bytes differ from the %d sent", i, k, len(got[i].Data), len(s.aus[k]))
		}
		if got[i].Keyframe != s.keys[k] || got[i].Timestamp != uint32(k*3000) {
			t.Fatalf("unit %d: keyframe %v ts %d, want %v %d", i, got[i].Keyframe, got[i].Timestamp, s.keys[k], k*3000)
		}
	}
}

func streams(t *testing.T) []*videoStream {
	return []*videoStream{vp8TestStream(t, 45), h264TestStream(t, 45, 0), h264TestStream(t, 45, 1000)}
}

func seqRange(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

func TestDepacketizerRoundTrip(t *testing.T) {
	for i, s := range streams(t) {
		if !s.keys[0] || !s.keys[20] || s.keys[1] {
			t.Fatalf("stream %d: keyframes at %v", i, s.keys[:21])
		}
		for _, window := range []int{1, 3, 8} {
			t.Run(s.codec+"/"+strconv.Itoa(i)+"/shuffle"+strconv.Itoa(window), func(t *testing.T) {
				// Shuffle inside consecutive blocks of `window` packets.
				order := seqRange(len(s.pkts))
				rng := rand.New(rand.NewPCG(uint64(window), 7))
				for b := 0; b < len(order); b += window {
					blk := order[b:min(b+window, len(order))]
					rng.Shuffle(len(blk), func(i, j int) { blk[i], blk[j] = blk[j], blk[i] })
				}
				d := newDepacketizer(t, s.codec)
				if !d.NeedKeyframe() {
					t.Fatal("a new depacketizer must ask for a keyframe")
				}
				got := feed(t, d, s.pkts, order, nil)
				checkUnits(t, s, got, seqRange(len(s.aus)))
				st := d.Stats()
				if d.NeedKeyframe() || st.Lost != 0 || st.Dropped != 0 || st.Frames != uint64(len(s.aus)) {
					t.Fatalf("need keyframe %v, stats %+v", d.NeedKeyframe(), st)
				}
			})
		}
	}
}

func TestDepacketizerLossWaitsForKeyframe(t *testing.T) {
	for i, s := range streams(t) {
		last := func(au int) int { return s.first[au+1] - 1 }
		mid := func(au int) int { return (s.first[au] + s.first[au+1]) / 2 }
		for _, tc := range []struct {
			name string
			drop int // packet index
			au   int // the unit it belongs to
		}{
			{"first of P", s.first[5], 5},
			{"last of P", last(5), 5},
			{"middle of IDR", mid(20), 20},
			{"first of IDR", s.first[20], 20},
		} {
			t.Run(s.codec+"/"+strconv.Itoa(i)+"/"+tc.name, func(t *testing.T) {
				order := seqRange(len(s.pkts))
				order = append(order[:tc.drop:tc.drop], order[tc.drop+1:]...)
				d := newDepacketizer(t, s.codec)
				got := feed(t, d, s.pkts, order, nil)
				next := tc.au + 1
				if s.codec == "h264" && tc.name == "first of IDR" {
					// Only the parameter sets were lost: the cached ones
					// complete the IDR.
					next = tc.au
				}
				for !s.keys[next] {
					next++
				}
				want := append(seqRange(tc.au), seqRange(len(s.aus))[next:]...)
				checkUnits(t, s, got, want)
				st := d.Stats()
				if st.KeyframeAsks != 2 || st.Lost != 1 || d.NeedKeyframe() {
					t.Fatalf("need keyframe at end %v, stats %+v", d.NeedKeyframe(), st)
				}
			})
		}
	}
}

// Browsers probe bandwidth with padding-only packets on the video SSRC:
// they take sequence numbers but must not look like loss.
func TestDepacketizerPaddingIsNotLoss(t *testing.T) {
	s := vp8TestStream(t, 10)
	var pkts []rtp.Packet
	seq := s.pkts[0].SequenceNumber
	for k, p := range s.pkts {
		p.SequenceNumber = seq
		seq++
		pkts = append(pkts, p)
		if k%3 == 2 {
			pkts = append(pkts, rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: p.Timestamp, Padding: true}})
			seq++
		}
	}
	d := newDepacketizer(t, "vp8")
	got := feed(t, d, pkts, seqRange(len(pkts)), nil)
	checkUnits(t, s, got, seqRange(len(s.aus)))
	if st := d.Stats(); st.Lost != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDepacketizerHoleTimeout(t *testing.T) {
	s := h264TestStream(t, 3, 0)
	if s.first[1] < 3 {
		t.Fatalf("IDR in %d packets, want >= 3", s.first[1])
	}
	d := newDepacketizer(t, "h264")
	t0 := time.Unix(5, 0)
	push := func(k int, at time.Time) {
		if err := d.Push(&s.pkts[k], at); err != nil {
			t.Fatal(err)
		}
	}
	// Packet 1 comes late but within the patience: nothing is lost.
	push(0, t0)
	push(2, t0)
	for k := 3; k < s.first[1]; k++ {
		push(k, t0)
	}
	if _, ok := d.Pop(t0); ok {
		t.Fatal("a unit came out with a hole in it")
	}
	if _, ok := d.Pop(t0.Add(50 * time.Millisecond)); ok {
		t.Fatal("a unit came out with a hole in it")
	}
	push(1, t0.Add(55*time.Millisecond))
	au, ok := d.Pop(t0.Add(55 * time.Millisecond))
	if !ok || !au.Keyframe || !bytes.Equal(au.Data, s.aus[0]) {
		t.Fatalf("late fill: ok %v keyframe %v", ok, au.Keyframe)
	}
	// Now the second unit loses its first packet for good.
	t1 := t0.Add(time.Second)
	for k := s.first[1] + 1; k < len(s.pkts); k++ {
		push(k, t1)
	}
	if _, ok := d.Pop(t1.Add(59 * time.Millisecond)); ok || d.Stats().Lost != 0 {
		t.Fatal("gave up on a hole before MaxReorderDelay")
	}
	if _, ok := d.Pop(t1.Add(60 * time.Millisecond)); ok {
		t.Fatal("a P-frame after a loss came out")
	}
	if st := d.Stats(); st.Lost != 1 || !d.NeedKeyframe() || st.KeyframeAsks != 2 {
		t.Fatalf("need keyframe %v stats %+v", d.NeedKeyframe(), st)
	}
	// The late packet is now refused.
	push(s.first[1], t1.Add(70*time.Millisecond))
	if st := d.Stats(); st.Late != 1 {
		t.Fatalf("late packet not counted: %+v", st)
	}
}

func TestDepacketizerDuplicatesJumpsAndErrors(t *testing.T) {
	s := vp8TestStream(t, 3)
	d := newDepacketizer(t, "vp8")
	now := time.Unix(1, 0)
	for k := range s.pkts {
		for range 2 {
			if err := d.Push(&s.pkts[k], now); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 0
	for {
		if _, ok := d.Pop(now); !ok {
			break
		}
		n++
	}
	if st := d.Stats(); n != 3 || st.Duplicates != uint64(len(s.pkts)) {
		t.Fatalf("%d units, stats %+v", n, st)
	}
	// A sequence jump beyond the window restarts cleanly on a keyframe.
	first := s.pkts[0]
	first.SequenceNumber += 5000
	first.Timestamp += 90000
	if err := d.Push(&first, now); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Flushes != 1 || !d.NeedKeyframe() {
		t.Fatalf("jump: need keyframe %v stats %+v", d.NeedKeyframe(), st)
	}
	if err := d.Push(&rtp.Packet{Payload: make([]byte, 2000)}, now); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("big payload: %v", err)
	}
	for _, cfg := range []DepacketizerConfig{
		{ReorderPackets: 0, MaxReorderDelay: time.Millisecond, MaxFrameBytes: 1 << 20},
		{ReorderPackets: 64, MaxReorderDelay: -1, MaxFrameBytes: 1 << 20},
		{ReorderPackets: 64, MaxReorderDelay: time.Millisecond, MaxFrameBytes: 10},
	} {
		if _, err := NewH264Depacketizer(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestDepacketizerZeroAllocs(t *testing.T) {
	for _, s := range []*videoStream{vp8TestStream(t, 3), h264TestStream(t, 3, 600)} {
		d := newDepacketizer(t, s.codec)
		now := time.Unix(1, 0)
		pkts := append([]rtp.Packet(nil), s.pkts...)
		round := 0
		run := func() {
			// Replay the whole stream with advancing numbers.
			for k := range pkts {
				p := pkts[k]
				p.SequenceNumber += uint16(round * len(pkts))
				p.Timestamp += uint32(round * 9000)
				if err := d.Push(&p, now); err != nil {
					t.Fatal(err)
				}
				for {
					if _, ok := d.Pop(now); !ok {
						break
					}
				}
			}
			round++
		}
		run()
		if allocs := testing.AllocsPerRun(10, run); allocs != 0 {
			t.Errorf("%s: %.1f allocations per stream replay, want 0", s.codec, allocs)
		}
		if st := d.Stats(); st.Frames != uint64(3*12) || st.Lost != 0 {
			t.Errorf("%s: stats %+v", s.codec, st)
		}
	}
}

func BenchmarkDepacketizeH264(b *testing.B) {
	s := h264TestStream(b, 60, 0)
	d := newDepacketizer(b, "h264")
	now := time.Unix(1, 0)
	b.ReportAllocs()
	i, round := 0, 0
	for b.Loop() {
		p := s.pkts[i]
		p.SequenceNumber += uint16(round * len(s.pkts))
		p.Timestamp += uint32(round * 60 * 3000)
		_ = d.Push(&p, now)
		for {
			if _, ok := d.Pop(now); !ok {
				break
			}
		}
		if i++; i == len(s.pkts) {
			i, round = 0, round+1
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
