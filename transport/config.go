package transport

import (
	"fmt"
	"net"
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
	if err := c.Jitter.Validate(); err != nil {
		return fmt.Errorf("jitter: %w", err)
	}
	if c.ICEGatherTimeoutMs <= 0 {
		return fmt.Errorf("ice_gather_timeout_ms must be positive: %w", ErrInvalidConfig)
	}
	return nil
}
