package conference_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
)

// peer is one real pion participant joined through the manager.
type peer struct {
	id   string
	freq float64
	p    *client.Participant
	rec  *client.Recorder
}

// newManager starts a manager that the test closes, with voice processing
// off (tone tests measure the mix itself; voice processing would treat
// steady tones as noise), then each of configure applied.
func newManager(t *testing.T, configure ...func(*conference.Config)) *conference.Manager {
	t.Helper()
	cfg := conference.DefaultConfig()
	cfg.DSP = conference.DSPSettings{}
	for _, c := range configure {
		c(&cfg)
	}
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return m
}

func joinPeer(t *testing.T, m *conference.Manager, room, id string, src client.Source) *peer {
	t.Helper()
	rec := client.NewRecorder()
	cfg := client.DefaultConfig()
	cfg.Source = src
	cfg.Sink = rec
	return &peer{id: id, p: connect(t, m, room, id, cfg), rec: rec}
}

// connect joins a real pion participant with cfg to the room and waits
// until the mix flows to it.
func connect(t *testing.T, m *conference.Manager, room, id string, cfg client.Config) *client.Participant {
	t.Helper()
	cfg.IncludeLoopback = true
	p, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, err := p.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := m.Join(ctx, room, conference.JoinRequest{ParticipantID: id, DisplayName: id, SDPOffer: offer})
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	if err := p.Accept(answer); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	// Connected is not yet flowing: wait for the first mixed packet, so the
	// peer is fully set up before a test closes either side (pion can
	// deadlock closing a connection whose RTP start-up is still running).
	for p.Stats().PacketsReceived == 0 {
		if ctx.Err() != nil {
			t.Fatalf("%s: no audio from the server", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// listen clears every recorder, waits d, and returns what each peer heard
// in the last part of that window (the first 300 ms absorb the switch).
func listen(peers []*peer, d time.Duration) [][]float32 {
	for _, p := range peers {
		p.rec.Reset()
	}
	time.Sleep(d)
	out := make([][]float32, len(peers))
	for i, p := range peers {
		s := p.rec.Samples()
		skip := media.SampleRate * 3 / 10
		if len(s) > skip {
			s = s[skip:]
		}
		out[i] = s
	}
	return out
}

// toneDB measures a tone's level in what a peer heard, over 250 ms blocks.
// On a loaded machine (the race detector, parallel builds) a peer's packets
// sometimes arrive late and get concealed, which spreads broadband noise
// over a block. That noise is not what the mix sends, so the level is the
// median over the cleaner half of the blocks, ranked by the noise floor
// at frequencies where no participant sends anything.
func toneDB(s []float32, f float64) float64 {
	const block = media.SampleRate / 4
	type blk struct{ floor, level float64 }
	var blocks []blk
	for i := 0; i+block <= len(s); i += block {
		b := s[i : i+block]
		floor := max(audiotest.ToneDB(b, 1300, media.SampleRate), audiotest.ToneDB(b, 1700, media.SampleRate))
		blocks = append(blocks, blk{floor, audiotest.ToneDB(b, f, media.SampleRate)})
	}
	if len(blocks) == 0 {
		return audiotest.ToneDB(s, f, media.SampleRate)
	}
	slices.SortFunc(blocks, func(a, b blk) int { return cmp.Compare(a.floor, b.floor) })
	clean := blocks[:(len(blocks)+1)/2]
	levels := make([]float64, len(clean))
	for i, b := range clean {
		levels[i] = b.level
	}
	slices.Sort(levels)
	return levels[len(levels)/2]
}

// TestMixMinusEndToEnd runs four real WebRTC participants, each sending its
// own tone, through one room, and a fifth in another room.
func TestMixMinusEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "a", Audio: conference.AudioSettings{MaxActiveSpeakers: 4}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	freqs := []float64{300, 500, 700, 900}
	var peers []*peer
	for i, f := range freqs {
		p := joinPeer(t, m, "a", fmt.Sprintf("p%d", i), client.ToneSource(f, 0.1))
		p.freq = f
		peers = append(peers, p)
	}
	// 1250 Hz is no sum or difference of room a's tones (2×700−300 = 1100 is),
	// so the limiter's intermodulation in room a cannot pass for a leak.
	other := joinPeer(t, m, "b", "lonely", client.ToneSource(1250, 0.1))
	other.freq = 1250

	time.Sleep(time.Second) // jitter buffers fill, speakers are selected
	heard := listen(append(peers, other), 2300*time.Millisecond)

	const minSamples = media.SampleRate / 2
	for i, p := range peers {
		s := heard[i]
		if len(s) < minSamples {
			t.Fatalf("%s received only %d samples", p.id, len(s))
		}
		own := toneDB(s, p.freq)
		t.Logf("%s hears: 300 Hz %.1f, 500 Hz %.1f, 700 Hz %.1f, 900 Hz %.1f dBFS (own %.0f Hz)", p.id,
			toneDB(s, 300), toneDB(s, 500), toneDB(s, 700), toneDB(s, 900), p.freq)
		for _, q := range peers {
			if q == p {
				continue
			}
			got := toneDB(s, q.freq)
			if got < -35 {
				t.Errorf("%s hears %s's %.0f Hz at %.1f dBFS, want it audible", p.id, q.id, q.freq, got)
			}
			if got-own < 30 {
				t.Errorf("%s: own %.0f Hz tone at %.1f dBFS is only %.1f dB below %s's (%.1f dBFS)", p.id, p.freq, own, got-own, q.id, got)
			}
		}
		// Another room's tone is no more than codec noise.
		if leak := toneDB(s, other.freq); leak > -63 {
			t.Errorf("%s hears room b's tone at %.1f dBFS", p.id, leak)
		}
	}
	// The lonely participant hears nobody, and certainly not room a.
	for _, q := range peers {
		if leak := toneDB(heard[4], q.freq); leak > -70 {
			t.Errorf("room b hears %s's tone at %.1f dBFS", q.id, leak)
		}
	}
	if own := toneDB(heard[4], 1250); own > -70 {
		t.Errorf("lonely participant hears itself at %.1f dBFS", own)
	}

	// Mute p0: nobody hears 300 Hz any more.
	before := make([]float64, len(peers))
	for i := range peers {
		before[i] = toneDB(heard[i], 300)
	}
	if _, err := m.UpdateParticipant("a", "p0", conference.ParticipantUpdate{Muted: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	heard = listen(peers, 1800*time.Millisecond)
	for i := 1; i < len(peers); i++ {
		if got := toneDB(heard[i], 300); before[i]-got < 30 {
			t.Errorf("%s still hears muted p0: %.1f dBFS (was %.1f)", peers[i].id, got, before[i])
		}
	}
	if _, err := m.UpdateParticipant("a", "p0", conference.ParticipantUpdate{Muted: ptr(false)}); err != nil {
		t.Fatal(err)
	}

	// Gain -6 dB on p1 lowers its 500 Hz tone by 6 ± 1 dB for the others.
	heard = listen(peers, 1800*time.Millisecond)
	ref := []float64{toneDB(heard[0], 500), toneDB(heard[2], 500), toneDB(heard[3], 500)}
	if _, err := m.UpdateParticipant("a", "p1", conference.ParticipantUpdate{GainDB: ptr(-6.0)}); err != nil {
		t.Fatal(err)
	}
	heard = listen(peers, 1800*time.Millisecond)
	for k, i := range []int{0, 2, 3} {
		got := toneDB(heard[i], 500)
		t.Logf("%s: 500 Hz %.2f -> %.2f dBFS", peers[i].id, ref[k], got)
		if d := ref[k] - got; math.Abs(d-6) > 1 {
			t.Errorf("%s: gain -6 dB lowered 500 Hz by %.2f dB (%.1f -> %.1f)", peers[i].id, d, ref[k], got)
		}
	}

	info, err := m.GetRoom("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Participants) != 4 {
		t.Fatalf("room a lists %d participants", len(info.Participants))
	}
	for _, pi := range info.Participants {
		if pi.ID == "p1" && pi.GainDB != -6 {
			t.Errorf("p1 gain reported as %v", pi.GainDB)
		}
	}
	for _, p := range append(peers, other) {
		_ = p.p.Close()
	}
	if err := m.DeleteRoom("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteRoom("b"); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestJoinLeaveCyclesLeakNothing joins and leaves 50 times, then deletes a
// room with participants in it: the goroutine count returns to its baseline.
func TestJoinLeaveCyclesLeakNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newManager(t)
	if _, err := m.CreateRoom(conference.RoomSettings{ID: "cycle"}); err != nil {
		t.Fatal(err)
	}
	// A resident participant keeps the room ticking during the cycles.
	resident := joinPeer(t, m, "cycle", "resident", client.ToneSource(400, 0.1))
	time.Sleep(200 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		p := joinPeer(t, m, "cycle", fmt.Sprintf("guest%d", i), client.ToneSource(600, 0.1))
		if err := m.Leave("cycle", p.id); err != nil {
			t.Fatal(err)
		}
		if err := p.p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		t.Fatalf("%d goroutines after 50 join/leave cycles, baseline %d", n, baseline)
	}
	info, err := m.GetRoom("cycle")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Participants) != 1 {
		t.Fatalf("room lists %d participants after the cycles", len(info.Participants))
	}

	// DeleteRoom closes the remaining participants and ends the event stream.
	sub, err := m.Watch("cycle")
	if err != nil {
		t.Fatal(err)
	}
	var stay []*peer
	for i := 0; i < 3; i++ {
		stay = append(stay, joinPeer(t, m, "cycle", fmt.Sprintf("stay%d", i), client.SilenceSource()))
	}
	if err := m.DeleteRoom("cycle"); err != nil {
		t.Fatal(err)
	}
	var left int
	var deleted bool
	for e := range sub.Events() {
		switch e.Type {
		case conference.EventParticipantLeft:
			left++
		case conference.EventRoomDeleted:
			deleted = true
		}
	}
	if left != 4 || !deleted {
		t.Fatalf("after DeleteRoom: %d left events (want 4), room deleted event %v", left, deleted)
	}
	if _, err := m.GetRoom("cycle"); !errors.Is(err, conference.ErrRoomNotFound) {
		t.Fatalf("deleted room still answers: %v", err)
	}
	for _, p := range append(stay, resident) {
		_ = p.p.Close()
	}
}
