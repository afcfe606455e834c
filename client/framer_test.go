package client

import (
	"math"
	"testing"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
)

func TestAudioLevel(t *testing.T) {
	square := make([]float32, 960)
	for i := range square {
		square[i] = 1
		if i%2 == 1 {
			square[i] = -1
		}
	}
	quiet := make([]float32, 960)
	ToneSource(440, 0.001).Read(quiet) // -63 dBov
	tests := []struct {
		name  string
		pcm   []float32
		level uint8
		voice bool
	}{
		{"silence", make([]float32, 960), 127, false},
		{"empty", nil, 127, false},
		{"full-scale square", square, 0, true},
		{"sine 0.3 (-13.5 dBov)", audiotest.Tone(440, 0.3, media.SampleRate, 960), 13, true},
		{"quiet sine", quiet, 63, false},
		{"overload clamps", []float32{4, -4}, 0, true},
		{"denormal quiet", []float32{1e-30}, 127, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, v := audioLevel(tc.pcm)
			if l != tc.level || v != tc.voice {
				t.Errorf("audioLevel = %d, %v; want %d, %v", l, v, tc.level, tc.voice)
			}
		})
	}
}

type frameSink struct{ frames [][]float32 }

func (s *frameSink) Write(pcm []float32) { s.frames = append(s.frames, append([]float32(nil), pcm...)) }

func newCodecs(t testing.TB) (*codec.OpusEncoder, *codec.OpusDecoder) {
	t.Helper()
	enc, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := codec.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close(); dec.Close() })
	return enc, dec
}

// TestFramerDeframer runs real Opus through the RTP framing with loss,
// duplicates, reordering and a long gap, without a network.
func TestFramerDeframer(t *testing.T) {
	enc, dec := newCodecs(t)
	f := newFramer(enc)
	f.setAudioLevelID(3)
	src := ToneSource(440, 0.3)
	var raws [][]byte
	for range 60 {
		pkt, err := f.next(src)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		f.advance()
	}
	// Check the first packet's header and audio level extension.
	var first rtp.Packet
	if err := first.Unmarshal(raws[0]); err != nil {
		t.Fatal(err)
	}
	if !first.Marker || first.GetExtension(3) == nil {
		t.Fatalf("first packet: marker %v, level ext %v", first.Marker, first.GetExtension(3))
	}
	if lvl := first.GetExtension(3)[0]; lvl != 0x80|13 {
		t.Errorf("audio level byte %#x, want voice|13", lvl)
	}
	var second rtp.Packet
	_ = second.Unmarshal(raws[1])
	if second.SequenceNumber != first.SequenceNumber+1 || second.Timestamp != first.Timestamp+960 || second.Marker {
		t.Errorf("second packet seq %d ts %d marker %v after seq %d ts %d", second.SequenceNumber, second.Timestamp, second.Marker, first.SequenceNumber, first.Timestamp)
	}

	// Delivery order: 0..9, lose 10, 11, 11 (dup), 13, 12 (late), lose
	// 14..19 (6 = concealed), 20..29, lose 30..49 (too long: not concealed), 50..59.
	var order []int
	for i := range 10 {
		order = append(order, i)
	}
	order = append(order, 11, 11, 13, 12)
	for i := 20; i < 30; i++ {
		order = append(order, i)
	}
	for i := 50; i < 60; i++ {
		order = append(order, i)
	}
	var st counters
	d := newDeframer(dec, &st)
	sink := &frameSink{}
	for _, i := range order {
		d.handle(raws[i], sink)
	}
	// Delivered: 0..9, FEC for 10, 11, FEC for 12, 13, 6 concealed (14..19),
	// 20..29, 50..59 = 40 frames of 960.
	if got := len(sink.frames); got != 40 {
		t.Errorf("delivered %d frames, want 40", got)
	}
	for i, fr := range sink.frames {
		if len(fr) != media.FrameSamples {
			t.Fatalf("frame %d has %d samples", i, len(fr))
		}
	}
	want := Stats{PacketsReceived: uint64(len(order)), PacketsLost: 1 + 1 + 6 + 20, FramesConcealed: 8, LatePackets: 2}
	got := Stats{PacketsReceived: st.packetsReceived.Load(), PacketsLost: st.packetsLost.Load(), FramesConcealed: st.concealed.Load(), LatePackets: st.late.Load()}
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if e := st.decodeErrors.Load(); e != 0 {
		t.Errorf("%d decode errors", e)
	}
	// The tone survives: measure the last 10 frames (after warm-up).
	var tail []float32
	for _, fr := range sink.frames[len(sink.frames)-10:] {
		tail = append(tail, fr...)
	}
	if db := audiotest.ToneDB(tail, 440, media.SampleRate); math.Abs(db-(-13.5)) > 1.5 {
		t.Errorf("decoded 440 Hz at %.1f dBFS, want -13.5", db)
	}
}

func TestSequenceWrap(t *testing.T) {
	enc, dec := newCodecs(t)
	f := newFramer(enc)
	f.pkt.SequenceNumber = 65534
	var st counters
	d := newDeframer(dec, &st)
	sink := &frameSink{}
	for i := range 5 {
		pkt, _ := f.next(SilenceSource())
		raw, _ := pkt.Marshal()
		if i != 2 { // lose seq 0
			d.handle(raw, sink)
		}
		f.advance()
	}
	if st.packetsLost.Load() != 1 || st.late.Load() != 0 || len(sink.frames) != 5 {
		t.Errorf("across the wrap: lost %d late %d frames %d, want 1 0 5", st.packetsLost.Load(), st.late.Load(), len(sink.frames))
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	enc, dec := newCodecs(t)
	f := newFramer(enc)
	f.setAudioLevelID(1)
	src := ToneSource(440, 0.3)
	raw := make([]byte, 1500)
	var st counters
	d := newDeframer(dec, &st)
	var n int
	allocs := testing.AllocsPerRun(100, func() {
		pkt, err := f.next(src)
		if err != nil {
			t.Fatal(err)
		}
		n, err = pkt.MarshalTo(raw)
		if err != nil {
			t.Fatal(err)
		}
		f.advance()
	})
	if allocs != 0 {
		t.Errorf("send path: %v allocs per frame, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { d.handle(raw[:n], discard{}) }); allocs != 0 {
		t.Errorf("receive path: %v allocs per packet, want 0", allocs)
	}
}

func BenchmarkFramer(b *testing.B) {
	enc, _ := newCodecs(b)
	f := newFramer(enc)
	f.setAudioLevelID(1)
	src := ToneSource(440, 0.3)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.next(src); err != nil {
			b.Fatal(err)
		}
		f.advance()
	}
}
