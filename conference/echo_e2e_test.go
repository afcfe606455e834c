package conference_test

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/media/wav"
)

// echoDevice is a speakerphone without an echo canceller: what the
// participant hears comes back into its microphone after a bulk delay,
// through a small room (a few reflections), quieter by the echo path loss.
// It is the client's Sink (loudspeaker) and Source (microphone) at once.
type echoDevice struct {
	mu      sync.Mutex
	played  []float32 // everything the loudspeaker played
	readPos int       // next sample the microphone captures, in played's timeline
}

func newEchoDevice(delay time.Duration) *echoDevice {
	return &echoDevice{readPos: -int(delay.Seconds() * media.SampleRate)}
}

// Write implements client.Sink.
func (d *echoDevice) Write(pcm []float32) {
	d.mu.Lock()
	d.played = append(d.played, pcm...)
	d.mu.Unlock()
}

// echo taps: direct sound 6 dB down, then reflections.
var echoTaps = []struct {
	lag  int
	gain float32
}{{0, 0.5}, {240, 0.2}, {700, -0.12}, {1500, 0.06}}

// Read implements client.Source.
func (d *echoDevice) Read(pcm []float32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range pcm {
		var s float32
		for _, t := range echoTaps {
			if j := d.readPos + i - t.lag; j >= 0 && j < len(d.played) {
				s += t.gain * d.played[j]
			}
		}
		pcm[i] = s
	}
	d.readPos += len(pcm)
}

func speechWAV(t *testing.T) *wav.Audio {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatal("espeak-ng is missing: run `make deps` (scripts/deps.sh installs it)")
	}
	path := filepath.Join(t.TempDir(), "speech.wav")
	text := "The quick brown fox jumps over the lazy dog. Conference servers mix everyone. " +
		"Echo cancellation at the server helps phones and cameras that have none."
	if out, err := exec.Command("espeak-ng", "-s", "160", "-w", path, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	a, err := wav.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServerCancelsEchoOfADevice joins a talker and a device whose uplink
// carries the echo of its downlink. Without AEC the talker hears itself
// come back; with AEC switched on for the device, it no longer does.
func TestServerCancelsEchoOfADevice(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "echo"}); err != nil {
		t.Fatal(err)
	}
	talker := joinPeer(t, m, "echo", "talker", client.WAVSource(speechWAV(t), true))
	device := newEchoDevice(180 * time.Millisecond)
	phone := joinDevice(t, m, "echo", "phone", device)

	returned := func() float64 {
		heard := listen([]*peer{talker}, 3*time.Second)[0]
		return audiotest.RMSDB(heard)
	}
	time.Sleep(time.Second)
	without := returned()
	t.Logf("talker hears its own echo at %.1f dBFS without AEC", without)
	if without < -45 {
		t.Fatalf("the echo path is too quiet to test: %.1f dBFS", without)
	}

	on := true
	if _, err := m.UpdateParticipant("echo", "phone", conference.ParticipantUpdate{DSP: conference.DSPOverride{AEC: &on}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // delay estimation and convergence
	with := returned()
	info, err := m.GetRoom("echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Participants {
		if p.ID == "phone" {
			t.Logf("phone: AEC %v, delay estimate %.0f ms, ERLE %.1f dB", p.DSP.AEC, p.DSPStats.EchoDelayMs, p.DSPStats.ERLEdB)
			if !p.DSP.AEC || p.DSPStats.EchoDelayMs <= 0 {
				t.Errorf("phone's AEC is not reporting: %+v", p)
			}
		}
	}
	t.Logf("talker hears its own echo at %.1f dBFS with AEC", with)
	if without-with < 20 {
		t.Fatalf("AEC removed only %.1f dB of the echo (%.1f -> %.1f dBFS)", without-with, without, with)
	}
	_ = talker.p.Close()
	_ = phone.p.Close()
	if err := m.DeleteRoom("echo"); err != nil {
		t.Fatal(err)
	}
}

// joinDevice joins a participant whose microphone and loudspeaker are the
// same echo device.
func joinDevice(t *testing.T, m *conference.Manager, room, id string, d *echoDevice) *peer {
	t.Helper()
	p := joinPeer(t, m, room, id, d)
	p.p.SetSink(d)
	return p
}
