package transport

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// RTPOffer is what a SIP gateway's SDP offer asks of a plain RTP endpoint.
type RTPOffer struct {
	Params RTPParams
	// Ptime is the offer's packet time in ms (0: not given). We send 20 ms
	// packets whatever it says, and take any length in.
	Ptime int
	// CN says the offer includes comfort noise (payload type 13).
	CN bool
	// SRTP says the offer is RTP/SAVP with an AES_CM_128_HMAC_SHA1_80 key.
	SRTP bool
	// CryptoTag is the a=crypto tag our answer must repeat.
	CryptoTag string
	// Params.RTCPMux is set when the offer has a=rtcp-mux (we accept it),
	// Params.RTCPRemote from a=rtcp (RFC 3605).
}

// ParseRTPOffer picks an audio codec from the first audio m-line of a
// plain RTP (or SDES-SRTP) offer: the offerer's first of PCMU, PCMA and
// opus, or want when it is offered (0: no preference). The address is the
// media-level c= line, or the session's.
func ParseRTPOffer(offer string, want RTPCodec) (RTPOffer, error) {
	var sd sdp.SessionDescription
	if strings.TrimSpace(offer) == "" {
		return RTPOffer{}, fmt.Errorf("%w: empty offer", ErrInvalidSDP)
	}
	if err := sd.UnmarshalString(offer); err != nil {
		return RTPOffer{}, fmt.Errorf("%w: %v", ErrInvalidSDP, err)
	}
	var md *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			md = m
			break
		}
	}
	if md == nil {
		return RTPOffer{}, fmt.Errorf("%w: no audio m-line", ErrNoAudio)
	}
	var o RTPOffer
	proto := strings.Join(md.MediaName.Protos, "/")
	switch proto {
	case "RTP/AVP":
	case "RTP/SAVP":
		o.SRTP = true
	default:
		return RTPOffer{}, fmt.Errorf("%w: transport %s (want RTP/AVP or RTP/SAVP)", ErrInvalidSDP, proto)
	}

	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return RTPOffer{}, fmt.Errorf("%w: no c= address", ErrInvalidSDP)
	}
	host, _, _ := strings.Cut(conn.Address.Address, "/")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return RTPOffer{}, fmt.Errorf("%w: c= address %q is not an IP", ErrInvalidSDP, conn.Address.Address)
	}
	port := md.MediaName.Port.Value
	if port < 1 || port > 65535 {
		return RTPOffer{}, fmt.Errorf("%w: port %d", ErrInvalidSDP, port)
	}
	if !ip.IsUnspecified() { // 0.0.0.0 (on hold, or learn by latching)
		o.Params.Remote = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}

	// Payload types by encoding name: static ones need no rtpmap.
	names := map[uint8]string{PayloadPCMU: "pcmu/8000", PayloadPCMA: "pcma/8000", PayloadCN: "cn/8000"}
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			pt, enc, ok := strings.Cut(a.Value, " ")
			n, err := strconv.Atoi(pt)
			if ok && err == nil && n >= 0 && n < 128 {
				names[uint8(n)] = strings.ToLower(strings.TrimSpace(enc))
			}
		case "ptime":
			o.Ptime, _ = strconv.Atoi(strings.TrimSpace(a.Value))
		case "rtcp-mux":
			o.Params.RTCPMux = true
		case "rtcp":
			rtcp, err := parseRTCPAttr(a.Value, ip)
			if err != nil {
				return RTPOffer{}, err
			}
			if !rtcp.Addr().IsUnspecified() {
				o.Params.RTCPRemote = rtcp
			}
		case "crypto":
			if o.SRTP && o.Params.RemoteKey == nil {
				if tag, key, ok := parseCrypto(a.Value); ok {
					o.CryptoTag, o.Params.RemoteKey = tag, key
				}
			}
		}
	}
	if o.SRTP && o.Params.RemoteKey == nil {
		return RTPOffer{}, fmt.Errorf("%w: RTP/SAVP without an AES_CM_128_HMAC_SHA1_80 inline key", ErrInvalidSDP)
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		pt := uint8(n)
		var c RTPCodec
		switch name := names[pt]; {
		case name == "pcmu/8000":
			c = CodecPCMU
		case name == "pcma/8000":
			c = CodecPCMA
		case strings.HasPrefix(name, "opus/48000"):
			c = CodecOpus
		case name == "cn/8000":
			o.CN = true
		case strings.HasPrefix(name, "telephone-event/"):
			o.Params.EventPayloadType = pt
		}
		if c != 0 && (o.Params.Codec == 0 || c == want && o.Params.Codec != want) {
			o.Params.Codec, o.Params.PayloadType = c, pt
		}
	}
	if o.Params.Codec == 0 {
		return RTPOffer{}, fmt.Errorf("%w: none of PCMU, PCMA, opus offered", ErrNoAudio)
	}
	if want != 0 && o.Params.Codec != want {
		return RTPOffer{}, fmt.Errorf("%w: %s not offered", ErrNoAudio, want)
	}
	return o, nil
}

