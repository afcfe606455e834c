package transport

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var epoch0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

// arrival is one packet reaching the buffer at a fake time.
type arrival struct {
	seq   uint16
	ts    uint32
	at    time.Duration
	level int
	toc   byte
}

// payload is a one-frame Opus packet (TOC 0x78: hybrid, 20 ms, code 0)
// that carries its sequence number so tests can check what was played.
func payload(toc byte, seq uint16) []byte {
	return []byte{toc, byte(seq >> 8), byte(seq), 0xaa}
}

func payloadSeq(p []byte) uint16 { return uint16(p[1])<<8 | uint16(p[2]) }

// stream builds n packets of step samples each, sent every step, arriving
// at start + k*step + jitter(k); drop(k) removes packet k.
func stream(n int, seq0 uint16, ts0 uint32, step int, start time.Duration, jitter func(k int) time.Duration, drop func(k int) bool) []arrival {
	var a []arrival
	period := time.Duration(step) * time.Second / 48000
	toc := byte(0x78)
	switch step {
	case 1920:
		toc = 0x10 // SILK NB 40 ms
	case 480:
		toc = 0x60 // hybrid SWB 10 ms
	}
	for k := 0; k < n; k++ {
		if drop != nil && drop(k) {
			continue
		}
		at := start + time.Duration(k)*period
		if jitter != nil {
			at += jitter(k)
		}
		a = append(a, arrival{seq: seq0 + uint16(k), ts: ts0 + uint32(k*step), at: at, level: -1, toc: toc})
	}
	return a
}

type popped struct {
	kind  FrameKind
	seq   uint16 // Frame.Seq
	pseq  uint16 // sequence number carried in the payload
	at    time.Duration
	delay time.Duration
}

// simulate pushes arrivals in time order and pops every 20 ms from popAt.
func simulate(t *testing.T, jb *JitterBuffer, arr []arrival, popAt time.Duration, pops int) []popped {
	t.Helper()
	arr = slices.Clone(arr)
	slices.SortStableFunc(arr, func(a, b arrival) int { return int(a.at - b.at) })
	var out []popped
	i := 0
	for k := 0; k < pops; k++ {
		now := popAt + time.Duration(k)*20*ms
		for ; i < len(arr) && arr[i].at <= now; i++ {
			a := arr[i]
			if err := jb.Push(a.seq, a.ts, payload(a.toc, a.seq), a.level, epoch0.Add(a.at)); err != nil {
				t.Fatalf("push %d: %v", a.seq, err)
			}
		}
		f := jb.Pop(epoch0.Add(now))
		p := popped{kind: f.Kind, seq: f.Seq, at: now, delay: jb.Stats().Delay}
		switch f.Kind {
		case FrameNormal, FrameFEC:
			p.pseq = payloadSeq(f.Payload)
			if f.Samples <= 0 {
				t.Fatalf("tick %d: %v frame with %d samples", k, f.Kind, f.Samples)
			}
		}
		if f.Kind == FrameFEC && p.pseq != f.Seq+1 {
			t.Fatalf("tick %d: FEC for seq %d carries packet %d, want the next one", k, f.Seq, p.pseq)
		}
		out = append(out, p)
	}
	return out
}

func newJB(t testing.TB, mod func(*JitterConfig)) *JitterBuffer {
	t.Helper()
	cfg := DefaultJitterConfig()
	if mod != nil {
		mod(&cfg)
	}
	jb, err := NewJitterBuffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return jb
}

// normals returns the sequence numbers of the Normal frames, in play order.
func normals(fr []popped) []uint16 {
	var s []uint16
	for _, f := range fr {
		if f.kind == FrameNormal {
			if f.seq != f.pseq {
				panic("normal frame seq does not match its payload")
			}
			s = append(s, f.seq)
		}
	}
	return s
}

