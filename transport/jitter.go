package transport

import (
	"fmt"
	"sync"
	"time"
)

// Jitter buffer units: RTP timestamps of Opus are 48 kHz samples, and the
// room pops one 20 ms tick at a time.
const (
	jbRate = 48000
	jbTick = jbRate / 50 // samples per Pop
	jbHalf = jbTick / 2

	// MaxJitterPayload is the largest RTP payload Push accepts.
	MaxJitterPayload = 1500

	transitWindow = 128                 // packets (2.5 s at 20 ms) for the minimum transit
	histBucket    = jbRate / 200        // 5 ms buckets of delay variation
	histBuckets   = 64                  // covers 0..315 ms, last bucket is overflow
	histForget    = 0.99                // per packet: a 2 s time constant
	histQuantile  = 0.95                // target covers 95% of arrivals
	safetyMargin  = jbRate / 200        // 5 ms on top of the quantile
	shrinkWindow  = 15                  // pops (300 ms) between shrink decisions
	shrinkHyst    = jbRate / 200        // 5 ms
	dropPatience  = 25                  // pops to wait for a quiet frame before forcing a drop
	growSpacing   = 5                   // pops between forced stretches of loud audio
	lossForget    = 0.998               // per tick: about 10 s of loss memory
	lossForFEC    = 0.005               // loss rate that buys one frame of FEC look-ahead
	discontinuity = jbRate              // a 1 s jump in transit time is a new timeline
	seqJump       = 1000                // a sequence jump this large restarts the stream
	dupHistory    = 64                  // played sequence numbers remembered for duplicates
	maxTimeJump   = 220 * jbRate / 1000 // gaps longer than this are jumped, not concealed
)

// FrameKind says what the caller must do for one tick.
type FrameKind uint8

const (
	// FrameSilence: nothing to play (not started, or idle after a long gap).
	// Output silence and do not touch the decoder.
	FrameSilence FrameKind = iota
	// FrameNormal: decode Payload (Samples long).
	FrameNormal
	// FrameFEC: the frame at Seq/TS was lost but the next packet is here;
	// call DecodeFEC(Payload, pcm[:960]). Payload is the NEXT packet, which
	// the following Pop returns again as FrameNormal.
	FrameFEC
	// FrameConceal: nothing usable; call DecodePLC(pcm[:960]).
	FrameConceal
	// FrameContinue: the previous packet was longer than 20 ms (ptime 40/60);
	// play the next 960 samples already decoded from it.
	FrameContinue
)

func (k FrameKind) String() string {
	switch k {
	case FrameSilence:
		return "silence"
	case FrameNormal:
		return "normal"
	case FrameFEC:
		return "fec"
	case FrameConceal:
		return "conceal"
	case FrameContinue:
		return "continue"
	}
	return fmt.Sprintf("FrameKind(%d)", uint8(k))
}

// Frame is what one Pop hands to the room. Payload points into the buffer's
// own output slot and stays valid until the next Pop.
type Frame struct {
	Kind    FrameKind
	Payload []byte
	// Samples is the duration of Payload at 48 kHz for FrameNormal (960 for
	// 20 ms), and the duration to synthesise (960) for FEC and Conceal.
	Samples int
	// AudioLevel is the RFC 6464 level (-dBov, 0..127) of Payload, or -1.
	AudioLevel int
	// Seq and TS identify the frame being produced: for FEC and Conceal the
	// missing one.
	Seq uint16
	TS  uint32
}

// JitterConfig tunes a JitterBuffer.
type JitterConfig struct {
	// MinDelay and MaxDelay bound the adaptive target delay.
	MinDelay time.Duration `yaml:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay"`
	// Slots is the number of packets held; the oldest is dropped beyond it.
	// Each slot costs 320 bytes, 1500 once it has held a larger packet.
	Slots int `yaml:"slots"`
	// MaxConceal is how long an underrun is concealed before the buffer goes
	// idle (FrameSilence) and re-synchronises on the next packet.
	MaxConceal time.Duration `yaml:"max_conceal"`
	// LossAdaptive keeps one extra frame buffered while packets are being
	// lost, so the next packet is there to decode FEC from.
	LossAdaptive bool `yaml:"loss_adaptive"`
	// QuietLevel is the RFC 6464 level (-dBov) at or above which a frame
	// counts as quiet; the delay is preferably changed on quiet frames.
	QuietLevel int `yaml:"quiet_level"`
}

