package transport

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/media"
)

type videoRecorder struct {
	mu        sync.Mutex
	frames    int
	keyframes int
	codecs    map[string]int
	keyReqs   atomic.Int64
	remb      atomic.Uint64
}

func (r *videoRecorder) HandleAudio(uint16, uint32, []byte, int, time.Time) {}
func (r *videoRecorder) HandleClosed(string)                                {}
func (r *videoRecorder) HandleVideo(au []byte, c string, key bool, _ uint32, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codecs == nil {
		r.codecs = map[string]int{}
	}
	r.codecs[c]++
	r.frames++
	if key {
		r.keyframes++
	}
}
func (r *videoRecorder) HandleKeyframeRequest() { r.keyReqs.Add(1) }
func (r *videoRecorder) HandleBandwidthEstimate(bps uint64, _ time.Time) {
	r.remb.Store(bps)
}

// h264Frames is how many access units arrived as H.264 and in all.
func (r *videoRecorder) h264Frames() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codecs[VideoCodecH264], r.frames
}

func (r *videoRecorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames, r.keyframes
}

// testPeer is a bare pion offerer with an Opus track and, optionally, an
// H.264 video track.
type testPeer struct {
	pc       *webrtc.PeerConnection
	video    *webrtc.TrackLocalStaticRTP
	vsender  *webrtc.RTPSender
	plis     atomic.Int64
	received atomic.Int64
	remote   atomic.Uint32
	wg       sync.WaitGroup
}

func newTestPeer(t *testing.T, withVideo bool) *testPeer {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	for _, c := range VideoCodecs() {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPeer{pc: pc}
	t.Cleanup(func() {
		_ = pc.Close()
		tp.wg.Wait()
	})
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "peer")
	if _, err := pc.AddTrack(audio); err != nil {
		t.Fatal(err)
	}
	if withVideo {
		tp.video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: H264Fmtp}, "v", "peer")
		if tp.vsender, err = pc.AddTrack(tp.video); err != nil {
			t.Fatal(err)
		}
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			for {
				pkts, _, err := tp.vsender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						tp.plis.Add(1)
					}
				}
			}
		}()
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		tp.remote.Store(uint32(tr.SSRC()))
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			tp.received.Add(1)
		}
	})
	return tp
}

func (tp *testPeer) offer(t *testing.T) string {
	t.Helper()
	o, err := tp.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(tp.pc)
	if err := tp.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return tp.pc.LocalDescription().SDP
}

