package conference

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/transport"
)

// SourceConfig tunes pulled sources (RTSP and RTMP).
type SourceConfig struct {
	// ReconnectMin and ReconnectMax bound the wait between reconnection
	// attempts, which doubles from min to max.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// GiveUpAfter removes a source that stayed unreachable this long (a
	// participant_left event with the reason); 0 retries forever.
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// OpenTimeout bounds connecting and probing the streams.
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// ReadTimeout: a source that sends nothing this long is lost.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Buffer is the audio the room keeps queued from a source, absorbing
	// its delivery jitter and clock drift (20..500 ms).
	Buffer time.Duration `yaml:"buffer"`
}

// DefaultSourceConfig retries from 0.5 s up to every 5 s, forever, with a
// 60 ms audio buffer.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{ReconnectMin: 500 * time.Millisecond, ReconnectMax: 5 * time.Second,
		OpenTimeout: 10 * time.Second, ReadTimeout: 5 * time.Second, Buffer: 60 * time.Millisecond}
}

// Validate reports the first setting that cannot work.
func (c SourceConfig) Validate() error {
	switch {
	case c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin:
		return fmt.Errorf("source.reconnect_min %v and reconnect_max %v: want 0 < min <= max: %w", c.ReconnectMin, c.ReconnectMax, ErrInvalidArgument)
	case c.GiveUpAfter < 0:
		return fmt.Errorf("source.give_up_after %v negative: %w", c.GiveUpAfter, ErrInvalidArgument)
	case c.OpenTimeout <= 0 || c.ReadTimeout <= 0:
		return fmt.Errorf("source.open_timeout and read_timeout must be positive: %w", ErrInvalidArgument)
	case c.Buffer < media.FrameDuration || c.Buffer > 500*time.Millisecond:
		return fmt.Errorf("source.buffer %v out of 20ms..500ms: %w", c.Buffer, ErrInvalidArgument)
	}
	return nil
}

// SourceTransport is how an RTSP source carries its media.
type SourceTransport int

// Source transports. Auto takes a ?transport=tcp|udp hint in the URL, else TCP.
const (
	SourceTransportAuto SourceTransport = iota
	SourceTransportTCP
	SourceTransportUDP
)

// SourceRequest is what AddSource takes.
type SourceRequest struct {
	ParticipantID string
	DisplayName   string
	// URL is rtsp://, rtsps://, rtmp:// or rtmps://.
	URL       string
	Transport SourceTransport
	// DSP overrides the room's voice processing for this source. Echo
	// cancellation defaults to on with SendBack (a two-way camera's
	// speaker is next to its microphone); without it there is no far end,
	// and asking for it is an error.
	DSP DSPOverride
	// SendBack, when set, sends the source its mix-minus as RTP: for
	// two-way devices (an intercom, a camera with a speaker).
	SendBack *SourceSendBack
}

// SourceSendBack is where and how a two-way source is sent its mix.
type SourceSendBack struct {
	// Codec is PCMU, PCMA or Opus (payload type 111).
	Codec RTPCodec
	// RemoteAddr is the device's host:port.
	RemoteAddr string
}

// SourceStats describes a source's connection and its audio buffer.
type SourceStats struct {
	State SourceState
	// URL has any password redacted.
	URL string
	// The streams found at the last connection.
	AudioCodec, VideoCodec string
	// Connections counts the times the stream was opened; Reconnects the
	// attempts made after losing it (or failing to open it).
	Connections, Reconnects uint64
	Packets, VideoFrames    uint64
	// The audio buffer between the source's clock and the room's:
	// BufferedMs is its depth now; Underruns counts the times it ran dry
	// (silence until it refilled); DroppedSamples and InsertedSamples
	// what drift correction took out or added; OverflowSamples what
	// arrived with the buffer full and was lost.
	BufferedMs                      float64
	Underruns                       uint64
	DroppedSamples, InsertedSamples uint64
	OverflowSamples                 uint64
	// SendBack is the codec of the mix sent back, 0 when there is none.
	SendBack RTPCodec
}

// SourceState says what a source's connection is doing.
type SourceState int

