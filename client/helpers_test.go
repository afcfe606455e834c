package client

import (
	"testing"

	"github.com/openmcu/mcu/media/wav"
)

func decodeFile(t *testing.T, path string) *wav.Audio {
	t.Helper()
	a, err := wav.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
