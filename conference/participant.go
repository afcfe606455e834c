package conference

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/dsp"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/transport"
)

// audioEndpoint is what the room needs from a participant's connection.
// transport.Endpoint implements it; benchmarks use a null endpoint.
type audioEndpoint interface {
	SendAudio(payload []byte, tick uint32)
	Stats() transport.EndpointStats
	Close() error
}

// audioDecoder and audioEncoder are the codec operations the tick uses.
type audioDecoder interface {
	Decode(pkt []byte, pcm []float32) (int, error)
	DecodeFEC(pkt []byte, pcm []float32) error
	DecodePLC(pcm []float32) error
	Close() error
}

type audioEncoder interface {
	Encode(pcm []float32, dst []byte) (int, error)
	SetBitrate(bps int) error
	Close() error
}

// encoderStateCopier is implemented by encoders that can continue from
// another encoder's state.
type encoderStateCopier interface {
	CopyStateFrom(src any) error
}

// ParticipantKind says how a participant is connected.
type ParticipantKind int

// Participant kinds.
const (
	KindWebRTC ParticipantKind = iota + 1
	// KindRTP is a plain RTP endpoint: a SIP gateway or a desk phone.
	KindRTP
	// KindSource is a pulled stream (RTSP, RTMP): a camera or an encoder.
	KindSource
)

func (k ParticipantKind) String() string {
	switch k {
	case KindWebRTC:
		return "webrtc"
	case KindRTP:
		return "rtp"
	case KindSource:
		return "source"
	}
	return "unknown"
}

// sendMode says how a participant receives its mix.
type sendMode uint8

const (
	// sendShared: Opus over WebRTC. Listeners share the one encoded mix;
	// an active speaker borrows a pooled encoder for a mix without them.
	sendShared sendMode = iota
	// sendOwn: the participant's own codec (G.711, or Opus with its own
	// RTP clock), so its mix-minus is always encoded for it alone with
	// p.enc and limited with its own p.lim.
	sendOwn
	// sendNone: listen-only (a camera has no speaker); nothing is encoded
	// or sent, and there is no far end for an echo canceller.
	sendNone
)

// participant is one member of a room. Fields under "tick-owned" are touched
// only by the room goroutine; the API reads and writes the atomics.
type participant struct {
	id       string
	name     string
	kind     ParticipantKind
	send     sendMode
	joinedAt time.Time
	room     *room

	ep  audioEndpoint
	rtp *transport.RTPEndpoint // plain RTP participants, for their stats
	vep videoEndpoint          // nil when the endpoint has no video
	// video is the decoded camera picture, handed to the video goroutine.
	video videoIn
	// keyReq, remb and rembAt carry the receiver's PLI/FIR and REMB to the
	// video goroutine; vrend is its rendition (-1: none), for stats.
	keyReq atomic.Bool
	remb   atomic.Uint64
	rembAt atomic.Int64
	vrend  atomic.Int32
	rx     rxState // video-goroutine-owned
	jb     *transport.JitterBuffer
	dec    audioDecoder
	// pcmIn, when set, replaces jb and dec: audio decoded elsewhere (a
	// pulled source's goroutine), taken one frame per tick.
	pcmIn *pcmFIFO
	enc   audioEncoder
	// chain cleans the voice: AEC, NS, AGC, VAD. Its switches are atomic.
	chain *dsp.Chain

	dspOverride DSPOverride   // guarded by room.mu
	dspBits     atomic.Uint32 // effective DSPSettings, see packDSP

	muted    atomic.Bool
	gainBits atomic.Uint32 // float32 linear gain
	gainDB   atomic.Uint64 // float64, as set through the API

	levelBits atomic.Uint64 // float64 smoothed dBFS, published by the tick
	speaking  atomic.Bool

	// tick-owned
	slot        int
	pcm         []float32 // this tick's decoded input
	decoded     []float32 // a whole decoded packet: 20 ms, grown for longer packets
	decodedPos  int       // next unplayed sample of decoded
	decodedLen  int
	contrib     []float32 // pcm with gain applied, as mixed
	mixGain     float32   // gain applied at the end of the last frame
	usingOwn    bool      // a sendShared participant holds a pooled encoder
	inMix       bool      // contrib is in this tick's sum
	lim         mixer.Limiter
	wasSpeaking bool
	floorDB     float64 // noise floor of the RFC 6464 levels, for the decode gate
}