// Source states, reported in EventSourceState.
const (
	// SourceConnected: the stream is open and flowing.
	SourceConnected SourceState = iota + 1
	// SourceLost: the stream failed or could not be opened; Reason says why.
	SourceLost
	// SourceReconnecting: the next attempt starts after RetryIn.
	SourceReconnecting
	// SourceConnecting: the first attempt is under way (stats only; no
	// event announces it).
	SourceConnecting
)

func (s SourceState) String() string {
	switch s {
	case SourceConnected:
		return "connected"
	case SourceLost:
		return "lost"
	case SourceReconnecting:
		return "reconnecting"
	case SourceConnecting:
		return "connecting"
	}
	return "unknown"
}

// SourceStatus is a source's state change.
type SourceStatus struct {
	State SourceState
	// URL has any password redacted.
	URL     string
	Reason  string
	Attempt int           // reconnection attempt, from 1
	RetryIn time.Duration // for SourceReconnecting
	// The streams found, for SourceConnected.
	AudioCodec, VideoCodec string
	Width, Height          int
}

// source pulls one stream into its participant. It is the participant's
// endpoint: closing the participant (RemoveSource, room deletion, the
// manager closing) stops its goroutine and interrupts a blocked read.
type source struct {
	p         *participant
	r         *room
	cfg       SourceConfig
	url       string // as opened
	shownURL  string // for events
	transport string

	stop chan struct{}
	done chan struct{}

	// back sends the mix to a two-way source; nil for listen-only ones.
	back      *transport.RTPEndpoint
	backCodec RTPCodec

	mu      sync.Mutex
	cur     *codec.SourceReader // interruptible while set
	started bool
	closed  bool
	info    codec.SourceInfo // of the last connection

	state                           atomic.Int32 // SourceState
	packets, videoFrames            atomic.Uint64
	connections, reconnects, backIn atomic.Uint64
}

// AddSource adds a participant that pulls an RTSP or RTMP stream: its
// audio is mixed like anyone's and its video is a tile. It is listen-only
// unless req.SendBack asks for its mix-minus as RTP. The call returns at
// once; the connection is made, and remade with backoff when it drops, in
// the background, and reported as source_state events.
func (m *Manager) AddSource(roomID string, req SourceRequest) (ParticipantInfo, error) {
	if err := validateID("participant_id", req.ParticipantID); err != nil {
		return ParticipantInfo{}, err
	}
	tr := ""
	switch req.Transport {
	case SourceTransportAuto:
	case SourceTransportTCP:
		tr = codec.TransportTCP
	case SourceTransportUDP:
		tr = codec.TransportUDP
	default:
		return ParticipantInfo{}, fmt.Errorf("transport %d unknown: %w", req.Transport, ErrInvalidArgument)
	}
	openURL, tr, err := codec.ParseSourceURL(req.URL, tr)
	if err != nil {
		return ParticipantInfo{}, fmt.Errorf("url: %v: %w", err, ErrInvalidArgument)
	}
	override := req.DSP
	var back transport.RTPParams
	if req.SendBack != nil {
		if back, err = sendBackParams(*req.SendBack); err != nil {
			return ParticipantInfo{}, err
		}
		if override.AEC == nil {
			override.AEC = ptr(true)
		}
	} else {
		if override.AEC != nil && *override.AEC {
			return ParticipantInfo{}, fmt.Errorf("dsp.aec: a source without send_back has no far end to cancel: %w", ErrInvalidArgument)
		}
		override.AEC = ptr(false)
	}
	r, err := m.room(roomID)
	if err != nil {
		return ParticipantInfo{}, err
	}
	if err := m.reserve(r, req.ParticipantID); err != nil {
		return ParticipantInfo{}, err
	}
	s, err := m.newSource(r, req, &override, openURL, tr, back)
	if err != nil {
		m.release(r, req.ParticipantID)
		return ParticipantInfo{}, err
	}
	if err := m.admit(r, s.p); err != nil {
		return ParticipantInfo{}, err
	}
	s.start()
	return s.p.info(), nil
}

