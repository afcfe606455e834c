package client

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
	"github.com/openmcu/mcu/transport"
)

// VideoSource produces the pictures a participant sends. Fill paints the
// next picture into f, which has the size Size returned. It is called from
// the video send loop only and must not block.
type VideoSource interface {
	Size() (w, h int)
	Fill(f *media.VideoFrame)
}

// SolidColor is a VideoSource of one flat YUV colour.
type SolidColor struct {
	W, H    int
	Y, U, V byte
}

// Size implements VideoSource.
func (s SolidColor) Size() (int, int) { return s.W, s.H }

// Fill implements VideoSource.
func (s SolidColor) Fill(f *media.VideoFrame) { f.Fill(s.Y, s.U, s.V) }

// VideoConfig configures a participant's video.
type VideoConfig struct {
	// Source is what is sent; nil with Receive set offers a receive-only
	// video section.
	Source VideoSource
	// Receive asks for the composite and decodes it (see LatestVideoFrame).
	Receive bool
	// FPS and Bitrate shape the encoder; 0 means 15 fps, 300 kb/s.
	FPS     int
	Bitrate int
	// Codec is what is sent: "h264" (x264, the default) or "vp8" (libvpx).
	Codec string
}

// VideoStats are the video counters.
type VideoStats struct {
	FramesSent    uint64
	PacketsSent   uint64
	PacketsRecv   uint64
	FramesDecoded uint64
	KeyframesRecv uint64
	DecodeErrors  uint64
	PLIsSent      uint64 // keyframe requests sent to the server
	PLIsReceived  uint64 // keyframe requests from the server
}

type videoState struct {
	cfg     VideoConfig
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	paused  atomic.Bool
	keyReq  atomic.Bool
	remb    atomic.Uint64 // REMB to send, bits/s; 0 sends none
	gotRecv bool          // guarded by Participant.mu

	mu     sync.Mutex
	latest *media.VideoFrame
	at     time.Time

	framesSent, packetsSent, packetsRecv, decoded, keyframes, decodeErrors, plisSent, plisRecv atomic.Uint64
}

func (c *VideoConfig) withDefaults() error {
	if c.FPS == 0 {
		c.FPS = 15
	}
	if c.Bitrate == 0 {
		c.Bitrate = 300_000
	}
	if c.Codec == "" {
		c.Codec = transport.VideoCodecH264
	}
	if c.Codec != transport.VideoCodecH264 && c.Codec != transport.VideoCodecVP8 {
		return fmt.Errorf("%w: video codec %q (h264 or vp8)", ErrInvalidConfig, c.Codec)
	}
	if c.FPS < 1 || c.FPS > 60 {
		return fmt.Errorf("%w: video fps %d", ErrInvalidConfig, c.FPS)
	}
	if c.Source != nil {
		w, h := c.Source.Size()
		if w < 16 || h < 16 || w%2 != 0 || h%2 != 0 {
			return fmt.Errorf("%w: video size %dx%d", ErrInvalidConfig, w, h)
		}
	}
	return nil
}

// addVideo adds the video transceiver to pc; p.mu is held.
func (p *Participant) addVideo(pc *webrtc.PeerConnection) error {
	v := p.video
	if v.cfg.Source == nil {
		_, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		return err
	}
	capability := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: transport.H264Fmtp}
	if v.cfg.Codec == transport.VideoCodecVP8 {
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	track, err := webrtc.NewTrackLocalStaticRTP(capability, "video", p.cfg.StreamID)
	if err != nil {
		return err
	}
	dir := webrtc.RTPTransceiverDirectionSendonly
	if v.cfg.Receive {
		dir = webrtc.RTPTransceiverDirectionSendrecv
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: dir})
	if err != nil {
		return err
	}
	v.track, v.sender = track, tr.Sender()
	p.goLocked(func() {
		for {
			pkts, _, err := v.sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				switch pk.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					v.plisRecv.Add(1)
					v.keyReq.Store(true)
				}
			}
		}
	})
	return nil
}

// SetVideoPaused stops (true) or resumes sending video; the track stays
// negotiated, so the server sees a stalled sender.
func (p *Participant) SetVideoPaused(paused bool) {
	if p.video != nil {
		p.video.paused.Store(paused)
	}
}

// newVideoSender opens the encoder and packetizer for cfg.
func newVideoSender(cfg VideoConfig) (codec.VideoEncoder, func(au []byte, ts uint32) []rtp.Packet, error) {
	w, h := cfg.Source.Size()
	if cfg.Codec == transport.VideoCodecVP8 {
		enc, err := codec.NewVP8Encoder(codec.VP8EncoderConfig{Width: w, Height: h, FPS: cfg.FPS, Bitrate: cfg.Bitrate,
			KeyframeInterval: 4 * cfg.FPS})
		if err != nil {
			return nil, nil, err
		}
		pay := &codecs.VP8Payloader{EnablePictureID: true}
		seq := uint16(time.Now().UnixNano())
		var pkts []rtp.Packet
		return enc, func(au []byte, ts uint32) []rtp.Packet {
			pkts = pkts[:0]
			payloads := pay.Payload(uint16(transport.DefaultH264PacketizerConfig().MTU), au)
			for i, pl := range payloads {
				pkts = append(pkts, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts,
					Marker: i == len(payloads)-1}, Payload: pl})
				seq++
			}
			return pkts
		}, nil
	}
	hc := codec.DefaultH264EncoderConfig()
	hc.Width, hc.Height, hc.FPS, hc.Bitrate = w, h, cfg.FPS, cfg.Bitrate
	hc.Preset = "ultrafast"
	hc.KeyframeInterval = 4 * cfg.FPS
	enc, err := codec.NewH264Encoder(hc)
	if err != nil {
		return nil, nil, err
	}
	pk, err := transport.NewH264Packetizer(transport.DefaultH264PacketizerConfig())
	if err != nil {
		_ = enc.Close()
		return nil, nil, err
	}
	return enc, pk.Packetize, nil
}

