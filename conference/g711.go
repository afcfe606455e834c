package conference

import (
	"fmt"
	"math"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/dsp/resample"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/transport"
)

// G.711 runs at 8 kHz; the mix at 48 kHz. The glue below resamples with
// the band-limited resampler, primed with its latency in zeros so that
// every 20 ms in gives exactly 20 ms out.
const (
	g711Rate      = 8000
	g711Ratio     = media.SampleRate / g711Rate
	g711Frame     = g711Rate / 50         // samples per 20 ms
	g711MaxPacket = g711Rate * 120 / 1000 // the longest packet taken, 120 ms
	// plcFadeFrames: lost frames are repeated, fading to silence over this
	// many 20 ms frames.
	plcFadeFrames = 3
)

func newPrimedResampler(in, out int) (*resample.Resampler, error) {
	// Low: 60 dB stopband is well below G.711's own noise (about 38 dB SNR).
	rs, err := resample.New(in, out, resample.QualityLow)
	if err != nil {
		return nil, err
	}
	zeros := make([]float32, rs.Latency())
	if n := rs.Process(nil, zeros); n != 0 {
		return nil, fmt.Errorf("resampler primed with %d outputs", n)
	}
	return rs, nil
}

// g711Decoder decodes framed G.711 payloads (see transport.G711FrameSamples)
// to 48 kHz. It conceals losses by repeating the last 20 ms with a fade,
// and after an RFC 3389 comfort-noise update plays noise at the signalled
// level until speech resumes.
type g711Decoder struct {
	rs   *resample.Resampler
	in   []float32 // 8 kHz scratch
	last []float32 // the last 20 ms decoded, at 8 kHz, for concealment
	// plcRun counts consecutive concealed frames.
	plcRun int
	// noise is the comfort noise's RMS amplitude (full scale 1); 0 when off.
	noise float32
	rng   uint32
}

func newG711Decoder() (*g711Decoder, error) {
	rs, err := newPrimedResampler(g711Rate, media.SampleRate)
	if err != nil {
		return nil, err
	}
	return &g711Decoder{rs: rs, in: make([]float32, g711MaxPacket), last: make([]float32, g711Frame), rng: 0x9E3779B9}, nil
}

// Decode implements audioDecoder. It returns 960 samples per 20 ms (a
// lone 10 ms packet is completed by concealment), more for longer packets.
func (d *g711Decoder) Decode(pkt []byte, pcm []float32) (int, error) {
	if len(pkt) < 2 {
		return 0, fmt.Errorf("%w: %d bytes", codec.ErrInvalidPacket, len(pkt))
	}
	data := pkt[1:]
	var law codec.G711Law
	switch pkt[0] {
	case transport.PayloadPCMU:
		law = codec.MuLaw
	case transport.PayloadPCMA:
		law = codec.ALaw
	case transport.PayloadCN:
		// RFC 3389: the first byte is the level in -dBov; the spectral
		// coefficients that may follow are not modelled (white noise).
		d.noise = float32(math.Pow(10, -float64(data[0]&0x7F)/20))
		d.plcRun = 0
		if len(pcm) < media.FrameSamples {
			return 0, codec.ErrBufferTooSmall
		}
		d.fillNoise(d.in[:g711Frame])
		return d.resample(pcm, g711Frame)
	default:
		return 0, fmt.Errorf("%w: payload type %d", codec.ErrInvalidPacket, pkt[0])
	}
	if len(data) > g711MaxPacket {
		return 0, fmt.Errorf("%w: %d samples", codec.ErrInvalidPacket, len(data))
	}
	n := max(len(data), g711Frame)
	if len(pcm) < n*g711Ratio {
		// Nothing consumed: the caller grows pcm and calls again.
		return 0, codec.ErrBufferTooSmall
	}
	law.Decode(d.in, data)
	d.noise = 0
	d.plcRun = 0
	if len(data) < g711Frame {
		// A 10 ms packet without its partner: conceal the other half.
		copy(d.last, d.last[len(data):])
		copy(d.last[g711Frame-len(data):], d.in[:len(data)])
		d.conceal(d.in[len(data):n])
	} else {
		copy(d.last, d.in[len(data)-g711Frame:len(data)])
	}
	return d.resample(pcm, n)
}