func newParticipant(id, name string, r *room) *participant {
	p := &participant{
		id:       id,
		name:     name,
		kind:     KindWebRTC,
		joinedAt: time.Now(),
		room:     r,
		pcm:      make([]float32, media.FrameSamples),
		decoded:  make([]float32, media.FrameSamples),
		contrib:  make([]float32, media.FrameSamples),
	}
	p.video.init(r.video.Width, r.video.Height)
	p.vrend.Store(-1)
	p.gainBits.Store(math.Float32bits(1))
	p.levelBits.Store(math.Float64bits(silenceDBFS))
	p.floorDB = silenceDBFS
	return p
}

const (
	maxOpusPacket    = 1275
	maxPacketSamples = media.SampleRate * 120 / 1000
	silenceDBFS      = -127.0
)

// HandleAudio implements transport.EndpointHandler: it feeds the jitter buffer.
func (p *participant) HandleAudio(seq uint16, ts uint32, payload []byte, level int, now time.Time) {
	// Malformed or stale packets are counted by the jitter buffer.
	_ = p.jb.Push(seq, ts, payload, level, now)
}

// HandleClosed implements transport.EndpointHandler.
func (p *participant) HandleClosed(reason string) {
	p.room.connectionLost(p.id, reason)
}

func (p *participant) setGainDB(db float64) {
	p.gainDB.Store(math.Float64bits(db))
	p.gainBits.Store(math.Float32bits(float32(math.Pow(10, db/20))))
}

// targetGain is the gain the mix should reach by the end of this frame.
func (p *participant) targetGain() float32 {
	if p.muted.Load() {
		return 0
	}
	return math.Float32frombits(p.gainBits.Load())
}

func (p *participant) info() ParticipantInfo {
	return ParticipantInfo{
		ID:                p.id,
		DisplayName:       p.name,
		Kind:              p.kind,
		Muted:             p.muted.Load(),
		GainDB:            math.Float64frombits(p.gainDB.Load()),
		Speaking:          p.speaking.Load(),
		LevelDBFS:         math.Float64frombits(p.levelBits.Load()),
		JoinedAt:          p.joinedAt,
		DSP:               unpackDSP(p.dspBits.Load()),
		DSPStats:          p.dspStats(),
		VideoFrames:       p.video.frames.Load(),
		VideoRendition:    int(p.vrend.Load()),
		BandwidthEstimate: p.remb.Load(),
		RTP:               p.rtpStats(),
		Source:            p.sourceStats(),
	}
}

func (p *participant) sourceStats() *SourceStats {
	if s, ok := p.ep.(*source); ok {
		return s.stats()
	}
	return nil
}

func (p *participant) rtpStats() *RTPStats {
	if p.rtp == nil {
		return nil
	}
	return ptr(p.rtp.RTPStats())
}

func (p *participant) dspStats() DSPStats {
	if p.chain == nil {
		return DSPStats{}
	}
	st := p.chain.Stats()
	return DSPStats{
		EchoDelayMs:       st.EchoDelayMs,
		ERLEdB:            st.ERLEdB,
		AGCGainDB:         st.AGCGainDB,
		SpeechProbability: st.SpeechProbability,
	}
}

// applyDSP resolves the room defaults and the participant's override and
// switches the chain; the chain crossfades, so it never clicks. Call with
// room.mu held.
func (p *participant) applyDSP(room DSPSettings) {
	eff := room
	if o := p.dspOverride; o.AEC != nil {
		eff.AEC = *o.AEC
	}
	if o := p.dspOverride; o.NS != nil {
		eff.NS = *o.NS
	}
	if o := p.dspOverride; o.AGC != nil {
		eff.AGC = *o.AGC
	}
	p.dspBits.Store(packDSP(eff))
	if p.chain != nil {
		p.chain.SetEnabled(eff.AEC, eff.NS, eff.AGC)
	}
}

// close releases the participant's connection and codecs. The room
// goroutine must no longer reference it.
func (p *participant) close() {
	if p.ep != nil {
		_ = p.ep.Close()
	}
	p.video.close()
	if p.dec != nil {
		_ = p.dec.Close()
	}
	if p.enc != nil {
		_ = p.enc.Close()
	}
}

// rmsDBFS is the RMS level of a frame in dBFS, silenceDBFS for digital silence.
func rmsDBFS(x []float32) float64 {
	var sum float32
	for _, s := range x {
		sum += s * s
	}
	if sum == 0 {
		return silenceDBFS
	}
	db := 10 * math.Log10(float64(sum)/float64(len(x)))
	return max(db, silenceDBFS)
}

func packDSP(d DSPSettings) uint32 {
	var b uint32
	if d.AEC {
		b |= 1
	}
	if d.NS {
		b |= 2
	}
	if d.AGC {
		b |= 4
	}
	return b
}

func unpackDSP(b uint32) DSPSettings {
	return DSPSettings{AEC: b&1 != 0, NS: b&2 != 0, AGC: b&4 != 0}
}
