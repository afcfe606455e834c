package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mcu.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, warnings, err := loadConfig(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Fatalf("got %+v, want defaults %+v", cfg, DefaultConfig())
	}
	if cfg.GRPCAddr != "127.0.0.1:50051" || cfg.HTTPAddr != "127.0.0.1:8080" {
		t.Fatalf("default addresses %s %s", cfg.GRPCAddr, cfg.HTTPAddr)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no api_token") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestConfigYAML(t *testing.T) {
	path := writeYAML(t, `
grpc_addr: 127.0.0.1:6000
api_token: tok
log_level: debug
shutdown_timeout: 3s
conference:
  max_rooms: 7
  max_participants_per_room: 9
  dsp: {aec: true, ns: false, agc: true}
  transport:
    udp_port_min: 40000
    udp_port_max: 40100
    public_ips: [203.0.113.7]
  recording:
    rtmp_reconnect_for: 45s
`)
	cfg, warnings, err := loadConfig([]string{"--config", path}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings with a token: %q", warnings)
	}
	c := cfg.Conference
	def0 := DefaultConfig()
	if cfg.GRPCAddr != "127.0.0.1:6000" || cfg.APIToken != "tok" || cfg.LogLevel != "debug" || cfg.ShutdownTimeout != 3*time.Second ||
		c.MaxRooms != 7 || c.MaxParticipantsPerRoom != 9 || !c.DSP.AEC || c.DSP.NS ||
		c.Transport.UDPPortMin != 40000 || c.Transport.UDPPortMax != 40100 || !reflect.DeepEqual(c.Transport.PublicIPs, []string{"203.0.113.7"}) ||
		c.Recording.RTMPReconnectFor != 45*time.Second || c.Recording.QueuePackets != def0.Conference.Recording.QueuePackets {
		t.Fatalf("cfg = %+v", cfg)
	}
	// Keys the file leaves out keep their defaults.
	def := DefaultConfig()
	if cfg.HTTPAddr != def.HTTPAddr || c.MaxParticipants != def.Conference.MaxParticipants || c.OpusBitrate != def.Conference.OpusBitrate {
		t.Fatalf("defaults lost: %+v", cfg)
	}

	// MCU_CONFIG names the file when --config does not.
	cfg, _, err = loadConfig(nil, envMap(map[string]string{"MCU_CONFIG": path}), io.Discard)
	if err != nil || cfg.Conference.MaxRooms != 7 {
		t.Fatalf("MCU_CONFIG: %v %+v", err, cfg)
	}
	// An empty file is fine.
	if _, _, err := loadConfig([]string{"--config", writeYAML(t, "")}, envMap(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestConfigStrictYAML(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown top-level key", "grpc_adr: 127.0.0.1:1\n", "grpc_adr"},
		{"unknown conference key", "conference:\n  max_romz: 3\n", "max_romz"},
		{"unknown transport key", "conference:\n  transport:\n    udp_min: 1\n", "udp_min"},
		{"wrong type", "conference:\n  max_rooms: lots\n", "lots"},
		{"not a mapping", "- a\n- b\n", "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadConfig([]string{"--config", writeYAML(t, tc.body)}, envMap(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, _, err := loadConfig([]string{"--config", "/nonexistent/mcu.yaml"}, envMap(nil), io.Discard); err == nil {
		t.Fatal("missing file accepted")
	}
}

// Each source overrides the one before: YAML, then environment, then flags.
func TestConfigPrecedence(t *testing.T) {
	path := writeYAML(t, "api_token: from-yaml\nconference:\n  max_rooms: 10\n  max_participants: 100\n  opus_bitrate: 16000\n")
	env := map[string]string{
		"MCU_MAX_ROOMS":        "20",
		"MCU_MAX_PARTICIPANTS": "200",
		"MCU_API_TOKEN":        "from-env",
		"MCU_PUBLIC_IP":        "198.51.100.1, 198.51.100.2",
		"MCU_UDP_PORT_MIN":     "41000",
		"MCU_UDP_PORT_MAX":     "41999",
		"MCU_GRPC_ADDR":        "127.0.0.1:7000",
		"MCU_OPUS_BITRATE":     "", // empty means unset
	}
	args := []string{"--config", path, "--max-rooms", "30", "--api-token=from-flag", "--grpc-addr", "127.0.0.1:7001", "--udp-port-max", "41500"}
	cfg, _, err := loadConfig(args, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Conference
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_rooms from flag", c.MaxRooms, 30},
		{"max_participants from env", c.MaxParticipants, 200},
		{"opus_bitrate from yaml", c.OpusBitrate, 16000},
		{"api_token from flag", cfg.APIToken, "from-flag"},
		{"grpc_addr from flag", cfg.GRPCAddr, "127.0.0.1:7001"},
		{"udp_port_min from env", c.Transport.UDPPortMin, uint16(41000)},
		{"udp_port_max from flag", c.Transport.UDPPortMax, uint16(41500)},
		{"public_ips from env", c.Transport.PublicIPs, []string{"198.51.100.1", "198.51.100.2"}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	// Without the flags, the environment wins over the file.
	cfg, _, err = loadConfig([]string{"--config", path}, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conference.MaxRooms != 20 || cfg.APIToken != "from-env" {
		t.Fatalf("env did not override yaml: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env int", nil, map[string]string{"MCU_MAX_ROOMS": "many"}, "MCU_MAX_ROOMS"},
		{"bad flag int", []string{"--max-participants", "x"}, nil, "--max-participants"},
		{"port out of range", []string{"--udp-port-min", "70000"}, nil, "--udp-port-min"},
		{"port range inverted", []string{"--udp-port-min", "5000", "--udp-port-max", "4000"}, nil, "udp_port_min"},
		{"zero rooms", []string{"--max-rooms", "0"}, nil, "max_rooms"},
		{"bad public ip", []string{"--public-ip", "not-an-ip"}, nil, "public_ips"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log_level"},
		{"bad address", []string{"--grpc-addr", "nohost"}, nil, "grpc_addr"},
		{"same address", []string{"--grpc-addr", "127.0.0.1:9000", "--http-addr", "127.0.0.1:9000"}, nil, "both"},
		{"bad duration", nil, map[string]string{"MCU_SHUTDOWN_TIMEOUT": "soon"}, "MCU_SHUTDOWN_TIMEOUT"},
		{"unknown flag", []string{"--frobnicate"}, nil, "frobnicate"},
		{"stray argument", []string{"extra"}, nil, "extra"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadConfig(tc.args, envMap(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConfigLoopbackWithoutToken(t *testing.T) {
	args := []string{"--grpc-addr", "0.0.0.0:5000", "--http-addr", "[::]:5001"}
	cfg, warnings, err := loadConfig(args, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:5000" || cfg.HTTPAddr != "127.0.0.1:5001" {
		t.Fatalf("not restricted to loopback: %s %s", cfg.GRPCAddr, cfg.HTTPAddr)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "0.0.0.0:5000") {
		t.Fatalf("warnings = %q", warnings)
	}

	for _, addr := range []string{"localhost:5000", "[::1]:5000", "127.0.0.2:5000"} {
		cfg, _, err := loadConfig([]string{"--grpc-addr", addr}, envMap(nil), io.Discard)
		if err != nil || cfg.GRPCAddr != addr {
			t.Fatalf("loopback %s changed to %s (%v)", addr, cfg.GRPCAddr, err)
		}
	}

	cfg, warnings, err = loadConfig(args, envMap(map[string]string{"MCU_API_TOKEN": "t"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "0.0.0.0:5000" || len(warnings) != 0 {
		t.Fatalf("with a token the address must stay: %s %q", cfg.GRPCAddr, warnings)
	}
}

// Every option has a flag, an environment variable and a YAML key, all
// distinct, and applying the default's own string is a no-op.
func TestOptionsRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range options() {
		for _, k := range []string{o.flag, o.env, o.yaml} {
			if k == "" || seen[k] {
				t.Fatalf("option %+v: empty or duplicate name %q", o, k)
			}
			seen[k] = true
		}
		if o.flag == "api-token" {
			continue // get hides the secret
		}
		c := DefaultConfig()
		if err := o.set(&c, o.get(&c)); err != nil {
			t.Fatalf("%s: %v", o.flag, err)
		}
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Fatalf("%s: round trip changed the config", o.flag)
		}
	}
}
