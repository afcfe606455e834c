// Package client is a real WebRTC conference participant built on pion: it
// offers one Opus sendrecv audio track, sends audio from a Source every
// 20 ms and delivers what it hears to a Sink. mcuctl join and the
// end-to-end tests use it.
//
// Typical use:
//
//	p, _ := client.New(cfg)
//	offer, _ := p.Offer(ctx)    // non-trickle: every candidate is in the SDP
//	answer := callJoin(offer)   // e.g. the Conference.Join RPC
//	_ = p.Accept(answer)        // starts the send and receive loops
//	_ = p.WaitConnected(ctx)
//	...
//	_ = p.Close()               // stops every goroutine it started
package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/transport"
)

// Config configures a Participant.
type Config struct {
	// Source is what the participant sends; nil means silence.
	Source Source
	// Sink receives what it hears; nil discards.
	Sink Sink
	// Opus configures the encoder. A zero Bitrate means
	// codec.DefaultOpusEncoderConfig().
	Opus codec.OpusEncoderConfig
	// ICEServers are STUN/TURN servers; none are needed on a LAN or loopback.
	ICEServers []webrtc.ICEServer
	// PortMin and PortMax bound the local UDP ports (0, 0 = any).
	PortMin, PortMax uint16
	// IncludeLoopback offers 127.0.0.1 candidates too (pion leaves them out),
	// for hosts whose only interface is loopback.
	IncludeLoopback bool
	// StreamID names the media stream in the SDP (msid); default "mcuctl".
	StreamID string
	// Video, when set, adds an H.264 video track: sent from Video.Source
	// and/or received (Video.Receive). Nil means audio only.
	Video *VideoConfig
}

// DefaultConfig sends silence at 32 kb/s with Opus FEC.
func DefaultConfig() Config {
	return Config{Opus: codec.DefaultOpusEncoderConfig(), StreamID: "mcuctl"}
}

// Stats are cumulative counters.
type Stats struct {
	PacketsSent     uint64
	BytesSent       uint64 // Opus payload bytes
	PacketsReceived uint64
	BytesReceived   uint64 // Opus payload bytes
	// PacketsLost counts sequence-number gaps in what was received.
	PacketsLost uint64
	// FramesConcealed counts lost packets rebuilt with FEC or PLC.
	FramesConcealed uint64
	// LatePackets counts duplicates and packets arriving after their gap
	// was concealed; they are dropped.
	LatePackets  uint64
	DecodeErrors uint64
	// FramesSkipped counts send ticks dropped because the sender fell far
	// behind the clock (a stalled machine).
	FramesSkipped uint64
}

type counters struct {
	packetsSent, bytesSent, packetsReceived, bytesReceived atomic.Uint64
	packetsLost, concealed, late, decodeErrors, skipped    atomic.Uint64
}

// Participant is one WebRTC endpoint. Its methods are safe for concurrent
// use.
type Participant struct {
	cfg   Config
	video *videoState // nil without video
	api   *webrtc.API
	enc   *codec.OpusEncoder
	stats counters

	src  atomic.Pointer[Source]
	sink atomic.Pointer[Sink]

	connected    chan struct{}
	disconnected chan struct{}
	done         chan struct{}
	connOnce     sync.Once
	discOnce     sync.Once
	closeOnce    sync.Once
	closeErr     error

	mu       sync.Mutex // guards the fields below and wg.Add
	closed   bool
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	sender   *webrtc.RTPSender
	accepted bool
	gotTrack bool

	audioSync, videoSync streamSync
	wg                   sync.WaitGroup
}

// New validates cfg and builds the pion API; no network resources are used
// until Offer.
func New(cfg Config) (*Participant, error) {
	if cfg.Opus.Bitrate == 0 {
		cfg.Opus = codec.DefaultOpusEncoderConfig()
	}
	if cfg.StreamID == "" {
		cfg.StreamID = "mcuctl"
	}
	if (cfg.PortMin == 0) != (cfg.PortMax == 0) || cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("%w: port range %d-%d", ErrInvalidConfig, cfg.PortMin, cfg.PortMax)
	}
	api, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	enc, err := codec.NewOpusEncoder(cfg.Opus)
	if err != nil {
		return nil, fmt.Errorf("client: opus encoder: %w", err)
	}
	p := &Participant{
		cfg:          cfg,
		api:          api,
		enc:          enc,
		connected:    make(chan struct{}),
		disconnected: make(chan struct{}),
		done:         make(chan struct{}),
	}
	if cfg.Video != nil {
		vc := *cfg.Video
		if err := vc.withDefaults(); err != nil {
			_ = enc.Close()
			return nil, err
		}
		p.video = &videoState{cfg: vc}
	}
	p.SetSource(cfg.Source)
	p.SetSink(cfg.Sink)
	return p, nil
}

