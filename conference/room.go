package conference

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/dsp"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/record"
	"github.com/openmcu/mcu/transport"
)

// levelsEventTicks spaces audio-level events: 12 ticks of 20 ms = 4 per second.
const levelsEventTicks = 12

type roomCmd struct {
	add    *participant
	remove string
	reply  chan *participant
}

// room is one conference: one clock, one mix. Its goroutine owns the tick
// state; the API side only touches what r.mu guards and the participants'
// atomics.
type room struct {
	id        string
	audio     AudioSettings
	video     VideoSettings // Layout guarded by mu; the rest is fixed
	comp      *mixer.Compositor
	createdAt time.Time
	cfg       *Config
	metrics   *metrics
	hub       *eventHub
	// onGone is told when a participant leaves without Leave (connection lost).
	onGone func()

	mu         sync.Mutex
	members    map[string]*participant
	recordings []*recording
	finished   []RecordingInfo // the last maxFinishedRecordings that ended, oldest first
	pending    map[string]struct{}
	closing    bool

	cmds    chan roomCmd
	lost    chan lostConn
	done    chan struct{}
	stopped chan []*participant
	cleanup sync.WaitGroup

	// tick-owned
	parts     []*participant
	freeSlots []int
	nextSlot  int
	sel       *mixer.SpeakerSelector
	sum       []float32
	shared    []float32
	sharedLim mixer.Limiter
	sharedEnc audioEncoder
	sharedPkt []byte
	// ownMix and ownPkt hold one participant's mix-minus while it is
	// limited, encoded and handed over: the tick does them one by one.
	ownMix []float32
	ownPkt []byte
	// dspScratch is the voice chains' working memory: the tick runs them
	// one after another, so one set serves every participant.
	dspScratch *dsp.Scratch
	// encoders is the pool of encoders for own mixes: only active speakers
	// hold one, so a listener costs no encoder state.
	encoders   []audioEncoder
	newEncoder func() (audioEncoder, error)
	tickN      uint32
	clock      time.Duration // position on the room clock

	activeScratch []*participant
	videoStop     chan struct{}
	videoDone     chan struct{}

	// shared with the video goroutine
	anchor   atomic.Pointer[clockAnchor]
	speakers atomic.Pointer[[]string] // active speakers, loudest first
	vparts   atomic.Pointer[[]*participant]
	vstats   videoCounters
	// recorders, read by the tick (audio) and the video goroutine
	recs     atomic.Pointer[[]*record.Recorder]
	recVideo atomic.Bool // a recording takes the top rendition
	recKey   atomic.Bool // a video recording waits for a keyframe
}

func newRoom(id string, audio AudioSettings, video VideoSettings, cfg *Config, m *metrics, newEncoder func() (audioEncoder, error)) (*room, error) {
	cc := mixer.DefaultCompositorConfig()
	cc.Width, cc.Height, cc.StallTimeout = video.Width, video.Height, cfg.Video.StallTimeout
	comp, err := mixer.NewCompositor(cc)
	if err != nil {
		return nil, err
	}
	if err := comp.SetLayout(video.Layout); err != nil {
		return nil, err
	}
	enc, err := newEncoder()
	if err != nil {
		return nil, err
	}
	sc := cfg.Speaker
	sc.MaxActive = audio.MaxActiveSpeakers
	r := &room{
		id:         id,
		audio:      audio,
		video:      video,
		comp:       comp,
		createdAt:  time.Now(),
		cfg:        cfg,
		metrics:    m,
		hub:        newEventHub(),
		members:    make(map[string]*participant),
		pending:    make(map[string]struct{}),
		cmds:       make(chan roomCmd),
		lost:       make(chan lostConn, 64),
		done:       make(chan struct{}),
		stopped:    make(chan []*participant, 1),
		sel:        mixer.NewSpeakerSelector(sc, 16),
		sum:        make([]float32, media.FrameSamples),
		shared:     make([]float32, media.FrameSamples),
		sharedLim:  mixer.NewLimiter(cfg.Limiter),
		sharedEnc:  enc,
		sharedPkt:  make([]byte, maxOpusPacket),
		ownMix:     make([]float32, media.FrameSamples),
		ownPkt:     make([]byte, maxOpusPacket),
		dspScratch: dsp.NewScratch(),
		newEncoder: newEncoder,
	}
	// Enough encoders for the usual number of speakers, so promotions do
	// not allocate on the tick.
	for i := 0; i < min(audio.MaxActiveSpeakers, 8)+1; i++ {
		e, err := newEncoder()
		if err != nil {
			r.closeEncoders()
			return nil, err
		}
		r.encoders = append(r.encoders, e)
	}
	return r, nil
}