func count(fr []popped, k FrameKind) int {
	n := 0
	for _, f := range fr {
		if f.kind == k {
			n++
		}
	}
	return n
}

// checkContiguous fails unless seqs counts up by one from first (mod 2^16).
func checkContiguous(t *testing.T, seqs []uint16, first uint16, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("played %d packets, want %d: %v", len(seqs), n, seqs)
	}
	for i, s := range seqs {
		if s != first+uint16(i) {
			t.Fatalf("played[%d] = %d, want %d (played %v)", i, s, first+uint16(i), seqs)
		}
	}
}

// checkNoGapsAfterStart fails if a Silence frame appears between the first
// and the last Normal frame.
func checkNoGapsAfterStart(t *testing.T, fr []popped) {
	t.Helper()
	first, last := -1, -1
	for i, f := range fr {
		if f.kind == FrameNormal {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	for i := first; i >= 0 && i <= last; i++ {
		if fr[i].kind == FrameSilence {
			t.Fatalf("tick %d is silence in the middle of the stream", i)
		}
	}
}

func TestJitterOrdering(t *testing.T) {
	const n = 200
	swapPairs := func(k int) time.Duration { // k and k+1 swap places from packet 10 on
		if k < 10 {
			return 0
		}
		if k%2 == 0 {
			return 20 * ms
		}
		return -20 * ms
	}
	deep := func(k int) time.Duration { // every 5th packet 50 ms late, overtaken by two
		if k%5 == 3 {
			return 50 * ms
		}
		return 0
	}
	tests := []struct {
		name       string
		seq0       uint16
		ts0        uint32
		jitter     func(int) time.Duration
		dup        bool
		maxLate    int // packets the buffer may give up on before it has learnt the jitter
		wantDupMin int
	}{
		{name: "in order", seq0: 1000, ts0: 123456},
		{name: "seq wraps at 65535", seq0: 65530, ts0: 5000},
		{name: "ts wraps", seq0: 7, ts0: 1<<32 - 5*960},
		{name: "both wrap", seq0: 65500, ts0: 1<<32 - 40*960},
		{name: "pairs swapped", seq0: 65520, ts0: 1<<32 - 3*960, jitter: swapPairs, maxLate: 2},
		{name: "deep reordering", seq0: 40, ts0: 0, jitter: deep, maxLate: 2},
		{name: "every packet twice", seq0: 65533, ts0: 99, dup: true, wantDupMin: n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arr := stream(n, tc.seq0, tc.ts0, 960, 3*ms, tc.jitter, nil)
			if tc.dup {
				// Second copies: one immediately, one after the original was played.
				for i := range arr {
					d := arr[i]
					if i%2 == 0 {
						d.at += ms
					} else {
						d.at += 100 * ms
					}
					arr = append(arr, d)
				}
			}
			jb := newJB(t, nil)
			fr := simulate(t, jb, arr, 10*ms, n+20)
			st := jb.Stats()
			played := normals(fr)
			if tc.maxLate == 0 {
				checkContiguous(t, played, tc.seq0, n)
			} else {
				if int(st.Late) > tc.maxLate || int(st.Lost) > tc.maxLate {
					t.Fatalf("late %d lost %d, want <= %d", st.Late, st.Lost, tc.maxLate)
				}
				// Whatever was played is in order, and everything after warm-up was played.
				for i := 1; i < len(played); i++ {
					if int16(played[i]-played[i-1]) <= 0 {
						t.Fatalf("out of order: %d after %d", played[i], played[i-1])
					}
				}
				checkContiguous(t, played[len(played)-150:], tc.seq0+n-150, 150)
			}
			checkNoGapsAfterStart(t, fr)
			if int(st.Duplicates) < tc.wantDupMin || (!tc.dup && st.Duplicates != 0) {
				t.Errorf("duplicates = %d, want >= %d", st.Duplicates, tc.wantDupMin)
			}
			if st.TargetDelay < 20*ms || st.TargetDelay > 200*ms {
				t.Errorf("target delay %v outside 20..200 ms", st.TargetDelay)
			}
			t.Logf("stats %+v", st)
		})
	}
}

func TestJitterBurstLoss(t *testing.T) {
	const n = 1000
	r := rand.New(rand.NewPCG(3, 4))
	// Gilbert-Elliott: bursts of loss averaging 30%.
	lost := make([]bool, n)
	bad := false
	for k := 10; k < n-5; k++ {
		if bad {
			bad = r.Float64() < 0.5
		} else {
			bad = r.Float64() < 0.215
		}
		lost[k] = bad
	}
	nLost := 0
	for _, l := range lost {
		if l {
			nLost++
		}
	}
	// Up to 15 ms of jitter, so that waiting for the next packet matters.
	jit := func(k int) time.Duration { return time.Duration((k*7919)%16) * ms }
	jb := newJB(t, nil)
	fr := simulate(t, jb, stream(n, 60000, 1<<31, 960, 4*ms, jit, func(k int) bool { return lost[k] }), 10*ms, n+5)
	st := jb.Stats()
	t.Logf("%d of %d lost (%.0f%%): %+v", nLost, n, 100*float64(nLost)/n, st)

	if got := float64(nLost) / n; got < 0.25 || got > 0.35 {
		t.Fatalf("loss pattern has %.2f loss, want about 0.30", got)
	}
	// Silence only after MaxConceal (5 ticks) of concealment: a burst that long
	// is handled like a pause.
	run := 0
	for i, f := range fr[20:] {
		switch f.kind {
		case FrameConceal:
			run++
		case FrameSilence:
			if run < 5 {
				t.Fatalf("tick %d: silence after only %d concealed ticks", i+20, run)
			}
		default:
			run = 0
		}
	}
	if int(st.Lost) != nLost {
		t.Errorf("Lost = %d, want %d", st.Lost, nLost)
	}
	played := normals(fr)
	if len(played) != n-nLost-int(st.Dropped) {
		t.Errorf("played %d, want %d received minus %d dropped", len(played), n-nLost, st.Dropped)
	}
	for i := 1; i < len(played); i++ {
		if int16(played[i]-played[i-1]) <= 0 {
			t.Fatalf("out of order: %d after %d", played[i], played[i-1])
		}
	}
	// Every lost frame is covered by a FEC or concealment tick.
	if int(st.Concealed+st.FECRecovered) < nLost {
		t.Errorf("concealed %d + FEC %d < lost %d", st.Concealed, st.FECRecovered, nLost)
	}
	if count(fr, FrameConceal) != int(st.Concealed) || count(fr, FrameFEC) != int(st.FECRecovered) {
		t.Errorf("stats disagree with frames")
	}
	// A lost packet followed by a received one is recoverable by FEC; the
	// loss-adaptive delay must make most of them so.
	recoverable := 0
	for k := 0; k+1 < n; k++ {
		if lost[k] && !lost[k+1] {
			recoverable++
		}
	}
	if int(st.FECRecovered) < recoverable*8/10 {
		t.Errorf("FEC used %d times, want >= 80%% of %d recoverable losses", st.FECRecovered, recoverable)
	}
	if st.TargetDelay > 60*ms {
		t.Errorf("target delay %v under loss without jitter, want <= 60 ms", st.TargetDelay)
	}

	// Without loss adaptation FEC is only used by luck, which the test must notice.
	jb2 := newJB(t, func(c *JitterConfig) { c.LossAdaptive = false })
	simulate(t, jb2, stream(n, 60000, 1<<31, 960, 4*ms, jit, func(k int) bool { return lost[k] }), 10*ms, n+5)
	st2 := jb2.Stats()
	t.Logf("without loss adaptation: %+v", st2)
	if st2.FECRecovered*10 >= st.FECRecovered*9 {
		t.Errorf("loss adaptation does not help FEC: %d vs %d", st.FECRecovered, st2.FECRecovered)
	}
}

func TestJitterFECSelected(t *testing.T) {
	jb := newJB(t, func(c *JitterConfig) { c.MinDelay = 40 * ms })
	fr := simulate(t, jb, stream(60, 100, 0, 960, 2*ms, nil, func(k int) bool { return k == 30 }), 10*ms, 60)
	var i int
	for i = range fr {
		if fr[i].kind != FrameNormal && fr[i].kind != FrameSilence {
			break
		}
	}
	if fr[i].kind != FrameFEC || fr[i].seq != 130 || fr[i].pseq != 131 {
		t.Fatalf("lost packet gave %+v, want FEC for 130 from 131", fr[i])
	}
	if fr[i+1].kind != FrameNormal || fr[i+1].seq != 131 {
		t.Fatalf("after FEC got %+v, want normal 131", fr[i+1])
	}
	st := jb.Stats()
	if st.FECRecovered != 1 || st.Lost != 1 || st.Concealed != 0 {
		t.Fatalf("stats %+v, want 1 FEC, 1 lost, 0 concealed", st)
	}
	// When the successor is not there yet (it is 15 ms late): PLC.
	jb = newJB(t, nil)
	late31 := func(k int) time.Duration {
		if k == 31 {
			return 15 * ms
		}
		return 0
	}
	fr = simulate(t, jb, stream(60, 100, 0, 960, 2*ms, late31, func(k int) bool { return k == 30 }), 10*ms, 70)
	last := 0
	for i, f := range fr {
		if f.kind == FrameNormal {
			last = i
		}
	}
	if st := jb.Stats(); st.FECRecovered != 0 || count(fr[:last], FrameConceal) != 1 || st.Lost != 1 {
		t.Fatalf("stats %+v, want 1 concealed (before the stream ended), 1 lost", st)
	}
	checkContiguous(t, normals(fr)[30:], 131, 29)
}

func TestJitterLongGap(t *testing.T) {
	tests := []struct {
		name string
		// second half of the stream: packets 50..99
		resume func(k int) (ts uint32, at time.Duration)
		// the first packet worth playing after the gap
		firstFresh uint16
	}{
		{
			name: "sender pauses 300 ms, ts jumps",
			resume: func(k int) (uint32, time.Duration) {
				return uint32((k + 15) * 960), 3*ms + time.Duration(k+15)*20*ms
			},
			firstFresh: 50,
		},
		{
			name: "sender pauses 300 ms, ts continues",
			resume: func(k int) (uint32, time.Duration) {
				return uint32(k * 960), 3*ms + time.Duration(k+15)*20*ms
			},
			firstFresh: 50,
		},
		{
			name: "network stalls 300 ms then bursts",
			resume: func(k int) (uint32, time.Duration) {
				at := 3*ms + time.Duration(k)*20*ms
				if at < 3*ms+65*20*ms {
					at = 3*ms + 65*20*ms // packets 50..64 arrive together
				}
				return uint32(k * 960), at
			},
			firstFresh: 63,
		},
		{
			name: "ts jumps an hour, seq continues",
			resume: func(k int) (uint32, time.Duration) {
				return uint32(k*960 + 3600*48000), 3*ms + time.Duration(k)*20*ms
			},
			firstFresh: 50,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arr := stream(50, 0, 0, 960, 3*ms, nil, nil)
			var resumeAt time.Duration = 1 << 62
			for k := 50; k < 100; k++ {
				ts, at := tc.resume(k)
				arr = append(arr, arrival{seq: uint16(k), ts: ts, at: at, level: -1, toc: 0x78})
				resumeAt = min(resumeAt, at)
			}
			jb := newJB(t, nil)
			fr := simulate(t, jb, arr, 10*ms, 130)
			var firstAfter int = -1
			for i, f := range fr {
				if f.at < resumeAt {
					continue
				}
				if f.kind == FrameNormal {
					firstAfter = i
					break
				}
			}
			if firstAfter < 0 {
				t.Fatal("never resumed")
			}
			f := fr[firstAfter]
			if wait := f.at - resumeAt; wait > 45*ms {
				t.Errorf("resumed %v after the first new packet, want within a couple of frames", wait)
			}
			if f.seq < tc.firstFresh {
				t.Errorf("resumed with seq %d: stale audio, want >= %d", f.seq, tc.firstFresh)
			}
			// From there on it plays every packet.
			checkContiguous(t, normals(fr[firstAfter:]), f.seq, 100-int(f.seq))
			// During the gap: at most 100 ms of concealment, then silence.
			conceal := 0
			for _, g := range fr {
				if g.at > 1000*ms && g.at < resumeAt && g.kind == FrameConceal {
					conceal++
				}
			}
			if conceal > 5 {
				t.Errorf("%d concealed ticks during the gap, want <= 5", conceal)
			}
			if st := jb.Stats(); st.Lost != 0 || st.Delay > 60*ms {
				t.Errorf("after the gap: %+v, want no loss and delay <= 60 ms", st)
			}
		})
	}
}

