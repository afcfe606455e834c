package transport

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// DepacketizerConfig tunes a VideoDepacketizer.
type DepacketizerConfig struct {
	// ReorderPackets is how many packets are held while a hole waits to be
	// filled. A packet further ahead than this flushes the window (loss).
	// Each slot costs MaxJitterPayload bytes.
	ReorderPackets int `yaml:"reorder_packets"`
	// MaxReorderDelay is how long a hole may hold back later packets before
	// it is declared lost. Retransmissions (NACK) must arrive within it.
	MaxReorderDelay time.Duration `yaml:"max_reorder_delay"`
	// MaxFrameBytes bounds one access unit; a bigger one is dropped.
	MaxFrameBytes int `yaml:"max_frame_bytes"`
}

// DefaultDepacketizerConfig returns a 128-packet window (192 KiB), 60 ms of
// reordering patience and 2 MiB frames.
func DefaultDepacketizerConfig() DepacketizerConfig {
	return DepacketizerConfig{ReorderPackets: 128, MaxReorderDelay: 60 * time.Millisecond, MaxFrameBytes: 2 << 20}
}

// Validate reports the first unusable field.
func (c DepacketizerConfig) Validate() error {
	switch {
	case c.ReorderPackets < 1 || c.ReorderPackets > 4096:
		return fmt.Errorf("%w: depacketizer reorder_packets %d (want 1..4096)", ErrInvalidConfig, c.ReorderPackets)
	case c.MaxReorderDelay < 0 || c.MaxReorderDelay > 2*time.Second:
		return fmt.Errorf("%w: depacketizer max_reorder_delay %v (want 0..2s)", ErrInvalidConfig, c.MaxReorderDelay)
	case c.MaxFrameBytes < 1024 || c.MaxFrameBytes > 64<<20:
		return fmt.Errorf("%w: depacketizer max_frame_bytes %d (want 1 KiB..64 MiB)", ErrInvalidConfig, c.MaxFrameBytes)
	}
	return nil
}

// AccessUnit is one complete compressed picture: a VP8 frame, or an H.264
// access unit in Annex-B with 4-byte start codes. Data belongs to the
// depacketizer and stays valid until the next Pop.
type AccessUnit struct {
	Data      []byte
	Timestamp uint32 // RTP timestamp (90 kHz)
	Keyframe  bool
}

// DepacketizerStats counts what happened to one video stream.
type DepacketizerStats struct {
	Packets      uint64 // packets accepted into the window
	Duplicates   uint64 // packets already held or already played
	Late         uint64 // packets that came after their slot was given up
	Lost         uint64 // sequence numbers declared lost
	Flushes      uint64 // window overflows and stream restarts
	Frames       uint64 // access units handed out
	Keyframes    uint64 // of which keyframes
	Dropped      uint64 // access units dropped: broken, or waiting for a keyframe
	Malformed    uint64 // payloads that could not start or continue a unit (bad, or a fragment whose start was lost)
	KeyframeAsks uint64 // times NeedKeyframe turned true
}

// videoPayload is the codec half of a depacketizer: it appends one RTP
// payload to the access unit being assembled.
type videoPayload interface {
	// appendPayload adds payload to a.buf; first is true for the first
	// packet of the access unit. It sets a.keyframe, and returns false for
	// a payload that cannot start or continue the unit.
	appendPayload(a *auAssembler, payload []byte, first bool) bool
	// finish checks the assembled unit: it sets a.broken for an incomplete
	// one, or a.empty for one that holds no picture.
	finish(a *auAssembler)
	// reset forgets the unit; carry keeps what an empty unit handed on.
	reset(carry bool)
}

type reorderSlot struct {
	valid   bool
	marker  bool
	seq     uint16
	ts      uint32
	arrived time.Time
	payload []byte
}

// auAssembler is the access unit under construction.
type auAssembler struct {
	buf      []byte
	ts       uint32
	active   bool
	broken   bool
	empty    bool
	keyframe bool
	carry    int // bytes of an empty unit (parameter sets) kept for the next
	max      int
}