func newTestWebRTC(t *testing.T) *WebRTC {
	t.Helper()
	cfg := DefaultConfig()
	cfg.UDPPortMin, cfg.UDPPortMax = 0, 0
	w, err := NewWebRTC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestEndpointWithoutVideo(t *testing.T) {
	w := newTestWebRTC(t)
	tp := newTestPeer(t, false)
	ep, answer, err := w.NewEndpoint(context.Background(), tp.offer(t), &videoRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if strings.Contains(answer, "m=video") {
		t.Fatalf("answer has video for an audio-only offer:\n%s", answer)
	}
	if ep.HasVideo() {
		t.Fatal("HasVideo for an audio-only offer")
	}
	ep.SendVideo([]byte{0, 0, 0, 1, 0x65}, 0, true) // must be a no-op
}

func TestEndpointVideoBothWays(t *testing.T) {
	w := newTestWebRTC(t)
	tp := newTestPeer(t, true)
	rec := &videoRecorder{}
	ep, answer, err := w.NewEndpoint(context.Background(), tp.offer(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if !strings.Contains(answer, "m=video") || !strings.Contains(answer, "H264/90000") {
		t.Fatalf("answer lacks H.264 video:\n%s", answer)
	}
	if !ep.HasVideo() {
		t.Fatal("no outgoing video track")
	}
	if err := tp.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	cfg := codec.DefaultH264EncoderConfig()
	cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate = 320, 180, 30, 300_000
	enc, err := codec.NewH264Encoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src := media.NewVideoFrame(320, 180)
	src.Fill(81, 90, 240) // red
	dst := make([]byte, codec.MaxH264FrameBytes(320, 180))
	pk, err := NewH264Packetizer(DefaultH264PacketizerConfig())
	if err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		n, key, err := enc.Encode(dst, src, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pk.Packetize(dst[:n], uint32(i*3000)) {
			_ = tp.video.WriteRTP(&p)
		}
		ep.SendVideo(dst[:n], uint32(i*3000), key)
		frames, keys := rec.counts()
		if frames >= 10 && keys >= 1 && tp.received.Load() >= 10 && tp.plis.Load() >= 1 {
			break
		}
		time.Sleep(33 * time.Millisecond)
	}
	frames, keys := rec.counts()
	if frames < 10 || keys < 1 {
		t.Fatalf("server got %d frames (%d keyframes), want >= 10 and a keyframe", frames, keys)
	}
	if h264, all := rec.h264Frames(); h264 != all {
		t.Fatalf("%d of %d frames arrived as H.264", h264, all)
	}
	if tp.received.Load() < 10 {
		t.Fatalf("peer got %d video packets from the server", tp.received.Load())
	}
	if tp.plis.Load() < 1 {
		t.Fatal("server sent no PLI when the peer's video started")
	}

	// A PLI from the peer reaches the handler.
	before := rec.keyReqs.Load()
	for i := 0; i < 50 && rec.keyReqs.Load() == before; i++ {
		_ = tp.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: tp.remote.Load()}})
		time.Sleep(20 * time.Millisecond)
	}
	if rec.keyReqs.Load() == before {
		t.Fatal("PLI from the peer did not reach HandleKeyframeRequest")
	}

	// A REMB for the server's video reaches the BandwidthHandler.
	for i := 0; i < 50 && rec.remb.Load() == 0; i++ {
		_ = tp.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 300_000, SSRCs: []uint32{tp.remote.Load()}}})
		time.Sleep(20 * time.Millisecond)
	}
	if got := rec.remb.Load(); got != 300_000 {
		t.Fatalf("REMB reached the handler as %d bits/s, want 300000", got)
	}
	st := ep.Stats()
	if st.VideoFramesIn == 0 || st.VideoFramesOut == 0 || st.KeyframeRequestsIn == 0 || st.KeyframeRequestsOut == 0 ||
		st.REMBsIn == 0 || st.REMBBitrate != 300_000 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("stats %+v", st)
}

// TestEndpointSendsLargeAudio sends Opus payloads from small to the largest
// through the send ring (its slots start small and grow once) and checks
// the peer gets each one intact.
func TestEndpointSendsLargeAudio(t *testing.T) {
	w := newTestWebRTC(t)
	tp := newTestPeer(t, false)
	got := make(chan []byte, 256)
	tp.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- append([]byte(nil), pkt.Payload...):
			default:
			}
		}
	})
	ep, answer, err := w.NewEndpoint(context.Background(), tp.offer(t), &videoRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if err := tp.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	// Small packets until the peer hears them.
	deadline := time.After(10 * time.Second)
	tick := uint32(0)
warmUp:
	for {
		ep.SendAudio([]byte{0xff, 0xff}, tick)
		tick++
		select {
		case <-got:
			break warmUp
		case <-deadline:
			t.Fatal("no audio reached the peer")
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(100 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	sizes := []int{80, maxPayload, 400, ringSlotBytes, ringSlotBytes + 1, 1000}
	sent := map[byte][]byte{}
	for i := range 4 * sendRingSlots {
		p := make([]byte, sizes[i%len(sizes)])
		for k := range p {
			p[k] = byte(i + k)
		}
		sent[p[0]] = p
		ep.SendAudio(p, tick)
		tick++
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	n := 0
	for len(got) > 0 {
		p := <-got
		want, ok := sent[p[0]]
		if !ok || !bytes.Equal(p, want) {
			t.Fatalf("received %d bytes that were not sent that way", len(p))
		}
		n++
	}
	if n < len(sent)*9/10 {
		t.Fatalf("peer got %d of %d packets", n, len(sent))
	}
}
