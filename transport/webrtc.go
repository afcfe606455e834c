package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// WebRTC builds endpoints that share one pion API (media engine, interceptors,
// network settings).
type WebRTC struct {
	cfg Config
	api *webrtc.API
	mux *ice.MultiUDPMuxDefault // nil unless UDPMuxPort is set
}

// NewWebRTC prepares a pion API for endpoints: Opus at 48 kHz with the
// RFC 6464 audio-level extension; VP8 and H.264 (constrained baseline,
// packetization mode 1) for video; NACK, PLI/FIR, RTCP reports and
// transport-cc.
func NewWebRTC(cfg Config) (*WebRTC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:    webrtc.MimeTypeOpus,
			ClockRate:   48000,
			Channels:    2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register audio level extension: %w", err)
	}
	for _, c := range videoCodecs() {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	// pion's defaults minus the stats interceptor (we keep our own counters).
	// The NACK history only needs to cover a round trip: 128 packets is
	// 2.5 s of 20 ms audio and about 0.8 s of 1.5 Mb/s video, against pion's
	// default of 1024 per stream.
	// Interceptors and connections take their loggers from one factory.
	logs := newSharedLoggers(logging.NewDefaultLoggerFactory())
	if err := webrtc.ConfigureNackWithOptions(m, ir,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(logs)},
		nack.ResponderSize(128), nack.WithResponderLoggerFactory(logs)); err != nil {
		return nil, fmt.Errorf("register nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReportsWithOptions(ir,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(logs)},
		report.WithSenderLoggerFactory(logs)); err != nil {
		return nil, fmt.Errorf("register rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, ir, twcc.WithLoggerFactory(logs)); err != nil {
		return nil, fmt.Errorf("register transport-cc: %w", err)
	}

	se := webrtc.SettingEngine{}
	se.LoggerFactory = logs
	var mux *ice.MultiUDPMuxDefault
	if cfg.UDPMuxPort != 0 {
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4)}
		if cfg.IncludeLoopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		var err error
		if mux, err = ice.NewMultiUDPMuxFromPort(int(cfg.UDPMuxPort), opts...); err != nil {
			return nil, fmt.Errorf("udp_mux_port %d: %w", cfg.UDPMuxPort, err)
		}
		se.SetICEUDPMux(mux)
	} else if cfg.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// mDNS candidates need multicast sockets and goroutines per peer; a
	// server has real addresses to advertise.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)

	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &WebRTC{cfg: cfg, api: api, mux: mux}, nil
}

// sharedLoggers hands every connection the same pion logger per scope: by
// default each connection builds its own (five log.Loggers per scope, about
// 8 KiB a participant), all writing the same way.
type sharedLoggers struct {
	base    logging.LoggerFactory
	mu      sync.Mutex
	byScope map[string]logging.LeveledLogger
}

func newSharedLoggers(base logging.LoggerFactory) *sharedLoggers {
	return &sharedLoggers{base: base, byScope: make(map[string]logging.LeveledLogger)}
}

func (f *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.byScope[scope]
	if !ok {
		l = f.base.NewLogger(scope)
		f.byScope[scope] = l
	}
	return l
}

// Close releases the shared UDP port, if any. Endpoints must be closed first.
func (w *WebRTC) Close() error {
	if w.mux != nil {
		return w.mux.Close()
	}
	return nil
}

// EndpointHandler receives what an endpoint hears. Its methods are called
// from the endpoint's own goroutines and must not block.
type EndpointHandler interface {
	// HandleAudio receives one Opus RTP payload; payload is only valid during
	// the call. level is the RFC 6464 level in -dBov (0 loudest, 127 silent)
	// or -1 when the packet carries none.
	HandleAudio(seq uint16, ts uint32, payload []byte, level int, now time.Time)
	// HandleClosed is called once when the connection fails or closes.
	HandleClosed(reason string)
}

// EndpointStats counts what crossed an endpoint.
type EndpointStats struct {
	PacketsIn      uint64
	PacketsOut     uint64
	PacketsDropped uint64 // malformed or unexpected input
	SendOverflow   uint64 // outgoing packets dropped because the peer could not keep up

	VideoPacketsIn      uint64
	VideoPacketsOut     uint64
	VideoFramesIn       uint64 // access units handed to the handler
	VideoFramesOut      uint64 // access units sent
	VideoFramesDropped  uint64 // outgoing access units dropped (peer too slow, or waiting for a keyframe)
	KeyframeRequestsOut uint64 // PLIs sent to the peer
	KeyframeRequestsIn  uint64 // PLIs and FIRs received from the peer
	REMBsIn             uint64 // REMB packets received for our video
	REMBBitrate         uint64 // the last REMB estimate, bits/s (0: none yet)
}

