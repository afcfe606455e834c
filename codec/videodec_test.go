package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/openmcu/mcu/media"
)

// ffmpegStream runs the ffmpeg CLI with a lavfi source and returns the file
// it wrote; the test is skipped when ffmpeg or the encoder is missing.
func ffmpegStream(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Skip("ffmpeg CLI not installed")
	}
	out := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command(bin, append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Skipf("ffmpeg cannot make %s: %v: %s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// vp8Frames makes a VP8 IVF stream with libvpx and returns its frames.
func vp8Frames(tb testing.TB, src string, frames int) [][]byte {
	tb.Helper()
	b := ffmpegStream(tb, "v.ivf", "-f", "lavfi", "-i", src, "-frames:v", strconv.Itoa(frames),
		"-c:v", "libvpx", "-b:v", "600k", "-deadline", "realtime", "-cpu-used", "8", "-g", "1000", "-f", "ivf")
	return readIVF(tb, b)
}

// h264AUs makes an Annex-B H.264 stream with libx264 and splits it into
// access units.
func h264AUs(tb testing.TB, src string, frames int, extra ...string) [][]byte {
	tb.Helper()
	args := []string{"-f", "lavfi", "-i", src, "-frames:v", strconv.Itoa(frames), "-c:v", "libx264",
		"-preset", "veryfast", "-tune", "zerolatency", "-g", "1000", "-bsf:v", "h264_mp4toannexb"}
	args = append(append(args, extra...), "-f", "h264")
	return splitAnnexB(ffmpegStream(tb, "v.h264", args...))
}

// readIVF parses an IVF file: a 32-byte header, then per frame a 12-byte
// header (size, pts) and the frame.
func readIVF(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		tb.Fatalf("not an IVF file (%d bytes)", len(b))
	}
	hdr := int(binary.LittleEndian.Uint16(b[6:]))
	b = b[hdr:]
	var out [][]byte
	for len(b) >= 12 {
		n := int(binary.LittleEndian.Uint32(b))
		if len(b) < 12+n {
			tb.Fatalf("IVF frame of %d bytes truncated", n)
		}
		out = append(out, b[12:12+n])
		b = b[12+n:]
	}
	return out
}

// annexBNALs returns the NAL units of an Annex-B stream, without start codes.
func annexBNALs(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				nals = append(nals, b[start:end])
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	return nals
}

// splitAnnexB groups NAL units into access units: a new one starts at a
// non-VCL unit (SPS, PPS, SEI, AUD) or a slice with first_mb_in_slice 0
// once the current one holds a slice.
func splitAnnexB(b []byte) [][]byte {
	var aus [][]byte
	var cur []byte
	hasSlice := false
	for _, nal := range annexBNALs(b) {
		t := nal[0] & 0x1f
		vcl := t >= 1 && t <= 5
		first := vcl && len(nal) > 1 && nal[1]&0x80 != 0
		if hasSlice && (!vcl || first) {
			aus = append(aus, cur)
			cur, hasSlice = nil, false
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal...)
		hasSlice = hasSlice || vcl
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// meanPlane averages the central quarter of a plane.
func meanPlane(p []byte, stride, w, h int) float64 {
	var sum, n float64
	for y := h / 4; y < 3*h/4; y++ {
		for x := w / 4; x < 3*w/4; x++ {
			sum += float64(p[y*stride+x])
			n++
		}
	}
	return sum / n
}

func checkColour(t *testing.T, f *media.VideoFrame, y, u, v, tol float64) {
	t.Helper()
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	gy := meanPlane(f.Y, f.StrideY, f.Width, f.Height)
	gu := meanPlane(f.U, f.StrideC, cw, ch)
	gv := meanPlane(f.V, f.StrideC, cw, ch)
	if abs(gy-y) > tol || abs(gu-u) > tol || abs(gv-v) > tol {
		t.Fatalf("colour Y/U/V = %.1f/%.1f/%.1f, want %.0f/%.0f/%.0f ±%.0f", gy, gu, gv, y, u, v, tol)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// BT.601 limited-range red, as ffmpeg's color source converts it.
const redY, redU, redV = 81, 90, 240

func TestVideoDecoderColours(t *testing.T) {
	const src = "color=c=red:s=320x240:r=30"
	tests := []struct {
		name  string
		codec string
		aus   func(t *testing.T) [][]byte
	}{
		{"vp8", "vp8", func(t *testing.T) [][]byte { return vp8Frames(t, src, 10) }},
		{"h264", "h264", func(t *testing.T) [][]byte { return h264AUs(t, src, 10) }},
		// yuv444p goes through the swscale conversion path.
		{"h264-yuv444p", "h264", func(t *testing.T) [][]byte { return h264AUs(t, src, 10, "-pix_fmt", "yuv444p") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			aus := tc.aus(t)
			if len(aus) != 10 {
				t.Fatalf("got %d access units, want 10", len(aus))
			}
			d, err := NewVideoDecoder(tc.codec)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			dst := &media.VideoFrame{}
			decoded := 0
			for i, au := range aus {
				ok, err := d.Decode(au, dst)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if ok {
					decoded++
					if dst.Width != 320 || dst.Height != 240 {
						t.Fatalf("size %dx%d, want 320x240", dst.Width, dst.Height)
					}
					checkColour(t, dst, redY, redU, redV, 4)
				}
			}
			if decoded != len(aus) {
				t.Fatalf("decoded %d of %d frames: the decoder must not delay output", decoded, len(aus))
			}
		})
	}
}

func TestVideoDecoderResizesAndReusesFrame(t *testing.T) {
	aus := vp8Frames(t, "color=c=blue:s=322x182:r=30", 3) // odd chroma size 161x91
	d, err := NewVideoDecoder("vp8")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dst := media.NewVideoFrame(640, 360)
	if ok, err := d.Decode(aus[0], dst); !ok || err != nil {
		t.Fatalf("Decode = %v, %v", ok, err)
	}
	if dst.Width != 322 || dst.Height != 182 || dst.StrideC != 161 || len(dst.U) != 161*91 {
		t.Fatalf("frame %dx%d strides %d/%d len(U) %d", dst.Width, dst.Height, dst.StrideY, dst.StrideC, len(dst.U))
	}
	y := &dst.Y[0]
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := d.Decode(aus[1], dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per frame, want 0", allocs)
	}
	if &dst.Y[0] != y {
		t.Error("Decode reallocated a frame of the right size")
	}
}

func TestVideoDecoderErrors(t *testing.T) {
	if _, err := NewVideoDecoder("vp9"); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("vp9: err = %v, want ErrUnsupportedCodec", err)
	}
	d, err := NewVideoDecoder("h264")
	if err != nil {
		t.Fatal(err)
	}
	dst := &media.VideoFrame{}
	if _, err := d.Decode(nil, dst); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("empty: err = %v, want ErrInvalidPacket", err)
	}
	// A P slice with no SPS/PPS: the decoder produces nothing and must not
	// crash; whether it reports ErrDecode is libavcodec's call.
	junk := append([]byte{0, 0, 0, 1, 0x41}, bytes.Repeat([]byte{0x9a, 0x33}, 100)...)
	if ok, err := d.Decode(junk, dst); ok || (err != nil && !errors.Is(err, ErrDecode)) {
		t.Errorf("junk: ok=%v err=%v", ok, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := d.Decode([]byte{1}, dst); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
}

func benchmarkDecode(b *testing.B, codec string, aus [][]byte) {
	d, err := NewVideoDecoder(codec)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	dst := media.NewVideoFrame(640, 360)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := d.Decode(aus[i], dst); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(aus) {
			i = 0 // frame 0 is the only keyframe: one IDR per 60 frames
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}

// The source is a moving test pattern at 640x360, 30 fps, about 600 kb/s.
const benchSrc = "testsrc2=s=640x360:r=30"

func BenchmarkVP8Decode(b *testing.B) {
	benchmarkDecode(b, "vp8", vp8Frames(b, benchSrc, 60))
}

func BenchmarkH264Decode(b *testing.B) {
	benchmarkDecode(b, "h264", h264AUs(b, benchSrc, 60, "-b:v", "600k", "-profile:v", "baseline"))
}
