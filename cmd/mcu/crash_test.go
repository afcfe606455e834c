package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// startServerBinary builds cmd/mcu and runs `mcu serve` on free ports with
// its recordings in dir; it returns the process and its gRPC address.
func startServerBinary(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "mcu")
	build := exec.Command(gobin, "build", "-tags", "extlib,pkgconfig,nolibopusfile", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mcu: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--udp-port-min", "0", "--udp-port-max", "0", "--recordings-dir", dir, "--log-format", "json")
	cmd.Env = append(os.Environ(), "MCU_API_TOKEN=", "MCU_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() { // ends when the process does (its stderr closes)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Msg      string `json:"msg"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "mcu serving" {
				addr <- line.GRPCAddr
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("mcu serve did not start")
	}
	return nil, ""
}

// TestRecordingSurvivesSIGKILL runs the real server, records a room with
// two participants as MP4 and MKV, kills the process with SIGKILL in mid
// recording, and checks that both files decode to within 2 s of the kill.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	dir := t.TempDir()
	srv, addr := startServerBinary(t, dir)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := mcuv1.NewConferenceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Noise suppression and AGC would treat the steady test tones as noise.
	off := false
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "crash",
		Audio: &mcuv1.AudioSettings{Dsp: &mcuv1.DspSettings{Ns: &off, Agc: &off}},
		Video: &mcuv1.VideoSettings{Width: 640, Height: 360, Fps: 15, Bitrate: 600_000}}); err != nil {
		t.Fatal(err)
	}
	for i, who := range []struct {
		id   string
		freq float64
		yuv  [3]byte
	}{{"red", 440, [3]byte{81, 90, 240}}, {"blue", 1000, [3]byte{41, 240, 110}}} {
		pcfg := client.DefaultConfig()
		pcfg.IncludeLoopback = true
		pcfg.Source = client.ToneSource(who.freq, 0.3)
		pcfg.Video = &client.VideoConfig{Source: client.SolidColor{W: 320, H: 180, Y: who.yuv[0], U: who.yuv[1], V: who.yuv[2]},
			FPS: 15, Bitrate: 200_000, Codec: []string{"h264", "vp8"}[i]}
		p, err := client.New(pcfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		offer, err := p.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := c.Join(ctx, &mcuv1.JoinRequest{RoomId: "crash", ParticipantId: who.id, SdpOffer: offer})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Accept(ans.GetSdpAnswer()); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the first pictures arrive

	files := map[string]mcuv1.RecordingFormat{"crash.mp4": mcuv1.RecordingFormat_RECORDING_FORMAT_MP4,
		"crash.mkv": mcuv1.RecordingFormat_RECORDING_FORMAT_MKV}
	var start time.Time // before either recording's first packet
	for path, f := range files {
		if start.IsZero() {
			start = time.Now()
		}
		rec, err := c.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: "crash",
			Output: &mcuv1.RecordingOutput{Path: path, Format: f}})
		if err != nil {
			t.Fatal(err)
		}
		if rec.GetPath() != filepath.Join(dir, path) {
			t.Fatalf("recording at %s", rec.GetPath())
		}
	}
	time.Sleep(6 * time.Second)
	if err := srv.Process.Kill(); err != nil { // SIGKILL: no trailer, no flush
		t.Fatal(err)
	}
	ran := time.Since(start)
	err = srv.Wait()
	if ws, ok := srv.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("server exit: %v, want killed by a signal", err)
	}

	want := ran.Seconds() - 2
	for path := range files {
		full := filepath.Join(dir, path)
		st, err := os.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		streams, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", full).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", path, err)
		}
		codecs := strings.Fields(string(streams))
		// Audio: decoded to PCM, what ffmpeg gets out before the cut.
		cmd := exec.Command("ffmpeg", "-v", "quiet", "-i", full, "-map", "0:a", "-f", "f32le", "-ac", "1", "-ar", "48000", "-")
		var pcmOut bytes.Buffer
		cmd.Stdout = &pcmOut
		_ = cmd.Run() // the cut end may make ffmpeg complain; what it decoded counts
		pcm := make([]float32, pcmOut.Len()/4)
		if err := binary.Read(&pcmOut, binary.LittleEndian, pcm); err != nil {
			t.Fatal(err)
		}
		audio := float64(len(pcm)) / media.SampleRate
		// Video: the time of the last picture that decodes.
		frames, _ := exec.Command("ffprobe", "-v", "quiet", "-select_streams", "v", "-show_entries", "frame=pts_time",
			"-of", "csv=p=0", full).Output()
		lines := strings.Fields(string(frames))
		video := -1.0
		if len(lines) > 0 {
			video, _ = strconv.ParseFloat(strings.TrimSuffix(lines[len(lines)-1], ","), 64)
		}
		tone := -200.0
		if len(pcm) > media.SampleRate*2 {
			tone = audiotest.ToneDB(pcm[media.SampleRate:len(pcm)-media.SampleRate/2], 440, media.SampleRate)
		}
		t.Logf("%s: %d bytes, streams %v; killed %.2f s after the start: %.2f s of audio, %d pictures, the last at %.2f s; 440 Hz at %.1f dBFS",
			path, st.Size(), codecs, ran.Seconds(), audio, len(lines), video, tone)
		if strings.Join(codecs, ",") != "h264,opus" {
			t.Errorf("%s: streams %v, want h264 and opus", path, codecs)
		}
		if audio < want || video < want {
			t.Errorf("%s: decodes %.2f s of audio and pictures to %.2f s; killed at %.2f s, want at least %.2f s", path, audio, video, ran.Seconds(), want)
		}
		if tone < -25 {
			t.Errorf("%s: the participant's 440 Hz tone is at %.1f dBFS", path, tone)
		}
	}
}
