package codec

import (
	"errors"
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Opus constants for the server's audio format.
const (
	opusSampleRate = 48000
	opusChannels   = 1
	// opusMinFrame is 2.5 ms: every Opus frame, PLC and FEC length is a multiple of it.
	opusMinFrame = opusSampleRate / 400
	// OpusMaxFrameSamples is the longest packet Opus can carry (120 ms).
	OpusMaxFrameSamples = opusSampleRate * 120 / 1000
	// OpusMaxPacketBytes is a safe size for Encode's destination buffer.
	OpusMaxPacketBytes = 1500
)

// OpusApplication selects libopus's tuning.
type OpusApplication int

const (
	// ApplicationVoIP favours speech intelligibility (and keeps SILK, hence
	// in-band FEC, available at usual conference bitrates).
	ApplicationVoIP OpusApplication = iota
	// ApplicationAudio favours fidelity for music and mixed content.
	ApplicationAudio
)

// String returns the YAML spelling of a.
func (a OpusApplication) String() string {
	switch a {
	case ApplicationVoIP:
		return "voip"
	case ApplicationAudio:
		return "audio"
	}
	return fmt.Sprintf("OpusApplication(%d)", int(a))
}

// MarshalText implements encoding.TextMarshaler for YAML configs.
func (a OpusApplication) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler for YAML configs.
func (a *OpusApplication) UnmarshalText(b []byte) error {
	switch string(b) {
	case "voip":
		*a = ApplicationVoIP
	case "audio":
		*a = ApplicationAudio
	default:
		return fmt.Errorf("%w: opus application %q (want voip or audio)", ErrInvalidConfig, b)
	}
	return nil
}

func (a OpusApplication) lib() (opus.Application, error) {
	switch a {
	case ApplicationVoIP:
		return opus.AppVoIP, nil
	case ApplicationAudio:
		return opus.AppAudio, nil
	}
	return 0, fmt.Errorf("%w: opus application %d", ErrInvalidConfig, int(a))
}

// OpusEncoderConfig configures an OpusEncoder (48 kHz mono).
type OpusEncoderConfig struct {
	// Bitrate in bits per second, 6000..510000.
	Bitrate int `yaml:"bitrate"`
	// Complexity 0..10; higher costs CPU for quality.
	Complexity int `yaml:"complexity"`
	// FEC turns on in-band forward error correction (LBRR), which lets a
	// receiver rebuild a lost packet from the next one.
	FEC bool `yaml:"fec"`
	// PacketLossPercent is the expected loss, 0..100; with FEC it sets how
	// much redundancy libopus spends.
	PacketLossPercent int `yaml:"packet_loss_percent"`
	// DTX sends tiny packets (<= 2 bytes, meant to be skipped) during silence.
	DTX bool `yaml:"dtx"`
	// Application is voip or audio.
	Application OpusApplication `yaml:"application"`
}

// DefaultOpusEncoderConfig is tuned for a conference mix: 32 kb/s speech
// with FEC for 10% loss.
func DefaultOpusEncoderConfig() OpusEncoderConfig {
	return OpusEncoderConfig{
		Bitrate:           32000,
		Complexity:        10,
		FEC:               true,
		PacketLossPercent: 10,
		DTX:               false,
		Application:       ApplicationVoIP,
	}
}

// Validate reports the first out-of-range field.
func (c OpusEncoderConfig) Validate() error {
	if err := validBitrate(c.Bitrate); err != nil {
		return err
	}
	if c.Complexity < 0 || c.Complexity > 10 {
		return fmt.Errorf("%w: complexity %d (want 0..10)", ErrInvalidConfig, c.Complexity)
	}
	if c.PacketLossPercent < 0 || c.PacketLossPercent > 100 {
		return fmt.Errorf("%w: packet_loss_percent %d (want 0..100)", ErrInvalidConfig, c.PacketLossPercent)
	}
	_, err := c.Application.lib()
	return err
}

func validBitrate(bps int) error {
	if bps < 6000 || bps > 510000 {
		return fmt.Errorf("%w: bitrate %d (want 6000..510000)", ErrInvalidConfig, bps)
	}
	return nil
}

// validFrame reports whether n samples is a duration libopus accepts for
// PLC/FEC: a positive multiple of 2.5 ms up to 120 ms.
func validFrame(n int) bool {
	return n > 0 && n <= OpusMaxFrameSamples && n%opusMinFrame == 0
}

// validEncodeFrame reports whether n samples is an Opus frame duration:
// 2.5, 5, 10, 20, 40 or 60 ms.
func validEncodeFrame(n int) bool {
	switch n {
	case 120, 240, 480, 960, 1920, 2880:
		return true
	}
	return false
}

// wrapOpus maps a libopus error to our sentinels. Only error paths allocate.
func wrapOpus(op string, err error) error {
	var oe opus.Error
	if !errors.As(err, &oe) {
		return fmt.Errorf("%w: opus %s: %w", ErrCodecFailure, op, err)
	}
	switch oe {
	case opus.ErrInvalidPacket:
		return fmt.Errorf("%w: opus %s: %w", ErrInvalidPacket, op, err)
	case opus.ErrBufferTooSmall:
		return fmt.Errorf("%w: opus %s: %w", ErrBufferTooSmall, op, err)
	case opus.ErrBadArg:
		return fmt.Errorf("%w: opus %s: %w", ErrInvalidConfig, op, err)
	}
	return fmt.Errorf("%w: opus %s: %w", ErrCodecFailure, op, err)
}

// OpusDecoder decodes 48 kHz mono Opus into float32 PCM. It is not safe for
// concurrent use; Close must not race with the other methods.
type OpusDecoder struct {
	dec *opus.Decoder
}

var _ AudioDecoder = (*OpusDecoder)(nil)

// NewOpusDecoder returns a 48 kHz mono decoder.
func NewOpusDecoder() (*OpusDecoder, error) {
	d, err := opus.NewDecoder(opusSampleRate, opusChannels)
	if err != nil {
		return nil, wrapOpus("new decoder", err)
	}
	return &OpusDecoder{dec: d}, nil
}

// Decode decodes one packet into pcm and returns the number of samples
// written (960 for a 20 ms packet). pcm must hold the packet's whole
// duration, up to OpusMaxFrameSamples; an empty or malformed packet returns
// an error wrapping ErrInvalidPacket (use DecodePLC for a missing packet).
func (d *OpusDecoder) Decode(pkt []byte, pcm []float32) (int, error) {
	if d.dec == nil {
		return 0, ErrClosed
	}
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if len(pcm) == 0 {
		return 0, fmt.Errorf("%w: empty pcm buffer", ErrBufferTooSmall)
	}
	// hraban passes cap(pcm) to libopus; clip it so we never write past len.
	n, err := d.dec.DecodeFloat32(pkt, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, wrapOpus("decode", err)
	}
	return n, nil
}

// DecodeFEC rebuilds the frame that was lost just before pkt from pkt's
// in-band FEC data, writing exactly len(pcm) samples (960 for a 20 ms
// frame; a multiple of 2.5 ms). When pkt carries no FEC, libopus falls back
// to PLC. Decode pkt itself normally afterwards.
func (d *OpusDecoder) DecodeFEC(pkt []byte, pcm []float32) error {
	if d.dec == nil {
		return ErrClosed
	}
	if len(pkt) == 0 {
		return fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if !validFrame(len(pcm)) {
		return fmt.Errorf("%w: %d samples for FEC (want a multiple of %d up to %d)",
			ErrFrameSize, len(pcm), opusMinFrame, OpusMaxFrameSamples)
	}
	if err := d.dec.DecodeFECFloat32(pkt, pcm[:len(pcm):len(pcm)]); err != nil {
		return wrapOpus("decode fec", err)
	}
	return nil
}

// DecodePLC conceals len(pcm) lost samples (a multiple of 2.5 ms, 960 for
// one tick) by extrapolating the decoder's history; the output fades out
// over consecutive calls.
func (d *OpusDecoder) DecodePLC(pcm []float32) error {
	if d.dec == nil {
		return ErrClosed
	}
	if !validFrame(len(pcm)) {
		return fmt.Errorf("%w: %d samples for PLC (want a multiple of %d up to %d)",
			ErrFrameSize, len(pcm), opusMinFrame, OpusMaxFrameSamples)
	}
	if err := d.dec.DecodePLCFloat32(pcm[:len(pcm):len(pcm)]); err != nil {
		return wrapOpus("decode plc", err)
	}
	return nil
}

// Close releases the decoder; later calls return ErrClosed. The libopus
// state lives on the Go heap, so dropping the reference frees it.
func (d *OpusDecoder) Close() error {
	d.dec = nil
	return nil
}

// OpusEncoder encodes 48 kHz mono float32 PCM into Opus packets. It is not
// safe for concurrent use; Close must not race with the other methods.
type OpusEncoder struct {
	enc *opus.Encoder
}

var _ AudioEncoder = (*OpusEncoder)(nil)

// NewOpusEncoder returns a 48 kHz mono encoder configured by cfg.
func NewOpusEncoder(cfg OpusEncoderConfig) (*OpusEncoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	app, _ := cfg.Application.lib()
	e, err := opus.NewEncoder(opusSampleRate, opusChannels, app)
	if err != nil {
		return nil, wrapOpus("new encoder", err)
	}
	steps := []struct {
		op string
		fn func() error
	}{
		{"set bitrate", func() error { return e.SetBitrate(cfg.Bitrate) }},
		{"set complexity", func() error { return e.SetComplexity(cfg.Complexity) }},
		{"set fec", func() error { return e.SetInBandFEC(cfg.FEC) }},
		{"set packet loss", func() error { return e.SetPacketLossPerc(cfg.PacketLossPercent) }},
		{"set dtx", func() error { return e.SetDTX(cfg.DTX) }},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return nil, wrapOpus(s.op, err)
		}
	}
	return &OpusEncoder{enc: e}, nil
}

// Encode encodes one frame (960 samples for 20 ms; 2.5/5/10/40/60 ms also
// work) into dst and returns the packet length. dst should have
// OpusMaxPacketBytes; with DTX a result of <= 2 bytes means "send nothing".
func (e *OpusEncoder) Encode(pcm []float32, dst []byte) (int, error) {
	if e.enc == nil {
		return 0, ErrClosed
	}
	if !validEncodeFrame(len(pcm)) {
		return 0, fmt.Errorf("%w: %d samples (want 120, 240, 480, 960, 1920 or 2880)", ErrFrameSize, len(pcm))
	}
	if len(dst) == 0 {
		return 0, fmt.Errorf("%w: empty destination", ErrBufferTooSmall)
	}
	n, err := e.enc.EncodeFloat32(pcm, dst[:len(dst):len(dst)])
	if err != nil {
		return 0, wrapOpus("encode", err)
	}
	return n, nil
}

// SetBitrate changes the target bitrate (6000..510000 b/s), e.g. following REMB.
func (e *OpusEncoder) SetBitrate(bps int) error {
	if e.enc == nil {
		return ErrClosed
	}
	if err := validBitrate(bps); err != nil {
		return err
	}
	if err := e.enc.SetBitrate(bps); err != nil {
		return wrapOpus("set bitrate", err)
	}
	return nil
}

// SetPacketLossPercent changes the expected loss (0..100), e.g. following
// RTCP receiver reports, so FEC spends what the path needs.
func (e *OpusEncoder) SetPacketLossPercent(p int) error {
	if e.enc == nil {
		return ErrClosed
	}
	if p < 0 || p > 100 {
		return fmt.Errorf("%w: packet loss %d (want 0..100)", ErrInvalidConfig, p)
	}
	if err := e.enc.SetPacketLossPerc(p); err != nil {
		return wrapOpus("set packet loss", err)
	}
	return nil
}

// Close releases the encoder; later calls return ErrClosed.
func (e *OpusEncoder) Close() error {
	e.enc = nil
	return nil
}