// VideoDepacketizer turns RTP packets of one video stream into complete
// access units. It reorders within a small window, declares a hole lost
// after MaxReorderDelay, drops every frame from a loss until the next
// keyframe and raises NeedKeyframe so the caller sends a PLI (the caller
// rate-limits them). Push and Pop do not allocate. Not safe for concurrent
// use: the participant's receive loop owns it.
type VideoDepacketizer struct {
	cfg   DepacketizerConfig
	codec videoPayload
	ring  []reorderSlot
	count int // valid slots

	started   bool
	next      uint16 // next sequence number to assemble
	holeSince time.Time

	asm     auAssembler
	waitKey bool
	needKey bool
	stats   DepacketizerStats
}

func newVideoDepacketizer(cfg DepacketizerConfig, codec videoPayload) (*VideoDepacketizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &VideoDepacketizer{cfg: cfg, codec: codec, ring: make([]reorderSlot, cfg.ReorderPackets)}
	for i := range d.ring {
		d.ring[i].payload = make([]byte, 0, MaxJitterPayload)
	}
	d.asm.buf = make([]byte, 0, 64<<10)
	d.asm.max = cfg.MaxFrameBytes
	// Nothing decodes before the first keyframe: ask for one at once.
	d.waitKey, d.needKey = true, true
	d.stats.KeyframeAsks++
	return d, nil
}

// NeedKeyframe reports that frames are being dropped until a keyframe
// arrives: the caller should send a PLI (rate-limited). It turns false when
// a keyframe is handed out.
func (d *VideoDepacketizer) NeedKeyframe() bool { return d.needKey }

// Stats returns the counters.
func (d *VideoDepacketizer) Stats() DepacketizerStats { return d.stats }

// Reset forgets every packet and the stream position, and waits for a
// keyframe again (for a new SSRC, or after the sender restarted).
func (d *VideoDepacketizer) Reset() {
	d.flush()
	d.started = false
}

func (d *VideoDepacketizer) flush() {
	for i := range d.ring {
		d.ring[i].valid = false
	}
	d.count = 0
	d.holeSince = time.Time{}
	d.asm.active, d.asm.carry = false, 0
	d.codec.reset(false)
	d.askKeyframe()
}

func (d *VideoDepacketizer) askKeyframe() {
	d.waitKey = true
	if !d.needKey {
		d.needKey = true
		d.stats.KeyframeAsks++
	}
}

// Push stores a copy of pkt's payload. Call Pop afterwards. now is the
// arrival time, used for the reorder patience. A packet with an empty
// payload (padding for bandwidth probing, already stripped by pion) is
// accepted: it fills its sequence number and carries nothing. RTX packets
// must be unwrapped (original sequence number restored) before Push.
func (d *VideoDepacketizer) Push(pkt *rtp.Packet, now time.Time) error {
	if len(pkt.Payload) > MaxJitterPayload {
		return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(pkt.Payload))
	}
	seq := pkt.SequenceNumber
	if !d.started {
		d.started, d.next = true, seq
	}
	n := len(d.ring)
	diff := int(int16(seq - d.next))
	switch {
	case diff < -2*n-1000:
		// Far behind: the sender restarted its sequence numbers.
		d.stats.Flushes++
		d.flush()
		d.next = seq
	case diff < 0:
		d.stats.Late++
		return nil
	case diff >= n:
		// Too far ahead to hold: give up the window and start over here.
		d.stats.Lost += uint64(diff - d.count)
		d.stats.Flushes++
		d.flush()
		d.next = seq
	}
	s := &d.ring[int(seq)%n]
	if s.valid {
		if s.seq == seq {
			d.stats.Duplicates++
			return nil
		}
		// Unreachable while diff < n, kept as a guard.
		d.count--
	}
	s.valid, s.seq, s.ts, s.marker, s.arrived = true, seq, pkt.Timestamp, pkt.Marker, now
	s.payload = append(s.payload[:0], pkt.Payload...)
	d.count++
	d.stats.Packets++
	return nil
}