func TestJitterLatePacket(t *testing.T) {
	arr := stream(80, 500, 0, 960, 3*ms, func(k int) time.Duration {
		if k == 40 {
			return 200 * ms
		}
		return 0
	}, nil)
	jb := newJB(t, nil)
	fr := simulate(t, jb, arr, 10*ms, 100)
	st := jb.Stats()
	if st.Late != 1 || st.Lost != 1 {
		t.Fatalf("stats %+v, want 1 late and 1 lost", st)
	}
	if slices.Contains(normals(fr), 540) {
		t.Fatal("late packet 540 was played")
	}
}

func TestJitterAdaptiveDelay(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const (
		calm1  = 250  // 5 s
		rough  = 750  // 15 s, jitter uniform 0..80 ms
		calm2  = 1000 // 20 s
		storm  = 500  // 10 s, jitter up to 600 ms
		calm3  = 750
		total  = calm1 + rough + calm2 + storm + calm3
		phase1 = calm1
		phase2 = phase1 + rough
		phase3 = phase2 + calm2
		phase4 = phase3 + storm
	)
	jit := make([]time.Duration, total)
	for k := range jit {
		switch {
		case k >= phase1 && k < phase2:
			jit[k] = time.Duration(r.Float64() * float64(80*ms))
		case k >= phase3 && k < phase4:
			jit[k] = time.Duration(r.Float64() * float64(600*ms))
		}
	}
	arr := stream(total, 0, 0, 960, 1*ms, func(k int) time.Duration { return jit[k] }, nil)
	jb := newJB(t, nil)
	// Pop in steps so we can read the target at each phase's end.
	var frames []popped
	targets := map[string]time.Duration{}
	delays := map[string]time.Duration{}
	i := 0
	slices.SortStableFunc(arr, func(a, b arrival) int { return int(a.at - b.at) })
	for tick := 0; tick < total+30; tick++ {
		now := 10*ms + time.Duration(tick)*20*ms
		for ; i < len(arr) && arr[i].at <= now; i++ {
			if err := jb.Push(arr[i].seq, arr[i].ts, payload(0x78, arr[i].seq), -1, epoch0.Add(arr[i].at)); err != nil {
				t.Fatal(err)
			}
		}
		f := jb.Pop(epoch0.Add(now))
		frames = append(frames, popped{kind: f.Kind, seq: f.Seq, at: now})
		st := jb.Stats()
		if tick > 5 && (st.TargetDelay < 20*ms || st.TargetDelay > 200*ms) {
			t.Fatalf("tick %d: target %v outside 20..200 ms", tick, st.TargetDelay)
		}
		for name, end := range map[string]int{"calm": phase1, "rough": phase2, "calm again": phase3, "storm": phase4, "calm at last": total} {
			if tick == end-1 {
				targets[name], delays[name] = st.TargetDelay, st.Delay
			}
		}
	}
	t.Logf("targets %v delays %v stats %+v", targets, delays, jb.Stats())
	if targets["calm"] > 25*ms {
		t.Errorf("calm target %v, want about 20 ms", targets["calm"])
	}
	if targets["rough"] < 70*ms || targets["rough"] > 110*ms {
		t.Errorf("target under 0..80 ms jitter is %v, want 70..110 ms", targets["rough"])
	}
	if targets["calm again"] > 25*ms || delays["calm again"] > 50*ms {
		t.Errorf("after jitter stopped: target %v delay %v, want back to about 20 ms", targets["calm again"], delays["calm again"])
	}
	if targets["storm"] != 200*ms {
		t.Errorf("target under 600 ms jitter is %v, want capped at 200 ms", targets["storm"])
	}
	// After heavy late loss the FEC look-ahead may still be on (+10 ms).
	if targets["calm at last"] > 35*ms || delays["calm at last"] > targets["calm at last"]+30*ms {
		t.Errorf("after the storm: target %v delay %v, want back near 20..30 ms", targets["calm at last"], delays["calm at last"])
	}
	// Once adapted (second half of the rough phase), almost every packet is on time.
	bad := 0
	for _, f := range frames[phase1+rough/2 : phase2] {
		if f.kind != FrameNormal {
			bad++
		}
	}
	if bad > rough/2/50 {
		t.Errorf("%d of %d ticks were not normal under adapted jitter, want <= 2%%", bad, rough/2)
	}
	// The calm phase after adaptation plays everything.
	for _, f := range frames[phase2+rough/2 : phase3] {
		if f.kind != FrameNormal {
			t.Fatalf("tick at %v is %v in a calm phase", f.at, f.kind)
		}
	}
}

