// Command mcuctl is a command-line client for the MCU's gRPC API.
//
//	mcuctl [--addr host:port] [--token T] [--timeout 10s] <command> [flags]
//
// Responses are printed as JSON (protojson, proto field names); `watch`
// prints one event per line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

const (
	defaultAddr    = "127.0.0.1:50051"
	defaultTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// errUsage marks mistakes in the command line: exit code 2.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// globals are the connection settings every command shares.
type globals struct {
	addr    string
	token   string
	timeout time.Duration
}

// env holds what a command needs besides its flags.
type env struct {
	globals
	stdout io.Writer
	conn   *grpc.ClientConn
	client mcuv1.ConferenceClient
}

type command struct {
	summary string
	// stream commands run without --timeout, until done or interrupted.
	stream bool
	run    func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"create": {summary: "create a room: --room R [--max-speakers N] [--bitrate BPS] [--aec] [--ns=false] [--agc=false]", run: cmdCreate},
		"list":   {summary: "list rooms", run: cmdList},
		"get":    {summary: "show a room: --room R", run: cmdGet},
		"delete": {summary: "delete a room, closing its participants: --room R", run: cmdDelete},
		"watch":  {summary: "print a room's events as JSON lines until interrupted: --room R", stream: true, run: cmdWatch},
		"leave":  {summary: "remove a participant: --room R --id P", run: cmdLeave},
		"mute":   {summary: "mute a participant: --room R --id P", run: cmdMute(true)},
		"unmute": {summary: "unmute a participant: --room R --id P", run: cmdMute(false)},
		"gain":   {summary: "set a participant's gain, -60..+20 dB: --room R --id P --db G", run: cmdGain},
		"dsp":    {summary: "override a participant's voice processing: --room R --id P [--aec=BOOL] [--ns=BOOL] [--agc=BOOL]", run: cmdDSP},
		"record": {summary: "record the room into a file on the server: record start --room R --path P [--format mp4|mkv|ogg] [--audio-only] | record stop --room R --id REC | record list --room R", run: cmdRecord},
		"join":   {summary: "join as a WebRTC participant: --room R --id P --play in.wav --record out.wav --duration 10s", stream: true, run: cmdJoin},

		// Participants the server connects itself (rtp.go).
		"join-rtp": {summary: "add a plain RTP participant: --room R --id P (--codec pcmu|pcma|opus [--remote host:port] | --sdp-file F) [--srtp-key K] [--no-latch] [--no-aec] [--rtcp-mux]; prints local_addr, rtcp_addr, sdp_answer", run: cmdJoinRTP},
		"source":   {summary: "pull an RTSP/RTMP stream in as a participant: source add --room R --id P --url U [--transport tcp|udp] | source remove --room R --id P", run: cmdSource},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: mcuctl [global flags] <command> [flags]

global flags (also accepted after the command):
  --addr host:port   server address (env MCU_ADDR, default %s)
  --token T          bearer token (env MCU_API_TOKEN)
  --timeout D        deadline for each call, not for watch or join (default %s)

commands:
`, defaultAddr, defaultTimeout)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
}

// run executes one command line and returns the exit code: 0 on success,
// 1 when the call fails, 2 for usage mistakes.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	g := globals{addr: defaultAddr, token: getenv("MCU_API_TOKEN"), timeout: defaultTimeout}
	if a := getenv("MCU_ADDR"); a != "" {
		g.addr = a
	}
	rest, err := g.extract(args)
	if err != nil {
		fmt.Fprintln(stderr, "mcuctl:", err)
		return 2
	}
	if len(rest) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := rest[0], rest[1:]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "mcuctl: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}

	conn, err := dial(g)
	if err != nil {
		fmt.Fprintln(stderr, "mcuctl:", err)
		return 1
	}
	defer conn.Close()
	e := &env{globals: g, stdout: stdout, conn: conn, client: mcuv1.NewConferenceClient(conn)}
	if !cmd.stream {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	err = cmd.run(ctx, e, rest)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mcuctl %s: %v\n", name, err)
		return 2
	}
	if st, ok := status.FromError(err); ok {
		fmt.Fprintf(stderr, "mcuctl %s: %s: %s\n", name, st.Code(), st.Message())
	} else {
		fmt.Fprintf(stderr, "mcuctl %s: %v\n", name, err)
	}
	return 1
}

// extract removes the global flags from args, wherever they appear before
// a "--", so that subcommands (join among them) see only their own.
func (g *globals) extract(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "addr" && name != "token" && name != "timeout") {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "addr":
			g.addr = value
		case "token":
			g.token = value
		case "timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return nil, usagef("--timeout %q: want a positive duration like 10s", value)
			}
			g.timeout = d
		}
	}
	return rest, nil
}

// bearerToken sends the API token with every call. The server runs plain
// gRPC on loopback or behind a TLS proxy, so no transport security is
// demanded here.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

func dial(g globals) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if g.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(g.token)))
	}
	conn, err := grpc.NewClient(g.addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", g.addr, err)
	}
	return conn, nil
}

var (
	prettyJSON = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true, EmitUnpopulated: true}
	lineJSON   = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
)

func (e *env) print(m proto.Message) error {
	b, err := prettyJSON.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// optBool is a boolean flag that remembers whether it was given, so that
// "leave as is" differs from "false".
type optBool struct{ v *bool }

func (o *optBool) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.v = &b
	return nil
}

func (o *optBool) IsBoolFlag() bool { return true }

// flagSet returns a FlagSet whose errors go to the caller instead of
// exiting; parse adds the usual checks.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("mcuctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args; a single positional argument is taken as the room ID
// when --room is not given.
func parse(fs *flag.FlagSet, args []string, room *string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
			return err
		}
		return usagef("%v", err)
	}
	if room != nil && *room == "" && fs.NArg() == 1 {
		*room = fs.Arg(0)
		return nil
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func require(name, v string) error {
	if v == "" {
		return usagef("--%s is required", name)
	}
	return nil
}

func cmdCreate(ctx context.Context, e *env, args []string) error {
	fs := flagSet("create")
	room := fs.String("room", "", "room ID")
	speakers := fs.Uint("max-speakers", 0, "active speakers with their own mix (0: server default, 3)")
	bitrate := fs.Uint("bitrate", 0, "Opus bitrate in bit/s (0: server default)")
	var aec, ns, agc optBool
	fs.Var(&aec, "aec", "echo cancellation for the room (default off)")
	fs.Var(&ns, "ns", "noise suppression for the room (default on)")
	fs.Var(&agc, "agc", "automatic gain control for the room (default on)")
	if err := parse(fs, args, room); err != nil {
		return err
	}
	if err := require("room", *room); err != nil {
		return err
	}
	req := &mcuv1.CreateRoomRequest{RoomId: *room, Audio: &mcuv1.AudioSettings{
		MaxActiveSpeakers: uint32(*speakers),
		OpusBitrate:       uint32(*bitrate),
	}}
	if aec.v != nil || ns.v != nil || agc.v != nil {
		req.Audio.Dsp = &mcuv1.DspSettings{Aec: aec.v, Ns: ns.v, Agc: agc.v}
	}
	r, err := e.client.CreateRoom(ctx, req)
	if err != nil {
		return err
	}
	return e.print(r)
}

func cmdList(ctx context.Context, e *env, args []string) error {
	if err := parse(flagSet("list"), args, nil); err != nil {
		return err
	}
	r, err := e.client.ListRooms(ctx, &mcuv1.ListRoomsRequest{})
	if err != nil {
		return err
	}
	return e.print(r)
}

func roomOnly(name string, args []string) (string, error) {
	fs := flagSet(name)
	room := fs.String("room", "", "room ID")
	if err := parse(fs, args, room); err != nil {
		return "", err
	}
	return *room, require("room", *room)
}

func cmdGet(ctx context.Context, e *env, args []string) error {
	room, err := roomOnly("get", args)
	if err != nil {
		return err
	}
	r, err := e.client.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: room})
	if err != nil {
		return err
	}
	return e.print(r)
}

func cmdDelete(ctx context.Context, e *env, args []string) error {
	room, err := roomOnly("delete", args)
	if err != nil {
		return err
	}
	r, err := e.client.DeleteRoom(ctx, &mcuv1.DeleteRoomRequest{RoomId: room})
	if err != nil {
		return err
	}
	return e.print(r)
}

func cmdWatch(ctx context.Context, e *env, args []string) error {
	room, err := roomOnly("watch", args)
	if err != nil {
		return err
	}
	stream, err := e.client.WatchRoom(ctx, &mcuv1.WatchRoomRequest{RoomId: room})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted
			}
			return err
		}
		b, err := lineJSON.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
			return err
		}
	}
}

// participantFlags parses --room and --id plus whatever extra registers.
func participantFlags(name string, args []string, extra func(fs *flag.FlagSet)) (room, id string, err error) {
	fs := flagSet(name)
	fs.StringVar(&room, "room", "", "room ID")
	fs.StringVar(&id, "id", "", "participant ID")
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args, nil); err != nil {
		return "", "", err
	}
	if err := require("room", room); err != nil {
		return "", "", err
	}
	return room, id, require("id", id)
}

func cmdLeave(ctx context.Context, e *env, args []string) error {
	room, id, err := participantFlags("leave", args, nil)
	if err != nil {
		return err
	}
	r, err := e.client.Leave(ctx, &mcuv1.LeaveRequest{RoomId: room, ParticipantId: id})
	if err != nil {
		return err
	}
	return e.print(r)
}

func (e *env) update(ctx context.Context, req *mcuv1.UpdateParticipantRequest) error {
	p, err := e.client.UpdateParticipant(ctx, req)
	if err != nil {
		return err
	}
	return e.print(p)
}

func cmdMute(muted bool) func(context.Context, *env, []string) error {
	name := "unmute"
	if muted {
		name = "mute"
	}
	return func(ctx context.Context, e *env, args []string) error {
		room, id, err := participantFlags(name, args, nil)
		if err != nil {
			return err
		}
		return e.update(ctx, &mcuv1.UpdateParticipantRequest{RoomId: room, ParticipantId: id, Muted: proto.Bool(muted)})
	}
}

func cmdGain(ctx context.Context, e *env, args []string) error {
	var db optFloat
	room, id, err := participantFlags("gain", args, func(fs *flag.FlagSet) {
		fs.Var(&db, "db", "gain in dB, -60..+20")
	})
	if err != nil {
		return err
	}
	if db.v == nil {
		return usagef("--db is required")
	}
	return e.update(ctx, &mcuv1.UpdateParticipantRequest{RoomId: room, ParticipantId: id, GainDb: db.v})
}

func cmdDSP(ctx context.Context, e *env, args []string) error {
	var aec, ns, agc optBool
	room, id, err := participantFlags("dsp", args, func(fs *flag.FlagSet) {
		fs.Var(&aec, "aec", "echo cancellation")
		fs.Var(&ns, "ns", "noise suppression")
		fs.Var(&agc, "agc", "automatic gain control")
	})
	if err != nil {
		return err
	}
	if aec.v == nil && ns.v == nil && agc.v == nil {
		return usagef("give at least one of --aec, --ns, --agc (for example --aec or --ns=false)")
	}
	return e.update(ctx, &mcuv1.UpdateParticipantRequest{RoomId: room, ParticipantId: id,
		Dsp: &mcuv1.DspOverride{Aec: aec.v, Ns: ns.v, Agc: agc.v}})
}

func cmdJoin(ctx context.Context, e *env, args []string) error {
	return runJoin(ctx, e.conn, args)
}

// optFloat is a float flag that remembers whether it was given.
type optFloat struct{ v *float64 }

func (o *optFloat) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'g', -1, 64)
}

func (o *optFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	o.v = &f
	return nil
}

var recordingFormats = map[string]mcuv1.RecordingFormat{
	"mp4": mcuv1.RecordingFormat_RECORDING_FORMAT_MP4,
	"mkv": mcuv1.RecordingFormat_RECORDING_FORMAT_MKV,
	"ogg": mcuv1.RecordingFormat_RECORDING_FORMAT_OGG,
}

// cmdRecord is `record start|stop|list`.
func cmdRecord(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: start, stop or list")
	}
	sub, args := args[0], args[1:]
	fs := flagSet("record " + sub)
	room := fs.String("room", "", "room ID")
	switch sub {
	case "start":
		path := fs.String("path", "", "output file, relative to the server's recordings directory")
		format := fs.String("format", "mp4", "container: mp4, mkv or ogg (audio only)")
		audioOnly := fs.Bool("audio-only", false, "leave the picture out")
		if err := parse(fs, args, nil); err != nil {
			return err
		}
		if err := require("room", *room); err != nil {
			return err
		}
		if err := require("path", *path); err != nil {
			return err
		}
		f, ok := recordingFormats[strings.ToLower(*format)]
		if !ok {
			return usagef("--format %q: want mp4, mkv or ogg", *format)
		}
		r, err := e.client.StartRecording(ctx, &mcuv1.StartRecordingRequest{RoomId: *room,
			Output: &mcuv1.RecordingOutput{Path: *path, Format: f, AudioOnly: *audioOnly}})
		if err != nil {
			return err
		}
		return e.print(r)
	case "stop":
		id := fs.String("id", "", "recording ID")
		if err := parse(fs, args, nil); err != nil {
			return err
		}
		if err := require("room", *room); err != nil {
			return err
		}
		if err := require("id", *id); err != nil {
			return err
		}
		r, err := e.client.StopRecording(ctx, &mcuv1.StopRecordingRequest{RoomId: *room, RecordingId: *id})
		if err != nil {
			return err
		}
		return e.print(r)
	case "list":
		if err := parse(fs, args, room); err != nil {
			return err
		}
		if err := require("room", *room); err != nil {
			return err
		}
		r, err := e.client.ListRecordings(ctx, &mcuv1.ListRecordingsRequest{RoomId: *room})
		if err != nil {
			return err
		}
		return e.print(r)
	}
	return usagef("unknown subcommand %q: want start, stop or list", sub)
}