// sendBackParams checks a send_back and turns it into RTP parameters.
func sendBackParams(sb SourceSendBack) (transport.RTPParams, error) {
	switch sb.Codec {
	case CodecPCMU, CodecPCMA, CodecOpus:
	default:
		return transport.RTPParams{}, fmt.Errorf("send_back.codec %d: must be PCMU, PCMA or OPUS: %w", sb.Codec, ErrInvalidArgument)
	}
	addr, err := parseRemote(sb.RemoteAddr)
	if err != nil {
		return transport.RTPParams{}, fmt.Errorf("send_back.remote_addr: %v: %w", err, ErrInvalidArgument)
	}
	return transport.RTPParams{Codec: sb.Codec, PayloadType: defaultPayloadType(sb.Codec), Remote: addr}, nil
}

// newSource builds a source's participant: decoded audio comes through a
// FIFO instead of a jitter buffer, and with send-back it gets its own
// encoder, limiter and RTP endpoint, like a plain RTP participant.
func (m *Manager) newSource(r *room, req SourceRequest, override *DSPOverride, openURL, tr string, back transport.RTPParams) (*source, error) {
	p, err := m.newMember(r, req.ParticipantID, req.DisplayName, override)
	if err != nil {
		return nil, err
	}
	p.kind, p.send = KindSource, sendNone
	p.jb = nil
	p.pcmIn = newPCMFIFO(int(m.cfg.Source.Buffer * media.SampleRate / time.Second))
	s := &source{p: p, r: r, cfg: m.cfg.Source, url: openURL, shownURL: redactURL(openURL), transport: tr,
		stop: make(chan struct{}), done: make(chan struct{})}
	s.state.Store(int32(SourceConnecting))
	p.ep = s
	if req.SendBack == nil {
		return s, nil
	}
	if p.enc, err = m.newOwnEncoder(back.Codec, r.audio.OpusBitrate); err != nil {
		p.close()
		return nil, fmt.Errorf("codec: %w", err)
	}
	// The device's audio comes over RTSP or RTMP: whatever it sends to
	// this port is ignored, and its silence here is no reason to drop it.
	cfg := m.cfg.Transport
	cfg.RTPTimeout = 0
	if s.back, err = openRTP(cfg, back, s); err != nil {
		p.close()
		return nil, err
	}
	p.send, p.rtp, s.backCodec = sendOwn, s.back, back.Codec
	p.lim = mixer.NewLimiter(m.cfg.Limiter)
	return s, nil
}

// RemoveSource stops a source and removes its participant.
func (m *Manager) RemoveSource(roomID, participantID string) error {
	if err := validateID("participant_id", participantID); err != nil {
		return err
	}
	r, err := m.room(roomID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	p := r.members[participantID]
	r.mu.Unlock()
	if p == nil || p.kind != KindSource {
		return fmt.Errorf("source %q in room %q: %w", participantID, roomID, ErrParticipantNotFound)
	}
	return m.remove(r, participantID, "removed")
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Redacted()
}

func (s *source) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.started = true
	go s.run()
}

// SendAudio implements audioEndpoint: the mix goes back to a two-way
// source (a listen-only one is not sent anything).
func (s *source) SendAudio(payload []byte, tick uint32) {
	if s.back != nil {
		s.back.SendAudio(payload, tick)
	}
}

// HandleAudio implements transport.EndpointHandler for the send-back
// port: the device's audio comes from its stream, so RTP arriving here
// is counted and ignored.
func (s *source) HandleAudio(uint16, uint32, []byte, int, time.Time) { s.backIn.Add(1) }

// HandleClosed implements transport.EndpointHandler; the send-back
// endpoint has no timeout, and the source's own loop reports losses.
func (s *source) HandleClosed(string) {}

// Stats implements audioEndpoint.
func (s *source) Stats() transport.EndpointStats {
	st := transport.EndpointStats{PacketsIn: s.packets.Load(), VideoFramesIn: s.videoFrames.Load(),
		PacketsDropped: s.p.pcmIn.overflow.Load() / media.FrameSamples}
	if s.back != nil {
		b := s.back.Stats()
		st.PacketsOut, st.SendOverflow = b.PacketsOut, b.SendOverflow
		st.PacketsDropped += b.PacketsDropped
	}
	return st
}

