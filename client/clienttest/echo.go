// Package clienttest holds test peers for code that drives client.Participant:
// a minimal pion answerer that echoes every RTP packet back.
package clienttest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Echo is a pion answerer that sends every RTP packet it receives straight
// back (same sequence numbers and timestamps), except those Drop selects.
// It records the RFC 6464 audio-level bytes it sees.
type Echo struct {
	pc     *webrtc.PeerConnection
	wg     sync.WaitGroup
	mu     sync.Mutex
	levels []uint8
	once   sync.Once
}

// NewEcho answers offer (a complete, non-trickle SDP with an Opus audio
// section) and returns the complete answer. drop may be nil.
func NewEcho(offer string, drop func(seq uint16) bool) (*Echo, string, error) {
	m := &webrtc.MediaEngine{}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}},
		},
		PayloadType: 111,
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, "", err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, "", err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, "", err
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	e := &Echo{pc: pc}
	answer, err := e.answer(offer, opus.RTPCodecCapability, drop)
	if err != nil {
		e.Close()
		return nil, "", err
	}
	return e, answer, nil
}

func (e *Echo) answer(offer string, capability webrtc.RTPCodecCapability, drop func(uint16) bool) (string, error) {
	out, err := webrtc.NewTrackLocalStaticRTP(capability, "echo", "echo")
	if err != nil {
		return "", err
	}
	e.pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		levelID := uint8(0)
		for _, ext := range recv.GetParameters().HeaderExtensions {
			if ext.URI == sdp.AudioLevelURI {
				levelID = uint8(ext.ID)
			}
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.loop(tr, out, levelID, drop)
		}()
	})
	if err := e.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("clienttest: bad offer: %w", err)
	}
	sender, err := e.pc.AddTrack(out) // takes over the offered sendrecv transceiver
	if err != nil {
		return "", err
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	ans, err := e.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(e.pc)
	if err := e.pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	<-gathered
	return e.pc.LocalDescription().SDP, nil
}

func (e *Echo) loop(tr *webrtc.TrackRemote, out *webrtc.TrackLocalStaticRTP, levelID uint8, drop func(uint16) bool) {
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if ext := pkt.GetExtension(levelID); levelID != 0 && len(ext) == 1 {
			e.mu.Lock()
			e.levels = append(e.levels, ext[0])
			e.mu.Unlock()
		}
		if drop == nil || !drop(pkt.SequenceNumber) {
			_ = out.WriteRTP(&pkt)
		}
	}
}

// Levels returns the audio-level extension bytes seen so far (bit 7 is
// the voice flag, bits 0-6 the level in -dBov).
func (e *Echo) Levels() []uint8 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.levels)
}

// Close closes the PeerConnection and waits for the echo goroutines.
func (e *Echo) Close() {
	e.once.Do(func() {
		_ = e.pc.GracefulClose()
		e.wg.Wait()
	})
}