// DefaultJitterConfig returns 20..200 ms, 16 slots (24 KiB, 320 ms of 20 ms packets), 100 ms of
// concealment before idling, loss-adaptive FEC look-ahead.
func DefaultJitterConfig() JitterConfig {
	return JitterConfig{
		MinDelay:     20 * time.Millisecond,
		MaxDelay:     200 * time.Millisecond,
		Slots:        16,
		MaxConceal:   100 * time.Millisecond,
		LossAdaptive: true,
		QuietLevel:   50,
	}
}

// Validate reports the first unusable field.
func (c JitterConfig) Validate() error {
	switch {
	case c.MinDelay < 0 || c.MinDelay > c.MaxDelay:
		return fmt.Errorf("%w: jitter min_delay %v must be within 0..max_delay %v", ErrInvalidConfig, c.MinDelay, c.MaxDelay)
	case c.MaxDelay > 2*time.Second:
		return fmt.Errorf("%w: jitter max_delay %v above 2s", ErrInvalidConfig, c.MaxDelay)
	case c.Slots < 4 || c.Slots > 1024:
		return fmt.Errorf("%w: jitter slots %d (want 4..1024)", ErrInvalidConfig, c.Slots)
	case c.MaxConceal < 20*time.Millisecond:
		return fmt.Errorf("%w: jitter max_conceal %v below one frame", ErrInvalidConfig, c.MaxConceal)
	case c.QuietLevel < 0 || c.QuietLevel > 127:
		return fmt.Errorf("%w: jitter quiet_level %d (want 0..127)", ErrInvalidConfig, c.QuietLevel)
	}
	return nil
}

// JitterStats counts what happened to one participant's packets.
type JitterStats struct {
	Received     uint64 // packets pushed
	Lost         uint64 // sequence numbers never received in time
	Late         uint64 // arrived after their turn had passed
	Duplicates   uint64
	Dropped      uint64 // received but skipped: overflow, stale after a resync, delay shrink
	Concealed    uint64 // ticks returned as FrameConceal
	FECRecovered uint64 // ticks returned as FrameFEC
	Resyncs      uint64 // restarts after an idle gap or a timeline jump
	TargetDelay  time.Duration
	Delay        time.Duration // current playout delay behind the fastest arrival
	Jitter       time.Duration // RFC 3550 interarrival jitter
}

type jbSlot struct {
	used  bool
	seq   int64
	ts    int64
	dur   int32
	n     int32
	level int16
	data  []byte // slotBytes, or MaxJitterPayload once a larger packet came
}

// slotBytes is what each slot holds from the start, all slots in one block:
// a 20 ms Opus packet at 64 kb/s with FEC is about 200 bytes. A slot grows
// to MaxJitterPayload, once, the first time a larger packet lands in it, so
// a voice participant does not carry Slots x 1500 bytes.
const slotBytes = 320

// JitterBuffer reorders one participant's Opus packets and hands the room
// exactly one Frame per 20 ms tick. Push (network goroutine) and Pop (room
// goroutine) may run concurrently; both hold one mutex briefly and never
// allocate.
//
// Timing model: transit = arrival - timestamp. The smallest transit over the
// last 2.5 s is the fastest path; a packet's delay variation is its transit
// above that. The target delay is the 95th percentile of the variation (with
// forgetting) plus 5 ms, within MinDelay..MaxDelay. The playout delay is how
// far the play position is behind what the fastest path would have
// delivered by now; it grows by stretching (concealing without advancing)
// and shrinks by dropping a frame, preferably a quiet one.
//
// Per tick the room does:
//
//	f := jb.Pop(now)
//	switch f.Kind {
//	case FrameNormal:   n, err := dec.Decode(f.Payload, pcm) // n > 960 for 40/60 ms packets: keep the rest
//	case FrameContinue: // play the next 960 samples kept from the last Normal
//	case FrameFEC:      err := dec.DecodeFEC(f.Payload, pcm[:960])
//	case FrameConceal:  err := dec.DecodePLC(pcm[:960])
//	case FrameSilence:  clear(pcm) // leave the decoder alone
//	}
//
// A decode error on FrameNormal should be concealed with DecodePLC.
//
// Supported packet durations: 20 ms natively, and multiples of 20 ms (40, 60
// ms) through FrameContinue. Shorter packets (10 ms) are not supported: they
// play one per tick and the excess is dropped by the delay control, which
// degrades audio but never stalls. Plain RTP endpoints pair their 10 ms
// G.711 packets before the buffer.
type JitterBuffer struct {
	mu  sync.Mutex
	cfg JitterConfig
	// duration is a packet's length at 48 kHz: Opus's TOC unless set.
	duration func(payload []byte) int

	minDelay, maxDelay, maxConceal int64 // in samples

	slots []jbSlot
	out   [MaxJitterPayload]byte

	havePackets bool
	epoch       time.Time
	started     bool
	highestSeq  int64
	highestTS   int64
	nextSeq     int64  // next sequence number to play
	floor       int64  // while not started, packets below this are late
	playTS      int64  // timestamp of the next tick to play
	playedEnd   int64  // end timestamp of the last packet played
	played      uint64 // bit i: nextSeq-1-i was received

	transits    [transitWindow]int64
	nTransits   int
	transitPos  int
	minTransit  int64
	lastTransit int64
	jitter      float64 // RFC 3550 J, in samples

	hist      [histBuckets]float64
	histTotal float64
	histScale float64

	lossRate     float64
	target       int64
	windowMin    int64
	windowCount  int
	dropPending  bool
	dropWait     int
	sinceStretch int
	concealRun   int64 // samples concealed in the current underrun

	stats JitterStats
}

