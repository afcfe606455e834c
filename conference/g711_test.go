package conference

import (
	"math"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/transport"
)

// g711RoundTrip sends a 48 kHz tone through the encoder, frames each
// packet as the RTP endpoint does, and decodes it back to 48 kHz.
func g711RoundTrip(t *testing.T, law codec.G711Law, pt byte, freq, amp float64, frames int) []float32 {
	t.Helper()
	enc, err := newG711Encoder(law)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newG711Decoder()
	if err != nil {
		t.Fatal(err)
	}
	tone := audiotest.Tone(freq, amp, media.SampleRate, frames*media.FrameSamples)
	pkt := make([]byte, 1+200)
	out := make([]float32, 0, len(tone))
	pcm := make([]float32, media.FrameSamples)
	for f := range frames {
		n, err := enc.Encode(tone[f*media.FrameSamples:(f+1)*media.FrameSamples], pkt[1:])
		if err != nil || n != 160 {
			t.Fatalf("encode: %d, %v", n, err)
		}
		pkt[0] = pt
		if got := transport.G711FrameSamples(pkt[:1+n]); got != media.FrameSamples {
			t.Fatalf("frame duration %d", got)
		}
		m, err := dec.Decode(pkt[:1+n], pcm)
		if err != nil || m != media.FrameSamples {
			t.Fatalf("decode: %d, %v", m, err)
		}
		out = append(out, pcm...)
	}
	return out
}

func TestG711GlueKeepsToneAndLevel(t *testing.T) {
	for _, c := range []struct {
		law  codec.G711Law
		pt   byte
		freq float64
		amp  float64
	}{
		{codec.MuLaw, transport.PayloadPCMU, 1000, 0.5},
		{codec.MuLaw, transport.PayloadPCMU, 440, 0.05},
		{codec.ALaw, transport.PayloadPCMA, 3000, 0.3},
		{codec.ALaw, transport.PayloadPCMA, 300, 0.01},
	} {
		out := g711RoundTrip(t, c.law, c.pt, c.freq, c.amp, 50)
		s := out[len(out)/5:] // past the resamplers' start
		want := 20 * math.Log10(c.amp/math.Sqrt2)
		got := audiotest.ToneDB(s, c.freq, media.SampleRate)
		if math.Abs(got-want) > 1 {
			t.Errorf("%v %g Hz at %.1f dBFS: came back at %.1f dBFS", c.law, c.freq, want, got)
		}
		// The frequency is kept: next to nothing lands a semitone away.
		if off := audiotest.ToneDB(s, c.freq*1.06, media.SampleRate); off > got-30 {
			t.Errorf("%v %g Hz: %.1f dB a semitone up (tone %.1f)", c.law, c.freq, off, got)
		}
		total := audiotest.RMSDB(s)
		if total-got > 0.5 {
			t.Errorf("%v %g Hz: %.1f dB of the %.1f dB total is not the tone", c.law, c.freq, got, total)
		}
	}
}

// An 8 kHz packet of 30 or 40 ms decodes to 1440 or 1920 samples; a short
// destination is refused without consuming the packet.
func TestG711DecodeLongPacketsAndLoneHalf(t *testing.T) {
	dec, _ := newG711Decoder()
	pkt := make([]byte, 1+320)
	pkt[0] = transport.PayloadPCMU
	for i := range pkt[1:] {
		pkt[1+i] = codec.MulawEncode(int16(8000 * math.Sin(2*math.Pi*float64(i)/8)))
	}
	small := make([]float32, media.FrameSamples)
	if _, err := dec.Decode(pkt, small); err == nil {
		t.Fatal("40 ms into 20 ms: want ErrBufferTooSmall")
	}
	big := make([]float32, maxPacketSamples)
	if n, err := dec.Decode(pkt, big); err != nil || n != 1920 {
		t.Fatalf("40 ms: %d, %v", n, err)
	}
	if got := transport.G711FrameSamples(pkt); got != 1920 {
		t.Fatalf("duration %d", got)
	}
	// A lone 10 ms packet still fills a 20 ms tick.
	if n, err := dec.Decode(pkt[:81], small); err != nil || n != media.FrameSamples {
		t.Fatalf("10 ms: %d, %v", n, err)
	}
	if _, err := dec.Decode([]byte{99, 1, 2}, small); err == nil {
		t.Fatal("unknown payload type decoded")
	}
	if _, err := dec.Decode([]byte{0}, small); err == nil {
		t.Fatal("empty payload decoded")
	}
}

