package codec

/*
#cgo pkg-config: libavutil libavcodec
#include <libavutil/frame.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/openmcu/mcu/media"
)

// VP8EncoderConfig configures a VP8Encoder.
type VP8EncoderConfig struct {
	Width   int `yaml:"width"`
	Height  int `yaml:"height"`
	FPS     int `yaml:"fps"`
	Bitrate int `yaml:"bitrate"`
	// KeyframeInterval is the longest distance between keyframes, in frames.
	KeyframeInterval int `yaml:"keyframe_interval"`
}

// Validate checks the ranges of every field.
func (c VP8EncoderConfig) Validate() error {
	switch {
	case c.Width < 16 || c.Height < 16 || c.Width > 4096 || c.Height > 4096 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: vp8 size %dx%d (even, 16..4096)", ErrInvalidConfig, c.Width, c.Height)
	case c.FPS < 1 || c.FPS > 120:
		return fmt.Errorf("%w: vp8 fps %d (1..120)", ErrInvalidConfig, c.FPS)
	case c.Bitrate < 10_000 || c.Bitrate > 50_000_000:
		return fmt.Errorf("%w: vp8 bitrate %d (10k..50M)", ErrInvalidConfig, c.Bitrate)
	case c.KeyframeInterval < 1:
		return fmt.Errorf("%w: vp8 keyframe interval %d (>= 1)", ErrInvalidConfig, c.KeyframeInterval)
	}
	return nil
}

// VP8Encoder encodes I420 pictures with libvpx through libavcodec, in
// real-time mode without frame lag. It implements VideoEncoder. It exists
// for test senders and tools; the server sends H.264.
type VP8Encoder struct {
	cfg   VP8EncoderConfig
	cc    *astiav.CodecContext
	frame *astiav.Frame
	pkt   *astiav.Packet
	pts   int64
}

// NewVP8Encoder opens a libvpx encoder.
func NewVP8Encoder(cfg VP8EncoderConfig) (*VP8Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := astiav.FindEncoderByName("libvpx")
	if c == nil {
		return nil, fmt.Errorf("%w: libavcodec has no libvpx encoder", ErrUnsupportedCodec)
	}
	cc := astiav.AllocCodecContext(c)
	if cc == nil {
		return nil, fmt.Errorf("%w: allocating vp8 codec context", ErrCodecFailure)
	}
	cc.SetWidth(cfg.Width)
	cc.SetHeight(cfg.Height)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetTimeBase(astiav.NewRational(1, cfg.FPS))
	cc.SetFramerate(astiav.NewRational(cfg.FPS, 1))
	cc.SetBitRate(int64(cfg.Bitrate))
	cc.SetGopSize(cfg.KeyframeInterval)
	cc.SetThreadCount(1)
	opts := astiav.NewDictionary()
	defer opts.Free()
	for _, kv := range [][2]string{{"deadline", "realtime"}, {"cpu-used", "8"}, {"lag-in-frames", "0"}, {"error-resilient", "1"}} {
		_ = opts.Set(kv[0], kv[1], 0)
	}
	if err := cc.Open(c, opts); err != nil {
		cc.Free()
		return nil, fmt.Errorf("%w: opening vp8 encoder: %w", ErrCodecFailure, err)
	}
	e := &VP8Encoder{cfg: cfg, cc: cc, frame: astiav.AllocFrame(), pkt: astiav.AllocPacket()}
	if e.frame == nil || e.pkt == nil {
		_ = e.Close()
		return nil, fmt.Errorf("%w: allocating packet/frame", ErrCodecFailure)
	}
	e.frame.SetWidth(cfg.Width)
	e.frame.SetHeight(cfg.Height)
	e.frame.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := e.frame.AllocBuffer(0); err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("%w: frame buffer: %w", ErrCodecFailure, err)
	}
	return e, nil
}

// Encode implements VideoEncoder. src must have the configured size.
// Without frame lag every picture comes out at once; n is 0 when libvpx
// dropped the frame for rate control.
func (e *VP8Encoder) Encode(dst []byte, src *media.VideoFrame, forceKeyframe bool) (int, bool, error) {
	if e.cc == nil {
		return 0, false, ErrClosed
	}
	if src == nil || src.Width != e.cfg.Width || src.Height != e.cfg.Height || src.Validate() != nil {
		return 0, false, fmt.Errorf("%w: want a valid %dx%d picture", ErrFrameGeometry, e.cfg.Width, e.cfg.Height)
	}
	f := (*C.AVFrame)(e.frame.UnsafePointer())
	if C.av_frame_make_writable(f) < 0 {
		return 0, false, fmt.Errorf("%w: frame not writable", ErrCodecFailure)
	}
	w, h := src.Width, src.Height
	cw, ch := src.ChromaWidth(), src.ChromaHeight()
	copyIntoPlane(f.data[0], int(f.linesize[0]), src.Y, src.StrideY, w, h)
	copyIntoPlane(f.data[1], int(f.linesize[1]), src.U, src.StrideC, cw, ch)
	copyIntoPlane(f.data[2], int(f.linesize[2]), src.V, src.StrideC, cw, ch)
	if forceKeyframe {
		e.frame.SetPictureType(astiav.PictureTypeI)
	} else {
		e.frame.SetPictureType(astiav.PictureTypeNone)
	}
	e.frame.SetPts(e.pts)
	e.pts++
	if err := e.cc.SendFrame(e.frame); err != nil {
		return 0, false, fmt.Errorf("%w: vp8 encode: %w", ErrCodecFailure, err)
	}
	n, key := 0, false
	for {
		err := e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return n, key, nil
		}
		if err != nil {
			return n, key, fmt.Errorf("%w: vp8 encode: %w", ErrCodecFailure, err)
		}
		data := e.pkt.Data()
		if n+len(data) > len(dst) {
			e.pkt.Unref()
			return 0, false, fmt.Errorf("%w: %d bytes", ErrBufferTooSmall, n+len(data))
		}
		n += copy(dst[n:], data)
		key = key || e.pkt.Flags().Has(astiav.PacketFlagKey)
		e.pkt.Unref()
	}
}

// copyIntoPlane copies a w x h plane into C memory row by row.
func copyIntoPlane(dst *C.uint8_t, dstStride int, src []byte, srcStride, w, h int) {
	for y := 0; y < h; y++ {
		row := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(dst), y*dstStride)), w)
		copy(row, src[y*srcStride:y*srcStride+w])
	}
}

// SetBitrate implements VideoEncoder; libvpx takes it only at open, so it
// is not supported here.
func (e *VP8Encoder) SetBitrate(int) error {
	return fmt.Errorf("%w: vp8 bitrate is fixed at open", ErrInvalidConfig)
}

// Close implements VideoEncoder.
func (e *VP8Encoder) Close() error {
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

var _ VideoEncoder = (*VP8Encoder)(nil)