// NewJitterBuffer allocates every slot up front (see slotBytes).
func NewJitterBuffer(cfg JitterConfig) (*JitterBuffer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	j := &JitterBuffer{
		cfg:        cfg,
		minDelay:   durToSamples(cfg.MinDelay),
		maxDelay:   durToSamples(cfg.MaxDelay),
		maxConceal: durToSamples(cfg.MaxConceal),
		slots:      make([]jbSlot, cfg.Slots),
		duration:   opusSamples,
	}
	block := make([]byte, cfg.Slots*slotBytes)
	for i := range j.slots {
		j.slots[i].data = block[i*slotBytes : (i+1)*slotBytes : (i+1)*slotBytes]
	}
	j.resetLocked()
	return j, nil
}

// SetPacketDuration replaces how a payload's duration (48 kHz samples) is
// read, for payloads other than Opus. Call it before the first Push.
func (j *JitterBuffer) SetPacketDuration(fn func(payload []byte) int) {
	j.mu.Lock()
	j.duration = fn
	j.mu.Unlock()
}

func durToSamples(d time.Duration) int64 { return int64(d) * jbRate / int64(time.Second) }

func samplesToDur(s int64) time.Duration { return time.Duration(s * int64(time.Second) / jbRate) }

// Reset returns the buffer to its new state, counters included.
func (j *JitterBuffer) Reset() {
	j.mu.Lock()
	j.resetLocked()
	j.mu.Unlock()
}

func (j *JitterBuffer) resetLocked() {
	for i := range j.slots {
		j.slots[i].used = false
	}
	j.havePackets, j.started = false, false
	j.played = 0
	j.resetTransits()
	j.jitter = 0
	clear(j.hist[:])
	j.histTotal, j.histScale = 0, 1
	j.lossRate = 0
	j.target = j.minDelay
	j.resetShrink()
	j.concealRun = 0
	j.stats = JitterStats{}
}

func (j *JitterBuffer) resetTransits() {
	j.nTransits, j.transitPos = 0, 0
}

func (j *JitterBuffer) resetShrink() {
	j.windowMin, j.windowCount = 1<<62, 0
	j.dropPending, j.dropWait = false, 0
}

func (j *JitterBuffer) slot(seq int64) *jbSlot {
	return &j.slots[uint64(seq)%uint64(len(j.slots))]
}

// present returns the slot holding seq, or nil.
func (j *JitterBuffer) present(seq int64) *jbSlot {
	s := j.slot(seq)
	if s.used && s.seq == seq {
		return s
	}
	return nil
}

func (j *JitterBuffer) now(t time.Time) int64 { return durToSamples(t.Sub(j.epoch)) }

