package codec

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/gen2brain/x264-go/x264c"
	"github.com/openmcu/mcu/media"
)

// H264EncoderConfig configures an H264Encoder. The stream is always
// constrained baseline (profile_idc 66, constraint_set1) without B-frames,
// Annex-B with SPS/PPS before every IDR, so browsers decode it natively and
// a receiver can join at any keyframe.
type H264EncoderConfig struct {
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// FPS is the nominal frame rate; rate control spends Bitrate/FPS per frame.
	FPS int `yaml:"fps"`
	// Bitrate is the target in bits per second (VBV-capped ABR, close to CBR).
	Bitrate int `yaml:"bitrate"`
	// VBVBufferMs is the VBV buffer in milliseconds of Bitrate: smaller keeps
	// frame sizes steadier (less queueing at the pacer) at some quality cost.
	VBVBufferMs int `yaml:"vbv_buffer_ms"`
	// KeyframeInterval is the longest distance between IDRs, in frames.
	KeyframeInterval int `yaml:"keyframe_interval"`
	// Preset is an x264 preset name (ultrafast .. placebo).
	Preset string `yaml:"preset"`
	// Threads is x264's thread count (sliced threads, no added latency);
	// 0 lets x264 choose. One per encoder suits many renditions on few cores.
	Threads int `yaml:"threads"`
	// Level is level_idc (31 = 3.1); 0 picks the smallest of 3.1, 4.0, 4.2,
	// 5.1 that fits the size and frame rate.
	Level int `yaml:"level"`
	// SliceMaxBytes caps slice NAL units (0 = one slice per frame); set it to
	// the RTP payload size to avoid FU-A fragmentation.
	SliceMaxBytes int `yaml:"slice_max_bytes"`
}

// DefaultH264EncoderConfig returns the 720p rendition: 1280x720 at 30 fps,
// 1.5 Mb/s, preset veryfast, an IDR at least every 4 s.
func DefaultH264EncoderConfig() H264EncoderConfig {
	return H264EncoderConfig{
		Width:            1280,
		Height:           720,
		FPS:              30,
		Bitrate:          1_500_000,
		VBVBufferMs:      500,
		KeyframeInterval: 120,
		Preset:           "veryfast",
		Threads:          1,
	}
}

var x264Presets = map[string]bool{
	"ultrafast": true, "superfast": true, "veryfast": true, "faster": true, "fast": true,
	"medium": true, "slow": true, "slower": true, "veryslow": true, "placebo": true,
}

// Validate checks the ranges of every field.
func (c H264EncoderConfig) Validate() error {
	switch {
	case c.Width < 16 || c.Height < 16 || c.Width > 4096 || c.Height > 2304 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: h264 size %dx%d (even, 16..4096x2304)", ErrInvalidConfig, c.Width, c.Height)
	case c.FPS < 1 || c.FPS > 120:
		return fmt.Errorf("%w: h264 fps %d (1..120)", ErrInvalidConfig, c.FPS)
	case c.Bitrate < 10_000 || c.Bitrate > 50_000_000:
		return fmt.Errorf("%w: h264 bitrate %d (10k..50M)", ErrInvalidConfig, c.Bitrate)
	case c.VBVBufferMs < 0 || c.VBVBufferMs > 10_000:
		return fmt.Errorf("%w: h264 vbv buffer %d ms (0..10000)", ErrInvalidConfig, c.VBVBufferMs)
	case c.KeyframeInterval < 1:
		return fmt.Errorf("%w: h264 keyframe interval %d (>= 1)", ErrInvalidConfig, c.KeyframeInterval)
	case !x264Presets[c.Preset]:
		return fmt.Errorf("%w: h264 preset %q", ErrInvalidConfig, c.Preset)
	case c.Threads < 0 || c.Threads > 16:
		return fmt.Errorf("%w: h264 threads %d (0..16)", ErrInvalidConfig, c.Threads)
	case c.Level != 0 && (c.Level < 10 || c.Level > 52):
		return fmt.Errorf("%w: h264 level %d", ErrInvalidConfig, c.Level)
	case c.SliceMaxBytes != 0 && c.SliceMaxBytes < 200:
		return fmt.Errorf("%w: h264 slice max bytes %d (0 or >= 200)", ErrInvalidConfig, c.SliceMaxBytes)
	}
	return nil
}