// opusCodec is the only codec we offer: Opus at 48 kHz, 2 channels in SDP
// as RFC 7587 requires, in-band FEC on. NACK lets a server with a jitter
// buffer ask for our lost packets again (pion only enables it for video).
func opusCodec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:     webrtc.MimeTypeOpus,
			ClockRate:    media.SampleRate,
			Channels:     2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}},
		},
		PayloadType: 111,
	}
}

func newAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(opusCodec(), webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("client: registering opus: %w", err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("client: registering audio level: %w", err)
	}
	if cfg.Video != nil {
		for _, c := range transport.VideoCodecs() {
			if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, fmt.Errorf("client: registering %s: %w", c.MimeType, err)
			}
		}
	}
	ir := &interceptor.Registry{}
	// NACK responder/generator, sender and receiver reports, TWCC, stats.
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("client: interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	if cfg.PortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// SetSource switches what is sent, from the next frame on; nil means
// silence. The previous source is no longer read once the next frame starts.
func (p *Participant) SetSource(s Source) {
	if s == nil {
		s = SilenceSource()
	}
	p.src.Store(&s)
}

// SetSink switches where received audio goes; nil discards.
func (p *Participant) SetSink(s Sink) {
	if s == nil {
		s = discard{}
	}
	p.sink.Store(&s)
}

// Offer creates the PeerConnection with one sendrecv Opus transceiver,
// waits until ICE gathering is complete and returns the offer SDP.
func (p *Participant) Offer(ctx context.Context) (string, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return "", ErrClosed
	}
	if p.pc != nil {
		p.mu.Unlock()
		return "", fmt.Errorf("%w: Offer called twice", ErrState)
	}
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{ICEServers: p.cfg.ICEServers})
	if err != nil {
		p.mu.Unlock()
		return "", fmt.Errorf("client: new peer connection: %w", err)
	}
	p.pc = pc
	pc.OnConnectionStateChange(p.onState)
	pc.OnTrack(p.onTrack)
	p.track, err = webrtc.NewTrackLocalStaticRTP(opusCodec().RTPCodecCapability, "audio", p.cfg.StreamID)
	if err == nil {
		var tr *webrtc.RTPTransceiver
		tr, err = pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err == nil {
			p.sender = tr.Sender()
			p.goLocked(func() { drainRTCP(p.sender.Read) })
		}
	}
	if err != nil {
		p.mu.Unlock()
		return "", fmt.Errorf("client: adding audio track: %w", err)
	}
	if p.video != nil {
		err = p.addVideo(pc)
	}
	p.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("client: adding video track: %w", err)
	}

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("client: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("client: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("client: gathering ICE candidates: %w", ctx.Err())
	case <-p.done:
		return "", ErrClosed
	}
	return pc.LocalDescription().SDP, nil
}

// Accept applies the remote answer and starts sending once connected.
func (p *Participant) Accept(answer string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.pc == nil:
		return fmt.Errorf("%w: Accept before Offer", ErrState)
	case p.accepted:
		return fmt.Errorf("%w: Accept called twice", ErrState)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("%w: %w", ErrSDP, err)
	}
	p.accepted = true
	f := newFramer(p.enc)
	for _, ext := range p.sender.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			f.setAudioLevelID(ext.ID)
		}
	}
	p.goLocked(func() { p.sendLoop(f, time.Now) })
	if p.video != nil && p.video.track != nil {
		p.goLocked(p.videoSendLoop)
	}
	return nil
}

// goLocked starts a goroutine Close waits for; p.mu must be held.
func (p *Participant) goLocked(fn func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
}

