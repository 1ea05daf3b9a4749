package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The payload types of our offer (RFC 3551 section 6 for the static ones).
const (
	ptPCMU           = 0
	ptPCMA           = 8
	ptTelephoneEvent = 101 // dynamic; RFC 4733 events 0-16 (DTMF)
)

// maxSDPSize bounds what parseAnswer reads; an answer for one audio stream
// is a few hundred bytes.
const maxSDPSize = 16 << 10

// Media is what the offer/answer exchange settled for a call's audio.
type Media struct {
	Codec           string         // "PCMU" or "PCMA": the first of our codecs the answer lists
	PayloadType     uint8          // the codec's RTP payload type
	DTMFPayloadType uint8          // telephone-event's payload type; 0 when not negotiated
	Remote          netip.AddrPort // where to send RTP: the answer's c= address and m= port
}

// offerSDP returns our offer (RFC 3264 section 5): one audio stream on
// local offering PCMU, PCMA and telephone-event, 20 ms packets, sendrecv.
func offerSDP(local netip.AddrPort, sessionID uint64) []byte {
	ipVer := "IP4"
	if local.Addr().Is6() {
		ipVer = "IP6"
	}
	ip := local.Addr().String()
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=partyline %d %d IN %s %s", sessionID, sessionID, ipVer, ip)
	line("s=partyline")
	line("c=IN %s %s", ipVer, ip)
	line("t=0 0")
	line("m=audio %d RTP/AVP %d %d %d", local.Port(), ptPCMU, ptPCMA, ptTelephoneEvent)
	line("a=rtpmap:%d PCMU/8000", ptPCMU)
	line("a=rtpmap:%d PCMA/8000", ptPCMA)
	line("a=rtpmap:%d telephone-event/8000", ptTelephoneEvent)
	line("a=fmtp:%d 0-16", ptTelephoneEvent)
	line("a=ptime:20")
	line("a=sendrecv")
	return []byte(b.String())
}

// sdpStream is one m= section of a session description.
type sdpStream struct {
	media   string
	port    uint16
	proto   string
	formats []uint8
	conn    netip.Addr       // the section's c= address; invalid if it has none
	rtpmap  map[uint8]string // payload type -> "name/rate[/channels]"
	seenPT  map[uint8]bool   // payload types listed in the m= line
}

// parseAnswer reads an SDP answer (RFC 4566) to our offer and returns the
// negotiated media. It is strict about the grammar of what it reads and
// returns an error, never a partial result, for anything it cannot use.
func parseAnswer(body []byte) (Media, error) {
	if len(body) == 0 {
		return Media{}, errors.New("empty body")
	}
	if len(body) > maxSDPSize {
		return Media{}, fmt.Errorf("%d bytes, more than %d", len(body), maxSDPSize)
	}
	var (
		sessionConn netip.Addr
		streams     []*sdpStream
		seen        = map[byte]bool{}
	)
	lines := bytes.Split(body, []byte("\n"))
	// Trailing empty lines are tolerated; empty lines elsewhere are not.
	for len(lines) > 0 && len(bytes.TrimRight(lines[len(lines)-1], "\r")) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		text := string(bytes.TrimSuffix(raw, []byte("\r")))
		if len(text) < 2 || text[1] != '=' || text[0] < 'a' || text[0] > 'z' {
			return Media{}, fmt.Errorf("line %d: %q is not a <type>=<value> line", n, clip(text))
		}
		typ, value := text[0], text[2:]
		if strings.ContainsAny(value, "\r\x00") {
			return Media{}, fmt.Errorf("line %d: control character in value", n)
		}
		if i == 0 {
			if typ != 'v' || value != "0" {
				return Media{}, fmt.Errorf("line 1: %q, want v=0", clip(text))
			}
			seen['v'] = true
			continue
		}
		var cur *sdpStream
		if len(streams) > 0 {
			cur = streams[len(streams)-1]
		}
		switch typ {
		case 'v':
			return Media{}, fmt.Errorf("line %d: second v= line", n)
		case 'o':
			if cur != nil || seen['o'] {
				return Media{}, fmt.Errorf("line %d: o= out of place", n)
			}
			if err := checkOrigin(value); err != nil {
				return Media{}, fmt.Errorf("line %d: %w", n, err)
			}
		case 's':
			if cur != nil || seen['s'] {
				return Media{}, fmt.Errorf("line %d: s= out of place", n)
			}
			if value == "" {
				return Media{}, fmt.Errorf("line %d: empty session name", n)
			}
		case 'c':
			addr, err := parseConnection(value)
			if err != nil {
				return Media{}, fmt.Errorf("line %d: %w", n, err)
			}
			if cur != nil {
				cur.conn = addr
			} else {
				sessionConn = addr
			}
		case 'm':
			if !seen['o'] || !seen['s'] {
				return Media{}, fmt.Errorf("line %d: m= before the o= and s= lines", n)
			}
			st, err := parseMediaLine(value)
			if err != nil {
				return Media{}, fmt.Errorf("line %d: %w", n, err)
			}
			streams = append(streams, st)
		case 'a':
			if cur != nil {
				if err := cur.attribute(value); err != nil {
					return Media{}, fmt.Errorf("line %d: %w", n, err)
				}
			}
		}
		seen[typ] = true
	}
	if !seen['o'] || !seen['s'] {
		return Media{}, errors.New("no o= or s= line")
	}
	return negotiate(streams, sessionConn)
}

