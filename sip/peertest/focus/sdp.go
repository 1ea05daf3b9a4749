package focus

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The focus's side of the SDP offer/answer exchange (RFC 3264): it takes offers, picks
// PCMU or PCMA and telephone-event, and answers with one RTP port on 127.0.0.1.

// Static payload types of G.711 (RFC 3551).
const (
	ptPCMU = 0
	ptPCMA = 8
)

// maxSDP bounds the size of an offer.
const maxSDP = 16 << 10

// An offer is what the focus takes from an SDP offer.
type offer struct {
	media     []mline        // every m= line, in order; the answer has one for each
	audio     int            // index into media of the audio stream the focus takes
	remote    netip.AddrPort // where to send RTP
	codec     string         // "PCMU" or "PCMA", the first of the offer's formats that is one of them
	pt        uint8          // its payload type
	dtmf      uint8          // telephone-event/8000's payload type, 0 if not offered
	direction string         // the offerer's: sendrecv, sendonly, recvonly or inactive
}

// An mline is one media description of an offer, as far as an answer needs it.
type mline struct {
	media, proto string
	format       string // the first format, which an answer that rejects the stream names
}

// errNoCodec is returned by parseOffer when the offer's audio has no G.711.
var errNoCodec = errors.New("no PCMU or PCMA offered")

// parseOffer reads an SDP offer. A malformed one gets an error naming what is wrong;
// one without G.711 audio gets errNoCodec.
func parseOffer(body []byte) (offer, error) {
	if len(body) > maxSDP {
		return offer{}, fmt.Errorf("SDP of %d bytes, more than %d", len(body), maxSDP)
	}
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "v=0" {
		return offer{}, errors.New("SDP does not start with v=0")
	}
	o := offer{audio: -1}
	var (
		sessionAddr, audioAddr       netip.Addr
		sessionDir, audioDir         string
		audioPort                    int
		audioFormats                 []string
		rtpmap                       = map[string]string{} // payload type -> encoding/clock, of the audio stream
		inAudio, seenOrigin, sawLine bool
	)
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		typ, value, ok := strings.Cut(line, "=")
		if !ok || len(typ) != 1 {
			return offer{}, fmt.Errorf("SDP line %d is not <type>=<value>: %q", i+1, clip(line))
		}
		sawLine = true
		switch typ {
		case "o":
			seenOrigin = true
		case "c":
			addr, err := parseConnection(value)
			if err != nil {
				return offer{}, fmt.Errorf("SDP line %d: %w", i+1, err)
			}
			switch {
			case len(o.media) == 0:
				sessionAddr = addr
			case inAudio:
				audioAddr = addr
			}
		case "m":
			f := strings.Fields(value)
			if len(f) < 4 {
				return offer{}, fmt.Errorf("SDP line %d: m= line %q has no formats", i+1, clip(value))
			}
			o.media = append(o.media, mline{media: f[0], proto: f[2], format: f[3]})
			inAudio = false
			if f[0] == "audio" && o.audio < 0 {
				port, err := strconv.Atoi(f[1])
				if err != nil || port < 0 || port > 65535 {
					return offer{}, fmt.Errorf("SDP line %d: audio port %q", i+1, clip(f[1]))
				}
				if f[2] != "RTP/AVP" {
					return offer{}, fmt.Errorf("SDP line %d: audio over %q, want RTP/AVP", i+1, clip(f[2]))
				}
				o.audio, inAudio, audioPort, audioFormats = len(o.media)-1, true, port, f[3:]
			}
		case "a":
			name, val, _ := strings.Cut(value, ":")
			switch {
			case name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive":
				switch {
				case len(o.media) == 0:
					sessionDir = name
				case inAudio:
					audioDir = name
				}
			case name == "rtpmap" && inAudio:
				pt, enc, ok := strings.Cut(val, " ")
				if !ok {
					return offer{}, fmt.Errorf("SDP line %d: rtpmap %q", i+1, clip(val))
				}
				rtpmap[pt] = strings.ToUpper(strings.TrimSpace(enc))
			}
		}
	}
	switch {
	case !sawLine:
		return offer{}, errors.New("empty SDP")
	case !seenOrigin:
		return offer{}, errors.New("SDP has no o= line")
	case o.audio < 0:
		return offer{}, errors.New("SDP has no audio stream")
	case audioPort == 0:
		return offer{}, errors.New("the audio stream is disabled (port 0)")
	}
	addr := audioAddr
	if !addr.IsValid() {
		addr = sessionAddr
	}
	if !addr.IsValid() {
		return offer{}, errors.New("SDP has no c= line for the audio stream")
	}
	o.remote = netip.AddrPortFrom(addr, uint16(audioPort))
	o.direction = "sendrecv"
	for _, d := range []string{sessionDir, audioDir} {
		if d != "" {
			o.direction = d
		}
	}
	for _, f := range audioFormats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return offer{}, fmt.Errorf("SDP audio format %q is not a payload type", clip(f))
		}
		enc, mapped := rtpmap[f]
		var name string
		switch {
		case !mapped && pt == ptPCMU, enc == "PCMU/8000" || enc == "PCMU/8000/1":
			name = "PCMU"
		case !mapped && pt == ptPCMA, enc == "PCMA/8000" || enc == "PCMA/8000/1":
			name = "PCMA"
		case enc == "TELEPHONE-EVENT/8000":
			if o.dtmf == 0 {
				o.dtmf = uint8(pt)
			}
			continue
		default:
			continue
		}
		if o.codec == "" {
			o.codec, o.pt = name, uint8(pt)
		}
	}
	if o.codec == "" {
		return o, errNoCodec
	}
	return o, nil
}

// parseConnection reads the value of a c= line: IN IP4 and an address.
func parseConnection(v string) (netip.Addr, error) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "IN" || f[1] != "IP4" {
		return netip.Addr{}, fmt.Errorf("connection %q, want IN IP4 <address>", clip(v))
	}
	addr, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
	if err != nil || !addr.Is4() {
		return netip.Addr{}, fmt.Errorf("connection address %q is not an IPv4 address", clip(f[2]))
	}
	return addr, nil
}

// answerDirection is the direction an answer takes to an offer's (RFC 3264 section 6.1).
func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	}
	return offered
}

// answer writes the SDP answer to o: the audio stream on port at 127.0.0.1 with o's codec
// (and telephone-event if offered), every other stream rejected with port 0.
func answer(o offer, port uint16, sessionID, version uint64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=partyline-focus %d %d IN IP4 127.0.0.1\r\ns=partyline test focus\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n", sessionID, version)
	for i, m := range o.media {
		if i != o.audio {
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.media, m.proto, m.format)
			continue
		}
		fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", port, o.pt)
		if o.dtmf != 0 {
			fmt.Fprintf(&b, " %d", o.dtmf)
		}
		fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", o.pt, o.codec)
		if o.dtmf != 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", o.dtmf, o.dtmf)
		}
		fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", answerDirection(o.direction))
	}
	return []byte(b.String())
}

// clip keeps what a message quotes from its input short.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