// Pop returns the next complete access unit, if one is ready. Call it
// until it returns false after every Push, and on a timer (a hole is
// declared lost only from Pop). now drives the reorder patience.
func (d *VideoDepacketizer) Pop(now time.Time) (AccessUnit, bool) {
	n := len(d.ring)
	for d.started {
		s := &d.ring[int(d.next)%n]
		if !s.valid || s.seq != d.next {
			if d.count == 0 {
				return AccessUnit{}, false
			}
			if d.holeSince.IsZero() {
				d.holeSince = d.waitingSince()
			}
			if now.Sub(d.holeSince) < d.cfg.MaxReorderDelay {
				return AccessUnit{}, false
			}
			d.skipHole()
			continue
		}
		d.holeSince = time.Time{}
		if len(s.payload) == 0 {
			// Padding only: it belongs to no unit.
			s.valid = false
			d.count--
			d.next++
			continue
		}
		a := &d.asm
		if a.active && s.ts != a.ts {
			// The previous unit ended without a marker: hand it out and
			// come back for this packet.
			if au, ok := d.finish(); ok {
				return au, true
			}
			continue
		}
		s.valid = false
		d.count--
		d.next++
		first := !a.active
		if first {
			a.active, a.ts, a.buf, a.carry = true, s.ts, a.buf[:a.carry], 0
			a.broken, a.empty, a.keyframe = false, false, false
		}
		if !a.broken {
			if !d.codec.appendPayload(a, s.payload, first) {
				a.broken = true
				d.stats.Malformed++
			} else if len(a.buf) > a.max {
				a.broken = true
			}
		}
		if s.marker {
			if au, ok := d.finish(); ok {
				return au, true
			}
		}
	}
	return AccessUnit{}, false
}

// waitingSince returns the arrival of the first packet held behind the hole
// at next: the hole has kept it waiting since then.
func (d *VideoDepacketizer) waitingSince() time.Time {
	n := len(d.ring)
	for i := 1; i < n; i++ {
		seq := d.next + uint16(i)
		if s := &d.ring[int(seq)%n]; s.valid && s.seq == seq {
			return s.arrived
		}
	}
	return time.Time{}
}

// skipHole declares the sequence numbers up to the next held packet lost.
func (d *VideoDepacketizer) skipHole() {
	n := len(d.ring)
	for i := 0; i < n; i++ {
		s := &d.ring[int(d.next)%n]
		if s.valid && s.seq == d.next {
			break
		}
		d.next++
		d.stats.Lost++
	}
	d.holeSince = time.Time{}
	// Whatever was being assembled misses a piece, and the frames after it
	// may reference the lost one: wait for a keyframe.
	if d.asm.active {
		d.asm.broken = true
	}
	d.askKeyframe()
}

func (d *VideoDepacketizer) finish() (AccessUnit, bool) {
	a := &d.asm
	a.active = false
	if !a.broken {
		d.codec.finish(a)
	}
	d.codec.reset(a.empty && !a.broken)
	if a.empty && !a.broken {
		// Parameter sets or SEI on their own timestamp: nothing to show and
		// nothing lost; they go in front of the next unit.
		a.carry = len(a.buf)
		return AccessUnit{}, false
	}
	if a.broken {
		d.stats.Dropped++
		d.askKeyframe()
		return AccessUnit{}, false
	}
	if d.waitKey && !a.keyframe {
		d.stats.Dropped++
		return AccessUnit{}, false
	}
	if a.keyframe {
		d.waitKey, d.needKey = false, false
		d.stats.Keyframes++
	}
	d.stats.Frames++
	return AccessUnit{Data: a.buf, Timestamp: a.ts, Keyframe: a.keyframe}, true
}
