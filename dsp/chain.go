package dsp

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/openmcu/mcu/dsp/agc"
	"github.com/openmcu/mcu/dsp/ns"
	"github.com/openmcu/mcu/dsp/vad"
)

// FrameSize is the block the chain works on: 10 ms at 48 kHz.
const FrameSize = 480

// EchoCanceller is what the chain needs from an echo canceller (dsp/aec's
// *aec.Canceller behind a small adapter, see NewChain's cfg.NewAEC).
type EchoCanceller interface {
	Render(far []float32)
	Process(near []float32)
	Reset()
	// EchoStats reports the bulk delay estimate and the ERLE.
	EchoStats() (delayMs float64, delayConfident bool, erleDB float64, doubleTalk bool)
}

// ChainConfig configures one participant's chain.
type ChainConfig struct {
	NS  ns.Config  `yaml:"ns"`
	AGC agc.Config `yaml:"agc"`
	VAD vad.Config `yaml:"vad"`
	// Initial enable flags (issue default: NS and AGC on, AEC off).
	EnableAEC bool `yaml:"aec"`
	EnableNS  bool `yaml:"ns_enabled"`
	EnableAGC bool `yaml:"agc_enabled"`
	// NewAEC builds the echo canceller; nil means the chain has none and
	// enabling AEC is a no-op.
	NewAEC func() EchoCanceller `yaml:"-"`
	// ExternalScratch builds the chain without per-frame working memory
	// of its own: it must be run with ProcessWith, with a Scratch shared by
	// the chains one goroutine runs (a room's), about 37 KiB a participant.
	ExternalScratch bool `yaml:"-"`
}

// Scratch is per-frame working memory that chains run one after another on
// one goroutine can share.
type Scratch struct {
	ns  *ns.Scratch
	dry [FrameSize]float32 // a stage's input, for its bypass and crossfade
}

// NewScratch returns working memory for Chain.ProcessWith.
func NewScratch() *Scratch { return &Scratch{ns: ns.NewScratch()} }

// DefaultChainConfig returns NS and AGC on, AEC off.
func DefaultChainConfig() ChainConfig {
	return ChainConfig{
		NS: ns.DefaultConfig(), AGC: agc.DefaultConfig(), VAD: vad.DefaultConfig(),
		EnableNS: true, EnableAGC: true,
	}
}

// Stats is a snapshot of the chain's state.
type Stats struct {
	EchoDelayMs        float64
	EchoDelayConfident bool
	ERLEdB             float64
	DoubleTalk         bool
	AGCGainDB          float64
	NoiseFloorDBFS     float64
	SpeechProbability  float64
	Speech             bool
	LevelDBFS          float64
}

// stage tracks one switchable stage: on is what the caller asked for
// (written from any goroutine), cur is what the audio thread is applying.
type stage struct {
	on  atomic.Bool
	cur bool
}

// Chain is AEC -> NS -> AGC -> VAD for one participant, on 480-sample frames.
// Process and Render must be called from one goroutine (the room's);
// SetEnabled and Stats may be called from any.
//
// Switching a stage on or off crossfades over one 10 ms frame between its
// output and its input, so there is no click. To keep that crossfade
// coherent and the latency constant, the noise suppressor always runs (its
// 10 ms delay is always there, and its noise estimate is always current) and
// its bypass is the input delayed by the same 480 samples. The AGC also
// always runs, so its gain is right the moment it is switched on. The AEC is
// the costly stage, so it runs (and receives Render) only while enabled; it
// is Reset when switched on and converges again from there.
type Chain struct {
	aec     EchoCanceller
	newAEC  func() EchoCanceller
	ns      *ns.Suppressor
	own     *Scratch // nil with ExternalScratch
	agc     *agc.Controller
	vad     *vad.Detector
	sAEC    stage
	sNS     stage
	sAGC    stage
	nsDelay [FrameSize]float32
	asleep  bool // NS and AGC skipped while every stage is off
	mu      sync.Mutex
	stats   Stats
}

// fadeIn is the crossfade, 0 -> 1 raised cosine, the same for every chain.
var fadeIn = func() (f [FrameSize]float32) {
	for i := range f {
		f[i] = float32(0.5 - 0.5*math.Cos(math.Pi*float64(i+1)/FrameSize))
	}
	return f
}()

// NewChain builds a chain.
func NewChain(cfg ChainConfig) *Chain {
	c := &Chain{ns: ns.NewExternal(cfg.NS), agc: agc.New(cfg.AGC), vad: vad.New(cfg.VAD), newAEC: cfg.NewAEC}
	if !cfg.ExternalScratch {
		c.own = NewScratch()
	}
	if cfg.NewAEC != nil && cfg.EnableAEC {
		c.aec = cfg.NewAEC()
	}
	c.SetEnabled(cfg.EnableAEC, cfg.EnableNS, cfg.EnableAGC)
	c.sAEC.cur = c.sAEC.on.Load()
	c.sNS.cur, c.sAGC.cur = cfg.EnableNS, cfg.EnableAGC
	c.Reset()
	return c
}

// SetEnabled switches stages; it takes effect at the next frame, with a
// crossfade. Safe from any goroutine.
func (c *Chain) SetEnabled(aec, ns, agc bool) {
	c.sAEC.on.Store(aec && c.newAEC != nil)
	c.sNS.on.Store(ns)
	c.sAGC.on.Store(agc)
}