const (
	closeTimeout = 5 * time.Second
	sendQueueLen = 8
	// sendRingSlots covers the queue, the packet the send loop is writing,
	// and the one the tick is filling.
	sendRingSlots = sendQueueLen + 2
	maxPayload    = 1275 // the largest Opus packet
	// ringSlotBytes is what each send ring slot holds from the start: a
	// 20 ms packet up to 128 kb/s. A slot grows to maxPayload, once, the
	// first time a larger packet goes through it.
	ringSlotBytes = 320
)

type outPacket struct {
	slot      int
	n         int
	timestamp uint32
}

// Endpoint is one participant's WebRTC connection: one Opus track in, one
// Opus track out and, when the offer has video, one video track in (VP8 or
// H.264) and one H.264 track out.
type Endpoint struct {
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	handler EndpointHandler
	video   endpointVideo

	trackCh chan *webrtc.TrackRemote
	stateCh chan webrtc.PeerConnectionState
	sendQ   chan outPacket
	ring    [sendRingSlots][]byte
	ringPos int
	tsBase  uint32

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	closed    atomic.Bool
	notified  atomic.Bool

	packetsIn, packetsOut, dropped, overflow atomic.Uint64
}

// NewEndpoint answers an SDP offer. The answer carries every gathered
// candidate (no trickle ICE).
func (w *WebRTC) NewEndpoint(ctx context.Context, offer string, h EndpointHandler) (*Endpoint, string, error) {
	if err := checkOffer(offer); err != nil {
		return nil, "", err
	}
	pc, err := w.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	e := &Endpoint{
		pc:      pc,
		handler: h,
		trackCh: make(chan *webrtc.TrackRemote, 1),
		stateCh: make(chan webrtc.PeerConnectionState, 8),
		sendQ:   make(chan outPacket, sendQueueLen),
		done:    make(chan struct{}),
	}
	block := make([]byte, sendRingSlots*ringSlotBytes)
	for i := range e.ring {
		e.ring[i] = block[i*ringSlotBytes : (i+1)*ringSlotBytes : (i+1)*ringSlotBytes]
	}
	fail := func(err error) (*Endpoint, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	vh, _ := h.(VideoHandler)
	e.video.init(vh)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := e.trackCh
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			ch = e.video.trackCh
		}
		select {
		case ch <- t:
		default: // a second track of a kind is ignored
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case e.stateCh <- s:
		default:
		}
	})

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidSDP, err))
	}
	e.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
	}, "audio", "mcu-mix")
	if err != nil {
		return fail(fmt.Errorf("new track: %w", err))
	}
	if e.sender, err = pc.AddTrack(e.track); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrNoAudio, err))
	}
	if err := e.setupVideo(offer); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidSDP, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidSDP, err))
	}
	timeout := time.NewTimer(time.Duration(w.cfg.ICEGatherTimeoutMs) * time.Millisecond)
	defer timeout.Stop()
	select {
	case <-gathered:
	case <-timeout.C:
		// Answer with what was gathered so far rather than failing the join.
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	e.tsBase = randomUint32()

	e.wg.Add(3)
	go e.receiveLoop()
	go e.rtcpLoop()
	go e.sendLoop()
	e.startVideo()
	return e, pc.LocalDescription().SDP, nil
}

// checkOffer rejects what pion would accept but could never carry our audio.
func checkOffer(offer string) error {
	if strings.TrimSpace(offer) == "" {
		return fmt.Errorf("%w: empty offer", ErrInvalidSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSDP, err)
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), "opus/48000") {
				return nil
			}
		}
	}
	return ErrNoAudio
}