// h264Level picks the smallest usual level whose frame size and macroblock
// rate fit (H.264 Table A-1).
func h264Level(w, h, fps int) int {
	mbs := ((w + 15) / 16) * ((h + 15) / 16)
	for _, l := range []struct{ idc, fs, mbps int }{
		{31, 3600, 108000},
		{40, 8192, 245760},
		{42, 8704, 522240},
		{51, 36864, 983040},
	} {
		if mbs <= l.fs && mbs*fps <= l.mbps {
			return l.idc
		}
	}
	return 52
}

// MaxH264FrameBytes is a safe size for Encode's destination buffer for a
// w x h picture: more than any VBV-limited frame, and than an I420 frame.
func MaxH264FrameBytes(w, h int) int { return w*h*3/2 + 4096 }

// H264Encoder is an x264 encoder (libx264 through x264-go's x264c binding)
// fed with I420 planes directly. It implements VideoEncoder.
type H264Encoder struct {
	cfg H264EncoderConfig
	enc *x264c.T
	x   *x264State
	pin runtime.Pinner
	pts int64
}

// x264State is what x264 reads and writes. It lives in its own allocation
// because cgo checks the whole object behind an argument for unpinned Go
// pointers: this one holds only C pointers and the pinned input planes.
type x264State struct {
	param x264c.Param
	pic   x264c.Picture
	out   x264c.Picture
	nals  [1]*x264c.Nal
	nnal  int32 // here, not on the stack: its address escapes into cgo
}

// NewH264Encoder opens an x264 encoder.
func NewH264Encoder(cfg H264EncoderConfig) (*H264Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &H264Encoder{cfg: cfg, x: new(x264State)}
	p := &e.x.param
	if x264c.ParamDefaultPreset(p, cfg.Preset, "zerolatency") < 0 {
		return nil, fmt.Errorf("%w: x264 preset %q", ErrInvalidConfig, cfg.Preset)
	}
	p.ILogLevel = x264c.LogError
	p.IThreads = int32(cfg.Threads)
	p.IWidth, p.IHeight = int32(cfg.Width), int32(cfg.Height)
	p.ICsp = x264c.CspI420
	p.IFpsNum, p.IFpsDen = uint32(cfg.FPS), 1
	p.ITimebaseNum, p.ITimebaseDen = 1, uint32(cfg.FPS)
	p.BVfrInput = 0
	level := cfg.Level
	if level == 0 {
		level = h264Level(cfg.Width, cfg.Height, cfg.FPS)
	}
	p.ILevelIdc = int32(level)
	p.IBframe = 0
	p.IKeyintMax = int32(cfg.KeyframeInterval)
	p.IKeyintMin = 1
	// No scene-cut IDRs: a layout change must not cause a keyframe storm.
	p.IScenecutThreshold = 0
	p.BRepeatHeaders = 1
	p.BAnnexb = 1
	p.BAud = 0
	p.ISliceMaxSize = int32(cfg.SliceMaxBytes)
	setRate(p, cfg.Bitrate, cfg.VBVBufferMs)
	if x264c.ParamApplyProfile(p, "baseline") < 0 {
		return nil, fmt.Errorf("%w: x264 rejected baseline profile", ErrInvalidConfig)
	}
	e.enc = x264c.EncoderOpen(p)
	if e.enc == nil {
		return nil, fmt.Errorf("%w: x264_encoder_open %dx%d", ErrCodecFailure, cfg.Width, cfg.Height)
	}
	x264c.PictureInit(&e.x.pic)
	e.x.pic.Img.ICsp = x264c.CspI420
	e.x.pic.Img.IPlane = 3
	return e, nil
}