// parseRTCPAttr reads a=rtcp's "port [IN IP4 addr]" (RFC 3605); the
// address defaults to the media's.
func parseRTCPAttr(v string, media netip.Addr) (netip.AddrPort, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp without a port", ErrInvalidSDP)
	}
	port, err := strconv.Atoi(f[0])
	if err != nil || port < 1 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp port %q", ErrInvalidSDP, f[0])
	}
	addr := media
	if len(f) >= 4 {
		if addr, err = netip.ParseAddr(f[3]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp address %q is not an IP", ErrInvalidSDP, f[3])
		}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// parseCrypto reads "tag AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime][|mki]".
func parseCrypto(v string) (tag string, key []byte, ok bool) {
	f := strings.Fields(v)
	if len(f) < 3 || f[1] != "AES_CM_128_HMAC_SHA1_80" || !strings.HasPrefix(f[2], "inline:") {
		return "", nil, false
	}
	b64, _, _ := strings.Cut(strings.TrimPrefix(f[2], "inline:"), "|")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) != srtpKeyLen {
		return "", nil, false
	}
	return f[0], key, true
}

// ParseSRTPKey decodes a base64 AES_CM_128_HMAC_SHA1_80 master key and salt
// (30 bytes), as in a=crypto's inline: parameter.
func ParseSRTPKey(b64 string) ([]byte, error) {
	b64, _, _ = strings.Cut(strings.TrimPrefix(b64, "inline:"), "|")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP key is not base64", ErrInvalidRTP)
	}
	if len(key) != srtpKeyLen {
		return nil, fmt.Errorf("%w: SRTP key is %d bytes, want %d", ErrInvalidRTP, len(key), srtpKeyLen)
	}
	return key, nil
}

// EncodeSRTPKey is ParseSRTPKey's inverse.
func EncodeSRTPKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// RTPAnswer is the SDP answer for an offer: our address and port, the
// chosen codec, comfort noise and telephone-event when offered, 20 ms
// packets, our RTCP port (the odd one above, or a=rtcp-mux when
// o.Params.RTCPMux), and our SDES key when the offer was SRTP.
func RTPAnswer(o RTPOffer, addr netip.AddrPort, localKey []byte, sessionID uint64) string {
	ipv := "IP4"
	if addr.Addr().Is6() {
		ipv = "IP6"
	}
	p := o.Params
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=openmcu %d %d IN %s %s\r\ns=openmcu\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, sessionID, ipv, addr.Addr(), ipv, addr.Addr())
	proto := "RTP/AVP"
	if o.SRTP {
		proto = "RTP/SAVP"
	}
	fmts := []string{strconv.Itoa(int(p.PayloadType))}
	if o.CN && p.Codec != CodecOpus {
		fmts = append(fmts, strconv.Itoa(PayloadCN))
	}
	if p.EventPayloadType != 0 {
		fmts = append(fmts, strconv.Itoa(int(p.EventPayloadType)))
	}
	fmt.Fprintf(&b, "m=audio %d %s %s\r\n", addr.Port(), proto, strings.Join(fmts, " "))
	switch p.Codec {
	case CodecPCMU:
		fmt.Fprintf(&b, "a=rtpmap:%d PCMU/8000\r\n", p.PayloadType)
	case CodecPCMA:
		fmt.Fprintf(&b, "a=rtpmap:%d PCMA/8000\r\n", p.PayloadType)
	case CodecOpus:
		fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\n", p.PayloadType)
	}
	if o.CN && p.Codec != CodecOpus {
		b.WriteString("a=rtpmap:13 CN/8000\r\n")
	}
	if p.EventPayloadType != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", p.EventPayloadType, p.EventPayloadType)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	if p.RTCPMux {
		b.WriteString("a=rtcp-mux\r\n")
	} else {
		fmt.Fprintf(&b, "a=rtcp:%d\r\n", addr.Port()+1)
	}
	if o.SRTP {
		fmt.Fprintf(&b, "a=crypto:%s AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", o.CryptoTag, EncodeSRTPKey(localKey))
	}
	return b.String()
}
