package conference

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/transport"
)

// JoinRTP adds a plain RTP participant (a SIP gateway, a desk phone). It
// gets its own mix-minus in its own codec every 20 ms, and echo
// cancellation unless the request turns it off.
func (m *Manager) JoinRTP(roomID string, req JoinRTPRequest) (JoinRTPResult, error) {
	if err := validateID("participant_id", req.ParticipantID); err != nil {
		return JoinRTPResult{}, err
	}
	params, offer, err := m.resolveRTP(req)
	if err != nil {
		return JoinRTPResult{}, err
	}
	r, err := m.room(roomID)
	if err != nil {
		return JoinRTPResult{}, err
	}
	if err := m.reserve(r, req.ParticipantID); err != nil {
		return JoinRTPResult{}, err
	}
	p, ep, err := m.connectRTP(r, req, params)
	if err != nil {
		m.release(r, req.ParticipantID)
		return JoinRTPResult{}, err
	}
	local := ep.LocalAddr()
	adv := netip.AddrPortFrom(m.cfg.Transport.RTPAdvertiseAddr(local.Addr(), params.Remote.Addr()), local.Port())
	res := JoinRTPResult{LocalAddr: adv.String(), Codec: params.Codec, RTCPAddr: adv.String()}
	if !params.RTCPMux {
		res.RTCPAddr = netip.AddrPortFrom(adv.Addr(), adv.Port()+1).String()
	}
	if key := ep.LocalKey(); key != nil {
		res.SRTPKey = transport.EncodeSRTPKey(key)
	}
	if offer != nil {
		res.SDPAnswer = transport.RTPAnswer(*offer, adv, ep.LocalKey(), rand.Uint64()>>2)
	}
	if err := m.admit(r, p); err != nil {
		return JoinRTPResult{}, err
	}
	return res, nil
}

// resolveRTP checks a request and turns it into endpoint parameters.
func (m *Manager) resolveRTP(req JoinRTPRequest) (transport.RTPParams, *transport.RTPOffer, error) {
	latch := req.Latch == nil || *req.Latch
	switch req.Codec {
	case 0, CodecPCMU, CodecPCMA, CodecOpus:
	default:
		return transport.RTPParams{}, nil, fmt.Errorf("codec %d unknown: %w", req.Codec, ErrInvalidArgument)
	}
	if req.SDPOffer != "" {
		if req.RemoteAddr != "" || req.SRTPKey != "" {
			return transport.RTPParams{}, nil, fmt.Errorf("sdp_offer: give either an offer or remote_addr and srtp_key: %w", ErrInvalidArgument)
		}
		o, err := transport.ParseRTPOffer(req.SDPOffer, req.Codec)
		if err != nil {
			return transport.RTPParams{}, nil, fmt.Errorf("sdp_offer: %w: %v", ErrInvalidSDP, err)
		}
		o.Params.Latch = latch
		o.Params.RTCPMux = o.Params.RTCPMux || req.RTCPMux
		if !o.Params.Remote.IsValid() && !latch {
			return transport.RTPParams{}, nil, fmt.Errorf("sdp_offer: no address to send to and latch off: %w", ErrInvalidSDP)
		}
		return o.Params, &o, nil
	}
	p := transport.RTPParams{Codec: req.Codec, Latch: latch, EventPayloadType: transport.DefaultPayloadEvent,
		PayloadType: defaultPayloadType(req.Codec), RTCPMux: req.RTCPMux}
	if req.Codec == 0 {
		return p, nil, fmt.Errorf("codec: must be PCMU, PCMA or OPUS: %w", ErrInvalidArgument)
	}
	if req.PayloadType != 0 {
		if req.Codec != CodecOpus || req.PayloadType < 96 || req.PayloadType > 127 {
			return p, nil, fmt.Errorf("payload_type %d: only Opus takes one, in 96..127: %w", req.PayloadType, ErrInvalidArgument)
		}
		p.PayloadType = req.PayloadType
	}
	if p.PayloadType == p.EventPayloadType {
		p.EventPayloadType = 0
	}
	switch {
	case req.RemoteAddr != "":
		addr, err := parseRemote(req.RemoteAddr)
		if err != nil {
			return p, nil, fmt.Errorf("remote_addr: %v: %w", err, ErrInvalidArgument)
		}
		p.Remote = addr
	case !latch:
		return p, nil, fmt.Errorf("remote_addr: must be set unless latch is on: %w", ErrInvalidArgument)
	}
	if req.SRTPKey != "" {
		key, err := transport.ParseSRTPKey(req.SRTPKey)
		if err != nil {
			return p, nil, fmt.Errorf("srtp_key: %v: %w", err, ErrInvalidArgument)
		}
		p.RemoteKey = key
	}
	return p, nil, nil
}