// resample turns d.in[:n] into n*6 samples of pcm.
func (d *g711Decoder) resample(pcm []float32, n int) (int, error) {
	got := d.rs.Process(pcm[:n*g711Ratio], d.in[:n])
	if got != n*g711Ratio {
		return 0, fmt.Errorf("%w: resampler gave %d of %d", codec.ErrCodecFailure, got, n*g711Ratio)
	}
	return got, nil
}

// conceal fills x (at most 20 ms) with the last frame repeated and faded,
// or with comfort noise while that is on.
func (d *g711Decoder) conceal(x []float32) {
	if d.noise > 0 {
		d.fillNoise(x)
		return
	}
	start := float32(plcFadeFrames-d.plcRun) / plcFadeFrames
	end := float32(plcFadeFrames-d.plcRun-1) / plcFadeFrames
	if start <= 0 {
		clear(x)
		return
	}
	step := (end - start) / float32(len(x))
	for i := range x {
		x[i] = d.last[i%len(d.last)] * (start + step*float32(i))
	}
}

// fillNoise writes white noise of RMS d.noise: uniform in ±√3·rms.
func (d *g711Decoder) fillNoise(x []float32) {
	a := d.noise * 1.7320508 / (1 << 31)
	for i := range x {
		d.rng ^= d.rng << 13
		d.rng ^= d.rng >> 17
		d.rng ^= d.rng << 5
		x[i] = float32(int32(d.rng)) * a
	}
}

// DecodePLC implements audioDecoder: repeat-and-fade, then silence, or
// comfort noise after a CN update.
func (d *g711Decoder) DecodePLC(pcm []float32) error {
	if len(pcm)%(g711Frame*g711Ratio) != 0 {
		return fmt.Errorf("%w: %d samples", codec.ErrFrameSize, len(pcm))
	}
	for off := 0; off < len(pcm); off += g711Frame * g711Ratio {
		d.conceal(d.in[:g711Frame])
		d.plcRun++
		if _, err := d.resample(pcm[off:], g711Frame); err != nil {
			return err
		}
	}
	return nil
}

// DecodeFEC implements audioDecoder: G.711 carries no redundancy.
func (d *g711Decoder) DecodeFEC(_ []byte, pcm []float32) error { return d.DecodePLC(pcm) }

// ComfortNoise fills pcm with comfort noise while a CN update is in force
// (the sender paused its speech) and reports whether it did.
func (d *g711Decoder) ComfortNoise(pcm []float32) bool {
	if d.noise == 0 || len(pcm) != g711Frame*g711Ratio {
		return false
	}
	d.fillNoise(d.in[:g711Frame])
	_, err := d.resample(pcm, g711Frame)
	return err == nil
}

// Close implements audioDecoder.
func (d *g711Decoder) Close() error { return nil }

// g711Encoder encodes the 48 kHz mix to 20 ms of G.711.
type g711Encoder struct {
	law codec.G711Law
	rs  *resample.Resampler
	buf []float32
}

func newG711Encoder(law codec.G711Law) (*g711Encoder, error) {
	rs, err := newPrimedResampler(media.SampleRate, g711Rate)
	if err != nil {
		return nil, err
	}
	return &g711Encoder{law: law, rs: rs, buf: make([]float32, g711Frame)}, nil
}

// Encode implements audioEncoder: 960 samples at 48 kHz in, 160 bytes out.
func (e *g711Encoder) Encode(pcm []float32, dst []byte) (int, error) {
	if len(pcm) != media.FrameSamples {
		return 0, fmt.Errorf("%w: %d samples", codec.ErrFrameSize, len(pcm))
	}
	if len(dst) < g711Frame {
		return 0, codec.ErrBufferTooSmall
	}
	n := e.rs.Process(e.buf, pcm)
	return e.law.Encode(dst, e.buf[:n]), nil
}

// SetBitrate implements audioEncoder; G.711 is always 64 kb/s.
func (e *g711Encoder) SetBitrate(int) error { return nil }

// Close implements audioEncoder.
func (e *g711Encoder) Close() error { return nil }
