package codec

import (
	"bytes"
	"math"
	"testing"
)

func TestOpusEncoderCopyState(t *testing.T) {
	a, err := NewOpusEncoder(DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewOpusEncoder(DefaultOpusEncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pcm := make([]float32, 960)
	frame := func(k int) []float32 {
		for i := range pcm {
			n := k*960 + i
			pcm[i] = 0.3 * float32(math.Sin(2*math.Pi*440*float64(n)/48000)+0.5*math.Sin(2*math.Pi*1230*float64(n)/48000))
		}
		return pcm
	}
	pa, pb := make([]byte, 1500), make([]byte, 1500)
	// a has history, b has none: their packets differ.
	for k := 0; k < 10; k++ {
		if _, err := a.Encode(frame(k), pa); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CopyStateFrom(a); err != nil {
		t.Fatal(err)
	}
	// After the copy both produce the same bytes for the same input.
	for k := 10; k < 20; k++ {
		na, err := a.Encode(frame(k), pa)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := b.Encode(frame(k), pb)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pa[:na], pb[:nb]) {
			t.Fatalf("frame %d: copied encoder diverged (%d vs %d bytes)", k, na, nb)
		}
	}
	if err := b.CopyStateFrom("nope"); err == nil {
		t.Fatal("copying from a non-encoder succeeded")
	}
}