// stats is the source's part of its participant's info.
func (s *source) stats() *SourceStats {
	f := s.p.pcmIn
	st := &SourceStats{State: SourceState(s.state.Load()), URL: s.shownURL,
		Connections: s.connections.Load(), Reconnects: s.reconnects.Load(),
		Packets: s.packets.Load(), VideoFrames: s.videoFrames.Load(),
		BufferedMs: float64(f.depth()) * 1000 / media.SampleRate, Underruns: f.underruns.Load(),
		DroppedSamples: f.dropped.Load(), InsertedSamples: f.inserted.Load(), OverflowSamples: f.overflow.Load()}
	s.mu.Lock()
	st.AudioCodec, st.VideoCodec = s.info.AudioCodec, s.info.VideoCodec
	s.mu.Unlock()
	st.SendBack = s.backCodec
	return st
}

// Close implements audioEndpoint: it stops the goroutine, interrupting a
// blocked connect or read, and waits for it.
func (s *source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	if s.cur != nil {
		s.cur.Interrupt()
	}
	started := s.started
	s.mu.Unlock()
	if started {
		<-s.done
	}
	if s.back != nil {
		_ = s.back.Close()
	}
	return nil
}

func (s *source) publish(st SourceStatus) {
	s.state.Store(int32(st.State))
	if st.State == SourceReconnecting {
		s.reconnects.Add(1)
	}
	st.URL = s.shownURL
	s.r.hub.publish(Event{Type: EventSourceState, RoomID: s.r.id, Time: time.Now(), ParticipantID: s.p.id,
		Source: &st})
}

// run connects, pumps packets until the stream fails, and reconnects with
// exponential backoff until the source is closed (or, with give_up_after,
// has been unreachable too long).
func (s *source) run() {
	defer close(s.done)
	delay := s.cfg.ReconnectMin
	var lostAt, connectedAt time.Time
	attempt := 0
	for {
		connectedAt = time.Time{}
		err := s.session(func() {
			connectedAt, lostAt, attempt = time.Now(), time.Time{}, 0
		})
		if errors.Is(err, codec.ErrInterrupted) || s.stopped() {
			return
		}
		// A stream that ran a while starts the backoff over; one that
		// fails right after connecting keeps backing off.
		if !connectedAt.IsZero() && time.Since(connectedAt) >= s.cfg.ReconnectMax {
			delay = s.cfg.ReconnectMin
		}
		reason := err.Error()
		if lostAt.IsZero() {
			lostAt = time.Now()
			s.publish(SourceStatus{State: SourceLost, Reason: reason})
		}
		if s.cfg.GiveUpAfter > 0 && time.Since(lostAt) >= s.cfg.GiveUpAfter {
			s.r.connectionLost(s.p.id, reason)
			return
		}
		attempt++
		s.publish(SourceStatus{State: SourceReconnecting, Reason: reason, Attempt: attempt, RetryIn: delay})
		t := time.NewTimer(delay)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.ReconnectMax)
	}
}

func (s *source) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// session opens the stream once and reads it until it fails. connected
// runs when the stream opened.
func (s *source) session(connected func()) error {
	rd, err := codec.NewSourceReader(codec.SourceConfig{URL: s.url, Transport: s.transport,
		OpenTimeout: s.cfg.OpenTimeout, ReadTimeout: s.cfg.ReadTimeout})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = rd.Close()
		return codec.ErrInterrupted
	}
	s.cur = rd
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		_ = rd.Close()
	}()
	if err := rd.Open(); err != nil {
		return err
	}
	connected()
	info := rd.Info()
	s.connections.Add(1)
	s.mu.Lock()
	s.info = info
	s.mu.Unlock()
	s.publish(SourceStatus{State: SourceConnected, AudioCodec: info.AudioCodec, VideoCodec: info.VideoCodec,
		Width: info.Width, Height: info.Height})
	for {
		if err := rd.ReadPacket(s); err != nil {
			return err
		}
		s.packets.Add(1)
	}
}

// SourceAudio implements codec.SourceHandler: the tick takes it from the FIFO.
func (s *source) SourceAudio(pcm []float32) { s.p.pcmIn.push(pcm) }

// SourceVideo implements codec.SourceHandler: decoded here, on the
// source's goroutine, into the participant's tile.
func (s *source) SourceVideo(au []byte, codecName string, keyframe bool, pts time.Duration) {
	s.videoFrames.Add(1)
	s.p.HandleVideo(au, codecName, keyframe, uint32(pts.Nanoseconds()*9/100_000), time.Now())
}
