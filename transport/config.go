package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config holds the network settings for WebRTC endpoints.
type Config struct {
	// UDPPortMin and UDPPortMax bound the ports used for ICE host candidates.
	// Zero for both lets the OS pick.
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`
	// UDPMuxPort, when set, carries every participant's media on this one
	// UDP port (per interface) instead of a port per participant: one
	// firewall rule, and far fewer sockets and buffers per participant.
	UDPMuxPort uint16 `yaml:"udp_mux_port"`
	// PublicIPs are advertised as host candidates instead of the local
	// addresses (NAT 1:1, as on cloud VMs).
	PublicIPs []string `yaml:"public_ips"`
	// IncludeLoopback offers loopback candidates, so peers on the same host
	// (tests, a local browser) can connect without a network interface.
	IncludeLoopback bool `yaml:"include_loopback"`
	// ICEGatherTimeoutMs bounds how long Join waits for candidate gathering.
	ICEGatherTimeoutMs int `yaml:"ice_gather_timeout_ms"`
	// RTPPorts is the UDP port range of plain RTP participants, "lo-hi";
	// each takes an even port (the odd one above is left for RTCP).
	RTPPorts string `yaml:"rtp_ports"`
	// RTPBindAddr is the IP plain RTP sockets bind to. When it is
	// unspecified (0.0.0.0), answers advertise the first of PublicIPs, or
	// else the local address that routes to the remote.
	RTPBindAddr string `yaml:"rtp_bind_addr"`
	// RTPTimeout drops a plain RTP participant that has sent no valid
	// packet for this long (a gateway that vanished without hanging up);
	// 0 keeps it forever.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
	// RTCPInterval is the minimum interval between a plain RTP
	// participant's RTCP reports (RFC 3550's 5 s); each interval is
	// randomised around it, and the first is half.
	RTCPInterval time.Duration `yaml:"rtcp_interval"`
	// Jitter tunes every participant's audio jitter buffer.
	Jitter JitterConfig `yaml:"jitter"`
}

// DefaultConfig returns settings that work on a single host out of the box.
func DefaultConfig() Config {
	return Config{
		UDPPortMin:         50000,
		UDPPortMax:         59999,
		IncludeLoopback:    true,
		ICEGatherTimeoutMs: 5000,
		RTPPorts:           "20000-20999",
		RTPBindAddr:        "127.0.0.1",
		RTPTimeout:         30 * time.Second,
		RTCPInterval:       5 * time.Second,
		Jitter:             DefaultJitterConfig(),
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if (c.UDPPortMin == 0) != (c.UDPPortMax == 0) {
		return fmt.Errorf("udp_port_min and udp_port_max must be set together: %w", ErrInvalidConfig)
	}
	if c.UDPPortMin > c.UDPPortMax {
		return fmt.Errorf("udp_port_min %d is above udp_port_max %d: %w", c.UDPPortMin, c.UDPPortMax, ErrInvalidConfig)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("public_ips: %q is not an IP address: %w", ip, ErrInvalidConfig)
		}
	}
	if _, _, err := c.rtpPortRange(); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(c.RTPBindAddr); err != nil {
		return fmt.Errorf("rtp_bind_addr: %q is not an IP address: %w", c.RTPBindAddr, ErrInvalidConfig)
	}
	if c.RTPTimeout < 0 {
		return fmt.Errorf("rtp_timeout must not be negative: %w", ErrInvalidConfig)
	}
	if c.RTCPInterval < 100*time.Millisecond {
		return fmt.Errorf("rtcp_interval must be at least 100ms: %w", ErrInvalidConfig)
	}
	if err := c.Jitter.Validate(); err != nil {
		return fmt.Errorf("jitter: %w", err)
	}
	if c.ICEGatherTimeoutMs <= 0 {
		return fmt.Errorf("ice_gather_timeout_ms must be positive: %w", ErrInvalidConfig)
	}
	return nil
}

// rtpPortRange parses RTPPorts.
func (c Config) rtpPortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(c.RTPPorts, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo+1 > hi {
		return 0, 0, fmt.Errorf("rtp_ports: %q is not a range like 20000-20999 with at least two ports: %w", c.RTPPorts, ErrInvalidConfig)
	}
	return lo, hi, nil
}

// RTPAdvertiseAddr is the IP to put in an SDP answer for a plain RTP
// endpoint bound to bound, talking to remote.
func (c Config) RTPAdvertiseAddr(bound netip.Addr, remote netip.Addr) netip.Addr {
	if !bound.IsUnspecified() {
		return bound
	}
	for _, s := range c.PublicIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			return ip
		}
	}
	if remote.IsValid() {
		// Connecting a UDP socket sends nothing; it only picks the route.
		if conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9))); err == nil {
			defer conn.Close()
			return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		}
	}
	return netip.IPv4Unspecified()
}