func (r *room) closeEncoders() {
	for _, e := range r.encoders {
		_ = e.Close()
	}
	r.encoders = nil
	if r.sharedEnc != nil {
		_ = r.sharedEnc.Close()
	}
}

// takeEncoder hands an own-mix encoder to a new active speaker.
func (r *room) takeEncoder() audioEncoder {
	if n := len(r.encoders); n > 0 {
		e := r.encoders[n-1]
		r.encoders = r.encoders[:n-1]
		return e
	}
	e, err := r.newEncoder()
	if err != nil {
		return nil
	}
	return e
}

// releaseEncoder returns p's own-mix encoder to the pool. Participants
// with their own codec keep theirs.
func (r *room) releaseEncoder(p *participant) {
	if p.send != sendShared {
		return
	}
	if p.enc != nil {
		r.encoders = append(r.encoders, p.enc)
		p.enc = nil
	}
	p.usingOwn = false
}

// run is the room goroutine. It sleeps while the room is empty, so idle
// rooms cost nothing, and ticks every 20 ms otherwise.
func (r *room) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var start time.Time
	var ticks int64
	for {
		if len(r.parts) == 0 {
			// Nobody to show video to: the video goroutine sleeps too.
			r.stopVideo()
			select {
			case c := <-r.cmds:
				r.apply(c)
			case l := <-r.lost:
				r.dropLost(l)
			case <-r.done:
				r.stopped <- r.parts
				return
			}
			if len(r.parts) > 0 {
				start, ticks = time.Now(), 0
				r.anchor.Store(&clockAnchor{wall: start, clock: r.clock})
				r.startVideo()
				timer.Reset(0)
			}
			continue
		}
		select {
		case c := <-r.cmds:
			r.apply(c)
			if len(r.parts) == 0 {
				timer.Stop()
			}
		case l := <-r.lost:
			r.dropLost(l)
		case <-r.done:
			timer.Stop()
			r.stopVideo()
			r.stopped <- r.parts
			return
		case <-timer.C:
			t0 := time.Now()
			r.tick(t0)
			r.metrics.tickSeconds.Observe(time.Since(t0).Seconds())
			ticks++
			next := start.Add(time.Duration(ticks) * media.FrameDuration)
			wait := time.Until(next)
			if wait < -5*media.FrameDuration {
				// Far behind (the process was stalled): restart the clock
				// instead of bursting frames.
				start, ticks = time.Now(), 0
				r.anchor.Store(&clockAnchor{wall: start, clock: r.clock})
				wait = media.FrameDuration
			}
			timer.Reset(max(wait, 0))
		}
	}
}

func (r *room) apply(c roomCmd) {
	switch {
	case c.add != nil:
		p := c.add
		if n := len(r.freeSlots); n > 0 {
			p.slot = r.freeSlots[n-1]
			r.freeSlots = r.freeSlots[:n-1]
		} else {
			p.slot = r.nextSlot
			r.nextSlot++
			r.sel.Grow(r.nextSlot)
		}
		r.parts = append(r.parts, p)
		r.publishParts()
		c.reply <- p
	default:
		c.reply <- r.detach(c.remove)
	}
}

// detach removes a participant from the tick and returns it, or nil.
func (r *room) detach(id string) *participant {
	for i, p := range r.parts {
		if p.id != id {
			continue
		}
		r.parts = append(r.parts[:i], r.parts[i+1:]...)
		r.publishParts()
		r.releaseEncoder(p)
		r.sel.Remove(p.slot)
		r.freeSlots = append(r.freeSlots, p.slot)
		return p
	}
	return nil
}

