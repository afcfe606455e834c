package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/api"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/web"
)

const (
	chromiumPath = "/usr/bin/chromium"
	roomW, roomH = 640, 360
)

// pageResult is what three_pages.mjs reports for one page.
type pageResult struct {
	ID     string `json:"id"`
	Before struct {
		Audio      []struct{ Energy, Duration float64 } `json:"audio"`
		Video      []struct{ W, H, Decoded float64 }    `json:"video"`
		LiveTracks []string                             `json:"liveTracks"`
	} `json:"before"`
	After struct {
		Audio []struct{ Energy, Duration float64 } `json:"audio"`
		Video []struct{ W, H, Decoded float64 }    `json:"video"`
	} `json:"after"`
	EnergyRate      float64 `json:"energyRate"`
	MutedEnergyRate float64 `json:"mutedEnergyRate"`
	FramesPerSec    float64 `json:"framesPerSec"`
	DOM             struct {
		IDs    []string `json:"ids"`
		VideoW int      `json:"videoW"`
		VideoH int      `json:"videoH"`
	} `json:"dom"`
	SpeakingOn    []string `json:"speakingOn"`
	SpeakingOff   []string `json:"speakingOff"`
	SpeakingFlips int      `json:"speakingFlips"`
	Screenshot    string   `json:"screenshot"`
}

type runResult struct {
	Pages       map[string]pageResult `json:"pages"`
	MutedOthers []string              `json:"mutedOthers"`
	// MutedList is Alice's participant list once Bob and Carol are muted.
	MutedList struct {
		IDs      []string `json:"ids"`
		Speaking []string `json:"speaking"`
	} `json:"mutedList"`
	Errors      []string `json:"errors"`
	ReconnectMs int      `json:"reconnectMs"`
	Recorded    bool     `json:"recordedOnAllPages"`
}

// recordingsDir is where the server under test writes recordings.
var recordingsDir string

// startServer runs what `mcu serve` runs (manager, gRPC server, gateway, demo
// page) in-process on a free port, and returns the HTTP base URL.
func startServer(t *testing.T) (string, *conference.Manager) {
	t.Helper()
	cfg := conference.DefaultConfig()
	// Three Chromiums on two loaded cores estimate only tens of kb/s from
	// queueing delay and would be sent the smallest rendition or none; this
	// test is about the page and the media path, so it sends the top one.
	cfg.Video.IgnoreBandwidth = true
	cfg.Recording.Dir = recordingsDir
	cfg.Transport.UDPPortMin, cfg.Transport.UDPPortMax = 0, 0
	m, err := conference.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewGRPCServer(api.Config{Logger: slog.New(slog.DiscardHandler), DefaultDSP: &cfg.DSP}, api.FromConference(m))
	gw, err := api.NewGateway(srv)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.Handle("/", web.Handler())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(lis) //nolint:errcheck // ends at Close
	t.Cleanup(func() {
		srv.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx) //nolint:errcheck // best effort at the end of the test
		srv.GRPC.Stop()
		hs.Close()
		gw.Close()
	})
	return "http://" + lis.Addr().String(), m
}

func need(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("%s not installed: run `make deps` (scripts/deps.sh installs it): %v", path, err)
	}
}