func TestJitterPtime40(t *testing.T) {
	jb := newJB(t, nil)
	fr := simulate(t, jb, stream(50, 9, 0, 1920, 3*ms, nil, nil), 10*ms, 100)
	seqs := normals(fr)
	checkContiguous(t, seqs, 9, 50)
	for i, f := range fr {
		if f.kind == FrameNormal && i+1 < len(fr) && fr[i+1].kind != FrameContinue {
			t.Fatalf("tick %d: 40 ms packet not followed by continue but %v", i, fr[i+1].kind)
		}
	}
	if st := jb.Stats(); st.Concealed != 0 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJitterPtime10DoesNotStall(t *testing.T) {
	jb := newJB(t, nil)
	fr := simulate(t, jb, stream(400, 0, 0, 480, 3*ms, nil, nil), 10*ms, 200)
	checkNoGapsAfterStart(t, fr)
	if n := len(normals(fr)); n < 150 {
		t.Fatalf("only %d normal frames in 200 ticks", n)
	}
	if st := jb.Stats(); st.Delay > 260*ms {
		t.Fatalf("delay grew to %v", st.Delay)
	}
}

func TestJitterOverflowAndRestart(t *testing.T) {
	jb := newJB(t, nil)
	now := epoch0
	for k := 0; k < 100; k++ {
		if err := jb.Push(uint16(k), uint32(k*960), payload(0x78, uint16(k)), -1, now); err != nil {
			t.Fatal(err)
		}
	}
	st := jb.Stats()
	slots := uint64(DefaultJitterConfig().Slots)
	if st.Dropped != 100-slots {
		t.Fatalf("dropped %d, want %d", st.Dropped, 100-slots)
	}
	f := jb.Pop(now.Add(30 * ms))
	if f.Kind != FrameNormal || f.Seq < 90 {
		t.Fatalf("after overflow got %v seq %d, want a recent packet", f.Kind, f.Seq)
	}
	// The sender restarts with unrelated numbers: follow it.
	now = now.Add(40 * ms)
	for k := 0; k < 10; k++ {
		at := now.Add(time.Duration(k) * 20 * ms)
		jb.Push(uint16(30000+k), uint32(7e8+k*960), payload(0x78, uint16(30000+k)), -1, at)
		f = jb.Pop(at.Add(5 * ms))
	}
	if f.Kind != FrameNormal || f.Seq < 30005 {
		t.Fatalf("after restart got %v seq %d", f.Kind, f.Seq)
	}
	if jb.Stats().Resyncs == 0 {
		t.Fatal("restart not counted")
	}
	jb.Reset()
	if st := jb.Stats(); st != (JitterStats{TargetDelay: 20 * ms}) {
		t.Fatalf("after Reset: %+v", st)
	}
	if f := jb.Pop(now); f.Kind != FrameSilence {
		t.Fatalf("after Reset Pop = %v", f.Kind)
	}
}

func TestJitterPushErrors(t *testing.T) {
	jb := newJB(t, nil)
	if err := jb.Push(1, 1, nil, -1, epoch0); !errors.Is(err, ErrEmptyPayload) {
		t.Errorf("empty: %v", err)
	}
	if err := jb.Push(1, 1, make([]byte, MaxJitterPayload+1), -1, epoch0); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("too large: %v", err)
	}
	big := make([]byte, MaxJitterPayload)
	big[0] = 0x78
	if err := jb.Push(1, 1, big, 30, epoch0); err != nil {
		t.Errorf("max size: %v", err)
	}
	f := jb.Pop(epoch0.Add(40 * ms))
	if len(f.Payload) != MaxJitterPayload || f.AudioLevel != 30 {
		t.Errorf("got %d bytes level %d", len(f.Payload), f.AudioLevel)
	}
}

func TestJitterConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*JitterConfig)
		ok   bool
	}{
		{"default", func(*JitterConfig) {}, true},
		{"min above max", func(c *JitterConfig) { c.MinDelay = 300 * ms }, false},
		{"few slots", func(c *JitterConfig) { c.Slots = 2 }, false},
		{"short conceal", func(c *JitterConfig) { c.MaxConceal = ms }, false},
		{"quiet level", func(c *JitterConfig) { c.QuietLevel = 128 }, false},
	}
	for _, tc := range tests {
		cfg := DefaultJitterConfig()
		tc.mod(&cfg)
		_, err := NewJitterBuffer(cfg)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestJitterQuietFramesAdjustDelay(t *testing.T) {
	// Start with 100 ms of jitter, then calm: the shrink must drop quiet frames
	// first when the sender marks them.
	arr := stream(600, 0, 0, 960, 1*ms, func(k int) time.Duration {
		if k < 150 {
			return time.Duration((k*37)%5) * 25 * ms
		}
		return 0
	}, nil)
	for i := range arr {
		arr[i].level = 20 // speech
		if arr[i].seq%10 == 0 {
			arr[i].level = 100 // a quiet frame every 200 ms
		}
	}
	jb := newJB(t, nil)
	fr := simulate(t, jb, arr, 10*ms, 620)
	st := jb.Stats()
	if st.Dropped == 0 {
		t.Fatalf("no frame dropped while shrinking: %+v", st)
	}
	// Every dropped packet was a quiet one.
	played := map[uint16]bool{}
	for _, s := range normals(fr) {
		played[s] = true
	}
	for s := uint16(150); s < 590; s++ {
		if !played[s] && s%10 != 0 {
			t.Errorf("loud packet %d was dropped", s)
		}
	}
	if st.Delay > 50*ms {
		t.Errorf("delay %v after calm, want shrunk", st.Delay)
	}
}

func TestJitterZeroAllocs(t *testing.T) {
	jb := newJB(t, nil)
	p := payload(0x78, 0)
	var k int
	now := epoch0
	a := testing.AllocsPerRun(500, func() {
		now = now.Add(20 * ms)
		jb.Push(uint16(k), uint32(k*960), p, 40, now)
		if k%7 != 3 {
			jb.Push(uint16(k+1), uint32((k+1)*960), p, 40, now) // reorder and duplicate too
		}
		jb.Pop(now.Add(10 * ms))
		k++
	})
	if a != 0 {
		t.Fatalf("%.1f allocations per Push+Pop, want 0", a)
	}
}

// TestJitterSlotGrowth sends packets small and large through the same
// slots (a slot starts at slotBytes and grows once): every payload comes
// out intact, and once every slot has grown, large packets no longer
// allocate.
func TestJitterSlotGrowth(t *testing.T) {
	jb := newJB(t, nil)
	// Five sizes against 16 slots: every slot sees every size.
	sizes := []int{4, MaxJitterPayload, 100, slotBytes + 1, slotBytes}
	pushed := map[uint16][]byte{}
	now := epoch0
	played := 0
	for k := range 20 * len(sizes) {
		p := make([]byte, sizes[k%len(sizes)])
		for i := range p {
			p[i] = byte(k + i)
		}
		p[0] = 0x78
		pushed[uint16(k)] = p
		now = now.Add(20 * ms)
		if err := jb.Push(uint16(k), uint32(k*960), p, 40, now); err != nil {
			t.Fatal(err)
		}
		f := jb.Pop(now.Add(10 * ms))
		if f.Kind != FrameNormal {
			continue
		}
		played++
		if want := pushed[f.Seq]; !bytes.Equal(f.Payload, want) {
			t.Fatalf("packet %d: got %d bytes, not the %d pushed", f.Seq, len(f.Payload), len(want))
		}
	}
	if played < 15*len(sizes) {
		t.Fatalf("only %d of %d packets played", played, 20*len(sizes))
	}
	p := make([]byte, MaxJitterPayload)
	p[0] = 0x78
	k := 20 * len(sizes)
	// Counted in total: AllocsPerRun would round a few away.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		now = now.Add(20 * ms)
		jb.Push(uint16(k), uint32(k*960), p, 40, now)
		jb.Pop(now.Add(10 * ms))
		k++
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Fatalf("%d allocations in 100 Push+Pop of grown slots, want 0", n)
	}
}

