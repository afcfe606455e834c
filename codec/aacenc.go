package codec

/*
#cgo pkg-config: libavutil libavcodec
#include <libavutil/frame.h>
#include <libavcodec/avcodec.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// AACFrameSamples is what one AAC-LC packet carries (21.3 ms at 48 kHz).
const AACFrameSamples = 1024

// AACEncoderConfig configures an AACEncoder (48 kHz mono AAC-LC).
type AACEncoderConfig struct {
	// Bitrate in bits per second, 16000..320000.
	Bitrate int `yaml:"bitrate"`
}

// DefaultAACEncoderConfig is 96 kb/s, plenty for a mono conference mix.
func DefaultAACEncoderConfig() AACEncoderConfig { return AACEncoderConfig{Bitrate: 96000} }

// AACEncoder encodes 48 kHz mono float32 PCM to AAC-LC with libavcodec's
// native encoder. PCM arrives in any amount (the room's 20 ms frames) and
// is cut into 1024-sample frames through a small FIFO. Not safe for
// concurrent use.
type AACEncoder struct {
	cc    *astiav.CodecContext
	frame *astiav.Frame
	pkt   *astiav.Packet
	cpkt  *C.AVPacket
	fifo  [AACFrameSamples]float32
	fill  int
	sent  int64 // samples handed to libavcodec
	delay int64 // the encoder's priming, in samples
	out   []byte
	extra []byte
}

// NewAACEncoder opens the encoder. Its packets carry no ADTS headers: the
// stream's AudioSpecificConfig is ExtraData, as FLV and MP4 want it.
func NewAACEncoder(cfg AACEncoderConfig) (*AACEncoder, error) {
	if cfg.Bitrate < 16000 || cfg.Bitrate > 320000 {
		return nil, fmt.Errorf("%w: aac bitrate %d (want 16000..320000)", ErrInvalidConfig, cfg.Bitrate)
	}
	c := astiav.FindEncoderByName("aac")
	if c == nil {
		return nil, fmt.Errorf("%w: libavcodec has no aac encoder", ErrCodecFailure)
	}
	cc := astiav.AllocCodecContext(c)
	if cc == nil {
		return nil, fmt.Errorf("%w: allocating aac codec context", ErrCodecFailure)
	}
	e := &AACEncoder{cc: cc}
	ok := false
	defer func() {
		if !ok {
			_ = e.Close()
		}
	}()
	cc.SetSampleRate(48000)
	cc.SetSampleFormat(astiav.SampleFormatFltp)
	cc.SetChannelLayout(astiav.ChannelLayoutMono)
	cc.SetBitRate(int64(cfg.Bitrate))
	cc.SetTimeBase(astiav.NewRational(1, 48000))
	cc.SetThreadCount(1)
	cc.SetFlags(astiav.NewCodecContextFlags(astiav.CodecContextFlagGlobalHeader))
	opts := astiav.NewDictionary()
	defer opts.Free()
	// The default "twoloop" coder costs about 1.7 ms of CPU per 20 ms;
	// "fast" is several times cheaper and ample for a conference mix.
	_ = opts.Set("aac_coder", "fast", astiav.NewDictionaryFlags())
	if err := cc.Open(c, opts); err != nil {
		return nil, fmt.Errorf("%w: opening aac encoder: %w", ErrCodecFailure, err)
	}
	if cc.FrameSize() != AACFrameSamples {
		return nil, fmt.Errorf("%w: aac frame size %d, want %d", ErrCodecFailure, cc.FrameSize(), AACFrameSamples)
	}
	e.extra = cc.ExtraData()
	if len(e.extra) < 2 {
		return nil, fmt.Errorf("%w: aac encoder gave no AudioSpecificConfig", ErrCodecFailure)
	}
	e.frame = astiav.AllocFrame()
	e.pkt = astiav.AllocPacket()
	if e.frame == nil || e.pkt == nil {
		return nil, fmt.Errorf("%w: allocating aac frame/packet", ErrCodecFailure)
	}
	if e.cpkt = avPacketOf(e.pkt); e.cpkt == nil {
		return nil, fmt.Errorf("%w: unexpected astiav.Packet layout", ErrCodecFailure)
	}
	e.frame.SetNbSamples(AACFrameSamples)
	e.frame.SetSampleFormat(astiav.SampleFormatFltp)
	e.frame.SetChannelLayout(astiav.ChannelLayoutMono)
	e.frame.SetSampleRate(48000)
	if err := e.frame.AllocBuffer(0); err != nil {
		return nil, fmt.Errorf("%w: aac frame buffer: %w", ErrCodecFailure, err)
	}
	// The encoder primes (1024 samples for the native one): its first
	// packet's pts is minus that. Read from the context rather than assumed.
	cctx := *(**C.AVCodecContext)(unsafe.Pointer(cc))
	if cctx == nil || int(cctx.sample_rate) != 48000 || int(cctx.frame_size) != AACFrameSamples {
		return nil, fmt.Errorf("%w: unexpected astiav.CodecContext layout", ErrCodecFailure)
	}
	e.delay = int64(cctx.initial_padding)
	e.out = make([]byte, 0, 8192)
	ok = true
	return e, nil
}

// ExtraData is the stream's AudioSpecificConfig.
func (e *AACEncoder) ExtraData() []byte { return e.extra }

// Encode adds pcm to the FIFO and, for every full 1024-sample frame,
// encodes it and calls emit with each packet ready. A packet's pts is the
// position in samples of its first sample on the output timeline, which
// starts at 0 with the encoder's priming frame, so output lags input by
// one frame. pkt is only valid during the call.
func (e *AACEncoder) Encode(pcm []float32, emit func(pkt []byte, pts int64) error) error {
	if e.cc == nil {
		return ErrClosed
	}
	for len(pcm) > 0 {
		n := copy(e.fifo[e.fill:], pcm)
		e.fill += n
		pcm = pcm[n:]
		if e.fill < AACFrameSamples {
			return nil
		}
		e.fill = 0
		if err := e.sendFrame(); err != nil {
			return err
		}
		if err := e.drain(emit); err != nil {
			return err
		}
	}
	return nil
}

func (e *AACEncoder) sendFrame() error {
	f := (*C.AVFrame)(e.frame.UnsafePointer())
	// libavcodec may still hold a reference to the last frame's buffer.
	if C.av_frame_make_writable(f) < 0 {
		return fmt.Errorf("%w: aac frame not writable", ErrCodecFailure)
	}
	copy(unsafe.Slice((*float32)(unsafe.Pointer(f.data[0])), AACFrameSamples), e.fifo[:])
	e.frame.SetPts(e.sent)
	e.sent += AACFrameSamples
	if err := e.cc.SendFrame(e.frame); err != nil {
		return fmt.Errorf("%w: aac send frame: %w", ErrCodecFailure, err)
	}
	return nil
}

func (e *AACEncoder) drain(emit func([]byte, int64) error) error {
	for {
		err := e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: aac receive packet: %w", ErrCodecFailure, err)
		}
		// Copied out of the C packet without a Go allocation.
		n := int(e.cpkt.size)
		if cap(e.out) < n {
			e.out = make([]byte, 0, 2*n)
		}
		e.out = e.out[:n]
		copy(e.out, unsafe.Slice((*byte)(unsafe.Pointer(e.cpkt.data)), n))
		pts := int64(e.cpkt.pts) + e.delay
		e.pkt.Unref()
		if err := emit(e.out, pts); err != nil {
			return err
		}
	}
}

// Flush encodes what the FIFO holds (padded with silence to a whole frame)
// and drains the encoder's look-ahead, so the stream ends with its last
// sound rather than a frame or two before it. Encode cannot follow.
func (e *AACEncoder) Flush(emit func(pkt []byte, pts int64) error) error {
	if e.cc == nil {
		return ErrClosed
	}
	if e.fill > 0 {
		clear(e.fifo[e.fill:])
		e.fill = 0
		if err := e.sendFrame(); err != nil {
			return err
		}
	}
	if err := e.cc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("%w: aac flush: %w", ErrCodecFailure, err)
	}
	return e.drain(emit)
}

// Close releases the encoder. It is safe to call more than once.
func (e *AACEncoder) Close() error {
	if e.frame != nil {
		e.frame.Free()
		e.frame = nil
	}
	if e.pkt != nil {
		e.pkt.Free()
		e.pkt = nil
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc = nil
	}
	return nil
}