// lostConn is a participant whose connection ended on its own.
type lostConn struct{ id, reason string }

// dropLost removes a participant whose connection failed. Closing the
// connection can take a while, so it happens off the tick.
func (r *room) dropLost(l lostConn) {
	id := l.id
	p := r.detach(id)
	if p == nil {
		return
	}
	r.mu.Lock()
	delete(r.members, id)
	r.mu.Unlock()
	r.metrics.participantLeft(p)
	r.onGone()
	r.hub.publish(Event{Type: EventParticipantLeft, RoomID: r.id, Time: time.Now(), ParticipantID: id,
		Participant: ptr(p.info()), Reason: "connection lost: " + l.reason})
	r.cleanup.Add(1)
	go func() {
		defer r.cleanup.Done()
		p.close()
	}()
}

// connectionLost is called from an endpoint goroutine; it must not block.
func (r *room) connectionLost(id, reason string) {
	select {
	case r.lost <- lostConn{id, reason}:
	case <-r.done:
	default:
		// The queue only fills if the room goroutine is gone; the leave
		// path cleans up then.
	}
}

// do sends a command to the room goroutine and waits for its reply.
func (r *room) do(c roomCmd) (*participant, bool) {
	c.reply = make(chan *participant, 1)
	select {
	case r.cmds <- c:
		return <-c.reply, true
	case <-r.done:
		return nil, false
	}
}

// tick produces one 20 ms frame for every participant.
func (r *room) tick(now time.Time) {
	frame := media.FrameDuration
	for _, p := range r.parts {
		level, speech := silenceDBFS, false
		if extLevel, decoded := r.decode(p, now); decoded {
			half := len(p.pcm) / 2
			p.chain.ProcessWith(p.pcm[:half], r.dspScratch)
			p.chain.ProcessWith(p.pcm[half:], r.dspScratch)
			st := p.chain.Stats()
			level = rmsDBFS(p.pcm)
			// The VAD decides; a loud non-speech signal (music, a tone)
			// still counts, so it is not cut from the mix.
			speech = st.Speech || level > r.cfg.SpeechThresholdDBFS
		} else if extLevel >= 0 {
			level = -float64(extLevel)
		}
		speech = speech && !p.muted.Load()
		r.sel.Observe(p.slot, level, speech, frame, r.clock)
		p.levelBits.Store(math.Float64bits(r.sel.Level(p.slot)))
	}
	r.sel.Update(r.clock)
	r.publishSpeakers()

	// Mix every contributor: the active speakers, plus anyone fading out.
	clear(r.sum)
	sharedNeeded := false
	for _, p := range r.parts {
		target := float32(0)
		if r.sel.IsActive(p.slot) {
			target = p.targetGain()
		}
		p.inMix = target != 0 || p.mixGain != 0
		if !p.inMix {
			if p.usingOwn {
				r.releaseEncoder(p)
			}
			sharedNeeded = sharedNeeded || p.send == sendShared
			continue
		}
		mixer.ScaleRamped(p.contrib, p.pcm, p.mixGain, target)
		p.mixGain = target
		for i, s := range p.contrib {
			r.sum[i] += s
		}
		if p.send == sendShared && !p.usingOwn {
			// Continue from the shared mix's limiter and encoder state, both
			// taken before this frame, so the listener's decoder sees one
			// continuous stream and the switch does not click.
			if p.enc = r.takeEncoder(); p.enc == nil {
				sharedNeeded = true // cannot encode a mix of their own
				continue
			}
			p.lim = r.sharedLim
			if c, ok := p.enc.(encoderStateCopier); ok {
				_ = c.CopyStateFrom(r.sharedEnc)
			}
			p.usingOwn = true
		}
	}

	var recs []*record.Recorder
	if rp := r.recs.Load(); rp != nil && len(*rp) > 0 {
		recs = *rp
		sharedNeeded = true // recordings take the shared mix
	}
	if !sharedNeeded {
		clear(r.shared)
	} else {
		copy(r.shared, r.sum)
		r.sharedLim.Process(r.shared)
		n, err := r.sharedEnc.Encode(r.shared, r.sharedPkt)
		if err != nil {
			n = 0
		}
		for _, p := range r.parts {
			if p.send == sendShared && !p.usingOwn && n > 0 {
				p.ep.SendAudio(r.sharedPkt[:n], r.tickN)
			}
		}
		if n > 0 {
			for _, rec := range recs {
				rec.PushAudio(r.sharedPkt[:n], r.clock, now)
			}
		}
	}
	for _, p := range r.parts {
		switch {
		case p.send == sendNone:
			continue
		case p.send == sendShared && !p.usingOwn:
			r.renderFarEnd(p, r.shared)
			continue
		case p.inMix:
			mixer.Subtract(r.ownMix, r.sum, p.contrib)
		default:
			copy(r.ownMix, r.sum)
		}
		p.lim.Process(r.ownMix)
		if n, err := p.enc.Encode(r.ownMix, r.ownPkt); err == nil {
			p.ep.SendAudio(r.ownPkt[:n], r.tickN)
		}
		r.renderFarEnd(p, r.ownMix)
	}
	r.publishLevels(now)
	r.tickN++
	r.clock += frame
}

