package mixer

import (
	"fmt"
	"testing"
	"time"

	"github.com/openmcu/mcu/media"
)

// BenchmarkCompose composes N 640x360 camera pictures into a 1280x720 canvas,
// the 720p rendition of a room. ms/frame is the wall time of one output
// frame, cpu-ms/frame the CPU time (robust when other jobs share the machine).
func BenchmarkCompose(b *testing.B) {
	ry, ru, rv := planeRamp{16, 150, 60}, planeRamp{16, 200, 20}, planeRamp{240, -180, -40}
	for _, bc := range []struct {
		n      int
		layout Layout
	}{
		{4, Layout{}}, {9, Layout{}}, {16, Layout{}},
		{9, Layout{Fit: FitCrop}},
		{9, Layout{Kind: LayoutSpeaker}},
	} {
		b.Run(fmt.Sprintf("inputs=%d/%v/%v", bc.n, bc.layout.Kind, bc.layout.Fit), func(b *testing.B) {
			c := newTestCompositor(b, 1280, 720)
			if err := c.SetLayout(bc.layout); err != nil {
				b.Fatal(err)
			}
			in := make([]VideoInput, bc.n)
			for i := range in {
				in[i] = VideoInput{ParticipantID: fmt.Sprintf("p%d", i), Frame: rampFrame(640, 360, ry, ru, rv)}
			}
			dst := media.NewVideoFrame(1280, 720)
			speakers := []string{"p1"}
			if err := c.Compose(dst, in, speakers); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				if err := c.Compose(dst, in, speakers); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/frame")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/frame")
		})
	}
}

// BenchmarkFrameScaler derives the smaller renditions from the 720p canvas.
func BenchmarkFrameScaler(b *testing.B) {
	src := rampFrame(1280, 720, planeRamp{16, 150, 60}, planeRamp{16, 200, 20}, planeRamp{240, -180, -40})
	for _, sz := range [][2]int{{640, 360}, {320, 180}, {854, 480}} {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			fs := NewFrameScaler(FitLetterbox, [3]byte{16, 128, 128})
			dst := media.NewVideoFrame(sz[0], sz[1])
			if err := fs.Scale(dst, src); err != nil { // builds the tables
				b.Fatal(err)
			}
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				if err := fs.Scale(dst, src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/frame")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/frame")
		})
	}
}