// videoSendLoop encodes the source and sends it.
func (p *Participant) videoSendLoop() {
	v := p.video
	select {
	case <-p.connected:
	case <-p.done:
		return
	}
	w, h := v.cfg.Source.Size()
	enc, packetize, err := newVideoSender(v.cfg)
	if err != nil {
		return
	}
	defer enc.Close()
	frame := media.NewVideoFrame(w, h)
	buf := make([]byte, codec.MaxH264FrameBytes(w, h))
	period := time.Second / time.Duration(v.cfg.FPS)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := int64(0); ; n++ {
		select {
		case <-p.done:
			return
		case <-timer.C:
		}
		timer.Reset(max(time.Until(start.Add(time.Duration(n+1)*period)), 0))
		if v.paused.Load() {
			continue
		}
		v.cfg.Source.Fill(frame)
		force := v.keyReq.Swap(false)
		m, _, err := enc.Encode(buf, frame, force)
		if err != nil || m == 0 {
			continue
		}
		ts := uint32(time.Since(start).Nanoseconds() * 9 / 100_000)
		for _, pkt := range packetize(buf[:m], ts) {
			if err := v.track.WriteRTP(&pkt); err == nil {
				v.packetsSent.Add(1)
			}
		}
		v.framesSent.Add(1)
	}
}

// videoRecvLoop depacketizes and decodes the composite.
func (p *Participant) videoRecvLoop(tr *webrtc.TrackRemote) {
	v := p.video
	name := transport.VideoCodecH264
	newDepack := transport.NewH264Depacketizer
	if tr.Codec().MimeType == webrtc.MimeTypeVP8 {
		name, newDepack = transport.VideoCodecVP8, transport.NewVP8Depacketizer
	}
	d, err := newDepack(transport.DefaultDepacketizerConfig())
	if err != nil {
		return
	}
	dec, err := codec.NewVideoDecoder(name)
	if err != nil {
		return
	}
	defer dec.Close()
	frame := &media.VideoFrame{}
	ssrc := uint32(tr.SSRC())
	var lastPLI time.Time
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		v.packetsRecv.Add(1)
		now := time.Now()
		p.videoSync.packet(buf[:n], now)
		if d.Push(&pkt, now) != nil {
			continue
		}
		for {
			au, ok := d.Pop(now)
			if !ok {
				break
			}
			if au.Keyframe {
				v.keyframes.Add(1)
			}
			ok, err := dec.Decode(au.Data, frame)
			if err != nil {
				v.decodeErrors.Add(1)
				continue
			}
			if !ok {
				continue
			}
			v.decoded.Add(1)
			v.mu.Lock()
			if v.latest == nil || v.latest.Width != frame.Width || v.latest.Height != frame.Height {
				v.latest = media.NewVideoFrame(frame.Width, frame.Height)
			}
			copyFrame(v.latest, frame)
			v.at = now
			v.mu.Unlock()
		}
		if d.NeedKeyframe() && now.Sub(lastPLI) >= 500*time.Millisecond {
			lastPLI = now
			if p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}) == nil {
				v.plisSent.Add(1)
			}
		}
	}
}

func copyFrame(dst, src *media.VideoFrame) {
	for y := 0; y < src.Height; y++ {
		copy(dst.Y[y*dst.StrideY:y*dst.StrideY+src.Width], src.Y[y*src.StrideY:])
	}
	cw, ch := src.ChromaWidth(), src.ChromaHeight()
	for y := 0; y < ch; y++ {
		copy(dst.U[y*dst.StrideC:y*dst.StrideC+cw], src.U[y*src.StrideC:])
		copy(dst.V[y*dst.StrideC:y*dst.StrideC+cw], src.V[y*src.StrideC:])
	}
	dst.PTS = src.PTS
}

// LatestVideoFrame returns a copy of the last decoded composite picture and
// when it was decoded, or nil before the first.
func (p *Participant) LatestVideoFrame() (*media.VideoFrame, time.Time) {
	if p.video == nil {
		return nil, time.Time{}
	}
	v := p.video
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.latest == nil {
		return nil, time.Time{}
	}
	f := media.NewVideoFrame(v.latest.Width, v.latest.Height)
	copyFrame(f, v.latest)
	return f, v.at
}

// VideoStats returns the video counters (zero without video).
func (p *Participant) VideoStats() VideoStats {
	v := p.video
	if v == nil {
		return VideoStats{}
	}
	return VideoStats{
		FramesSent:    v.framesSent.Load(),
		PacketsSent:   v.packetsSent.Load(),
		PacketsRecv:   v.packetsRecv.Load(),
		FramesDecoded: v.decoded.Load(),
		KeyframesRecv: v.keyframes.Load(),
		DecodeErrors:  v.decodeErrors.Load(),
		PLIsSent:      v.plisSent.Load(),
		PLIsReceived:  v.plisRecv.Load(),
	}
}