// renderFarEnd tells p's echo canceller what p was just sent: the exact
// mix, after the limiter.
func (r *room) renderFarEnd(p *participant, far []float32) {
	if p.dspBits.Load()&1 == 0 {
		return
	}
	half := len(far) / 2
	p.chain.Render(far[:half])
	p.chain.Render(far[half:])
}

// decode fills p.pcm with this tick's input: decoded audio, FEC or PLC
// concealment, or silence. It reports the packet's RFC 6464 level (-1 when
// unknown) and whether p.pcm holds audio to process.
func (r *room) decode(p *participant, now time.Time) (extLevel int, decoded bool) {
	if p.pcmIn != nil {
		return -1, p.pcmIn.pop(p.pcm)
	}
	f := p.jb.Pop(now)
	switch f.Kind {
	case transport.FrameNormal:
		p.decodedPos, p.decodedLen = 0, 0
		if r.skipDecode(p, f.AudioLevel) {
			clear(p.pcm)
			return f.AudioLevel, false
		}
		n, err := p.dec.Decode(f.Payload, p.decoded)
		if errors.Is(err, codec.ErrBufferTooSmall) && len(p.decoded) < maxPacketSamples {
			// A sender with 40 or 60 ms packets: grow once, up to Opus's 120 ms.
			p.decoded = make([]float32, maxPacketSamples)
			n, err = p.dec.Decode(f.Payload, p.decoded)
		}
		if err != nil || n < len(p.pcm) {
			clear(p.pcm)
			return f.AudioLevel, false
		}
		// Packets longer than 20 ms are played out over several ticks.
		copy(p.pcm, p.decoded[:len(p.pcm)])
		p.decodedPos, p.decodedLen = len(p.pcm), n
		return f.AudioLevel, true
	case transport.FrameContinue:
		if p.decodedLen-p.decodedPos >= len(p.pcm) {
			copy(p.pcm, p.decoded[p.decodedPos:])
			p.decodedPos += len(p.pcm)
			return f.AudioLevel, true
		}
		if err := p.dec.DecodePLC(p.pcm); err != nil {
			clear(p.pcm)
			return -1, false
		}
		return -1, true
	case transport.FrameFEC:
		if err := p.dec.DecodeFEC(f.Payload, p.pcm); err != nil {
			if err := p.dec.DecodePLC(p.pcm); err != nil {
				clear(p.pcm)
				return -1, false
			}
		}
		return -1, true
	case transport.FrameConceal:
		if err := p.dec.DecodePLC(p.pcm); err != nil {
			clear(p.pcm)
			return -1, false
		}
		return -1, true
	default:
		// Idle: a sender that signalled comfort noise still gets its noise.
		if cn, ok := p.dec.(comfortNoiser); ok && cn.ComfortNoise(p.pcm) {
			return -1, true
		}
		clear(p.pcm)
		return -1, false
	}
}

