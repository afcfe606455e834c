package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/openmcu/mcu/client"
	"github.com/openmcu/mcu/media/wav"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

const (
	// joinTail keeps a --play session open a little after the file ends so
	// its last packets make it through the room and back.
	joinTail           = 500 * time.Millisecond
	joinDefaultSession = 10 * time.Second
	joinLeaveTimeout   = 5 * time.Second
)

// joinOptions are the parsed flags of `mcuctl join`.
type joinOptions struct {
	room, id, name string
	play           string
	loop           bool
	tone           float64
	toneLevelDB    float64
	record         string
	duration       time.Duration // 0: until interrupted
	connectTimeout time.Duration
	loopback       bool
	portMin        uint
	portMax        uint
}

// runJoin implements
//
//	mcuctl join --room R --id P [--name N] [--play in.wav [--loop] | --tone 440]
//	            [--record out.wav] [--duration 10s]
//
// It joins the room as a real WebRTC participant, sends the WAV file (mixed
// to mono, resampled to 48 kHz), a tone or silence as Opus, writes what it
// hears to a 48 kHz mono 16-bit WAV file, leaves, and prints a one-line
// summary. Interrupting it (ctx cancelled) ends the session normally.
func runJoin(ctx context.Context, conn *grpc.ClientConn, args []string) error {
	opts, err := parseJoinFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	return join(ctx, mcuv1.NewConferenceClient(conn), opts, os.Stdout)
}

func parseJoinFlags(args []string, usage io.Writer) (joinOptions, error) {
	var o joinOptions
	fs := flag.NewFlagSet("join", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&o.room, "room", "", "room ID (required)")
	fs.StringVar(&o.id, "id", "", "participant ID (required)")
	fs.StringVar(&o.name, "name", "", "display name")
	fs.StringVar(&o.play, "play", "", "WAV file to send: 16/24/32-bit PCM or float, 8–48 kHz, mono or stereo")
	fs.BoolVar(&o.loop, "loop", false, "repeat the --play file")
	fs.Float64Var(&o.tone, "tone", 0, "send a sine at this frequency in Hz instead of a file")
	fs.Float64Var(&o.toneLevelDB, "tone-level", -12, "peak level of --tone in dBFS")
	fs.StringVar(&o.record, "record", "", "write what is heard to this WAV file (48 kHz mono 16-bit)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to stay; 0 stays until interrupted (default: length of --play + 0.5s, else 10s)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "give up if the media connection is not up by then")
	fs.BoolVar(&o.loopback, "include-loopback", false, "also offer 127.0.0.1 candidates (for hosts with only a loopback interface)")
	fs.UintVar(&o.portMin, "port-min", 0, "lowest local UDP port for media (0: any)")
	fs.UintVar(&o.portMax, "port-max", 0, "highest local UDP port for media (0: any)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if !durationSet {
		o.duration = -1 // decided once the --play file is read
	}
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected argument %q", fs.Arg(0))
	case o.room == "":
		return o, usagef("--room is required")
	case o.id == "":
		return o, usagef("--id is required")
	case o.play != "" && o.tone != 0:
		return o, usagef("--play and --tone are exclusive")
	case o.tone < 0 || o.tone >= 24000:
		return o, usagef("--tone %v Hz is outside 0–24000", o.tone)
	case o.toneLevelDB > 0:
		return o, usagef("--tone-level %v dBFS is above full scale", o.toneLevelDB)
	case durationSet && o.duration < 0:
		return o, usagef("--duration %v is negative", o.duration)
	case o.portMax > math.MaxUint16 || o.portMin > o.portMax:
		return o, usagef("bad port range %d-%d", o.portMin, o.portMax)
	}
	return o, nil
}

// join runs one session. The output file, if any, is removed when the
// session never got going, and finished cleanly otherwise.
func join(ctx context.Context, conf mcuv1.ConferenceClient, o joinOptions, out io.Writer) (err error) {
	cfg := client.DefaultConfig()
	cfg.IncludeLoopback = o.loopback
	cfg.PortMin, cfg.PortMax = uint16(o.portMin), uint16(o.portMax)
	switch {
	case o.play != "":
		a, err := readWAV(o.play)
		if err != nil {
			return err
		}
		cfg.Source = client.WAVSource(a, o.loop)
		if o.duration < 0 && !o.loop {
			o.duration = a.Duration() + joinTail
		}
	case o.tone > 0:
		cfg.Source = client.ToneSource(o.tone, math.Pow(10, o.toneLevelDB/20))
	}
	if o.duration < 0 {
		o.duration = joinDefaultSession
	}

	var sink *client.WAVSink
	keep := false // set once media flows; otherwise the empty file is removed
	if o.record != "" {
		if sink, err = client.NewWAVSink(o.record, wav.PCM16); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		cfg.Sink = sink
		defer func() {
			if cerr := sink.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("--record: %w", cerr)
			}
			if !keep {
				_ = os.Remove(o.record)
			}
		}()
	}

	p, err := client.New(cfg)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	defer p.Close()

	setup, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	offer, err := p.Offer(setup)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	resp, err := conf.Join(setup, &mcuv1.JoinRequest{
		RoomId: o.room, ParticipantId: o.id, DisplayName: o.name, SdpOffer: offer,
	})
	if err != nil {
		return fmt.Errorf("room %q as %q: %w", o.room, o.id, err)
	}
	// From here on we are in the room: always leave, even when interrupted,
	// and before the connection closes, so the server sees a clean leave
	// rather than a lost connection.
	var left bool
	leave := func() error {
		if left {
			return nil
		}
		left = true
		lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), joinLeaveTimeout)
		defer lcancel()
		if _, lerr := conf.Leave(lctx, &mcuv1.LeaveRequest{RoomId: o.room, ParticipantId: o.id}); lerr != nil {
			return fmt.Errorf("leave: %w", lerr)
		}
		return nil
	}
	defer func() {
		if lerr := leave(); lerr != nil && err == nil {
			err = lerr
		}
	}()
	if err := p.Accept(resp.GetSdpAnswer()); err != nil {
		return fmt.Errorf("server answer: %w", err)
	}
	if err := p.WaitConnected(setup); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before the media was up: not an error
		}
		return fmt.Errorf("media connection: %w", err)
	}

	keep = true
	start := time.Now()
	var until <-chan time.Time
	if o.duration > 0 {
		timer := time.NewTimer(o.duration)
		defer timer.Stop()
		until = timer.C
	}
	var lost error
	select {
	case <-until:
	case <-ctx.Done(): // interrupted: a normal way to end
	case <-p.Disconnected():
		lost = errors.New("media connection lost")
	}
	elapsed := time.Since(start)
	leaveErr := leave()
	closeErr := p.Close() // stop the loops before the WAV file is finished
	st := p.Stats()

	line := fmt.Sprintf("room %s as %s for %.1fs: sent %d packets, received %d, lost %d (%d concealed)",
		o.room, o.id, elapsed.Seconds(), st.PacketsSent, st.PacketsReceived, st.PacketsLost, st.FramesConcealed)
	if sink != nil {
		line += fmt.Sprintf("; recorded %.1fs to %s", float64(sink.Frames())/48000, o.record)
	}
	fmt.Fprintln(out, line)
	return errors.Join(lost, leaveErr, closeErr)
}

func readWAV(path string) (*wav.Audio, error) {
	a, err := wav.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--play %s: %w", path, err)
	}
	return a, nil
}
