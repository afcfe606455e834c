package transport

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Video codec names handed to VideoHandler.HandleVideo; they are what
// codec.NewVideoDecoder takes.
const (
	VideoCodecVP8  = "vp8"
	VideoCodecH264 = "h264"
)

// H264Fmtp is the H.264 we send and prefer to receive: constrained
// baseline level 3.1, packetization mode 1, which every browser decodes.
const H264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

const (
	// pliInterval rate-limits the PLIs an endpoint sends its peer.
	pliInterval = 500 * time.Millisecond
	// videoQueueLen access units may wait for the send loop; a peer that
	// cannot keep up loses frames until the next keyframe.
	videoQueueLen  = 4
	videoRingSlots = videoQueueLen + 4
	videoMTU       = 1200
)

// VideoHandler is implemented by an EndpointHandler that takes video. Its
// methods are called from the endpoint's goroutines and must not block for
// long: HandleVideo may decode (it runs on the video receive goroutine, so
// it only delays that participant's own video).
type VideoHandler interface {
	// HandleVideo receives one complete access unit (a VP8 frame, or an
	// H.264 access unit in Annex-B); au is only valid during the call.
	// codec is VideoCodecVP8 or VideoCodecH264, ts the RTP timestamp.
	HandleVideo(au []byte, codec string, keyframe bool, ts uint32, now time.Time)
	// HandleKeyframeRequest is called when the peer asks for a keyframe
	// (PLI or FIR), or when the endpoint dropped outgoing video and needs
	// one to recover.
	HandleKeyframeRequest()
}

// BandwidthHandler is implemented by a VideoHandler that adapts what it
// sends to the peer's receive bandwidth estimate.
type BandwidthHandler interface {
	// HandleBandwidthEstimate is called for every REMB from the peer that
	// covers our video, with the estimate in bits/s.
	HandleBandwidthEstimate(bps uint64, now time.Time)
}

// videoCodecs are the video codecs the server negotiates.
func videoCodecs() []webrtc.RTPCodecParameters {
	fb := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	}
	return []webrtc.RTPCodecParameters{
		{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: H264Fmtp, RTCPFeedback: fb,
			},
			PayloadType: 102,
		},
		{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb,
			},
			PayloadType: 96,
		},
	}
}

// VideoCodecs returns the video codecs the server negotiates, for peers
// (the test client) that want to offer the same.
func VideoCodecs() []webrtc.RTPCodecParameters { return videoCodecs() }

type videoOut struct {
	slot     int
	ts       uint32
	keyframe bool
}

// endpointVideo is the video half of an Endpoint.
type endpointVideo struct {
	handler VideoHandler
	trackCh chan *webrtc.TrackRemote
	track   *webrtc.TrackLocalStaticRTP // nil when we do not send video
	sender  *webrtc.RTPSender
	recv    bool // the offer has a video section we receive from

	// SendVideo-owned
	sendQ   chan videoOut
	ring    [videoRingSlots][]byte
	ringPos int
	waitKey bool
	tsBase  uint32

	remoteSSRC atomic.Uint32
	hasRemote  atomic.Bool
	lastPLI    atomic.Int64

	remb atomic.Uint64 // last REMB estimate, bits/s

	packetsIn, packetsOut, framesIn, framesOut, framesDropped, plisSent, plisIn, rembIn atomic.Uint64
}

func (v *endpointVideo) init(h VideoHandler) {
	v.handler = h
	v.trackCh = make(chan *webrtc.TrackRemote, 1)
	v.sendQ = make(chan videoOut, videoQueueLen)
	v.tsBase = randomUint32()
}

// offerVideo reports whether the offer has an active video section, and
// whether the peer wants to receive H.264 (what we send).
func offerVideo(offer string) (video, sendH264 bool) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return false, false
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		video = true
		h264, sendonly := false, false
		for _, a := range m.Attributes {
			switch {
			case a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), "h264/90000"):
				h264 = true
			case a.Key == "sendonly" || a.Key == "inactive":
				sendonly = true
			}
		}
		sendH264 = sendH264 || (h264 && !sendonly)
	}
	return video, sendH264
}

// setupVideo prepares what the offer's video section needs: receiving, and
// an outgoing H.264 track when the peer accepts H.264. It runs between
// SetRemoteDescription and CreateAnswer.
func (e *Endpoint) setupVideo(offer string) error {
	video, send := offerVideo(offer)
	e.video.recv = video
	if !send {
		return nil
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: H264Fmtp,
	}, "video", "mcu-mix")
	if err != nil {
		return fmt.Errorf("new video track: %w", err)
	}
	sender, err := e.pc.AddTrack(track)
	if err != nil {
		return fmt.Errorf("%w: video: %v", ErrInvalidSDP, err)
	}
	e.video.track, e.video.sender = track, sender
	return nil
}

// startVideo starts the video goroutines; e.wg covers them.
func (e *Endpoint) startVideo() {
	v := &e.video
	if v.recv {
		e.wg.Add(1)
		go e.videoReceiveLoop()
	}
	if v.track != nil {
		e.wg.Add(2)
		go e.videoSendLoop()
		go func() {
			defer e.wg.Done()
			drainRTCP(v.sender, e.keyframeRequested, e.bandwidthEstimated)
		}()
	}
}