// TestThreeBrowsers joins three real Chromium pages to one room through the
// demo page and checks, from getStats() and the DOM, what each receives,
// that nobody hears their own voice, and that a dropped page rejoins.
func TestThreeBrowsers(t *testing.T) {
	if testing.Short() {
		t.Skip("real browsers: not in -short")
	}
	need(t, chromiumPath)
	need(t, "node")
	need(t, "espeak-ng")
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		out, err := exec.Command("bash", "../../scripts/browser-deps.sh").CombinedOutput()
		if err != nil {
			t.Fatalf("browser-deps.sh: %v\n%s", err, out)
		}
	}
	artifacts, err := filepath.Abs("../../artifacts/e2e")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	// Three voices, three texts: each page's fake microphone loops its WAV.
	dir := t.TempDir()
	voices := []struct{ name, voice, text string }{
		{"Alice", "en-us", "Hello everyone, this is Alice. I am testing the conference mixer with a real browser today."},
		{"Bob", "en+m3", "Bob here. The quick brown fox jumps over the lazy dog, again and again, without a pause."},
		{"Carol", "en+f2", "Carol speaking. One, two, three, four, five, six, seven, eight, nine, ten, can you hear me?"},
	}
	type pageCfg struct{ Name, Wav string }
	var pages []pageCfg
	for _, v := range voices {
		wav := filepath.Join(dir, strings.ToLower(v.name)+".wav")
		if out, err := exec.Command("espeak-ng", "-v", v.voice, "-s", "165", "-w", wav, v.text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v\n%s", err, out)
		}
		pages = append(pages, pageCfg{v.name, wav})
	}

	recordingsDir = t.TempDir()
	base, m := startServer(t)
	const room = "browsers"
	if _, err := m.CreateRoom(conference.RoomSettings{ID: room,
		Video: &conference.VideoSettings{Width: roomW, Height: roomH, FPS: 15, Bitrate: 600_000}}); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{
		"chromium": chromiumPath, "base": base, "room": room, "artifacts": artifacts,
		"listenMs": 8000, "muteMs": 3000, "recordMs": 4000,
		"pages": []map[string]string{{"name": pages[0].Name, "wav": pages[0].Wav}, {"name": pages[1].Name, "wav": pages[1].Wav}, {"name": pages[2].Name, "wav": pages[2].Wav}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "three_pages.mjs")
	cmd.Env = append(os.Environ(), "E2E="+string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("node ran %v; its log:\n%s", time.Since(start).Round(time.Second), stderr.String())
	if err != nil {
		t.Fatalf("three_pages.mjs: %v\n%s", err, out)
	}
	var res runResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("browser run failed:\n%s", strings.Join(res.Errors, "\n"))
	}
	if len(res.Pages) != 3 {
		t.Fatalf("pages = %d, want 3", len(res.Pages))
	}

	if info, err := m.GetRoom(room); err == nil {
		for _, p := range info.Participants {
			t.Logf("server: %s rendition %d, bandwidth estimate %d b/s, video frames in %d", p.ID, p.VideoRendition, p.BandwidthEstimate, p.VideoFrames)
		}
		t.Logf("server: room video %+v", info.VideoStats)
	}
	ids := map[string]bool{}
	for _, p := range res.Pages {
		ids[p.ID] = true
	}
	for name, p := range res.Pages {
		t.Logf("%s: inbound audio energy %.4f/s (others muted: %.5f/s), composite %dx%d at %.1f fps, speaking seen %v, screenshot %s",
			name, p.EnergyRate, p.MutedEnergyRate, p.DOM.VideoW, p.DOM.VideoH, p.FramesPerSec, p.SpeakingOn, p.Screenshot)
		if len(p.After.Audio) != 1 || len(p.After.Video) != 1 {
			t.Errorf("%s receives %d audio and %d video streams, want one of each", name, len(p.After.Audio), len(p.After.Video))
			continue
		}
		if p.EnergyRate < 1e-3 {
			t.Errorf("%s: inbound audio energy rose by %.6f/s while the others spoke", name, p.EnergyRate)
		}
		// The picture is one of the room's renditions: the server picks it
		// from the bandwidth the browser reports.
		v := p.After.Video[0]
		rendition := false
		for _, r := range [][2]int{{roomW, roomH}, {roomW / 2, roomH / 2}, {roomW / 4, roomH / 4}} {
			if int(v.W) == r[0] && int(v.H) == r[1] && p.DOM.VideoW == r[0] && p.DOM.VideoH == r[1] {
				rendition = true
			}
		}
		if !rendition {
			t.Errorf("%s: composite %vx%v (element %dx%d), not a rendition of the room's %dx%d", name, v.W, v.H, p.DOM.VideoW, p.DOM.VideoH, roomW, roomH)
		}
		if p.FramesPerSec < 5 {
			t.Errorf("%s: %.1f composite frames/s decoded, want >= 5 (room at 15)", name, p.FramesPerSec)
		}
		if len(p.DOM.IDs) != 3 {
			t.Errorf("%s lists %v, want three participants", name, p.DOM.IDs)
		}
		for _, id := range p.DOM.IDs {
			if !ids[id] {
				t.Errorf("%s lists %q, not one of the three", name, id)
			}
		}
		// Everyone talks (the WAVs loop), so every indicator lights up.
		if len(p.SpeakingOn) != 3 {
			t.Errorf("%s: speaking indicators lit for %v, want all three", name, p.SpeakingOn)
		}
	}
	// ... and goes out for the two who are muted.
	alice, bob, carol := res.Pages["Alice"].ID, res.Pages["Bob"].ID, res.Pages["Carol"].ID
	lit := strings.Join(res.MutedList.Speaking, ",")
	if !strings.Contains(lit, alice) || strings.Contains(lit, bob) || strings.Contains(lit, carol) {
		t.Errorf("after muting Bob and Carol, Alice's page shows %v speaking; want only %s", res.MutedList.Speaking, alice)
	}
	// Mix-minus: with the other two muted, the first page still talks but
	// must hear (almost) nothing; a listener of its voice still hears it.
	first := res.Pages["Alice"]
	if first.MutedEnergyRate > first.EnergyRate*0.02 {
		t.Errorf("Alice hears %.5f/s with Bob and Carol muted (%.4f/s before): her own voice comes back", first.MutedEnergyRate, first.EnergyRate)
	}
	if bob := res.Pages["Bob"]; bob.MutedEnergyRate < 1e-3 {
		t.Errorf("Bob hears %.6f/s of Alice while muted himself; Alice's voice did not reach the mix", bob.MutedEnergyRate)
	}
	if res.ReconnectMs <= 0 {
		t.Errorf("Carol's page did not reconnect after the server dropped her")
	}
	t.Logf("Carol's page rejoined %d ms after the server dropped her", res.ReconnectMs)

	// The page's Record button made a playable MP4 of the room.
	if !res.Recorded {
		t.Errorf("the Record button did not show on every page")
	}
	files, _ := filepath.Glob(filepath.Join(recordingsDir, "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("recordings: %v, want one MP4", files)
	}
	probeOut, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
		"-of", "default=nw=1", files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", files[0], err, probeOut)
	}
	probe := string(probeOut)
	t.Logf("recorded %s: %s", filepath.Base(files[0]), strings.ReplaceAll(strings.TrimSpace(probe), "\n", ", "))
	if !strings.Contains(probe, "codec_name=opus") || !strings.Contains(probe, "codec_name=h264") {
		t.Errorf("recording streams: %s, want opus and h264", probe)
	}
	fmt.Fprintln(os.Stderr) // keep the figures apart in -v output
}