// Loss: the last frame is repeated and fades out within three frames.
// Comfort noise: noise at the signalled level until speech resumes.
func TestG711ConcealmentAndComfortNoise(t *testing.T) {
	out := g711RoundTrip(t, codec.MuLaw, transport.PayloadPCMU, 1000, 0.5, 10)
	_ = out
	dec, _ := newG711Decoder()
	enc, _ := newG711Encoder(codec.MuLaw)
	tone := audiotest.Tone(1000, 0.5, media.SampleRate, media.FrameSamples)
	pkt := make([]byte, 161)
	pkt[0] = transport.PayloadPCMU
	pcm := make([]float32, media.FrameSamples)
	for range 5 {
		enc.Encode(tone, pkt[1:])
		dec.Decode(pkt, pcm)
	}
	levels := make([]float64, 5)
	for i := range levels {
		if err := dec.DecodePLC(pcm); err != nil {
			t.Fatal(err)
		}
		levels[i] = audiotest.RMSDB(pcm)
	}
	if levels[0] < -12 || levels[1] >= levels[0] || levels[2] >= levels[1] || levels[4] > -90 {
		t.Fatalf("PLC levels %.1f: want a repeat that fades to silence", levels)
	}
	if err := dec.DecodeFEC(pkt, pcm); err != nil || audiotest.RMSDB(pcm) > -90 {
		t.Fatalf("FEC after the fade: %v, %.1f dB", err, audiotest.RMSDB(pcm))
	}

	// CN at 40 dBov, then nothing: noise at -40 dBFS on PLC and idle ticks.
	if n, err := dec.Decode([]byte{transport.PayloadCN, 40}, pcm); err != nil || n != media.FrameSamples {
		t.Fatalf("CN: %d, %v", n, err)
	}
	var noise []float32
	for i := range 20 {
		if i%2 == 0 {
			if err := dec.DecodePLC(pcm); err != nil {
				t.Fatal(err)
			}
		} else if !dec.ComfortNoise(pcm) {
			t.Fatal("no comfort noise while CN is on")
		}
		noise = append(noise, pcm...)
	}
	if lvl := audiotest.RMSDB(noise); math.Abs(lvl+40) > 1.5 {
		t.Fatalf("comfort noise at %.1f dBFS, want -40", lvl)
	}
	// Speech resumes: noise stops.
	enc.Encode(tone, pkt[1:])
	dec.Decode(pkt, pcm)
	if dec.ComfortNoise(pcm) {
		t.Fatal("comfort noise after speech resumed")
	}
}

func TestG711GlueDoesNotAllocate(t *testing.T) {
	enc, _ := newG711Encoder(codec.ALaw)
	dec, _ := newG711Decoder()
	tone := audiotest.Tone(1000, 0.5, media.SampleRate, media.FrameSamples)
	pkt := make([]byte, 161)
	pkt[0] = transport.PayloadPCMA
	pcm := make([]float32, media.FrameSamples)
	allocs := testing.AllocsPerRun(200, func() {
		n, _ := enc.Encode(tone, pkt[1:])
		_, _ = dec.Decode(pkt[:1+n], pcm)
		_ = dec.DecodePLC(pcm)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per frame", allocs)
	}
}

func BenchmarkG711EncodeDecode(b *testing.B) {
	enc, _ := newG711Encoder(codec.MuLaw)
	dec, _ := newG711Decoder()
	tone := audiotest.Tone(1000, 0.5, media.SampleRate, media.FrameSamples)
	pkt := make([]byte, 161)
	pkt[0] = transport.PayloadPCMU
	pcm := make([]float32, media.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		n, _ := enc.Encode(tone, pkt[1:])
		_, _ = dec.Decode(pkt[:1+n], pcm)
	}
}
