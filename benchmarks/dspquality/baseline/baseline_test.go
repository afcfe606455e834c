//go:build baselines

package baseline

import (
	"math"
	"testing"
)

// The baselines must actually do something, or the comparison is empty.
func TestBaselinesRun(t *testing.T) {
	for _, e := range []struct {
		name string
		ns   func() (interface {
			Process([]float32)
			Close()
		}, error)
	}{
		{"speex", func() (interface {
			Process([]float32)
			Close()
		}, error) {
			return newSpeexPre(true, false)
		}},
		{"webrtc", func() (interface {
			Process([]float32)
			Close()
		}, error) {
			return newWAPM(false, true, false)
		}},
	} {
		t.Run(e.name, func(t *testing.T) {
			s, err := e.ns()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A steady noise-like tone mix: after 3 s the suppressor must
			// have taken energy out.
			frame := make([]float32, frameLen)
			var seed uint32 = 1
			var in, out float64
			for k := range 300 {
				for i := range frame {
					seed = seed*1664525 + 1013904223
					frame[i] = 0.05 * (float32(seed>>8)/float32(1<<24) - 0.5)
				}
				if k >= 200 {
					for _, v := range frame {
						in += float64(v * v)
					}
				}
				s.Process(frame)
				if k >= 200 {
					for _, v := range frame {
						out += float64(v * v)
					}
				}
			}
			red := 10 * math.Log10(in/out)
			t.Logf("white noise reduced by %.1f dB", red)
			if red < 6 {
				t.Errorf("white noise reduced by only %.1f dB", red)
			}
		})
	}
}
