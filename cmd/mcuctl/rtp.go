package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"

	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

var rtpCodecs = map[string]mcuv1.RtpCodec{
	"pcmu": mcuv1.RtpCodec_RTP_CODEC_PCMU,
	"pcma": mcuv1.RtpCodec_RTP_CODEC_PCMA,
	"opus": mcuv1.RtpCodec_RTP_CODEC_OPUS,
}

// cmdJoinRTP is `join-rtp`: a plain RTP participant from a codec and an
// address, or from a SIP gateway's SDP offer in a file. It prints the
// response: local_addr and rtcp_addr to send to, and sdp_answer.
func cmdJoinRTP(ctx context.Context, e *env, args []string) error {
	var name, codec, remote, sdpFile, key string
	var payloadType uint
	var noLatch, noAEC, mux bool
	room, id, err := participantFlags("join-rtp", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "display name")
		fs.StringVar(&codec, "codec", "", "pcmu, pcma or opus (with --sdp-file: the preferred one)")
		fs.StringVar(&remote, "remote", "", "host:port to send RTP to (empty: latch onto the first packet)")
		fs.StringVar(&sdpFile, "sdp-file", "", "a SIP gateway's SDP offer, instead of --codec, --remote and --srtp-key")
		fs.StringVar(&key, "srtp-key", "", "the remote's base64 AES_CM_128_HMAC_SHA1_80 key and salt: SRTP and SRTCP")
		fs.UintVar(&payloadType, "payload-type", 0, "Opus payload type, 96..127 (default 111)")
		fs.BoolVar(&noLatch, "no-latch", false, "send only to --remote, not to where packets come from")
		fs.BoolVar(&noAEC, "no-aec", false, "turn echo cancellation off (it is on for RTP participants)")
		fs.BoolVar(&mux, "rtcp-mux", false, "RTCP on the RTP port instead of the odd one above")
	})
	if err != nil {
		return err
	}
	req := &mcuv1.JoinRtpRequest{RoomId: room, ParticipantId: id, DisplayName: name, RemoteAddr: remote,
		SrtpKey: key, PayloadType: uint32(payloadType), RtcpMux: mux}
	if codec != "" {
		c, ok := rtpCodecs[strings.ToLower(codec)]
		if !ok {
			return usagef("--codec %q: want pcmu, pcma or opus", codec)
		}
		req.Codec = c
	}
	switch {
	case sdpFile != "":
		if remote != "" || key != "" {
			return usagef("--sdp-file carries the address and key: leave out --remote and --srtp-key")
		}
		b, err := os.ReadFile(sdpFile)
		if err != nil {
			return usagef("--sdp-file: %v", err)
		}
		req.SdpOffer = string(b)
	case codec == "":
		return usagef("give --codec (with --remote) or --sdp-file")
	case remote == "" && noLatch:
		return usagef("--remote is required with --no-latch")
	}
	if noLatch {
		req.Latch = proto.Bool(false)
	}
	if noAEC {
		req.Dsp = &mcuv1.DspOverride{Aec: proto.Bool(false)}
	}
	r, err := e.client.JoinRtp(ctx, req)
	if err != nil {
		return err
	}
	return e.print(r)
}

var sourceTransports = map[string]mcuv1.SourceTransport{
	"":    mcuv1.SourceTransport_SOURCE_TRANSPORT_UNSPECIFIED,
	"tcp": mcuv1.SourceTransport_SOURCE_TRANSPORT_TCP,
	"udp": mcuv1.SourceTransport_SOURCE_TRANSPORT_UDP,
}

// cmdSource is `source add|remove`: a participant that pulls an RTSP or
// RTMP stream.
func cmdSource(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: add or remove")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add":
		var name, url, transport string
		room, id, err := participantFlags("source add", args, func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "display name")
			fs.StringVar(&url, "url", "", "rtsp://, rtsps://, rtmp:// or rtmps:// URL")
			fs.StringVar(&transport, "transport", "", "RTSP transport: tcp or udp (default: tcp, or the URL's ?transport= hint)")
		})
		if err != nil {
			return err
		}
		if err := require("url", url); err != nil {
			return err
		}
		tr, ok := sourceTransports[strings.ToLower(transport)]
		if !ok {
			return usagef("--transport %q: want tcp or udp", transport)
		}
		r, err := e.client.AddSource(ctx, &mcuv1.AddSourceRequest{RoomId: room, ParticipantId: id, DisplayName: name,
			Url: url, Transport: tr})
		if err != nil {
			return err
		}
		return e.print(r)
	case "remove":
		room, id, err := participantFlags("source remove", args, nil)
		if err != nil {
			return err
		}
		r, err := e.client.RemoveSource(ctx, &mcuv1.RemoveSourceRequest{RoomId: room, ParticipantId: id})
		if err != nil {
			return err
		}
		return e.print(r)
	}
	return usagef("unknown subcommand %q: want add or remove", sub)
}