// Push copies one RTP payload in. audioLevel is the RFC 6464 level in -dBov
// (0..127) or -1. It never blocks for long and never allocates; late,
// duplicate and overflowing packets are counted, not returned as errors.
func (j *JitterBuffer) Push(seq uint16, ts uint32, payload []byte, audioLevel int, now time.Time) error {
	if len(payload) == 0 {
		return ErrEmptyPayload
	}
	if len(payload) > MaxJitterPayload {
		return ErrPayloadTooLarge
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Received++

	var eseq, ets int64
	if !j.havePackets {
		j.havePackets = true
		j.epoch = now
		eseq, ets = int64(seq), int64(ts)
		j.restartAt(eseq)
		j.highestTS = ets
	} else {
		eseq = j.highestSeq + int64(int16(seq-uint16(j.highestSeq)))
		ets = j.highestTS + int64(int32(ts-uint32(j.highestTS)))
	}
	transit := j.now(now) - ets

	// A sender restart or a timeline jump: start over on this packet.
	if j.nTransits > 0 && abs64(transit-j.lastTransit) > discontinuity ||
		eseq-j.highestSeq > seqJump || j.nextSeq-eseq > seqJump {
		j.flush()
		j.stats.Resyncs++
		j.resetTransits()
		j.restartAt(eseq)
		j.highestTS = ets
	}
	if eseq > j.highestSeq {
		j.highestSeq = eseq
	}
	if ets-j.highestTS > 0 {
		j.highestTS = ets
	}

	if eseq < j.nextSeq {
		// Before the first frame plays, a reordered earlier packet still fits.
		if !j.started && eseq >= j.floor && j.highestSeq-eseq < int64(len(j.slots)) {
			j.nextSeq = eseq
		} else {
			if d := j.nextSeq - 1 - eseq; d < dupHistory && j.played&(1<<uint(d)) != 0 {
				j.stats.Duplicates++
			} else {
				j.stats.Late++
				j.measure(transit) // late packets are exactly what the target must learn
			}
			return nil
		}
	}
	// Overflow: drop the oldest until the packet fits.
	if eseq-j.nextSeq >= int64(len(j.slots)) {
		for eseq-j.nextSeq >= int64(len(j.slots)) {
			j.skipSeq(true)
		}
		// Play on from the oldest survivor rather than concealing the dropped span.
		if p := j.present(j.nextSeq); p != nil && j.started {
			j.playTS, j.playedEnd = p.ts, p.ts
		}
	}
	s := j.slot(eseq)
	if s.used && s.seq == eseq {
		j.stats.Duplicates++
		return nil
	}
	j.measure(transit)
	s.used = true
	s.seq, s.ts = eseq, ets
	s.dur = int32(j.duration(payload))
	if len(payload) > len(s.data) {
		s.data = make([]byte, MaxJitterPayload)
	}
	s.n = int32(copy(s.data, payload))
	s.level = int16(audioLevel)
	return nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// restartAt forgets the play position; the next Pop starts afresh.
func (j *JitterBuffer) restartAt(eseq int64) {
	j.started = false
	j.highestSeq, j.nextSeq = eseq, eseq
	j.floor = eseq - int64(len(j.slots))
	j.played = 0
	j.concealRun = 0
	j.resetShrink()
}

// flush drops every buffered packet.
func (j *JitterBuffer) flush() {
	for i := range j.slots {
		if j.slots[i].used {
			j.slots[i].used = false
			j.stats.Dropped++
		}
	}
}

// skipSeq moves past nextSeq without playing it. dropped says whether a
// packet that is present counts as dropped; an absent one counts as lost.
func (j *JitterBuffer) skipSeq(dropped bool) {
	got := false
	if s := j.present(j.nextSeq); s != nil {
		s.used = false
		got = true
		if dropped {
			j.stats.Dropped++
		}
	} else {
		j.stats.Lost++
		j.lossRate += 1 - lossForget
	}
	j.played <<= 1
	if got {
		j.played |= 1
	}
	j.nextSeq++
}

// measure updates the jitter estimates with one packet's transit time.
func (j *JitterBuffer) measure(transit int64) {
	if j.nTransits > 0 {
		// RFC 3550 section 6.4.1.
		d := float64(abs64(transit - j.lastTransit))
		j.jitter += (d - j.jitter) / 16
	}
	j.lastTransit = transit
	evicted := j.transits[j.transitPos]
	j.transits[j.transitPos] = transit
	j.transitPos = (j.transitPos + 1) % transitWindow
	full := j.nTransits == transitWindow
	if !full {
		j.nTransits++
	}
	switch {
	case j.nTransits == 1 || transit <= j.minTransit:
		j.minTransit = transit
	case full && evicted == j.minTransit:
		// The minimum left the window: rescan (rare).
		m := transit
		for _, v := range j.transits {
			m = min(m, v)
		}
		j.minTransit = m
	}

	// Forgetting by growing the weight of new samples instead of decaying
	// every bucket; renormalise before it overflows.
	b := int((transit - j.minTransit) / histBucket)
	b = min(b, histBuckets-1)
	j.hist[b] += j.histScale
	j.histTotal += j.histScale
	j.histScale /= histForget
	if j.histScale > 1e12 {
		for i := range j.hist {
			j.hist[i] /= j.histScale
		}
		j.histTotal /= j.histScale
		j.histScale = 1
	}
}

// quantileDelay returns the delay variation that histQuantile of packets
// stay within, in samples.
func (j *JitterBuffer) quantileDelay() int64 {
	var c float64
	limit := histQuantile * j.histTotal
	for i, h := range j.hist {
		c += h
		if c >= limit {
			return int64(i+1) * histBucket
		}
	}
	return histBuckets * histBucket
}

// updateTarget derives the target delay, in samples.
func (j *JitterBuffer) updateTarget() {
	t := j.quantileDelay() + safetyMargin
	if j.cfg.LossAdaptive && j.lossRate > lossForFEC {
		// While losing packets, wait for the lost frame's successor too, so
		// its FEC can rebuild the loss.
		t += jbTick
	}
	j.target = min(max(t, j.minDelay), j.maxDelay)
}

func (j *JitterBuffer) quiet(level int16) bool {
	return level >= 0 && int(level) >= j.cfg.QuietLevel
}

// Pop returns the frame for this 20 ms tick. Call it exactly once per tick.
func (j *JitterBuffer) Pop(now time.Time) Frame {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.havePackets {
		return Frame{Kind: FrameSilence, AudioLevel: -1}
	}
	j.updateTarget()
	nowS := j.now(now)
	if !j.started && !j.start(nowS) {
		return Frame{Kind: FrameSilence, AudioLevel: -1}
	}
	j.lossRate *= lossForget
	delay := nowS - j.minTransit - j.playTS
	j.stats.Delay = samplesToDur(delay)
	j.trackShrink(delay)

	// Still inside a packet longer than one tick.
	if j.playedEnd-j.playTS >= jbHalf {
		f := Frame{Kind: FrameContinue, Samples: jbTick, AudioLevel: -1, Seq: uint16(j.nextSeq - 1), TS: uint32(j.playTS)}
		j.playTS += jbTick
		return f
	}

	// Find the first packet still to play; drop those whose time has passed.
	var s *jbSlot
	for seq := j.nextSeq; seq <= j.highestSeq; seq++ {
		p := j.present(seq)
		if p == nil {
			continue
		}
		if p.ts+jbHalf < j.playTS && seq == j.nextSeq {
			// Arrived after we concealed its place.
			j.stats.Late++
			j.skipSeq(false)
			continue
		}
		s = p
		break
	}

	if s == nil {
		return j.underrun(delay)
	}
	gap := s.ts - j.playTS
	if gap > maxTimeJump || gap < -jbHalf {
		// A jump in the sender's timeline: follow it instead of concealing.
		j.stats.Resyncs++
		j.playTS = s.ts
		gap = 0
	}
	j.concealRun = 0
	if gap > jbHalf {
		// Lost packets (or a short timestamp gap) before s.
		if delay < j.target {
			return j.stretch()
		}
		f := Frame{Samples: jbTick, AudioLevel: -1, Seq: uint16(j.nextSeq), TS: uint32(j.playTS)}
		if gap <= jbTick+jbHalf {
			f.Kind = FrameFEC
			f.Seq = uint16(s.seq - 1)
			f.Payload = j.out[:copy(j.out[:], s.data[:s.n])]
			f.AudioLevel = int(s.level)
			j.stats.FECRecovered++
		} else {
			f.Kind = FrameConceal
			j.stats.Concealed++
		}
		j.playTS += jbTick
		return f
	}

	// s is due now.
	if j.dropPending {
		j.dropWait++
		next := j.present(s.seq + 1)
		if next != nil && next.ts == s.ts+int64(s.dur) && (j.quiet(s.level) || j.dropWait > dropPatience) {
			for j.nextSeq <= s.seq {
				j.skipSeq(true)
			}
			j.playTS = next.ts
			s = next
			j.dropPending = false
			j.resetShrink()
		}
	}
	j.sinceStretch++
	if delay < j.target && (j.quiet(s.level) || delay+jbTick < j.target && j.sinceStretch > growSpacing) {
		return j.stretch()
	}
	return j.play(s)
}

// start picks where to begin playing: the newest packet that has waited
// the target delay, so a burst after a stall does not play stale audio.
func (j *JitterBuffer) start(nowS int64) bool {
	var best *jbSlot
	for seq := j.nextSeq; seq <= j.highestSeq; seq++ {
		p := j.present(seq)
		if p != nil && nowS-j.minTransit-p.ts >= j.target {
			best = p
		}
	}
	if best == nil {
		return false
	}
	for j.nextSeq < best.seq {
		j.skipSeq(true)
	}
	j.started = true
	j.playTS = best.ts
	j.playedEnd = best.ts
	j.concealRun = 0
	j.sinceStretch = 0
	j.resetShrink()
	return true
}

// trackShrink arms a one-frame drop when the delay stayed a frame above
// target for a whole window, or at once above the maximum.
func (j *JitterBuffer) trackShrink(delay int64) {
	j.windowMin = min(j.windowMin, delay)
	j.windowCount++
	if delay > j.maxDelay+jbTick {
		j.dropPending, j.dropWait = true, dropPatience
	}
	if j.windowCount < shrinkWindow {
		return
	}
	if excess := j.windowMin - j.target - shrinkHyst; excess >= jbTick && !j.dropPending {
		j.dropPending, j.dropWait = true, 0
		if excess >= 3*jbTick {
			// Far too deep (after a jitter storm): do not wait for a quiet frame.
			j.dropWait = dropPatience
		}
	}
	j.windowMin, j.windowCount = 1<<62, 0
}

// stretch conceals one tick without moving the play position: the delay
// grows by 20 ms.
func (j *JitterBuffer) stretch() Frame {
	j.stats.Concealed++
	j.sinceStretch = 0
	return Frame{Kind: FrameConceal, Samples: jbTick, AudioLevel: -1, Seq: uint16(j.nextSeq), TS: uint32(j.playTS)}
}

// underrun handles a tick with nothing buffered.
func (j *JitterBuffer) underrun(delay int64) Frame {
	if j.concealRun >= j.maxConceal {
		// The sender paused or the path stalled: go idle and resync later.
		j.started = false
		j.floor = j.nextSeq
		j.stats.Resyncs++
		j.resetTransits()
		return Frame{Kind: FrameSilence, AudioLevel: -1}
	}
	j.concealRun += jbTick
	if delay < j.target {
		return j.stretch()
	}
	j.stats.Concealed++
	f := Frame{Kind: FrameConceal, Samples: jbTick, AudioLevel: -1, Seq: uint16(j.nextSeq), TS: uint32(j.playTS)}
	j.playTS += jbTick
	return f
}

// play hands out s and moves past it.
func (j *JitterBuffer) play(s *jbSlot) Frame {
	f := Frame{
		Kind:       FrameNormal,
		Payload:    j.out[:copy(j.out[:], s.data[:s.n])],
		Samples:    int(s.dur),
		AudioLevel: int(s.level),
		Seq:        uint16(s.seq),
		TS:         uint32(s.ts),
	}
	for j.nextSeq < s.seq {
		j.skipSeq(false)
	}
	j.skipSeq(false) // s itself: present, so counted as received
	j.playTS = s.ts + jbTick
	j.playedEnd = s.ts + int64(s.dur)
	return f
}

// Stats returns a snapshot of the counters and delays.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.stats
	st.TargetDelay = samplesToDur(j.target)
	st.Jitter = samplesToDur(int64(j.jitter))
	return st
}

// opusSamples returns a packet's duration at 48 kHz from its TOC byte
// (RFC 6716 section 3.1), or one tick when the packet is malformed.
func opusSamples(p []byte) int {
	toc := p[0]
	cfg := toc >> 3
	var per int
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		per = [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		per = [2]int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = [4]int{120, 240, 480, 960}[cfg&3]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return jbTick
		}
		frames = int(p[1] & 0x3f)
	}
	if n := per * frames; n > 0 && n <= 5760 {
		return n
	}
	return jbTick
}
