package codec

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

const frame = 960 // 20 ms at 48 kHz

// tone returns n samples of a sine at f Hz and peak amplitude a.
func tone(n int, f, a float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(a * math.Sin(2*math.Pi*f*float64(i)/48000))
	}
	return s
}

// speechLike returns a voiced-speech stand-in: a harmonic series whose pitch
// glides and whose envelope rises and falls like syllables, so the next frame
// cannot be predicted from the previous one alone.
func speechLike(n int) []float32 {
	s := make([]float32, n)
	phase := 0.0
	for i := range s {
		t := float64(i) / 48000
		f0 := 140 + 60*math.Sin(2*math.Pi*1.3*t) + 25*math.Sin(2*math.Pi*5.1*t)
		phase += 2 * math.Pi * f0 / 48000
		env := 0.25 + 0.2*math.Sin(2*math.Pi*3.7*t)
		v := 0.0
		for h := 1; h <= 12; h++ {
			// a rough vowel formant near 700 Hz
			fh := f0 * float64(h)
			w := 1 / (1 + math.Pow((fh-700)/400, 2))
			v += w * math.Sin(float64(h)*phase) / float64(h)
		}
		s[i] = float32(env * v)
	}
	return s
}

// goertzel returns the power of x at f Hz, normalised so that a full-length
// sine of amplitude A gives A*A/2 (its mean square).
func goertzel(x []float32, f float64) float64 {
	w := 2 * math.Pi * f / 48000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	n := float64(len(x))
	return 2 * p / (n * n)
}

func meanSquare(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e / float64(len(x))
}

func db(x float64) float64 { return 10 * math.Log10(x+1e-30) }

func mustEncoder(t testing.TB, cfg OpusEncoderConfig) *OpusEncoder {
	t.Helper()
	e, err := NewOpusEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustDecoder(t testing.TB) *OpusDecoder {
	t.Helper()
	d, err := NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// encodeAll encodes x frame by frame and returns copies of the packets.
func encodeAll(t testing.TB, e *OpusEncoder, x []float32) [][]byte {
	t.Helper()
	buf := make([]byte, OpusMaxPacketBytes)
	var pkts [][]byte
	for i := 0; i+frame <= len(x); i += frame {
		n, err := e.Encode(x[i:i+frame], buf)
		if err != nil {
			t.Fatalf("encode frame %d: %v", i/frame, err)
		}
		pkts = append(pkts, append([]byte(nil), buf[:n]...))
	}
	return pkts
}

func decodeAll(t testing.TB, d *OpusDecoder, pkts [][]byte) []float32 {
	t.Helper()
	out := make([]float32, 0, len(pkts)*frame)
	pcm := make([]float32, OpusMaxFrameSamples)
	for i, p := range pkts {
		n, err := d.Decode(p, pcm)
		if err != nil {
			t.Fatalf("decode frame %d: %v", i, err)
		}
		if n != frame {
			t.Fatalf("decode frame %d: %d samples, want %d", i, n, frame)
		}
		out = append(out, pcm[:n]...)
	}
	return out
}

func TestOpusToneRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*OpusEncoderConfig)
	}{
		{"default", func(*OpusEncoderConfig) {}},
		{"audio-64k", func(c *OpusEncoderConfig) { c.Application = ApplicationAudio; c.Bitrate = 64000 }},
		{"complexity5", func(c *OpusEncoderConfig) { c.Complexity = 5 }},
		{"voip-16k-nofec", func(c *OpusEncoderConfig) { c.Bitrate = 16000; c.FEC = false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultOpusEncoderConfig()
			tc.cfg(&cfg)
			in := tone(48000, 440, 0.5) // -9 dBFS RMS
			out := decodeAll(t, mustDecoder(t), encodeAll(t, mustEncoder(t, cfg), in))
			// Skip 200 ms of start-up; 4800 samples hold exactly 44 periods of 440 Hz.
			blk := out[9600 : 9600+4*4800]
			ms := meanSquare(blk)
			ratio := goertzel(blk, 440) / ms
			if ratio < 0.97 {
				t.Errorf("440 Hz holds %.3f of the output power, want >= 0.97", ratio)
			}
			if off := db(goertzel(blk, 440) / goertzel(blk, 1000)); off < 40 {
				t.Errorf("440 Hz only %.1f dB above 1 kHz, want >= 40", off)
			}
			if d := db(ms) - db(meanSquare(in[9600:9600+len(blk)])); math.Abs(d) > 1 {
				t.Errorf("level changed by %.2f dB, want within 1 dB", d)
			}
		})
	}
}