func TestJitterConcurrent(t *testing.T) {
	jb := newJB(t, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		defer wg.Done()
		buf := payload(0x78, 0)
		for k := 0; k < 3000; k++ {
			jb.Push(uint16(k), uint32(k*960), buf, -1, start.Add(time.Duration(k)*20*ms))
		}
	}()
	go func() {
		defer wg.Done()
		for k := 0; k < 3000; k++ {
			f := jb.Pop(start.Add(time.Duration(k)*20*ms + 10*ms))
			if f.Kind == FrameNormal && len(f.Payload) != 4 {
				t.Errorf("payload %d bytes", len(f.Payload))
				return
			}
			_ = jb.Stats()
		}
	}()
	wg.Wait()
}

func BenchmarkJitterPushPop(b *testing.B) {
	jb := newJB(b, nil)
	p := make([]byte, 120)
	p[0] = 0x78
	now := epoch0
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		now = now.Add(20 * ms)
		jb.Push(uint16(k), uint32(k*960), p, 40, now)
		jb.Pop(now.Add(10 * ms))
		k++
	}
}

func BenchmarkJitterPush(b *testing.B) {
	jb := newJB(b, nil)
	p := make([]byte, 120)
	p[0] = 0x78
	now := epoch0
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		now = now.Add(20 * ms)
		jb.Push(uint16(k), uint32(k*960), p, 40, now)
		if k%8 == 7 {
			b.StopTimer()
			for range 8 {
				jb.Pop(now)
			}
			b.StartTimer()
		}
		k++
	}
}
