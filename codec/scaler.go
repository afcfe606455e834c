package codec

/*
#cgo pkg-config: libswscale libavutil
#include <libswscale/swscale.h>
#include <libavutil/pixfmt.h>

// sws_planes runs one whole-picture conversion. Taking the plane pointers as
// arguments keeps Go memory out of C-held arrays, so nothing needs pinning.
static int sws_planes(struct SwsContext *c, int h,
		const uint8_t *s0, const uint8_t *s1, const uint8_t *s2, int ss0, int ss1, int ss2,
		uint8_t *d0, uint8_t *d1, uint8_t *d2, int ds0, int ds1, int ds2) {
	const uint8_t *src[4] = {s0, s1, s2, NULL};
	int sstr[4] = {ss0, ss1, ss2, 0};
	uint8_t *dst[4] = {d0, d1, d2, NULL};
	int dstr[4] = {ds0, ds1, ds2, 0};
	return sws_scale(c, src, sstr, 0, h, dst, dstr);
}

static struct SwsContext *sws_i420_ctx(int sw, int sh, int sfmt, int dw, int dh, int flags) {
	return sws_getContext(sw, sh, (enum AVPixelFormat)sfmt, dw, dh, AV_PIX_FMT_YUV420P, flags, NULL, NULL, NULL);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/openmcu/mcu/media"
)

// pixFmtYUV420P is libavutil's AV_PIX_FMT_YUV420P.
const pixFmtYUV420P = int(C.AV_PIX_FMT_YUV420P)

// SwsScaler resizes I420 pictures with libswscale (bilinear). It implements
// Scaler; use it to shrink a large input once, before composition.
//
// It calls swscale directly rather than through astiav's frame API:
// sws_scale_frame would copy Go-owned planes into refcounted AVFrames first.
type SwsScaler struct {
	ctx        *C.struct_SwsContext
	srcW, srcH int
	dstW, dstH int
}

// NewScaler returns a scaler from srcW x srcH to dstW x dstH, both I420.
func NewScaler(srcW, srcH, dstW, dstH int) (*SwsScaler, error) {
	ctx, err := newSwsContext(srcW, srcH, pixFmtYUV420P, dstW, dstH)
	if err != nil {
		return nil, err
	}
	return &SwsScaler{ctx: ctx, srcW: srcW, srcH: srcH, dstW: dstW, dstH: dstH}, nil
}

func newSwsContext(srcW, srcH, srcFmt, dstW, dstH int) (*C.struct_SwsContext, error) {
	if srcW < 1 || srcH < 1 || dstW < 1 || dstH < 1 || srcW > 8192 || srcH > 8192 || dstW > 8192 || dstH > 8192 {
		return nil, fmt.Errorf("%w: scale %dx%d to %dx%d", ErrInvalidConfig, srcW, srcH, dstW, dstH)
	}
	ctx := C.sws_i420_ctx(C.int(srcW), C.int(srcH), C.int(srcFmt), C.int(dstW), C.int(dstH), C.SWS_BILINEAR)
	if ctx == nil {
		return nil, fmt.Errorf("%w: sws_getContext %dx%d fmt %d to %dx%d", ErrCodecFailure, srcW, srcH, srcFmt, dstW, dstH)
	}
	return ctx, nil
}

// Scale implements Scaler. No Go allocation per call.
func (s *SwsScaler) Scale(dst, src *media.VideoFrame) error {
	if s.ctx == nil {
		return ErrClosed
	}
	if !checkI420(src, s.srcW, s.srcH) {
		return fmt.Errorf("%w: scaler source wants %dx%d I420", ErrFrameGeometry, s.srcW, s.srcH)
	}
	if !checkI420(dst, s.dstW, s.dstH) {
		return fmt.Errorf("%w: scaler destination wants %dx%d I420", ErrFrameGeometry, s.dstW, s.dstH)
	}
	if err := swsConvert(s.ctx, s.srcH,
		[3]unsafe.Pointer{unsafe.Pointer(&src.Y[0]), unsafe.Pointer(&src.U[0]), unsafe.Pointer(&src.V[0])},
		[3]int{src.StrideY, src.StrideC, src.StrideC}, dst); err != nil {
		return err
	}
	dst.PTS = src.PTS
	return nil
}

// swsConvert runs ctx over a whole picture into dst's planes.
func swsConvert(ctx *C.struct_SwsContext, h int, src [3]unsafe.Pointer, stride [3]int, dst *media.VideoFrame) error {
	r := C.sws_planes(ctx, C.int(h),
		(*C.uint8_t)(src[0]), (*C.uint8_t)(src[1]), (*C.uint8_t)(src[2]),
		C.int(stride[0]), C.int(stride[1]), C.int(stride[2]),
		(*C.uint8_t)(unsafe.Pointer(&dst.Y[0])), (*C.uint8_t)(unsafe.Pointer(&dst.U[0])), (*C.uint8_t)(unsafe.Pointer(&dst.V[0])),
		C.int(dst.StrideY), C.int(dst.StrideC), C.int(dst.StrideC))
	if r <= 0 {
		return fmt.Errorf("%w: sws_scale returned %d", ErrCodecFailure, int(r))
	}
	return nil
}

func freeSws(ctx *C.struct_SwsContext) {
	if ctx != nil {
		C.sws_freeContext(ctx)
	}
}

// Close implements Scaler.
func (s *SwsScaler) Close() error {
	if s.ctx != nil {
		C.sws_freeContext(s.ctx)
		s.ctx = nil
	}
	return nil
}

var _ Scaler = (*SwsScaler)(nil)