// HasVideo reports whether the endpoint sends video (the offer accepted
// H.264).
func (e *Endpoint) HasVideo() bool { return e.video.track != nil }

// SendVideo queues one H.264 access unit (Annex-B) with its RTP timestamp
// on the room's 90 kHz clock. It copies au and never blocks: when the peer
// cannot keep up the unit is dropped and counted, later units are dropped
// until a keyframe, and the handler is asked for one. It must be called
// from one goroutine (the room's video tick).
func (e *Endpoint) SendVideo(au []byte, ts90k uint32, keyframe bool) {
	v := &e.video
	if v.track == nil || len(au) == 0 || e.closed.Load() {
		return
	}
	if v.waitKey && !keyframe {
		v.framesDropped.Add(1)
		return
	}
	slot := v.ringPos
	v.ring[slot] = append(v.ring[slot][:0], au...)
	select {
	case v.sendQ <- videoOut{slot: slot, ts: v.tsBase + ts90k, keyframe: keyframe}:
		v.ringPos = (slot + 1) % videoRingSlots
		v.waitKey = false
	default:
		v.framesDropped.Add(1)
		v.waitKey = true
		e.keyframeRequested(false)
	}
}

// keyframeRequested passes a keyframe request on to the handler; fromPeer
// counts PLI/FIR from the peer.
func (e *Endpoint) keyframeRequested(fromPeer bool) {
	if fromPeer {
		e.video.plisIn.Add(1)
	}
	if e.video.handler != nil {
		e.video.handler.HandleKeyframeRequest()
	}
}

// bandwidthEstimated passes a REMB estimate on to the handler.
func (e *Endpoint) bandwidthEstimated(bps uint64) {
	e.video.rembIn.Add(1)
	e.video.remb.Store(bps)
	if bh, ok := e.video.handler.(BandwidthHandler); ok {
		bh.HandleBandwidthEstimate(bps, time.Now())
	}
}

// RequestKeyframe sends a PLI for the peer's video, at most one per 500 ms;
// it does nothing before the peer's video track arrived.
func (e *Endpoint) RequestKeyframe() {
	v := &e.video
	if !v.hasRemote.Load() || e.closed.Load() {
		return
	}
	now := time.Now().UnixNano()
	last := v.lastPLI.Load()
	if now-last < int64(pliInterval) || !v.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if err := e.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: v.remoteSSRC.Load()}}); err == nil {
		v.plisSent.Add(1)
	}
}

func (e *Endpoint) videoSendLoop() {
	defer e.wg.Done()
	v := &e.video
	pk, err := NewH264Packetizer(H264PacketizerConfig{MTU: videoMTU, PayloadType: 102, FirstSeq: uint16(randomUint32())})
	if err != nil {
		return
	}
	for {
		select {
		case <-e.done:
			return
		case out := <-v.sendQ:
			pkts := pk.Packetize(v.ring[out.slot], out.ts)
			for i := range pkts {
				if err := v.track.WriteRTP(&pkts[i]); err == nil {
					v.packetsOut.Add(1)
				}
			}
			v.framesOut.Add(1)
		}
	}
}

func (e *Endpoint) videoReceiveLoop() {
	defer e.wg.Done()
	v := &e.video
	var track *webrtc.TrackRemote
	select {
	case <-e.done:
		return
	case track = <-v.trackCh:
	}
	var (
		name string
		d    *VideoDepacketizer
		err  error
	)
	switch mime := track.Codec().MimeType; {
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		name = VideoCodecH264
		d, err = NewH264Depacketizer(DefaultDepacketizerConfig())
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		name = VideoCodecVP8
		d, err = NewVP8Depacketizer(DefaultDepacketizerConfig())
	default:
		err = fmt.Errorf("video codec %s", mime)
	}
	if err != nil {
		return
	}
	v.remoteSSRC.Store(uint32(track.SSRC()))
	v.hasRemote.Store(true)
	e.RequestKeyframe()
	e.readPackets(track, func(pkt *rtp.Packet) {
		v.packetsIn.Add(1)
		now := time.Now()
		if err := d.Push(pkt, now); err != nil {
			e.dropped.Add(1)
			return
		}
		for {
			au, ok := d.Pop(now)
			if !ok {
				break
			}
			v.framesIn.Add(1)
			if v.handler != nil {
				v.handler.HandleVideo(au.Data, name, au.Keyframe, au.Timestamp, now)
			}
		}
		if d.NeedKeyframe() {
			e.RequestKeyframe()
		}
	})
}

// drainRTCP reads a sender's RTCP until the connection closes (the NACK
// responder and report interceptors only see RTCP that is read) and calls
// onKeyframe for every PLI or FIR and onREMB for every REMB when they are
// not nil.
func drainRTCP(s *webrtc.RTPSender, onKeyframe func(fromPeer bool), onREMB func(bps uint64)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		if onKeyframe == nil {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onKeyframe(true)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				if onREMB != nil && p.Bitrate >= 0 {
					onREMB(uint64(p.Bitrate))
				}
			}
		}
	}
}