// parseRemote takes ip:port, or host:port resolved once.
func parseRemote(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", s)
		if rerr != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not host:port", s)
		}
		ap = ua.AddrPort()
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("%s cannot be sent to", ap)
	}
	return ap, nil
}

// connectRTP builds a plain RTP participant: its own codec, limiter and
// encoder, and its endpoint.
func (m *Manager) connectRTP(r *room, req JoinRTPRequest, params transport.RTPParams) (*participant, *transport.RTPEndpoint, error) {
	override := req.DSP
	if override.AEC == nil {
		override.AEC = ptr(true)
	}
	p, err := m.newMember(r, req.ParticipantID, req.DisplayName, &override)
	if err != nil {
		return nil, nil, err
	}
	p.kind = KindRTP
	p.send = sendOwn
	p.lim = mixer.NewLimiter(m.cfg.Limiter)
	switch params.Codec {
	case CodecPCMU, CodecPCMA:
		p.dec, err = newG711Decoder()
		p.jb.SetPacketDuration(transport.G711FrameSamples)
	default:
		p.dec, err = codec.NewOpusDecoder()
	}
	if err == nil {
		p.enc, err = m.newOwnEncoder(params.Codec, r.audio.OpusBitrate)
	}
	if err != nil {
		p.close()
		return nil, nil, fmt.Errorf("codec: %w", err)
	}
	ep, err := openRTP(m.cfg.Transport, params, p)
	if err != nil {
		p.close()
		return nil, nil, err
	}
	p.ep, p.rtp = ep, ep
	return p, ep, nil
}

// defaultPayloadType is a codec's payload type when none was negotiated.
func defaultPayloadType(c RTPCodec) uint8 {
	switch c {
	case CodecPCMU:
		return transport.PayloadPCMU
	case CodecPCMA:
		return transport.PayloadPCMA
	}
	return transport.DefaultPayloadOpus
}

// newOwnEncoder is the encoder of a participant that hears its mix in its
// own codec over plain RTP (sendOwn): an RTP participant, or a source that
// is sent its mix back.
func (m *Manager) newOwnEncoder(c RTPCodec, opusBitrate int) (audioEncoder, error) {
	switch c {
	case CodecPCMU:
		return newG711Encoder(codec.MuLaw)
	case CodecPCMA:
		return newG711Encoder(codec.ALaw)
	}
	return m.newEncoder(opusBitrate)
}

// openRTP binds a plain RTP endpoint; its errors become the API's.
func openRTP(cfg transport.Config, params transport.RTPParams, h transport.EndpointHandler) (*transport.RTPEndpoint, error) {
	ep, err := transport.NewRTPEndpoint(cfg, params, h)
	switch {
	case errors.Is(err, transport.ErrInvalidRTP):
		return nil, fmt.Errorf("%v: %w", err, ErrInvalidArgument)
	case errors.Is(err, transport.ErrNoRTPPort):
		return nil, fmt.Errorf("%v: %w", err, ErrTooManyParticipants)
	case err != nil:
		return nil, err
	}
	return ep, nil
}