// negotiate picks the first usable audio stream and, in it, the first of
// our codecs the answer lists (RFC 3264 section 6.1: the answer's order is
// the answerer's preference).
func negotiate(streams []*sdpStream, sessionConn netip.Addr) (Media, error) {
	var st *sdpStream
	for _, s := range streams {
		if s.media == "audio" && s.port != 0 && strings.EqualFold(s.proto, "RTP/AVP") {
			st = s
			break
		}
	}
	if st == nil {
		return Media{}, errors.New("no accepted RTP/AVP audio stream")
	}
	conn := st.conn
	if !conn.IsValid() {
		conn = sessionConn
	}
	if !conn.IsValid() {
		return Media{}, errors.New("no connection address (c=) for the audio stream")
	}
	if conn.IsUnspecified() || conn.IsMulticast() {
		return Media{}, fmt.Errorf("connection address %v is not a unicast address", conn)
	}
	m := Media{Remote: netip.AddrPortFrom(conn, st.port)}
	for _, pt := range st.formats {
		name, rate, ok := st.codec(pt)
		if !ok || rate != 8000 {
			continue
		}
		switch {
		case m.Codec == "" && (strings.EqualFold(name, "PCMU") || strings.EqualFold(name, "PCMA")):
			m.Codec, m.PayloadType = strings.ToUpper(name), pt
		case m.DTMFPayloadType == 0 && strings.EqualFold(name, "telephone-event"):
			m.DTMFPayloadType = pt
		}
	}
	if m.Codec == "" {
		return Media{}, fmt.Errorf("no common codec: the answer lists payload types %v", st.formats)
	}
	return m, nil
}

// codec returns the encoding name and clock rate of payload type pt: from
// its rtpmap attribute, or for the static types of RFC 3551 without one.
func (s *sdpStream) codec(pt uint8) (name string, rate int, ok bool) {
	desc, mapped := s.rtpmap[pt]
	if !mapped {
		switch pt {
		case ptPCMU:
			return "PCMU", 8000, true
		case ptPCMA:
			return "PCMA", 8000, true
		}
		return "", 0, false
	}
	name, rest, _ := strings.Cut(desc, "/")
	rateText, channels, hasChannels := strings.Cut(rest, "/")
	rate, err := strconv.Atoi(rateText)
	if err != nil || (hasChannels && channels != "1") {
		return "", 0, false
	}
	return name, rate, true
}

// attribute reads a media-level a= line; only rtpmap matters here.
func (s *sdpStream) attribute(value string) error {
	rest, ok := strings.CutPrefix(value, "rtpmap:")
	if !ok {
		return nil
	}
	ptText, desc, ok := strings.Cut(rest, " ")
	pt, err := strconv.ParseUint(ptText, 10, 7)
	if !ok || err != nil {
		return fmt.Errorf("bad rtpmap %q", clip(value))
	}
	name, rate, ok := strings.Cut(strings.TrimSpace(desc), "/")
	if !ok || name == "" || rate == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("bad rtpmap %q", clip(value))
	}
	if s.seenPT[uint8(pt)] {
		if _, dup := s.rtpmap[uint8(pt)]; !dup {
			s.rtpmap[uint8(pt)] = strings.TrimSpace(desc)
		}
	}
	return nil
}

// parseMediaLine reads "<media> <port>[/<count>] <proto> <fmt> ...".
func parseMediaLine(value string) (*sdpStream, error) {
	f := strings.Fields(value)
	if len(f) < 4 {
		return nil, fmt.Errorf("m=%s: want <media> <port> <proto> <formats>", clip(value))
	}
	portText, _, _ := strings.Cut(f[1], "/")
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("m= port %q: not a port number", clip(f[1]))
	}
	st := &sdpStream{media: f[0], port: uint16(port), proto: f[2], rtpmap: map[uint8]string{}, seenPT: map[uint8]bool{}}
	if !strings.EqualFold(st.proto, "RTP/AVP") {
		return st, nil // formats of other protocols need not be payload types
	}
	for _, ft := range f[3:] {
		pt, err := strconv.ParseUint(ft, 10, 7)
		if err != nil {
			return nil, fmt.Errorf("m= format %q: not an RTP payload type", clip(ft))
		}
		if !st.seenPT[uint8(pt)] {
			st.seenPT[uint8(pt)] = true
			st.formats = append(st.formats, uint8(pt))
		}
	}
	return st, nil
}

// parseConnection reads "IN IP4 <address>[/<ttl>]" or "IN IP6 <address>".
func parseConnection(value string) (netip.Addr, error) {
	f := strings.Fields(value)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("c=%s: want IN IP4|IP6 <address>", clip(value))
	}
	addrText, _, _ := strings.Cut(f[2], "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil || addr.Zone() != "" || (f[1] == "IP4") != addr.Is4() {
		return netip.Addr{}, fmt.Errorf("c=%s: %q is not an %s address", clip(value), clip(addrText), f[1])
	}
	return addr, nil
}

// checkOrigin checks "<user> <sess-id> <sess-version> IN <addrtype> <address>".
func checkOrigin(value string) error {
	f := strings.Fields(value)
	if len(f) != 6 || f[3] != "IN" {
		return fmt.Errorf("o=%s: want <user> <id> <version> IN <addrtype> <address>", clip(value))
	}
	for _, num := range f[1:3] {
		if _, err := strconv.ParseUint(num, 10, 64); err != nil {
			return fmt.Errorf("o=%s: %q is not a number", clip(value), clip(num))
		}
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 60
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
