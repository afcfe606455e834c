package api

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

const gatewayOffer = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"

// TestJoinRtp checks JoinRtp's validation over gRPC against the real
// manager, and one SDP offer/answer round trip.
func TestJoinRtp(t *testing.T) {
	cfg := conference.DefaultConfig()
	cfg.Transport.RTPPorts = "32000-32099"
	c := startReal(t, cfg, "")
	ctx := authed(t, "")
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r"}); err != nil {
		t.Fatal(err)
	}
	pcmu := mcuv1.RtpCodec_RTP_CODEC_PCMU
	for _, tc := range []struct {
		name string
		req  *mcuv1.JoinRtpRequest
		code codes.Code
		msg  string
	}{
		{"bad codec", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", Codec: 9, RemoteAddr: "127.0.0.1:4000"}, codes.InvalidArgument, "codec"},
		{"no codec", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", RemoteAddr: "127.0.0.1:4000"}, codes.InvalidArgument, "codec"},
		{"bad addr", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", Codec: pcmu, RemoteAddr: "127.0.0.1"}, codes.InvalidArgument, "remote_addr"},
		{"port 0", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", Codec: pcmu, RemoteAddr: "127.0.0.1:0"}, codes.InvalidArgument, "remote_addr"},
		{"no addr, no latch", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", Codec: pcmu, Latch: proto.Bool(false)}, codes.InvalidArgument, "remote_addr"},
		{"bad key", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", Codec: pcmu, RemoteAddr: "127.0.0.1:4000", SrtpKey: "c2hvcnQ="}, codes.InvalidArgument, "srtp_key"},
		{"bad SDP", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", SdpOffer: "v=0\r\ngarbage"}, codes.InvalidArgument, "sdp_offer"},
		{"SDP without G.711", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", SdpOffer: strings.Replace(gatewayOffer, "18 8 0 101", "18 101", 1)}, codes.InvalidArgument, "sdp_offer"},
		{"SDP and addr", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", SdpOffer: gatewayOffer, RemoteAddr: "127.0.0.1:4000"}, codes.InvalidArgument, "sdp_offer"},
		{"unknown room", &mcuv1.JoinRtpRequest{RoomId: "nope", ParticipantId: "p", Codec: pcmu, RemoteAddr: "127.0.0.1:4000"}, codes.NotFound, ""},
		{"empty id", &mcuv1.JoinRtpRequest{RoomId: "r", Codec: pcmu, RemoteAddr: "127.0.0.1:4000"}, codes.InvalidArgument, "participant_id"},
		{"long name", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", DisplayName: strings.Repeat("n", mcuv1.MaxDisplayNameBytes+1), Codec: pcmu, RemoteAddr: "127.0.0.1:4000"}, codes.InvalidArgument, "display_name"},
		{"huge SDP", &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "p", SdpOffer: gatewayOffer + strings.Repeat("a=x\r\n", mcuv1.MaxSDPBytes/5)}, codes.InvalidArgument, "sdp_offer"},
	} {
		_, err := c.JoinRtp(ctx, tc.req)
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		wantCode(t, err, tc.code, tc.msg)
	}

	// A gateway's offer: G.729 is skipped, PCMA chosen, DTMF kept.
	res, err := c.JoinRtp(ctx, &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "gw", DisplayName: "Gateway", SdpOffer: gatewayOffer})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetCodec() != mcuv1.RtpCodec_RTP_CODEC_PCMA {
		t.Fatalf("codec %v", res.GetCodec())
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(res.GetSdpAnswer()); err != nil {
		t.Fatalf("answer: %v\n%s", err, res.GetSdpAnswer())
	}
	host, port, _ := net.SplitHostPort(res.GetLocalAddr())
	md := sd.MediaDescriptions[0]
	if sd.ConnectionInformation.Address.Address != host || strconv.Itoa(md.MediaName.Port.Value) != port ||
		strings.Join(md.MediaName.Formats, " ") != "8 101" || host != "127.0.0.1" {
		t.Fatalf("answer does not match %s:\n%s", res.GetLocalAddr(), res.GetSdpAnswer())
	}
	// RTCP on the odd port above, said in the answer and the response.
	rtcpPort := strconv.Itoa(md.MediaName.Port.Value + 1)
	if res.GetRtcpAddr() != net.JoinHostPort(host, rtcpPort) || !strings.Contains(res.GetSdpAnswer(), "a=rtcp:"+rtcpPort+"\r\n") {
		t.Fatalf("rtcp_addr %q, answer:\n%s", res.GetRtcpAddr(), res.GetSdpAnswer())
	}
	_, err = c.JoinRtp(ctx, &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "gw", SdpOffer: gatewayOffer})
	wantCode(t, err, codes.AlreadyExists, "")
	// An offer with a=rtcp-mux is answered with it: RTCP on the RTP port.
	mux, err := c.JoinRtp(ctx, &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "gw-mux",
		SdpOffer: gatewayOffer + "a=rtcp-mux\r\n"})
	if err != nil {
		t.Fatal(err)
	}
	if mux.GetRtcpAddr() != mux.GetLocalAddr() || !strings.Contains(mux.GetSdpAnswer(), "a=rtcp-mux\r\n") ||
		strings.Contains(mux.GetSdpAnswer(), "a=rtcp:") {
		t.Fatalf("rtcp_addr %q local %q, answer:\n%s", mux.GetRtcpAddr(), mux.GetLocalAddr(), mux.GetSdpAnswer())
	}
	if _, err := c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r", ParticipantId: "gw-mux"}); err != nil {
		t.Fatal(err)
	}

	room, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	p := room.GetParticipants()[0]
	if p.GetKind() != mcuv1.ParticipantKind_PARTICIPANT_KIND_RTP || !p.GetDsp().GetAec() || p.GetRtpStats() == nil ||
		p.GetRtpStats().GetRemoteAddr() != "127.0.0.1:40000" {
		t.Fatalf("participant %v", p)
	}
	if _, err := c.Leave(ctx, &mcuv1.LeaveRequest{RoomId: "r", ParticipantId: "gw"}); err != nil {
		t.Fatal(err)
	}
	// The port is free again, and AEC can be turned off.
	res, err = c.JoinRtp(ctx, &mcuv1.JoinRtpRequest{RoomId: "r", ParticipantId: "phone", Codec: pcmu,
		RemoteAddr: "127.0.0.1:40002", Dsp: &mcuv1.DspOverride{Aec: proto.Bool(false)}})
	if err != nil {
		t.Fatal(err)
	}
	room, _ = c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if p := room.GetParticipants()[0]; p.GetDsp().GetAec() || res.GetSdpAnswer() != "" || res.GetCodec() != pcmu ||
		p.GetRtpStats().GetRtcpRemoteAddr() != "127.0.0.1:40003" {
		t.Fatalf("participant %v, response %v", p, res)
	}
}
