package codec

import (
	"testing"

	"github.com/openmcu/mcu/media"
)

// TestVP8EncoderRoundTrip encodes flat colours with libvpx and decodes them
// with libavcodec: the colour survives and a forced keyframe is a keyframe.
func TestVP8EncoderRoundTrip(t *testing.T) {
	enc, err := NewVP8Encoder(VP8EncoderConfig{Width: 320, Height: 180, FPS: 15, Bitrate: 300_000, KeyframeInterval: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := NewVideoDecoder("vp8")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	src := media.NewVideoFrame(320, 180)
	src.Fill(81, 90, 240)
	dst := make([]byte, MaxH264FrameBytes(320, 180))
	out := &media.VideoFrame{}
	keys, decoded := 0, 0
	for i := 0; i < 20; i++ {
		n, key, err := enc.Encode(dst, src, i == 10)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && !key {
			t.Fatal("first frame is not a keyframe")
		}
		if i == 10 && !key {
			t.Fatal("forced keyframe is not a keyframe")
		}
		if key {
			keys++
		}
		if n == 0 {
			continue
		}
		ok, err := dec.Decode(dst[:n], out)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			decoded++
		}
	}
	if keys != 2 || decoded < 18 {
		t.Fatalf("%d keyframes, %d decoded", keys, decoded)
	}
	y, u, v := out.Y[90*out.StrideY+160], out.U[45*out.StrideC+80], out.V[45*out.StrideC+80]
	if d := int(y) - 81; d > 4 || d < -4 || int(u)-90 > 4 || 90-int(u) > 4 || int(v)-240 > 4 || 240-int(v) > 4 {
		t.Fatalf("decoded YUV %d,%d,%d, want 81,90,240", y, u, v)
	}
}
