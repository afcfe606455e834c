package client

import (
	"os"
	"testing"

	"github.com/openmcu/mcu/media/wav"
)

func decodeFile(t *testing.T, path string) *wav.Audio {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := wav.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
