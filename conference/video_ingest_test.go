package conference

import (
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

// TestLargeCameraIsScaledOnArrival: a 1280x720 camera in a 640x360 room is
// scaled down on its own goroutine when it is decoded, keeping its colour,
// so the compositor only ever sees canvas-sized pictures.
func TestLargeCameraIsScaledOnArrival(t *testing.T) {
	for _, tc := range []struct {
		name         string
		srcW, srcH   int
		wantW, wantH int
	}{
		{"720p into 360p canvas", 1280, 720, 640, 360},
		{"4:3 into 360p canvas", 960, 720, 480, 360},
		{"small camera untouched", 320, 180, 320, 180},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := codec.DefaultH264EncoderConfig()
			cfg.Width, cfg.Height = tc.srcW, tc.srcH
			enc, err := codec.NewH264Encoder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			src := media.NewVideoFrame(tc.srcW, tc.srcH)
			src.Fill(81, 90, 240) // red
			au := make([]byte, codec.MaxH264FrameBytes(tc.srcW, tc.srcH))

			var v videoIn
			v.init(640, 360)
			defer v.close()
			for i := 0; i < 3; i++ {
				n, _, err := enc.Encode(au, src, i == 0)
				if err != nil {
					t.Fatal(err)
				}
				if !v.decode(au[:n], "h264", time.Now()) {
					t.Fatal("decoder asked for a keyframe")
				}
			}
			got := v.take(func(time.Time) time.Duration { return 0 })
			if got == nil {
				t.Fatal("no picture")
			}
			if got.Width != tc.wantW || got.Height != tc.wantH {
				t.Fatalf("picture is %dx%d, want %dx%d", got.Width, got.Height, tc.wantW, tc.wantH)
			}
			y := got.Y[got.StrideY*got.Height/2+got.Width/2]
			u := got.U[got.StrideC*got.Height/4+got.Width/4]
			vv := got.V[got.StrideC*got.Height/4+got.Width/4]
			if absDiff(y, 81) > 6 || absDiff(u, 90) > 6 || absDiff(vv, 240) > 6 {
				t.Fatalf("centre colour Y%d U%d V%d, want about Y81 U90 V240", y, u, vv)
			}
		})
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