// Enabled reports the requested state of each stage.
func (c *Chain) Enabled() (aec, ns, agc bool) {
	return c.sAEC.on.Load(), c.sNS.on.Load(), c.sAGC.on.Load()
}

// Render passes the far-end audio sent to this participant (480 samples) to
// the echo canceller. A no-op while AEC is off.
func (c *Chain) Render(far []float32) {
	if c.aec != nil && c.sAEC.cur {
		c.aec.Render(far)
	}
}

// Process cleans one 480-sample frame in place. The output is delayed by
// 10 ms (the noise suppressor's window), whatever is enabled. The chain
// must have its own scratch (no ExternalScratch).
func (c *Chain) Process(frame []float32) {
	if c.own == nil {
		panic("dsp: a chain with ExternalScratch needs ProcessWith")
	}
	c.ProcessWith(frame, c.own)
}

// ProcessWith is Process with the given working memory, which no other
// chain may be using at the same time.
func (c *Chain) ProcessWith(frame []float32, sc *Scratch) {
	if len(frame) != FrameSize {
		panic("dsp: chain frame must have 480 samples")
	}
	// AEC: no added delay; runs only while on or fading.
	wantAEC := c.sAEC.on.Load()
	if wantAEC && c.aec == nil && c.newAEC != nil {
		// The canceller's state is large, so it is built the first time a
		// participant needs it rather than for everyone.
		c.aec = c.newAEC()
	}
	if c.aec != nil && (c.sAEC.cur || wantAEC) {
		if wantAEC && !c.sAEC.cur {
			c.aec.Reset()
		}
		copy(sc.dry[:], frame)
		c.aec.Process(frame)
		c.fade(&c.sAEC, wantAEC, frame, &sc.dry)
	}

	wantNS, wantAGC := c.sNS.on.Load(), c.sAGC.on.Load()
	if !wantNS && !wantAGC && !c.sNS.cur && !c.sAGC.cur {
		// Everything off and settled: only the constant 10 ms delay, so a
		// room without voice processing costs next to nothing. NS and AGC
		// pick up again from their last state when switched on.
		copy(sc.dry[:], c.nsDelay[:])
		copy(c.nsDelay[:], frame)
		copy(frame, sc.dry[:])
		c.asleep = true
	} else {
		if c.asleep {
			// Waking up: NS and AGC process this frame to refill their
			// overlap and envelope state, but the output stays dry; the
			// crossfade starts on the next frame, from warm state.
			wantNS, wantAGC = false, false
			c.asleep = false
		}
		// NS: runs while any stage after it is in use; bypass is the input
		// delayed by one frame.
		copy(sc.dry[:], c.nsDelay[:])
		copy(c.nsDelay[:], frame)
		c.ns.ProcessWith(frame, sc.ns)
		c.fade(&c.sNS, wantNS, frame, &sc.dry)

		// AGC: runs to keep its gain current.
		copy(sc.dry[:], frame)
		c.agc.Process(frame)
		c.fade(&c.sAGC, wantAGC, frame, &sc.dry)
	}

	p := c.vad.Process(frame)

	c.mu.Lock()
	st := &c.stats
	if c.aec != nil && c.sAEC.cur {
		st.EchoDelayMs, st.EchoDelayConfident, st.ERLEdB, st.DoubleTalk = c.aec.EchoStats()
	} else {
		st.EchoDelayMs, st.EchoDelayConfident, st.ERLEdB, st.DoubleTalk = 0, false, 0, false
	}
	st.AGCGainDB = 0
	if c.sAGC.cur {
		st.AGCGainDB = c.agc.GainDB()
	}
	st.NoiseFloorDBFS = c.ns.Stats().NoiseFloorDBFS
	st.SpeechProbability = float64(p)
	st.Speech = c.vad.Speech()
	st.LevelDBFS = c.vad.LevelDBFS()
	c.mu.Unlock()
}

// fade leaves frame as the stage's output (want and cur both on), restores
// the dry input (both off), or crossfades between them over this frame.
func (c *Chain) fade(s *stage, want bool, frame []float32, dry *[FrameSize]float32) {
	switch {
	case want && s.cur:
	case !want && !s.cur:
		copy(frame, dry[:])
	case want: // off -> on
		for i, w := range fadeIn {
			frame[i] = dry[i] + w*(frame[i]-dry[i])
		}
	default: // on -> off
		for i, w := range fadeIn {
			frame[i] = frame[i] + w*(dry[i]-frame[i])
		}
	}
	s.cur = want
}

// Stats returns a snapshot. Safe from any goroutine.
func (c *Chain) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// NSStats and AGCStats expose the stages' own figures (audio goroutine only).
func (c *Chain) NSStats() ns.Stats   { return c.ns.Stats() }
func (c *Chain) AGCStats() agc.Stats { return c.agc.Stats() }

// Reset clears every stage (audio goroutine only).
func (c *Chain) Reset() {
	if c.aec != nil {
		c.aec.Reset()
	}
	c.ns.Reset()
	c.agc.Reset()
	c.vad.Reset()
	clear(c.nsDelay[:])
	c.mu.Lock()
	c.stats = Stats{LevelDBFS: FloorDBFS, NoiseFloorDBFS: FloorDBFS}
	c.mu.Unlock()
}
