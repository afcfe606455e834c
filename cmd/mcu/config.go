package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openmcu/mcu/conference"
)

// Config is everything `mcu serve` reads: the conference settings plus the
// API's own. Sources, each overriding the one before: DefaultConfig, the
// YAML file (--config or MCU_CONFIG, decoded strictly), environment
// variables, flags. Validate runs last.
type Config struct {
	Conference conference.Config `yaml:"conference"`
	// GRPCAddr is where the gRPC API listens.
	GRPCAddr string `yaml:"grpc_addr"`
	// HTTPAddr serves /healthz and /metrics.
	HTTPAddr string `yaml:"http_addr"`
	// APIToken, when set, is required as a bearer token on every RPC but
	// health. Without it both listeners are kept on loopback.
	APIToken string `yaml:"api_token"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds the drain after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{
		Conference:      conference.DefaultConfig(),
		GRPCAddr:        "127.0.0.1:50051",
		HTTPAddr:        "127.0.0.1:8080",
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 10 * time.Second,
	}
}

// option is one setting that has a flag and an environment variable. The
// YAML key is documentation only: the file is decoded into Config directly.
type option struct {
	flag, env, yaml, usage string
	set                    func(c *Config, v string) error
	get                    func(c *Config) string
}

func intOpt(p func(c *Config) *int) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*p(c) = n
			return nil
		}, func(c *Config) string {
			return strconv.Itoa(*p(c))
		}
}

func portOpt(p func(c *Config) *uint16) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
			if err != nil {
				return fmt.Errorf("%q is not a port number", v)
			}
			*p(c) = uint16(n)
			return nil
		}, func(c *Config) string {
			return strconv.Itoa(int(*p(c)))
		}
}

func stringOpt(p func(c *Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			*p(c) = v
			return nil
		}, func(c *Config) string {
			return *p(c)
		}
}

// options lists every setting with a flag and an environment variable, in
// the order the documentation shows them.
func options() []option {
	var o []option
	add := func(flagName, env, yamlKey, usage string, set func(*Config, string) error, get func(*Config) string) {
		o = append(o, option{flag: flagName, env: env, yaml: yamlKey, usage: usage, set: set, get: get})
	}
	s, g := stringOpt(func(c *Config) *string { return &c.GRPCAddr })
	add("grpc-addr", "MCU_GRPC_ADDR", "grpc_addr", "gRPC API listen `host:port`", s, g)
	s, g = stringOpt(func(c *Config) *string { return &c.HTTPAddr })
	add("http-addr", "MCU_HTTP_ADDR", "http_addr", "HTTP listen `host:port` for /healthz and /metrics", s, g)
	s, g = stringOpt(func(c *Config) *string { return &c.APIToken })
	add("api-token", "MCU_API_TOKEN", "api_token", "bearer `token` required on every RPC but health; empty keeps the server on loopback", s, func(c *Config) string {
		if c.APIToken != "" {
			return "(set)"
		}
		return ""
	})
	s, g = stringOpt(func(c *Config) *string { return &c.LogLevel })
	add("log-level", "MCU_LOG_LEVEL", "log_level", "log `level`: debug, info, warn or error", s, g)
	s, g = stringOpt(func(c *Config) *string { return &c.LogFormat })
	add("log-format", "MCU_LOG_FORMAT", "log_format", "log `format`: text or json", s, g)
	add("shutdown-timeout", "MCU_SHUTDOWN_TIMEOUT", "shutdown_timeout", "how long (`duration`) SIGTERM waits for participants and RPCs to finish",
		func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a duration (like 10s)", v)
			}
			c.ShutdownTimeout = d
			return nil
		}, func(c *Config) string { return c.ShutdownTimeout.String() })
	ps, pg := portOpt(func(c *Config) *uint16 { return &c.Conference.Transport.UDPMuxPort })
	add("udp-mux-port", "MCU_UDP_MUX_PORT", "conference.transport.udp_mux_port", "one UDP `port` for every participant's media (0: a port per participant from the range)", ps, pg)
	ps, pg = portOpt(func(c *Config) *uint16 { return &c.Conference.Transport.UDPPortMin })
	add("udp-port-min", "MCU_UDP_PORT_MIN", "conference.transport.udp_port_min", "lowest UDP `port` for media (0 with max 0: any)", ps, pg)
	ps, pg = portOpt(func(c *Config) *uint16 { return &c.Conference.Transport.UDPPortMax })
	add("udp-port-max", "MCU_UDP_PORT_MAX", "conference.transport.udp_port_max", "highest UDP `port` for media", ps, pg)
	add("public-ip", "MCU_PUBLIC_IP", "conference.transport.public_ips", "public `IPs` to advertise for NAT 1:1, comma-separated",
		func(c *Config, v string) error {
			c.Conference.Transport.PublicIPs = splitList(v)
			return nil
		}, func(c *Config) string { return strings.Join(c.Conference.Transport.PublicIPs, ",") })
	s, g = stringOpt(func(c *Config) *string { return &c.Conference.Recording.Dir })
	add("recordings-dir", "MCU_RECORDINGS_DIR", "conference.recording.dir", "`directory` recordings are written into; StartRecording paths are relative to it", s, g)
	is, ig := intOpt(func(c *Config) *int { return &c.Conference.MaxRooms })
	add("max-rooms", "MCU_MAX_ROOMS", "conference.max_rooms", "maximum `number` of rooms on this server", is, ig)
	is, ig = intOpt(func(c *Config) *int { return &c.Conference.MaxParticipants })
	add("max-participants", "MCU_MAX_PARTICIPANTS", "conference.max_participants", "maximum `number` of participants across all rooms", is, ig)
	is, ig = intOpt(func(c *Config) *int { return &c.Conference.MaxParticipantsPerRoom })
	add("max-participants-per-room", "MCU_MAX_PARTICIPANTS_PER_ROOM", "conference.max_participants_per_room", "maximum `number` of participants in one room", is, ig)
	is, ig = intOpt(func(c *Config) *int { return &c.Conference.OpusBitrate })
	add("opus-bitrate", "MCU_OPUS_BITRATE", "conference.opus_bitrate", "default Opus `bitrate` of the mix, bit/s", is, ig)
	return o
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadConfig builds the server Config from args (the flags after `serve`)
// and the environment. Warnings are for the log, once it exists.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (cfg Config, warnings []string, err error) {
	fs := flag.NewFlagSet("mcu serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config `file` (env MCU_CONFIG); unknown keys are an error")
	type flagValue struct {
		opt option
		v   string
	}
	var set []flagValue
	opts := options()
	def := DefaultConfig()
	for _, o := range opts {
		usage := fmt.Sprintf("%s (env %s)", o.usage, o.env)
		if d := o.get(&def); d != "" {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		fs.Func(o.flag, usage, func(v string) error {
			set = append(set, flagValue{o, v})
			return nil
		})
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mcu [serve] [flags]\n\nRuns the MCU server. Flags override environment variables, which override the YAML file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return Config{}, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	cfg = DefaultConfig()
	path := *configPath
	if path == "" {
		path = getenv("MCU_CONFIG")
	}
	if path != "" {
		if err := cfg.loadYAML(path); err != nil {
			return Config{}, nil, err
		}
	}
	for _, o := range opts {
		if v, ok := lookupEnv(getenv, o.env); ok {
			if err := o.set(&cfg, v); err != nil {
				return Config{}, nil, fmt.Errorf("environment %s: %w", o.env, err)
			}
		}
	}
	for _, f := range set {
		if err := f.opt.set(&cfg, f.v); err != nil {
			return Config{}, nil, fmt.Errorf("flag --%s: %w", f.opt.flag, err)
		}
	}
	warnings = cfg.restrictToLoopback()
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, err
	}
	return cfg, warnings, nil
}

// lookupEnv treats an empty variable as unset, as shells and compose
// files often export empty ones.
func lookupEnv(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

// loadYAML decodes the file over c; keys it does not name keep their value.
func (c *Config) loadYAML(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// restrictToLoopback keeps an unauthenticated server off the network: with
// no token, a listen address that is not loopback is replaced by
// 127.0.0.1 on the same port.
func (c *Config) restrictToLoopback() []string {
	if c.APIToken != "" {
		return nil
	}
	var warnings []string
	for _, a := range []struct {
		name string
		addr *string
	}{{"grpc_addr", &c.GRPCAddr}, {"http_addr", &c.HTTPAddr}} {
		host, port, err := net.SplitHostPort(*a.addr)
		if err != nil || isLoopbackHost(host) {
			continue // Validate reports bad addresses
		}
		loop := net.JoinHostPort("127.0.0.1", port)
		warnings = append(warnings, fmt.Sprintf("no api_token set: %s %s is not loopback, listening on %s instead; set MCU_API_TOKEN to serve the network", a.name, *a.addr, loop))
		*a.addr = loop
	}
	if len(warnings) == 0 {
		warnings = append(warnings, "no api_token set: the API is unauthenticated and listens on loopback only")
	}
	return warnings
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	for _, a := range []struct{ name, addr string }{{"grpc_addr", c.GRPCAddr}, {"http_addr", c.HTTPAddr}} {
		_, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("%s %q: want host:port", a.name, a.addr)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			return fmt.Errorf("%s %q: bad port", a.name, a.addr)
		}
	}
	if c.GRPCAddr == c.HTTPAddr && !strings.HasSuffix(c.GRPCAddr, ":0") {
		return fmt.Errorf("grpc_addr and http_addr are both %s", c.GRPCAddr)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown_timeout must be positive, got %v", c.ShutdownTimeout)
	}
	if err := c.Conference.Validate(); err != nil {
		return fmt.Errorf("conference: %w", err)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel) // validated
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
