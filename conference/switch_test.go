package conference

import (
	"math"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

// recordingEndpoint keeps a copy of every packet the room sends.
type recordingEndpoint struct {
	nullEndpoint
	pkts [][]byte
}

func (e *recordingEndpoint) SendAudio(p []byte, _ uint32) {
	e.pkts = append(e.pkts, append([]byte(nil), p...))
}

// TestSwitchToOwnMixIsSeamless: a listener who starts talking moves from the
// shared mix to a mix of their own. What they hear must continue without a
// click: their decoder sees one continuous Opus stream because the own-mix
// encoder continues from the shared encoder's state.
func TestSwitchToOwnMixIsSeamless(t *testing.T) {
	const talkAt = 100 // tick at which the listener starts to talk
	for _, tc := range []struct {
		name      string
		copyState bool
	}{{"with encoder state copied", true}, {"control: fresh encoder", false}} {
		t.Run(tc.name, func(t *testing.T) {
			br := newBenchRoom(t, 3, 0)
			listener := br.parts[2]
			rec := &recordingEndpoint{}
			listener.ep = rec

			enc := make([]*codec.OpusEncoder, 3)
			for i := range enc {
				e, err := codec.NewOpusEncoder(codec.DefaultOpusEncoderConfig())
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				enc[i] = e
			}
			freqs := []float64{300, 500, 700}
			pcm := make([]float32, media.FrameSamples)
			pkt := make([]byte, maxOpusPacket)
			for tick := 0; tick < 200; tick++ {
				if tick == talkAt && !tc.copyState {
					// Hand the listener an encoder that cannot copy state.
					br.r.encoders = []audioEncoder{noCopy{br.r.encoders[0]}}
				}
				for i, p := range br.parts {
					amp := 0.1
					if i == 2 && tick < talkAt {
						amp = 0
					}
					for k := range pcm {
						n := tick*media.FrameSamples + k
						pcm[k] = float32(amp * math.Sin(2*math.Pi*freqs[i]*float64(n)/media.SampleRate))
					}
					n, err := enc[i].Encode(pcm, pkt)
					if err != nil {
						t.Fatal(err)
					}
					_ = p.jb.Push(uint16(tick), uint32(tick*media.FrameSamples), pkt[:n], -1, br.now)
				}
				br.r.tick(br.now)
				br.now = br.now.Add(media.FrameDuration)
			}
			if !listener.usingOwn {
				t.Fatal("the listener never got a mix of their own")
			}

			// Decode what the listener received, as their browser would.
			dec, err := codec.NewOpusDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			var out []float32
			frame := make([]float32, media.FrameSamples)
			for _, p := range rec.pkts {
				if _, err := dec.Decode(p, frame); err != nil {
					t.Fatal(err)
				}
				out = append(out, frame...)
			}
			// The listener hears 300 + 500 Hz before and after the switch; both
			// fall on exact bins of a 20 ms DFT, so whatever else a frame holds
			// is codec noise, or the splatter of a click.
			worst := func(from, to int) float64 {
				w := -200.0
				for f := from; f < to; f++ {
					w = max(w, residualDB(out[f*media.FrameSamples:(f+1)*media.FrameSamples], 300, 500))
				}
				return w
			}
			steady := worst(60, 95)
			around := worst(95, 115)
			t.Logf("energy outside the tones: steady %.1f dB, around the switch %.1f dB", steady, around)
			if tc.copyState && around > steady+3 {
				t.Fatalf("the switch clicks: %.1f dB of splatter against %.1f dB in steady state", around, steady)
			}
			if !tc.copyState && around <= steady+3 {
				// The control proves the measure can see a click at all.
				t.Fatalf("control: a fresh encoder should click, splatter %.1f dB vs %.1f dB", around, steady)
			}
		})
	}
}

// residualDB is the energy of x outside the given tones, relative to all of
// it. The tones must be multiples of 48000/len(x) Hz.
func residualDB(x []float32, tones ...float64) float64 {
	var total float64
	for _, s := range x {
		total += float64(s) * float64(s)
	}
	if total == 0 {
		return -200
	}
	rest := total
	n := float64(len(x))
	for _, f := range tones {
		var re, im float64
		for i, s := range x {
			ph := 2 * math.Pi * f * float64(i) / media.SampleRate
			re += float64(s) * math.Cos(ph)
			im -= float64(s) * math.Sin(ph)
		}
		rest -= 2 * (re*re + im*im) / n
	}
	return 10 * math.Log10(max(rest, 1e-20)/total)
}

// noCopy hides CopyStateFrom, like an encoder starting from scratch.
type noCopy struct{ audioEncoder }
