package client

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// StreamSync is what a receiver needs to place one incoming stream on the
// sender's clock: the last RTCP sender report's (NTP, RTP) pair and the
// last RTP packet's timestamp and arrival.
type StreamSync struct {
	HaveSR    bool
	SRNTP     time.Time // the report's NTP time
	SRRTP     uint32    // the RTP timestamp that goes with SRNTP
	SRs       uint64    // sender reports received
	LastRTP   uint32    // timestamp of the last packet received
	LastAt    time.Time // its arrival
	ClockRate uint32
}

// Capture maps RTP timestamp ts to the sender's wall clock through the
// last sender report; ok is false before the first report.
func (s StreamSync) Capture(ts uint32) (time.Time, bool) {
	if !s.HaveSR || s.ClockRate == 0 {
		return time.Time{}, false
	}
	d := int64(int32(ts - s.SRRTP))
	return s.SRNTP.Add(time.Duration(d * int64(time.Second) / int64(s.ClockRate))), true
}

// Delay is how long after its capture instant (per the sender report) the
// last packet arrived; a receiver that syncs streams by their reports plays
// two streams with equal delays in sync.
func (s StreamSync) Delay() (time.Duration, bool) {
	c, ok := s.Capture(s.LastRTP)
	if !ok || s.LastAt.IsZero() {
		return 0, false
	}
	return s.LastAt.Sub(c), true
}

type streamSync struct {
	mu sync.Mutex
	s  StreamSync
}

func (ss *streamSync) packet(raw []byte, at time.Time) {
	if len(raw) < 12 {
		return
	}
	ts := binary.BigEndian.Uint32(raw[4:8])
	ss.mu.Lock()
	ss.s.LastRTP, ss.s.LastAt = ts, at
	ss.mu.Unlock()
}

func (ss *streamSync) get() StreamSync {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.s
}

// readRTCP reads RTCP until the connection closes (the interceptors only
// see RTCP that is read) and records sender reports.
func (ss *streamSync) readRTCP(read func([]byte) (int, interceptor.Attributes, error), clockRate uint32) {
	ss.mu.Lock()
	ss.s.ClockRate = clockRate
	ss.mu.Unlock()
	buf := make([]byte, 1500)
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pk := range pkts {
			if sr, ok := pk.(*rtcp.SenderReport); ok {
				ss.mu.Lock()
				ss.s.HaveSR, ss.s.SRNTP, ss.s.SRRTP = true, ntpTime(sr.NTPTime), sr.RTPTime
				ss.s.SRs++
				ss.mu.Unlock()
			}
		}
	}
}

// ntpTime converts a 64-bit NTP timestamp to time.Time.
func ntpTime(t uint64) time.Time {
	const ntpEpochOffset = 2208988800
	sec := int64(t>>32) - ntpEpochOffset
	frac := int64((t & 0xffffffff) * 1_000_000_000 >> 32)
	return time.Unix(sec, frac)
}

// AVSync returns the sender-report state of the received audio and video
// (zero StreamSync for a stream not received).
func (p *Participant) AVSync() (audio, video StreamSync) {
	return p.audioSync.get(), p.videoSync.get()
}

// SetREMB makes the participant send a REMB of bps bits/s for the received
// video every rembInterval (0 stops), as a browser's bandwidth estimator
// would; the server adapts the composite to it.
func (p *Participant) SetREMB(bps uint64) {
	if p.video != nil {
		p.video.remb.Store(bps)
	}
}

// rembInterval spaces the REMBs SetREMB sends.
const rembInterval = 200 * time.Millisecond

// rembLoop sends the REMB SetREMB asks for.
func (p *Participant) rembLoop(ssrc uint32) {
	t := time.NewTicker(rembInterval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		if bps := p.video.remb.Load(); bps > 0 {
			_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps), SSRCs: []uint32{ssrc}}})
		}
	}
}
