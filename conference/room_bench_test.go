package conference

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/dsp"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/record"
	"github.com/openmcu/mcu/transport"
)

// nullEndpoint drops what the room sends; it counts packets so the
// benchmark can check that every participant was served.
type nullEndpoint struct{ sent uint64 }

func (e *nullEndpoint) SendAudio([]byte, uint32)       { e.sent++ }
func (e *nullEndpoint) Stats() transport.EndpointStats { return transport.EndpointStats{} }
func (e *nullEndpoint) Close() error                   { return nil }

// benchRoom is a room driven tick by tick from the benchmark goroutine,
// without the room goroutine or any network.
type benchRoom struct {
	r        *room
	parts    []*participant
	speech   [][]byte // a cycle of encoded tone frames
	silence  []byte
	speakers int
	now      time.Time
	seq      uint16
	ts       uint32
}

func newBenchRoom(tb testing.TB, n, speakers int) *benchRoom {
	tb.Helper()
	cfg := DefaultConfig()
	m := &Manager{cfg: cfg, rooms: map[string]*room{}}
	m.metrics = newMetrics(m)
	r, err := newRoom("bench", AudioSettings{MaxActiveSpeakers: 3, OpusBitrate: cfg.OpusBitrate}, VideoSettings{Width: 640, Height: 360, FPS: 15, Bitrate: 500_000}, &m.cfg, m.metrics,
		func() (audioEncoder, error) { return m.newEncoder(cfg.OpusBitrate) })
	if err != nil {
		tb.Fatal(err)
	}
	b := &benchRoom{r: r, speakers: speakers, now: time.Unix(1_700_000_000, 0)}

	// Real Opus: a few frames of a voice-like tone, and an encoded silence.
	tone, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer tone.Close()
	pcm := make([]float32, media.FrameSamples)
	buf := make([]byte, maxOpusPacket)
	for k := 0; k < 25; k++ {
		for i := range pcm {
			t := float64(k*media.FrameSamples+i) / media.SampleRate
			pcm[i] = float32(0.2 * math.Sin(2*math.Pi*220*t) * (1 + 0.5*math.Sin(2*math.Pi*3*t)))
		}
		n, err := tone.Encode(pcm, buf)
		if err != nil {
			tb.Fatal(err)
		}
		b.speech = append(b.speech, append([]byte(nil), buf[:n]...))
	}
	clear(pcm)
	sn, err := tone.Encode(pcm, buf)
	if err != nil {
		tb.Fatal(err)
	}
	b.silence = append([]byte(nil), buf[:sn]...)

	for i := 0; i < n; i++ {
		p := newParticipant(fmt.Sprintf("p%d", i), "", r)
		if p.jb, err = transport.NewJitterBuffer(cfg.Transport.Jitter); err != nil {
			tb.Fatal(err)
		}
		if p.dec, err = codec.NewOpusDecoder(); err != nil {
			tb.Fatal(err)
		}
		p.ep = &nullEndpoint{}
		p.chain = dsp.NewChain(m.chainConfig())
		p.applyDSP(DSPSettings{NS: true, AGC: true})
		r.apply(roomCmd{add: p, reply: make(chan *participant, 1)})
		b.parts = append(b.parts, p)
	}
	tb.Cleanup(func() {
		for _, p := range b.parts {
			p.close()
		}
		r.closeEncoders()
		r.hub.close()
	})
	return b
}

// step delivers one packet per participant, as the network would, then
// runs one room tick.
func (b *benchRoom) step() {
	frame := int(b.seq) % len(b.speech)
	for i, p := range b.parts {
		if i < b.speakers {
			_ = p.jb.Push(b.seq, b.ts, b.speech[frame], 25, b.now)
		} else {
			_ = p.jb.Push(b.seq, b.ts, b.silence, 127, b.now)
		}
	}
	b.r.tick(b.now)
	b.seq++
	b.ts += media.FrameSamples
	b.now = b.now.Add(media.FrameDuration)
}

// BenchmarkRoomTick measures one 20 ms tick of a room with 3 talkers:
// receive (jitter buffer), decode, speaker selection, mix-minus, limiter,
// one shared encode plus one per talker, and handing packets to every
// endpoint. The network send itself is not included.
func BenchmarkRoomTick(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("participants=%d", n), func(b *testing.B) {
			br := newBenchRoom(b, n, 3)
			for i := 0; i < 100; i++ { // settle jitter buffers and speakers
				br.step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				br.step()
			}
			cpuPerTick := float64((cpuTime() - cpu0).Microseconds()) / float64(b.N)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "wall-µs/tick")
			b.ReportMetric(cpuPerTick, "cpu-µs/tick")
			// A tick is due every 20 ms: the share of one core the room uses.
			b.ReportMetric(cpuPerTick/200, "%core")
		})
	}
}