// comfortNoiser is a decoder that plays comfort noise while its sender is
// silent (G.711 with RFC 3389).
type comfortNoiser interface {
	ComfortNoise(pcm []float32) bool
}

// skipDecode is the cheap gate that keeps large rooms cheap: a packet whose
// RFC 6464 level says it is silent, or no louder than the sender's own
// noise floor, is not decoded or processed unless the sender is being mixed
// or needs echo cancellation (which must follow the signal continuously).
func (r *room) skipDecode(p *participant, level int) bool {
	if level < 0 {
		return false
	}
	db := -float64(level)
	switch {
	case p.floorDB == silenceDBFS || db < p.floorDB:
		p.floorDB = db
	default:
		p.floorDB += floorRiseDBPerTick
	}
	if r.sel.IsActive(p.slot) || p.mixGain > 0 || p.dspBits.Load()&1 != 0 {
		return false
	}
	if level >= r.cfg.SkipDecodeLevel {
		return true
	}
	return db < p.floorDB+gateAboveFloorDB && db < gateCeilingDBov
}

const (
	// floorRiseDBPerTick lets the level floor follow a rising noise floor
	// at 0.5 dB/s.
	floorRiseDBPerTick = 0.01
	// gateAboveFloorDB: packets this close to the floor are noise.
	gateAboveFloorDB = 10.0
	// gateCeilingDBov: packets louder than this are always decoded.
	gateCeilingDBov = -30.0
)

// publishLevels emits speaking transitions at once and levels 4 times a
// second. Nothing is built when nobody watches.
func (r *room) publishLevels(now time.Time) {
	for _, p := range r.parts {
		speaking := r.sel.IsActive(p.slot) && p.mixGain > 0
		if speaking == p.wasSpeaking {
			continue
		}
		p.wasSpeaking = speaking
		p.speaking.Store(speaking)
		typ := EventSpeakingStopped
		if speaking {
			typ = EventSpeakingStarted
		}
		if r.hub.hasSubscribers() {
			r.hub.publish(Event{Type: typ, RoomID: r.id, Time: now, ParticipantID: p.id})
		}
	}
	if r.tickN%levelsEventTicks != 0 || !r.hub.hasSubscribers() {
		return
	}
	levels := make([]ParticipantLevel, len(r.parts))
	for i, p := range r.parts {
		levels[i] = ParticipantLevel{
			ParticipantID: p.id,
			LevelDBFS:     math.Float64frombits(p.levelBits.Load()),
			Speaking:      p.wasSpeaking,
			DSPStats:      p.dspStats(),
		}
	}
	r.hub.publish(Event{Type: EventAudioLevels, RoomID: r.id, Time: now, Levels: levels})
}

func (r *room) info() RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	ri := RoomInfo{ID: r.id, Audio: r.audio, Video: r.video, VideoStats: r.vstats.snapshot(), CreatedAt: r.createdAt,
		Participants: make([]ParticipantInfo, 0, len(r.members))}
	for _, p := range r.members {
		ri.Participants = append(ri.Participants, p.info())
	}
	sortParticipants(ri.Participants)
	return ri
}

// shutdown stops the room goroutine and closes every participant. It
// returns how many participants it closed.
func (r *room) shutdown() int {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	close(r.done)
	parts := <-r.stopped
	r.stopRecordings()
	var wg sync.WaitGroup
	for _, p := range parts {
		r.metrics.participantLeft(p)
		r.hub.publish(Event{Type: EventParticipantLeft, RoomID: r.id, Time: time.Now(), ParticipantID: p.id,
			Participant: ptr(p.info()), Reason: "room deleted"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
	r.cleanup.Wait()
	r.mu.Lock()
	clear(r.members)
	r.mu.Unlock()
	r.closeEncoders()
	r.hub.publish(Event{Type: EventRoomDeleted, RoomID: r.id, Time: time.Now()})
	r.hub.close()
	return len(parts)
}

func ptr[T any](v T) *T { return &v }
