package conference

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/dsp"
	"github.com/openmcu/mcu/dsp/aec"
	"github.com/openmcu/mcu/transport"
)

// Option customises a Manager.
type Option func(*Manager)

// Manager owns the rooms of one server.
type Manager struct {
	cfg     Config
	newAEC  func() dsp.EchoCanceller
	rtc     *transport.WebRTC
	metrics *metrics

	mu           sync.Mutex
	rooms        map[string]*room
	participants int // joined or joining, across rooms
	closed       bool
}

// NewManager validates cfg and prepares the WebRTC stack.
func NewManager(cfg Config, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rtc, err := transport.NewWebRTC(cfg.Transport)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, rtc: rtc, rooms: make(map[string]*room),
		newAEC: func() dsp.EchoCanceller { return dsp.NewEchoCanceller(aec.DefaultConfig()) }}
	m.metrics = newMetrics(m)
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Registry holds the manager's Prometheus metrics.
func (m *Manager) Registry() *prometheus.Registry { return m.metrics.registry }

func validateID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s must not be empty: %w", field, ErrInvalidArgument)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%s is %d bytes, longer than %d: %w", field, len(id), maxIDLen, ErrInvalidArgument)
	}
	return nil
}

func (m *Manager) newEncoder(bitrate int) (audioEncoder, error) {
	cfg := codec.DefaultOpusEncoderConfig()
	cfg.Bitrate = bitrate
	cfg.Complexity = m.cfg.OpusComplexity
	return codec.NewOpusEncoder(cfg)
}

// chainConfig is the voice-processing set-up of a new participant; the
// stages are switched per room and participant afterwards.
func (m *Manager) chainConfig() dsp.ChainConfig {
	c := dsp.DefaultChainConfig()
	c.NewAEC = m.newAEC
	c.ExternalScratch = true // the room's tick runs it with the room's scratch
	return c
}