// codecDelay finds the lag (in samples) at which ref best matches x.
func codecDelay(x, ref []float32) int {
	best, lag := -1.0, 0
	for l := 0; l < frame; l++ {
		var c float64
		for i := 4800; i < 4800+9600; i++ {
			c += float64(x[i]) * float64(ref[i+l])
		}
		if c > best {
			best, lag = c, l
		}
	}
	return lag
}

func snr(ref, got []float32) float64 {
	var s, n float64
	for i := range ref {
		d := float64(got[i]) - float64(ref[i])
		s += float64(ref[i]) * float64(ref[i])
		n += d * d
	}
	return db(s / (n + 1e-20))
}

func TestOpusFECBeatsPLC(t *testing.T) {
	in := speechLike(48000 * 3)
	pkts := encodeAll(t, mustEncoder(t, DefaultOpusEncoderConfig()), in)
	ref := decodeAll(t, mustDecoder(t), pkts)
	lag := codecDelay(in, ref)
	if lag > 480 {
		t.Fatalf("codec delay %d samples, want about 312", lag)
	}

	// Drop every 7th frame (after warm-up) and conceal it both ways.
	fec, plc := mustDecoder(t), mustDecoder(t)
	pcm := make([]float32, OpusMaxFrameSamples)
	var snrFEC, snrPLC float64
	var drops int
	for i, p := range pkts[:len(pkts)-1] {
		if i < 10 || i%7 != 0 {
			if _, err := fec.Decode(p, pcm); err != nil {
				t.Fatal(err)
			}
			if _, err := plc.Decode(p, pcm); err != nil {
				t.Fatal(err)
			}
			continue
		}
		orig := in[i*frame-lag : (i+1)*frame-lag]
		if err := fec.DecodeFEC(pkts[i+1], pcm[:frame]); err != nil {
			t.Fatal(err)
		}
		snrFEC += snr(orig, pcm[:frame])
		if err := plc.DecodePLC(pcm[:frame]); err != nil {
			t.Fatal(err)
		}
		snrPLC += snr(orig, pcm[:frame])
		drops++
	}
	snrFEC /= float64(drops)
	snrPLC /= float64(drops)
	t.Logf("%d dropped frames: FEC %.1f dB, PLC %.1f dB SNR against the original (codec delay %d, TOC config %d)",
		drops, snrFEC, snrPLC, lag, pkts[20][0]>>3)
	if snrFEC < snrPLC+3 {
		t.Errorf("FEC SNR %.1f dB not 3 dB better than PLC %.1f dB", snrFEC, snrPLC)
	}
	if snrFEC < 3 {
		t.Errorf("FEC SNR %.1f dB, want >= 3 dB", snrFEC)
	}
}

func TestOpusPLCDecays(t *testing.T) {
	pkts := encodeAll(t, mustEncoder(t, DefaultOpusEncoderConfig()), tone(20*frame, 440, 0.5))
	d := mustDecoder(t)
	pcm := make([]float32, frame)
	for _, p := range pkts {
		if _, err := d.Decode(p, pcm); err != nil {
			t.Fatal(err)
		}
	}
	last := db(meanSquare(pcm))
	var levels []float64
	for i := 0; i < 15; i++ {
		if err := d.DecodePLC(pcm); err != nil {
			t.Fatal(err)
		}
		for j, v := range pcm {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v > 1.5 || v < -1.5 {
				t.Fatalf("PLC frame %d sample %d = %v", i, j, v)
			}
		}
		levels = append(levels, db(meanSquare(pcm)))
	}
	t.Logf("last decoded %.1f dB, PLC frames %.1f", last, levels)
	if levels[0] > last+1 {
		t.Errorf("first PLC frame %.1f dB louder than the last real frame %.1f dB", levels[0], last)
	}
	if end := levels[len(levels)-1]; end > levels[0]-20 {
		t.Errorf("PLC after 300 ms at %.1f dB, want >= 20 dB below its first frame %.1f dB", end, levels[0])
	}
}