func TestRoomTickServesEveryoneWithoutAllocating(t *testing.T) {
	br := newBenchRoom(t, 50, 3)
	for i := 0; i < 100; i++ {
		br.step()
	}
	active := 0
	for _, p := range br.parts {
		if br.r.sel.IsActive(p.slot) {
			active++
		}
	}
	if active != 3 {
		t.Fatalf("%d active speakers, want 3", active)
	}
	for _, p := range br.parts {
		p.ep.(*nullEndpoint).sent = 0
	}
	if allocs := testing.AllocsPerRun(50, br.step); allocs != 0 {
		t.Fatalf("%v allocations per tick", allocs)
	}
	for _, p := range br.parts {
		if got := p.ep.(*nullEndpoint).sent; got != 51 {
			t.Fatalf("%s got %d packets over 51 ticks", p.id, got)
		}
	}
}

// TestHeapPerParticipant reports the server-side heap of one audio
// participant without its WebRTC connection (see the e2e leak test for that).
func TestHeapPerParticipant(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	br := newBenchRoom(t, 200, 3)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / 200
	t.Logf("heap per participant (codecs, jitter buffer, mix buffers): %.1f KiB", per/1024)
	if per > 256*1024 {
		t.Fatalf("%.0f KiB per participant, budget 256 KiB", per/1024)
	}
	runtime.KeepAlive(br)
}

// benchH264 encodes a keyframe and a P-frame of a noisy w x h picture at
// 500 kb/s, 15 fps: packets the size a room's top rendition hands a
// recording.
func benchH264(tb testing.TB, w, h int) (key, delta []byte) {
	tb.Helper()
	cfg := codec.DefaultH264EncoderConfig()
	cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate = w, h, 15, 500_000
	enc, err := codec.NewH264Encoder(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	f := media.NewVideoFrame(w, h)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, codec.MaxH264FrameBytes(w, h))
	for i := 0; key == nil || delta == nil; i++ {
		for j := range f.Y {
			f.Y[j] = byte(rng.IntN(256))
		}
		n, isKey, err := enc.Encode(buf, f, i == 0)
		if err != nil {
			tb.Fatal(err)
		}
		if n > 0 && isKey && key == nil {
			key = append([]byte(nil), buf[:n]...)
		} else if n > 0 && !isKey {
			delta = append([]byte(nil), buf[:n]...)
		}
	}
	return key, delta
}

// BenchmarkRoomTickRecording measures what one MP4 recording adds to a
// room of 10 participants (3 talking): per 20 ms tick, the tick itself plus
// handing the shared mix's Opus and, 15 times a second, the top
// rendition's already-encoded H.264 (640x360, 500 kb/s, a keyframe every
// 2 s) to the recorder, whose goroutine muxes and writes them to a file.
// Nothing is re-encoded. cpu-µs/tick counts every thread, the writer's too.
// "recorder-only" is the recording's share alone (the same packets, no
// room), which the room's own jitter hides in the ratio.
func BenchmarkRoomTickRecording(b *testing.B) {
	key, delta := benchH264(b, 640, 360)
	opus := newBenchRoom(b, 1, 1).speech[0]
	var offCPU float64
	for _, mode := range []string{"off", "mp4", "recorder-only"} {
		b.Run("recording="+mode, func(b *testing.B) {
			var br *benchRoom
			if mode != "recorder-only" {
				br = newBenchRoom(b, 10, 3)
				for range 100 {
					br.step()
				}
			}
			var rec *record.Recorder
			if mode != "off" {
				cfg := record.DefaultConfig()
				cfg.Path, cfg.Width, cfg.Height, cfg.FPS = filepath.Join(b.TempDir(), "bench.mp4"), 640, 360, 15
				cfg.QueuePackets = 1 << 14 // ticks run back to back here, not every 20 ms
				var err error
				if rec, err = record.New(cfg, record.OpenLibav, nil); err != nil {
					b.Fatal(err)
				}
				if br != nil {
					br.r.recs.Store(&[]*record.Recorder{rec})
					br.r.recVideo.Store(true)
				}
			}
			k := 0
			pos, now := time.Duration(0), time.Unix(1_700_000_000, 0)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if br != nil {
					br.step() // pushes the shared mix to rec
					pos, now = br.r.clock, br.now
				} else {
					rec.PushAudio(opus, pos, now)
					pos, now = pos+media.FrameDuration, now.Add(media.FrameDuration)
				}
				if rec != nil && k*3%10 < 3 { // 3 ticks in 10: 15 fps
					au, isKey := delta, k%100 == 0
					if isKey {
						au = key
					}
					rec.PushVideo(au, pos, now, isKey)
				}
				k++
			}
			if rec != nil {
				// The writer's backlog is part of the cost.
				if err := rec.Stop(); err != nil {
					b.Fatalf("recording failed: %v", err)
				}
			}
			cpu := float64((cpuTime() - cpu0).Microseconds()) / float64(b.N)
			b.StopTimer()
			b.ReportMetric(cpu, "cpu-µs/tick")
			switch {
			case mode == "off":
				offCPU = cpu
			case mode == "mp4" && offCPU > 0:
				b.ReportMetric(cpu/offCPU, "x-cpu-vs-off")
			}
		})
	}
}