func (p *Participant) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.connOnce.Do(func() { close(p.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.discOnce.Do(func() { close(p.disconnected) })
	}
}

// onTrack runs on a pion goroutine: hand the track to loops we own.
func (p *Participant) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && tr.Kind() == webrtc.RTPCodecTypeVideo && p.video != nil && !p.video.gotRecv {
		p.video.gotRecv = true
		p.goLocked(func() { p.videoSync.readRTCP(recv.Read, tr.Codec().ClockRate) })
		p.goLocked(func() { p.videoRecvLoop(tr) })
		p.goLocked(func() { p.rembLoop(uint32(tr.SSRC())) })
		return
	}
	if p.closed || tr.Kind() != webrtc.RTPCodecTypeAudio || p.gotTrack {
		return
	}
	p.gotTrack = true
	p.goLocked(func() { p.audioSync.readRTCP(recv.Read, tr.Codec().ClockRate) })
	p.goLocked(func() { p.recvLoop(tr) })
}

// drainRTCP reads RTCP until the connection closes: the interceptors (NACK
// responder, report generators) only see RTCP that is read.
func drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
	}
}

// maxLag is how far the send loop may fall behind before it skips frames
// rather than bursting them out.
const maxLag = 5 * media.FrameDuration

// sendLoop sends one frame every 20 ms from the moment the connection is up,
// scheduled by absolute time so that timer jitter never accumulates.
func (p *Participant) sendLoop(f *framer, now func() time.Time) {
	select {
	case <-p.connected:
	case <-p.done:
		return
	}
	start := now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for tick := int64(0); ; tick++ {
		due := start.Add(time.Duration(tick) * media.FrameDuration)
		if wait := due.Sub(now()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.done:
				return
			}
		} else if lag := -wait; lag > maxLag {
			// Stalled: drop the backlog but keep RTP time = wall time.
			skip := int64(lag / media.FrameDuration)
			tick += skip
			f.skip(int(skip))
			p.stats.skipped.Add(uint64(skip))
		}
		select {
		case <-p.done:
			return
		default:
		}
		pkt, err := f.next(*p.src.Load())
		if err != nil {
			f.advance() // keep the timeline; the receiver sees a loss
			continue
		}
		if err := p.track.WriteRTP(pkt); err == nil {
			p.stats.packetsSent.Add(1)
			p.stats.bytesSent.Add(uint64(len(pkt.Payload)))
		}
		f.advance()
	}
}

func (p *Participant) recvLoop(tr *webrtc.TrackRemote) {
	dec, err := codec.NewOpusDecoder()
	if err != nil {
		return
	}
	defer dec.Close()
	d := newDeframer(dec, &p.stats)
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		p.audioSync.packet(buf[:n], time.Now())
		d.handle(buf[:n], *p.sink.Load())
	}
}

// Connected is closed once the PeerConnection is connected.
func (p *Participant) Connected() <-chan struct{} { return p.connected }

// Disconnected is closed when the connection fails or is closed.
func (p *Participant) Disconnected() <-chan struct{} { return p.disconnected }

// WaitConnected blocks until the connection is up, fails, the participant is
// closed, or ctx ends.
func (p *Participant) WaitConnected(ctx context.Context) error {
	select {
	case <-p.connected:
		return nil
	case <-p.disconnected:
		return ErrConnectionFailed
	case <-p.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("client: waiting for connection: %w", ctx.Err())
	}
}

// Stats returns a snapshot of the counters.
func (p *Participant) Stats() Stats {
	s := &p.stats
	return Stats{
		PacketsSent:     s.packetsSent.Load(),
		BytesSent:       s.bytesSent.Load(),
		PacketsReceived: s.packetsReceived.Load(),
		BytesReceived:   s.bytesReceived.Load(),
		PacketsLost:     s.packetsLost.Load(),
		FramesConcealed: s.concealed.Load(),
		LatePackets:     s.late.Load(),
		DecodeErrors:    s.decodeErrors.Load(),
		FramesSkipped:   s.skipped.Load(),
	}
}

// Close closes the PeerConnection and waits for every goroutine the
// participant started. The Sink is not closed: after Close returns it gets
// no more writes. Closing twice returns the first result.
func (p *Participant) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		pc := p.pc
		p.mu.Unlock()
		close(p.done)
		var errs []error
		if pc != nil {
			// GracefulClose also waits for pion's own goroutines.
			errs = append(errs, pc.GracefulClose())
		}
		p.wg.Wait()
		errs = append(errs, p.enc.Close())
		p.discOnce.Do(func() { close(p.disconnected) })
		if err := errors.Join(errs...); err != nil {
			p.closeErr = fmt.Errorf("client: close: %w", err)
		}
	})
	return p.closeErr
}