// CreateRoom opens a room. Unset audio settings take the server defaults.
func (m *Manager) CreateRoom(s RoomSettings) (RoomInfo, error) {
	if err := validateID("room_id", s.ID); err != nil {
		return RoomInfo{}, err
	}
	a := s.Audio
	if a.MaxActiveSpeakers == 0 {
		a.MaxActiveSpeakers = m.cfg.Speaker.MaxActive
	}
	if a.MaxActiveSpeakers < 1 || a.MaxActiveSpeakers > 64 {
		return RoomInfo{}, fmt.Errorf("audio.max_active_speakers %d out of 1..64: %w", a.MaxActiveSpeakers, ErrInvalidArgument)
	}
	if a.OpusBitrate == 0 {
		a.OpusBitrate = m.cfg.OpusBitrate
	}
	if a.OpusBitrate < minOpusBitrate || a.OpusBitrate > maxOpusBitrate {
		return RoomInfo{}, fmt.Errorf("audio.opus_bitrate %d out of %d..%d: %w", a.OpusBitrate, minOpusBitrate, maxOpusBitrate, ErrInvalidArgument)
	}

	video, err := resolveVideo(s.Video, m.cfg.Video)
	if err != nil {
		return RoomInfo{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return RoomInfo{}, ErrClosed
	case m.rooms[s.ID] != nil:
		return RoomInfo{}, fmt.Errorf("room %q: %w", s.ID, ErrRoomExists)
	case len(m.rooms) >= m.cfg.MaxRooms:
		return RoomInfo{}, fmt.Errorf("%d rooms: %w", m.cfg.MaxRooms, ErrTooManyRooms)
	}
	r, err := newRoom(s.ID, a, video, &m.cfg, m.metrics, func() (audioEncoder, error) { return m.newEncoder(a.OpusBitrate) })
	if err != nil {
		return RoomInfo{}, fmt.Errorf("room encoders: %w", err)
	}
	r.onGone = func() {
		m.mu.Lock()
		m.participants--
		m.mu.Unlock()
	}
	m.rooms[s.ID] = r
	go r.run()
	return r.info(), nil
}

func (m *Manager) room(id string) (*room, error) {
	if err := validateID("room_id", id); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rooms[id]
	if r == nil {
		return nil, fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	return r, nil
}

func (m *Manager) liveRooms() []*room {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := make([]*room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rs = append(rs, r)
	}
	return rs
}

// GetRoom returns a snapshot of one room.
func (m *Manager) GetRoom(id string) (RoomInfo, error) {
	r, err := m.room(id)
	if err != nil {
		return RoomInfo{}, err
	}
	return r.info(), nil
}

// ListRooms returns every room, sorted by ID.
func (m *Manager) ListRooms() []RoomInfo {
	rs := m.liveRooms()
	out := make([]RoomInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DeleteRoom closes every participant, ends the room's event streams and
// frees the room.
func (m *Manager) DeleteRoom(id string) error {
	if err := validateID("room_id", id); err != nil {
		return err
	}
	m.mu.Lock()
	r := m.rooms[id]
	delete(m.rooms, id)
	m.mu.Unlock()
	if r == nil {
		return fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	n := r.shutdown()
	m.mu.Lock()
	m.participants -= n
	m.mu.Unlock()
	return nil
}

// Join answers a participant's WebRTC offer and adds them to the room.
func (m *Manager) Join(ctx context.Context, roomID string, req JoinRequest) (string, error) {
	if err := validateID("participant_id", req.ParticipantID); err != nil {
		return "", err
	}
	r, err := m.room(roomID)
	if err != nil {
		return "", err
	}
	if err := m.reserve(r, req.ParticipantID); err != nil {
		return "", err
	}
	p, answer, err := m.connect(ctx, r, req)
	if err != nil {
		m.release(r, req.ParticipantID)
		return "", err
	}
	if err := m.admit(r, p); err != nil {
		return "", err
	}
	return answer, nil
}

// admit hands a reserved, connected participant to the room's tick and
// announces it. On failure it releases the reservation and closes p.
func (m *Manager) admit(r *room, p *participant) error {
	if added, ok := r.do(roomCmd{add: p}); !ok || added == nil {
		m.release(r, p.id)
		p.close()
		return fmt.Errorf("room %q: %w", r.id, ErrRoomNotFound)
	}
	r.mu.Lock()
	delete(r.pending, p.id)
	r.members[p.id] = p
	r.mu.Unlock()
	r.hub.publish(Event{Type: EventParticipantJoined, RoomID: r.id, Time: time.Now(), ParticipantID: p.id,
		Participant: ptr(p.info())})
	return nil
}

func (m *Manager) reserve(r *room, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.participants >= m.cfg.MaxParticipants {
		return fmt.Errorf("server has %d: %w", m.cfg.MaxParticipants, ErrTooManyParticipants)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return fmt.Errorf("room %q: %w", r.id, ErrRoomNotFound)
	}
	if _, ok := r.members[id]; ok {
		return fmt.Errorf("participant %q: %w", id, ErrParticipantExists)
	}
	if _, ok := r.pending[id]; ok {
		return fmt.Errorf("participant %q: %w", id, ErrParticipantExists)
	}
	if len(r.members)+len(r.pending) >= m.cfg.MaxParticipantsPerRoom {
		return fmt.Errorf("room %q has %d: %w", r.id, m.cfg.MaxParticipantsPerRoom, ErrTooManyParticipants)
	}
	r.pending[id] = struct{}{}
	m.participants++
	return nil
}

func (m *Manager) release(r *room, id string) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
	m.mu.Lock()
	m.participants--
	m.mu.Unlock()
}

// newMember builds what every kind of participant has: voice
// processing with the room's settings, overridden by override when not nil, and
// a jitter buffer for its packets.
func (m *Manager) newMember(r *room, id, name string, override *DSPOverride) (*participant, error) {
	p := newParticipant(id, name, r)
	p.setGainDB(0)
	p.chain = dsp.NewChain(m.chainConfig())
	r.mu.Lock()
	if override != nil {
		p.dspOverride = *override
	}
	p.applyDSP(r.audio.DSP)
	r.mu.Unlock()
	var err error
	if p.jb, err = transport.NewJitterBuffer(m.cfg.Transport.Jitter); err != nil {
		return nil, err
	}
	return p, nil
}

// connect builds a participant's codecs and WebRTC endpoint.
func (m *Manager) connect(ctx context.Context, r *room, req JoinRequest) (*participant, string, error) {
	p, err := m.newMember(r, req.ParticipantID, req.DisplayName, nil)
	if err != nil {
		return nil, "", err
	}
	if p.dec, err = codec.NewOpusDecoder(); err != nil {
		return nil, "", fmt.Errorf("decoder: %w", err)
	}
	ep, answer, err := m.rtc.NewEndpoint(ctx, req.SDPOffer, p)
	if err != nil {
		p.close()
		if errors.Is(err, transport.ErrInvalidSDP) || errors.Is(err, transport.ErrNoAudio) {
			return nil, "", fmt.Errorf("sdp_offer: %w: %v", ErrInvalidSDP, err)
		}
		return nil, "", err
	}
	p.ep = ep
	p.vep = ep
	return p, answer, nil
}

// Leave disconnects a participant.
func (m *Manager) Leave(roomID, participantID string) error {
	if err := validateID("participant_id", participantID); err != nil {
		return err
	}
	r, err := m.room(roomID)
	if err != nil {
		return err
	}
	return m.remove(r, participantID, "left")
}

// remove takes a participant out of the room's tick, announces it with
// reason and closes it.
func (m *Manager) remove(r *room, participantID, reason string) error {
	p, ok := r.do(roomCmd{remove: participantID})
	if !ok || p == nil {
		return fmt.Errorf("participant %q in room %q: %w", participantID, r.id, ErrParticipantNotFound)
	}
	r.mu.Lock()
	delete(r.members, participantID)
	r.mu.Unlock()
	m.metrics.participantLeft(p)
	r.hub.publish(Event{Type: EventParticipantLeft, RoomID: r.id, Time: time.Now(), ParticipantID: p.id,
		Participant: ptr(p.info()), Reason: reason})
	p.close()
	m.mu.Lock()
	m.participants--
	m.mu.Unlock()
	return nil
}

// UpdateParticipant changes mute, gain or voice processing. Changes are
// ramped by the room tick, so they never click.
func (m *Manager) UpdateParticipant(roomID, participantID string, u ParticipantUpdate) (ParticipantInfo, error) {
	if err := validateID("participant_id", participantID); err != nil {
		return ParticipantInfo{}, err
	}
	if u.GainDB != nil && (*u.GainDB < MinGainDB || *u.GainDB > MaxGainDB) {
		return ParticipantInfo{}, fmt.Errorf("gain_db %.1f out of %.0f..%+.0f dB: %w", *u.GainDB, MinGainDB, MaxGainDB, ErrInvalidArgument)
	}
	r, err := m.room(roomID)
	if err != nil {
		return ParticipantInfo{}, err
	}
	r.mu.Lock()
	p := r.members[participantID]
	r.mu.Unlock()
	if p == nil {
		return ParticipantInfo{}, fmt.Errorf("participant %q in room %q: %w", participantID, roomID, ErrParticipantNotFound)
	}
	if u.Muted != nil {
		p.muted.Store(*u.Muted)
	}
	if u.GainDB != nil {
		p.setGainDB(*u.GainDB)
	}
	if u.DSP.AEC != nil || u.DSP.NS != nil || u.DSP.AGC != nil {
		r.mu.Lock()
		if u.DSP.AEC != nil {
			p.dspOverride.AEC = u.DSP.AEC
		}
		if u.DSP.NS != nil {
			p.dspOverride.NS = u.DSP.NS
		}
		if u.DSP.AGC != nil {
			p.dspOverride.AGC = u.DSP.AGC
		}
		p.applyDSP(r.audio.DSP)
		r.mu.Unlock()
	}
	info := p.info()
	r.hub.publish(Event{Type: EventParticipantUpdated, RoomID: r.id, Time: time.Now(), ParticipantID: p.id,
		Participant: ptr(info)})
	return info, nil
}

// Gain limits accepted by UpdateParticipant.
const (
	MinGainDB = -60.0
	MaxGainDB = 20.0
)

// Watch subscribes to a room's events.
func (m *Manager) Watch(roomID string) (*Subscription, error) {
	r, err := m.room(roomID)
	if err != nil {
		return nil, err
	}
	return r.hub.subscribe()
}

// Close drains the server: every room is deleted, which closes every
// participant. Later calls fail with ErrClosed.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	ids := make([]string, 0, len(m.rooms))
	for id := range m.rooms {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = m.DeleteRoom(id)
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
		return m.rtc.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sortParticipants(ps []ParticipantInfo) {
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].JoinedAt.Equal(ps[j].JoinedAt) {
			return ps[i].JoinedAt.Before(ps[j].JoinedAt)
		}
		return ps[i].ID < ps[j].ID
	})
}
