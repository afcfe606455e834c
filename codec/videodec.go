package codec

/*
#cgo pkg-config: libavutil libavcodec
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libavcodec/packet.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/openmcu/mcu/media"
)

// avPadding is AV_INPUT_BUFFER_PADDING_SIZE: bitstream readers may read this
// far past the end of a packet, so the bytes must exist and be zero.
const avPadding = 64

// LibavVideoDecoder decodes VP8 or H.264 with libavcodec through go-astiav.
// It implements VideoDecoder. The AVPacket and AVFrame are reused; pictures
// that are not yuv420p are converted with swscale.
type LibavVideoDecoder struct {
	name  string
	cc    *astiav.CodecContext
	pkt   *astiav.Packet
	frame *astiav.Frame
	cpkt  *C.AVPacket    // pkt's C struct
	buf   unsafe.Pointer // av_malloc'd input buffer with zeroed padding
	bufN  int

	// conversion for pixel formats other than yuv420p(j)
	sws                *C.struct_SwsContext
	swsW, swsH, swsFmt int
}

// NewVideoDecoder opens a decoder for codec "vp8" or "h264". It decodes on
// the calling goroutine (one thread, no frame delay): rooms run many
// decoders in parallel instead.
func NewVideoDecoder(codec string) (*LibavVideoDecoder, error) {
	var id astiav.CodecID
	switch codec {
	case "vp8", "VP8":
		id = astiav.CodecIDVp8
	case "h264", "H264":
		id = astiav.CodecIDH264
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedCodec, codec)
	}
	c := astiav.FindDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("%w: no libavcodec decoder for %s", ErrUnsupportedCodec, codec)
	}
	cc := astiav.AllocCodecContext(c)
	if cc == nil {
		return nil, fmt.Errorf("%w: allocating %s codec context", ErrCodecFailure, codec)
	}
	cc.SetThreadCount(1)
	cc.SetFlags(astiav.NewCodecContextFlags(astiav.CodecContextFlagLowDelay))
	if err := cc.Open(c, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("%w: opening %s decoder: %w", ErrCodecFailure, codec, err)
	}
	d := &LibavVideoDecoder{name: codec, cc: cc, pkt: astiav.AllocPacket(), frame: astiav.AllocFrame()}
	if d.pkt == nil || d.frame == nil {
		_ = d.Close()
		return nil, fmt.Errorf("%w: allocating packet/frame", ErrCodecFailure)
	}
	if d.cpkt = avPacketOf(d.pkt); d.cpkt == nil {
		_ = d.Close()
		return nil, fmt.Errorf("%w: unexpected astiav.Packet layout", ErrCodecFailure)
	}
	return d, nil
}

// avPacketOf returns the AVPacket behind p. astiav v0.16.0 does not export
// it; its Packet holds the C pointer as its only field. The layout is
// checked through the public API so a changed astiav fails loudly here.
func avPacketOf(p *astiav.Packet) *C.AVPacket {
	c := *(**C.AVPacket)(unsafe.Pointer(p))
	if c == nil {
		return nil
	}
	p.SetSize(12345)
	ok := c.size == 12345
	p.SetSize(0)
	if !ok {
		return nil
	}
	return c
}

// Decode implements VideoDecoder. The decoded picture's PTS is not touched:
// the caller knows the capture time. No Go allocation per call when the
// picture size is stable (libavcodec allocates in C).
func (d *LibavVideoDecoder) Decode(au []byte, dst *media.VideoFrame) (bool, error) {
	if d.cc == nil {
		return false, ErrClosed
	}
	if len(au) == 0 || dst == nil {
		return false, fmt.Errorf("%w: empty %s access unit", ErrInvalidPacket, d.name)
	}
	// The packet points at our own padded C buffer and carries no AVBuffer,
	// so libavcodec takes its own copy: no Go allocation, and the buffer is
	// reused for every access unit.
	if d.bufN < len(au) {
		C.av_free(d.buf)
		d.bufN = len(au) + len(au)/2
		d.buf = C.av_mallocz(C.size_t(d.bufN + avPadding))
		if d.buf == nil {
			d.bufN = 0
			return false, fmt.Errorf("%w: av_malloc %d bytes", ErrCodecFailure, len(au))
		}
	}
	copy(unsafe.Slice((*byte)(d.buf), len(au)+avPadding), au)
	clear(unsafe.Slice((*byte)(unsafe.Add(d.buf, len(au))), avPadding))
	d.cpkt.buf = nil
	d.cpkt.data = (*C.uint8_t)(d.buf)
	d.cpkt.size = C.int(len(au))
	err := d.cc.SendPacket(d.pkt)
	if errors.Is(err, astiav.ErrEagain) {
		// A picture is still waiting: hand it out, keep the new one queued
		// by sending again once there is room.
		ok, rerr := d.receive(dst)
		if rerr != nil {
			return false, rerr
		}
		err = d.cc.SendPacket(d.pkt)
		if err != nil {
			return ok, fmt.Errorf("%w: %s: %w", ErrDecode, d.name, err)
		}
		return ok, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrDecode, d.name, err)
	}
	return d.receive(dst)
}

func (d *LibavVideoDecoder) receive(dst *media.VideoFrame) (bool, error) {
	err := d.cc.ReceiveFrame(d.frame)
	if err != nil {
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s: %w", ErrDecode, d.name, err)
	}
	defer d.frame.Unref()
	f := (*C.AVFrame)(d.frame.UnsafePointer())
	w, h, format := int(f.width), int(f.height), int(f.format)
	if w <= 0 || h <= 0 {
		return false, fmt.Errorf("%w: %s: picture %dx%d", ErrDecode, d.name, w, h)
	}
	ensureI420(dst, w, h)
	if format == int(astiav.PixelFormatYuv420P) || format == int(astiav.PixelFormatYuvj420P) {
		copyPlane(dst.Y, dst.StrideY, f.data[0], int(f.linesize[0]), w, h)
		cw, ch := (w+1)/2, (h+1)/2
		copyPlane(dst.U, dst.StrideC, f.data[1], int(f.linesize[1]), cw, ch)
		copyPlane(dst.V, dst.StrideC, f.data[2], int(f.linesize[2]), cw, ch)
		return true, nil
	}
	if d.sws == nil || d.swsW != w || d.swsH != h || d.swsFmt != format {
		freeSws(d.sws)
		d.sws = nil
		ctx, err := newSwsContext(w, h, format, w, h)
		if err != nil {
			return false, err
		}
		d.sws, d.swsW, d.swsH, d.swsFmt = ctx, w, h, format
	}
	if err := swsConvert(d.sws, h,
		[3]unsafe.Pointer{unsafe.Pointer(f.data[0]), unsafe.Pointer(f.data[1]), unsafe.Pointer(f.data[2])},
		[3]int{int(f.linesize[0]), int(f.linesize[1]), int(f.linesize[2])}, dst); err != nil {
		return false, err
	}
	return true, nil
}

// copyPlane copies a w x h plane out of C memory row by row.
func copyPlane(dst []byte, dstStride int, src *C.uint8_t, srcStride, w, h int) {
	for y := 0; y < h; y++ {
		row := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(src), y*srcStride)), w)
		copy(dst[y*dstStride:y*dstStride+w], row)
	}
}

// Close implements VideoDecoder.
func (d *LibavVideoDecoder) Close() error {
	if d.frame != nil {
		d.frame.Free()
		d.frame = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt, d.cpkt = nil, nil
	}
	C.av_free(d.buf)
	d.buf, d.bufN = nil, 0
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
	freeSws(d.sws)
	d.sws = nil
	return nil
}

var _ VideoDecoder = (*LibavVideoDecoder)(nil)