// SendAudio queues one encoded 20 ms Opus frame. tick is the room's frame
// counter, so timestamps stay on the room clock even when packets are
// dropped. It never blocks: when the peer cannot keep up the packet is
// dropped and counted.
func (e *Endpoint) SendAudio(payload []byte, tick uint32) {
	if len(payload) > maxPayload || e.closed.Load() {
		return
	}
	slot := e.ringPos
	if len(payload) > len(e.ring[slot]) {
		e.ring[slot] = make([]byte, maxPayload)
	}
	n := copy(e.ring[slot], payload)
	select {
	case e.sendQ <- outPacket{slot: slot, n: n, timestamp: e.tsBase + tick*960}:
		e.ringPos = (e.ringPos + 1) % sendRingSlots
	default:
		e.overflow.Add(1)
	}
}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() EndpointStats {
	v := &e.video
	return EndpointStats{
		PacketsIn:           e.packetsIn.Load(),
		PacketsOut:          e.packetsOut.Load(),
		PacketsDropped:      e.dropped.Load(),
		SendOverflow:        e.overflow.Load(),
		VideoPacketsIn:      v.packetsIn.Load(),
		VideoPacketsOut:     v.packetsOut.Load(),
		VideoFramesIn:       v.framesIn.Load(),
		VideoFramesOut:      v.framesOut.Load(),
		VideoFramesDropped:  v.framesDropped.Load(),
		KeyframeRequestsOut: v.plisSent.Load(),
		KeyframeRequestsIn:  v.plisIn.Load(),
		REMBsIn:             v.rembIn.Load(),
		REMBBitrate:         v.remb.Load(),
	}
}

// Close tears the connection down and waits for the endpoint's goroutines.
func (e *Endpoint) Close() error {
	var err error
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		finished := make(chan error, 1)
		go func() {
			err := e.pc.Close()
			e.wg.Wait()
			finished <- err
		}()
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case err = <-finished:
		case <-t.C:
			// pion can deadlock closing a connection whose RTP start-up is
			// still running; never let that block a Leave or a room delete.
			err = ErrCloseTimeout
		}
	})
	return err
}

func (e *Endpoint) notifyClosed(reason string) {
	if e.notified.CompareAndSwap(false, true) && e.handler != nil {
		e.handler.HandleClosed(reason)
	}
}

func (e *Endpoint) sendLoop() {
	defer e.wg.Done()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(randomUint32())}}
	for {
		select {
		case <-e.done:
			return
		case s := <-e.stateCh:
			switch s {
			case webrtc.PeerConnectionStateFailed:
				e.notifyClosed("connection failed")
			case webrtc.PeerConnectionStateClosed:
				e.notifyClosed("connection closed")
			}
		case out := <-e.sendQ:
			pkt.Timestamp = out.timestamp
			pkt.Payload = e.ring[out.slot][:out.n]
			if err := e.track.WriteRTP(&pkt); err == nil {
				e.packetsOut.Add(1)
			}
			pkt.SequenceNumber++
			pkt.Marker = false
		}
	}
}

// rtcpLoop drains RTCP for the outgoing track, which drives the NACK
// responder and sender reports.
func (e *Endpoint) rtcpLoop() {
	defer e.wg.Done()
	drainRTCP(e.sender, nil, nil)
}

func (e *Endpoint) receiveLoop() {
	defer e.wg.Done()
	var track *webrtc.TrackRemote
	select {
	case <-e.done:
		return
	case track = <-e.trackCh:
	}
	levelID := 0
	for _, tr := range e.pc.GetTransceivers() {
		if tr.Receiver() == nil || tr.Receiver().Track() != track {
			continue
		}
		for _, h := range tr.Receiver().GetParameters().HeaderExtensions {
			if h.URI == sdp.AudioLevelURI {
				levelID = h.ID
			}
		}
	}
	e.readPackets(track, func(pkt *rtp.Packet) {
		if len(pkt.Payload) == 0 {
			e.dropped.Add(1)
			return
		}
		e.packetsIn.Add(1)
		level := -1
		if levelID != 0 {
			if ext := pkt.GetExtension(uint8(levelID)); len(ext) > 0 {
				level = int(ext[0] & 0x7f)
			}
		}
		e.handler.HandleAudio(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, level, time.Now())
	})
}

// readPackets reads a remote track until it closes, into one reused packet.
// Malformed packets and unexpected payload types are dropped and counted;
// handle sees every other packet, valid only during the call.
func (e *Endpoint) readPackets(track *webrtc.TrackRemote, handle func(*rtp.Packet)) {
	payloadType := uint8(track.PayloadType())
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || e.closed.Load() {
				return
			}
			e.dropped.Add(1)
			continue
		}
		pkt.Header.Extensions = pkt.Header.Extensions[:0]
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.PayloadType != payloadType {
			e.dropped.Add(1)
			continue
		}
		handle(&pkt)
	}
}

func randomUint32() uint32 { return rand.Uint32() }