func TestOpusMalformedPackets(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", []byte{}, ErrInvalidPacket},
		{"nil", nil, ErrInvalidPacket},
		{"code3 no count", []byte{0x03}, ErrInvalidPacket},
		{"code3 zero frames", []byte{0x03, 0x00}, ErrInvalidPacket},
		{"code1 odd length", []byte{0x01, 0xaa}, ErrInvalidPacket},
		{"code2 length past end", []byte{0x02, 0xfc, 0x01}, ErrInvalidPacket},
		{"code3 cbr too short", []byte{0x03, 0x05, 0x01}, ErrInvalidPacket},
	}
	d := mustDecoder(t)
	pcm := make([]float32, OpusMaxFrameSamples)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.pkt, pcm)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%x) = %v, want %v", tc.pkt, err, tc.want)
			}
			if err := d.DecodeFEC(tc.pkt, pcm[:frame]); !errors.Is(err, tc.want) {
				t.Fatalf("DecodeFEC(%x) = %v, want %v", tc.pkt, err, tc.want)
			}
		})
	}
	// After garbage the decoder still decodes real packets.
	pkts := encodeAll(t, mustEncoder(t, DefaultOpusEncoderConfig()), tone(3*frame, 440, 0.5))
	if n, err := d.Decode(pkts[0], pcm); err != nil || n != frame {
		t.Fatalf("decode after garbage: %d, %v", n, err)
	}
}

// checkDecodeErr fails unless err is nil or wraps one of our sentinels.
func checkDecodeErr(t testing.TB, pkt []byte, err error) {
	if err == nil {
		return
	}
	for _, s := range []error{ErrInvalidPacket, ErrBufferTooSmall, ErrFrameSize} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("Decode(%x) error %v wraps no codec sentinel", pkt, err)
}

func TestOpusRandomPacketsNeverCrash(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := mustDecoder(t)
	pcm := make([]float32, frame) // deliberately one frame: long packets must fail cleanly
	var failed int
	for i := 0; i < 5000; i++ {
		pkt := make([]byte, r.IntN(300))
		for j := range pkt {
			pkt[j] = byte(r.Uint32())
		}
		_, err := d.Decode(pkt, pcm)
		checkDecodeErr(t, pkt, err)
		if err != nil {
			failed++
		}
		checkDecodeErr(t, pkt, d.DecodeFEC(pkt, pcm))
		for _, v := range pcm {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite output for %x", pkt)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no random packet was rejected; the test is not exercising errors")
	}
}

func FuzzOpusDecode(f *testing.F) {
	f.Add([]byte{0x03, 0x00})
	f.Add([]byte{0x78, 0x01, 0x02})
	f.Add([]byte{0xfc, 0xff, 0xfe})
	d, err := NewOpusDecoder()
	if err != nil {
		f.Fatal(err)
	}
	pcm := make([]float32, OpusMaxFrameSamples)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, err := d.Decode(pkt, pcm)
		checkDecodeErr(t, pkt, err)
		checkDecodeErr(t, pkt, d.DecodeFEC(pkt, pcm[:frame]))
	})
}

func TestOpusFrameSizes(t *testing.T) {
	e := mustEncoder(t, DefaultOpusEncoderConfig())
	d := mustDecoder(t)
	buf := make([]byte, OpusMaxPacketBytes)
	if _, err := e.Encode(make([]float32, 1000), buf); !errors.Is(err, ErrFrameSize) {
		t.Errorf("Encode(1000 samples) = %v, want ErrFrameSize", err)
	}
	if _, err := e.Encode(make([]float32, frame), nil); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("Encode(nil dst) = %v, want ErrBufferTooSmall", err)
	}
	if err := d.DecodePLC(make([]float32, 100)); !errors.Is(err, ErrFrameSize) {
		t.Errorf("DecodePLC(100) = %v, want ErrFrameSize", err)
	}
	n, err := e.Encode(tone(frame, 440, 0.5), buf)
	if err != nil {
		t.Fatal(err)
	}
	// A 20 ms packet does not fit 10 ms of PCM.
	if _, err := d.Decode(buf[:n], make([]float32, 480)); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("Decode into 480 samples = %v, want ErrBufferTooSmall", err)
	}
	// A 60 ms frame round-trips.
	n, err = e.Encode(tone(2880, 440, 0.5), buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Decode(buf[:n], make([]float32, OpusMaxFrameSamples)); err != nil || got != 2880 {
		t.Errorf("decode 60 ms = %d, %v", got, err)
	}
}

func TestOpusEncoderConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*OpusEncoderConfig)
		ok   bool
	}{
		{"default", func(*OpusEncoderConfig) {}, true},
		{"low bitrate", func(c *OpusEncoderConfig) { c.Bitrate = 5999 }, false},
		{"high bitrate", func(c *OpusEncoderConfig) { c.Bitrate = 510001 }, false},
		{"complexity 11", func(c *OpusEncoderConfig) { c.Complexity = 11 }, false},
		{"negative loss", func(c *OpusEncoderConfig) { c.PacketLossPercent = -1 }, false},
		{"bad application", func(c *OpusEncoderConfig) { c.Application = 7 }, false},
		{"dtx audio", func(c *OpusEncoderConfig) { c.DTX = true; c.Application = ApplicationAudio }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultOpusEncoderConfig()
			tc.mod(&cfg)
			e, err := NewOpusEncoder(cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("NewOpusEncoder = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if e != nil {
				e.Close()
			}
		})
	}
	var a OpusApplication
	if err := a.UnmarshalText([]byte("audio")); err != nil || a != ApplicationAudio {
		t.Errorf("UnmarshalText(audio) = %v, %v", a, err)
	}
	if err := a.UnmarshalText([]byte("music")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("UnmarshalText(music) = %v", err)
	}
}

func TestOpusSetBitrate(t *testing.T) {
	in := speechLike(48000)
	size := func(bps int) int {
		e := mustEncoder(t, DefaultOpusEncoderConfig())
		if err := e.SetBitrate(bps); err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, p := range encodeAll(t, e, in) {
			total += len(p)
		}
		return total
	}
	lo, hi := size(12000), size(64000)
	if hi < 3*lo {
		t.Errorf("64 kb/s gave %d bytes, 12 kb/s %d: SetBitrate has no effect", hi, lo)
	}
	e := mustEncoder(t, DefaultOpusEncoderConfig())
	if err := e.SetBitrate(1000); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetBitrate(1000) = %v", err)
	}
	if err := e.SetPacketLossPercent(20); err != nil {
		t.Errorf("SetPacketLossPercent(20) = %v", err)
	}
}

func TestOpusCloseTwice(t *testing.T) {
	d, err := NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewOpusEncoder(DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	pcm := make([]float32, frame)
	buf := make([]byte, 100)
	checks := []error{
		func() error { _, err := d.Decode([]byte{0xf8, 0xff, 0xfe}, pcm); return err }(),
		d.DecodeFEC([]byte{0xf8}, pcm),
		d.DecodePLC(pcm),
		func() error { _, err := e.Encode(pcm, buf); return err }(),
		e.SetBitrate(32000),
		e.SetPacketLossPercent(5),
	}
	for i, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close = %v, want ErrClosed", i, err)
		}
	}
}

func TestOpusZeroAllocs(t *testing.T) {
	e := mustEncoder(t, DefaultOpusEncoderConfig())
	d := mustDecoder(t)
	in := speechLike(frame)
	buf := make([]byte, OpusMaxPacketBytes)
	pcm := make([]float32, frame)
	n, err := e.Encode(in, buf)
	if err != nil {
		t.Fatal(err)
	}
	pkt := append([]byte(nil), buf[:n]...)
	calls := map[string]func(){
		"Encode":    func() { _, _ = e.Encode(in, buf) },
		"Decode":    func() { _, _ = d.Decode(pkt, pcm) },
		"DecodeFEC": func() { _ = d.DecodeFEC(pkt, pcm) },
		"DecodePLC": func() { _ = d.DecodePLC(pcm) },
	}
	for name, fn := range calls {
		if a := testing.AllocsPerRun(50, fn); a != 0 {
			t.Errorf("%s: %.1f allocations per call, want 0", name, a)
		}
	}
}

// cpuTime is the process's user+system CPU time, so the figures stay
// meaningful when other jobs share the machine (wall time per op does not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportFrame adds µs of wall and CPU time per 20 ms frame.
func reportFrame(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/frame")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/frame")
}

func BenchmarkOpusEncode(b *testing.B) {
	in := speechLike(48000)
	for _, c := range []int{5, 6, 7, 8, 9, 10} {
		b.Run(fmt.Sprintf("complexity=%d", c), func(b *testing.B) {
			cfg := DefaultOpusEncoderConfig()
			cfg.Complexity = c
			e := mustEncoder(b, cfg)
			buf := make([]byte, OpusMaxPacketBytes)
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				off := (i % 50) * frame
				if _, err := e.Encode(in[off:off+frame], buf); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportFrame(b, cpu0)
		})
	}
}

func BenchmarkOpusDecode(b *testing.B) {
	in := speechLike(48000)
	for _, c := range []int{5, 8, 10} {
		b.Run(fmt.Sprintf("complexity=%d", c), func(b *testing.B) {
			cfg := DefaultOpusEncoderConfig()
			cfg.Complexity = c
			pkts := encodeAll(b, mustEncoder(b, cfg), in)
			d := mustDecoder(b)
			pcm := make([]float32, frame)
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := d.Decode(pkts[i%len(pkts)], pcm); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportFrame(b, cpu0)
		})
	}
}