func setRate(p *x264c.Param, bps, bufMs int) {
	kbps := int32((bps + 500) / 1000)
	p.Rc.IRcMethod = x264c.RcAbr
	p.Rc.IBitrate = kbps
	p.Rc.IVbvMaxBitrate = kbps
	buf := int32(int64(kbps) * int64(bufMs) / 1000)
	if buf < 1 {
		buf = 1
	}
	p.Rc.IVbvBufferSize = buf
	p.Rc.FRateTolerance = 1
}

// Config returns the configuration the encoder runs with (Bitrate follows
// SetBitrate).
func (e *H264Encoder) Config() H264EncoderConfig { return e.cfg }

// Encode implements VideoEncoder. src must be Width x Height; dst should be
// MaxH264FrameBytes long. n is 0 when x264 held the frame back (not with
// zerolatency). No Go allocation per call.
func (e *H264Encoder) Encode(dst []byte, src *media.VideoFrame, forceKeyframe bool) (int, bool, error) {
	if e.enc == nil {
		return 0, false, ErrClosed
	}
	if !checkI420(src, e.cfg.Width, e.cfg.Height) {
		return 0, false, fmt.Errorf("%w: h264 encoder wants %dx%d I420", ErrFrameGeometry, e.cfg.Width, e.cfg.Height)
	}
	// x264 copies the planes into its own frame during the call; pinning
	// lets the picture struct carry Go pointers into C without a copy.
	e.pin.Pin(&src.Y[0])
	e.pin.Pin(&src.U[0])
	e.pin.Pin(&src.V[0])
	x := e.x
	img := &x.pic.Img
	img.Plane[0] = unsafe.Pointer(&src.Y[0])
	img.Plane[1] = unsafe.Pointer(&src.U[0])
	img.Plane[2] = unsafe.Pointer(&src.V[0])
	img.IStride[0] = int32(src.StrideY)
	img.IStride[1] = int32(src.StrideC)
	img.IStride[2] = int32(src.StrideC)
	x.pic.IType = x264c.TypeAuto
	if forceKeyframe {
		x.pic.IType = x264c.TypeIdr
	}
	x.pic.IPts = e.pts
	e.pts++
	ret := x264c.EncoderEncode(e.enc, x.nals[:], &x.nnal, &x.pic, &x.out)
	nnal := x.nnal
	img.Plane[0], img.Plane[1], img.Plane[2] = nil, nil, nil
	e.pin.Unpin()
	if ret < 0 {
		return 0, false, fmt.Errorf("%w: x264_encoder_encode returned %d", ErrCodecFailure, ret)
	}
	if ret == 0 || nnal == 0 {
		return 0, false, nil
	}
	if int(ret) > len(dst) {
		return 0, false, fmt.Errorf("%w: h264 frame of %d bytes, buffer %d", ErrBufferTooSmall, ret, len(dst))
	}
	n := 0
	for _, nal := range unsafe.Slice(x.nals[0], int(nnal)) {
		n += copy(dst[n:], unsafe.Slice((*byte)(nal.PPayload), int(nal.IPayload)))
	}
	return n, x.out.BKeyframe != 0, nil
}

// SetBitrate implements VideoEncoder: it reconfigures x264's rate control
// in place (x264_encoder_reconfig), effective from the next frame.
func (e *H264Encoder) SetBitrate(bps int) error {
	if e.enc == nil {
		return ErrClosed
	}
	if bps < 10_000 || bps > 50_000_000 {
		return fmt.Errorf("%w: h264 bitrate %d (10k..50M)", ErrInvalidConfig, bps)
	}
	p := &e.x.param
	x264c.EncoderParameters(e.enc, p)
	setRate(p, bps, e.cfg.VBVBufferMs)
	if r := x264c.EncoderReconfig(e.enc, p); r < 0 {
		return fmt.Errorf("%w: x264_encoder_reconfig returned %d", ErrCodecFailure, r)
	}
	e.cfg.Bitrate = bps
	return nil
}

// Close implements VideoEncoder.
func (e *H264Encoder) Close() error {
	if e.enc != nil {
		x264c.EncoderClose(e.enc)
		e.enc = nil
	}
	return nil
}

var _ VideoEncoder = (*H264Encoder)(nil)
