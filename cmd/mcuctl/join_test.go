package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/openmcu/mcu/client/clienttest"
	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/media/wav"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// echoConference is a Conference server whose rooms echo each participant's
// audio back to them.
type echoConference struct {
	mcuv1.UnimplementedConferenceServer
	mu     sync.Mutex
	echoes map[string]*clienttest.Echo
	left   []string
}

func (c *echoConference) Join(_ context.Context, r *mcuv1.JoinRequest) (*mcuv1.JoinResponse, error) {
	if r.GetRoomId() != "r1" {
		return nil, status.Errorf(codes.NotFound, "room %q not found", r.GetRoomId())
	}
	e, answer, err := clienttest.NewEcho(r.GetSdpOffer(), nil)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	c.mu.Lock()
	c.echoes[r.GetParticipantId()] = e
	c.mu.Unlock()
	return &mcuv1.JoinResponse{SdpAnswer: answer}, nil
}

func (c *echoConference) Leave(_ context.Context, r *mcuv1.LeaveRequest) (*mcuv1.LeaveResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.echoes[r.GetParticipantId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such participant")
	}
	e.Close()
	delete(c.echoes, r.GetParticipantId())
	c.left = append(c.left, r.GetRoomId()+"/"+r.GetParticipantId())
	return &mcuv1.LeaveResponse{}, nil
}

func (c *echoConference) leftList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.left...)
}

func startEchoConference(t *testing.T) (*echoConference, mcuv1.ConferenceClient) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	conf := &echoConference{echoes: map[string]*clienttest.Echo{}}
	mcuv1.RegisterConferenceServer(srv, conf)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		conf.mu.Lock()
		for _, e := range conf.echoes {
			e.Close()
		}
		conf.mu.Unlock()
	})
	return conf, mcuv1.NewConferenceClient(conn)
}

func writeWAV(t *testing.T, path string, a *wav.Audio) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := wav.Encode(f, a, wav.PCM16); err != nil {
		t.Fatal(err)
	}
}

func readAudio(t *testing.T, path string) *wav.Audio {
	t.Helper()
	a, err := wav.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestJoinPlayRecord(t *testing.T) {
	conf, cc := startEchoConference(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.wav")
	out := filepath.Join(dir, "out.wav")
	// 1.5 s of 440 Hz at 16 kHz stereo, -10 dBFS peak.
	const n = 24000
	a := &wav.Audio{SampleRate: 16000, Channels: 2, Samples: make([]float32, 2*n)}
	for i, s := range audiotest.Tone(440, 0.316, 16000, n) {
		a.Samples[2*i], a.Samples[2*i+1] = s, s
	}
	writeWAV(t, in, a)

	opts, err := parseJoinFlags([]string{"--room", "r1", "--id", "alice", "--name", "Alice", "--play", in, "--record", out}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	start := time.Now()
	if err := join(context.Background(), cc, opts, &stdout); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	summary := stdout.String()
	t.Logf("%s (took %v)", strings.TrimSpace(summary), took)
	if took < 2*time.Second || took > 5*time.Second {
		t.Errorf("session took %v, want about the 1.5 s file + 0.5 s", took)
	}
	for _, want := range []string{"room r1 as alice", "sent ", "received ", "lost 0", "to " + out} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary %q lacks %q", summary, want)
		}
	}
	if got := conf.leftList(); len(got) != 1 || got[0] != "r1/alice" {
		t.Errorf("Leave calls %v, want [r1/alice]", got)
	}
	rec := readAudio(t, out)
	if rec.SampleRate != 48000 || rec.Channels != 1 || rec.Duration() < 1500*time.Millisecond {
		t.Fatalf("recording: %d Hz %d ch %v", rec.SampleRate, rec.Channels, rec.Duration())
	}
	// The middle of the echoed file is the tone at the level sent.
	mid := rec.Samples[48000/2 : 48000]
	if db := audiotest.ToneDB(mid, 440, 48000); math.Abs(db-(-13)) > 2 {
		t.Errorf("recorded 440 Hz at %.1f dBFS, want -13 ± 2", db)
	}
}

func TestJoinToneUntilCancelled(t *testing.T) {
	conf, cc := startEchoConference(t)
	out := filepath.Join(t.TempDir(), "out.wav")
	opts, err := parseJoinFlags([]string{"--room", "r1", "--id", "bob", "--tone", "600", "--record", out, "--duration", "0"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var stdout bytes.Buffer
	if err := join(ctx, cc, opts, &stdout); err != nil {
		t.Fatalf("interrupted session: %v", err)
	}
	if got := conf.leftList(); len(got) != 1 {
		t.Errorf("Leave calls %v after interruption", got)
	}
	rec := readAudio(t, out)
	tail := rec.Samples[max(0, len(rec.Samples)-24000):]
	if db := audiotest.ToneDB(tail, 600, 48000); math.Abs(db-(-15)) > 2 {
		t.Errorf("600 Hz at %.1f dBFS, want -15 ± 2 (-12 dBFS peak)", db)
	}
}

func TestJoinErrors(t *testing.T) {
	_, cc := startEchoConference(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(bad, []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x00\x77\x01\x00\x00\xee\x02\x00\x02\x00\x10\x00data\x00\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	usage := []struct {
		args []string
		want string
	}{
		{[]string{"--id", "p"}, "--room is required"},
		{[]string{"--room", "r"}, "--id is required"},
		{[]string{"--room", "r", "--id", "p", "--play", "x.wav", "--tone", "440"}, "exclusive"},
		{[]string{"--room", "r", "--id", "p", "--duration", "-1s"}, "negative"},
		{[]string{"--room", "r", "--id", "p", "--bogus"}, "bogus"},
		{[]string{"--room", "r", "--id", "p", "extra"}, "unexpected argument"},
	}
	for _, tc := range usage {
		_, err := parseJoinFlags(tc.args, &bytes.Buffer{})
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseJoinFlags([]string{"-h"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}

	out := filepath.Join(dir, "out.wav")
	runs := []struct {
		name string
		args []string
		want string
		code codes.Code
	}{
		{"unsupported rate", []string{"--room", "r1", "--id", "p", "--play", bad, "--record", out}, "96000 Hz", codes.Unknown},
		{"missing file", []string{"--room", "r1", "--id", "p", "--play", filepath.Join(dir, "nope.wav"), "--record", out}, "no such file", codes.Unknown},
		{"unknown room", []string{"--room", "nope", "--id", "p", "--tone", "440", "--record", out}, "not found", codes.NotFound},
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := parseJoinFlags(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			err = join(context.Background(), cc, opts, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
			if tc.code != codes.Unknown {
				if st, _ := status.FromError(err); st.Code() != tc.code {
					t.Errorf("code %v, want %v", st.Code(), tc.code)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output file left behind after a failed join: %v", err)
			}
		})
	}
}
