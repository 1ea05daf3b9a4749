package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The payload types of our offer (RFC 3551 section 6 for the static ones).
const (
	ptPCMU           = 0
	ptPCMA           = 8
	ptG722           = 9   // its RTP clock is 8000 Hz although it samples at 16 kHz (RFC 3551)
	ptTelephoneEvent = 101 // dynamic; RFC 4733 events 0-16 (DTMF)
	ptOpus           = 111 // dynamic; RFC 7587, its RTP clock 48000 Hz whatever it samples at
)

// opusFmtp is the format parameters of our Opus (RFC 7587 section 6.1): we send mono and
// ask for mono, and we decode, and send, the in-band FEC copy of the previous packet.
const opusFmtp = "stereo=0; sprop-stereo=0; useinbandfec=1"

// maxSDPSize bounds what parseSDP reads; a description of one audio
// stream is a few hundred bytes.
const maxSDPSize = 16 << 10

// Media is what the offer/answer exchange settled for a call's audio.
type Media struct {
	Codec           string         // "opus", "G722", "PCMU" or "PCMA": the first of our codecs the answer lists
	PayloadType     uint8          // the codec's RTP payload type
	DTMFPayloadType uint8          // telephone-event's payload type; 0 when not negotiated
	Remote          netip.AddrPort // where to send RTP: the answer's c= address and m= port
	// Direction is what we may do with the stream: SendRecv normally,
	// RecvOnly or Inactive while the far end holds us, SendOnly while we
	// hold it.
	Direction Direction
	// SRTP holds the keys of an encrypted call; its zero value means plain
	// RTP.
	SRTP SRTPKeys

	cryptoTag int  // the tag of the far end's a=crypto that the keys answer
	savp      bool // the stream is RTP/SAVP
	dtmfRate  int  // telephone-event's RTP clock rate, 8000 if 0
}

// srtpWant is what an offer/answer exchange takes of SRTP.
type srtpWant uint8

const (
	srtpNone     srtpWant = iota // plain RTP/AVP only; keys are passed over
	srtpOptional                 // RTP/AVP or RTP/SAVP; the call is encrypted if keys came
	srtpMust                     // keys must come, or the exchange fails
)

// A Direction says which ways a media stream flows, seen from our side
// (RFC 3264 section 5.1, RFC 4566 section 6). The zero value is SendRecv.
type Direction uint8

// The directions.
const (
	SendRecv Direction = iota // both ways
	SendOnly                  // we send, and receive nothing
	RecvOnly                  // we receive, and must not send
	Inactive                  // neither way
)

// String returns the SDP attribute of d, e.g. "sendonly".
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Sends reports whether we may send media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether media is to be received.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

func direction(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

// mirror returns the direction the other side sees: what one sends, the
// other receives.
func (d Direction) mirror() Direction { return direction(d.Receives(), d.Sends()) }

// and returns what both d and o allow.
func (d Direction) and(o Direction) Direction {
	return direction(d.Sends() && o.Sends(), d.Receives() && o.Receives())
}

// parseDirection reads a direction attribute's name.
func parseDirection(attr string) (Direction, bool) {
	for d := SendRecv; d <= Inactive; d++ {
		if attr == d.String() {
			return d, true
		}
	}
	return 0, false
}

// sdpFormat is a payload type we list in an m= line.
type sdpFormat struct {
	pt   uint8
	name string // "opus", "G722", "PCMU", "PCMA" or "telephone-event"
	rate int    // the RTP clock rate of telephone-event; 0 for 8000 Hz
}

// rtpmap returns the format's encoding as an rtpmap attribute gives it: name, RTP clock
// rate and, for Opus, the two channels RFC 7587 section 7 has it name whatever is sent.
func (f sdpFormat) rtpmap() string {
	switch {
	case strings.EqualFold(f.name, "opus"):
		return "opus/48000/2"
	case f.rate != 0:
		return f.name + "/" + strconv.Itoa(f.rate)
	}
	return f.name + "/8000"
}

// ourFormats is what we offer first, in order of preference: Opus, then wideband G.722,
// then G.711. (The binary is built with cgo, which its audio needs too, so media has
// libopus.)
var ourFormats = []sdpFormat{{ptOpus, "opus", 0}, {ptG722, "G722", 0}, {ptPCMU, "PCMU", 0}, {ptPCMA, "PCMA", 0}, {ptTelephoneEvent, "telephone-event", 0}}

// ourCodec returns the name of the voice codec of ourFormats that name, at RTP clock rate
// rate, is, as Media gives it; false if it is none of them.
func ourCodec(name string, rate int) (string, bool) {
	switch {
	case strings.EqualFold(name, "opus"):
		return "opus", rate == 48000
	case strings.EqualFold(name, "G722") || strings.EqualFold(name, "PCMU") || strings.EqualFold(name, "PCMA"):
		return strings.ToUpper(name), rate == 8000
	}
	return "", false
}

// mediaPrefs is what a call offers and accepts: its voice codecs in order of preference,
// and whether it takes telephone-event.
type mediaPrefs struct {
	codecs   []string // of opus, G722, PCMU and PCMA, in any case; nil = all, as in ourFormats
	noEvents bool     // neither offer nor accept telephone-event (DTMF by SIP INFO)
}

// allows reports whether the call may use codec, a name ourCodec gives.
func (p mediaPrefs) allows(codec string) bool {
	return p.codecs == nil || slices.ContainsFunc(p.codecs, func(c string) bool { return strings.EqualFold(c, codec) })
}

// formats returns what an offer of the call lists: the codecs in order, then
// telephone-event unless it takes none.
func (p mediaPrefs) formats() []sdpFormat {
	var f []sdpFormat
	for _, o := range ourFormats {
		if o.name != "telephone-event" && p.codecs == nil {
			f = append(f, o)
		}
	}
	for _, c := range p.codecs {
		if i := slices.IndexFunc(ourFormats, func(o sdpFormat) bool { return o.name != "telephone-event" && strings.EqualFold(o.name, c) }); i >= 0 {
			f = append(f, ourFormats[i])
		}
	}
	if !p.noEvents {
		f = append(f, sdpFormat{ptTelephoneEvent, "telephone-event", 0})
	}
	return f
}

// formats returns the payload types m settled, for a new offer or answer
// that keeps them.
func (m Media) formats() []sdpFormat {
	f := []sdpFormat{{m.PayloadType, m.Codec, 0}}
	if m.DTMFPayloadType != 0 {
		f = append(f, sdpFormat{m.DTMFPayloadType, "telephone-event", m.dtmfRate})
	}
	return f
}

// offerSDP returns our first offer (RFC 3264 section 5): one audio stream
// on local offering the codecs of prefs in its order (Opus, G.722, PCMU, PCMA
// by default) and telephone-event unless prefs takes none, 20 ms packets,
// sendrecv.
func offerSDP(local netip.AddrPort, sessionID uint64, crypto *ourCrypto, prefs mediaPrefs) []byte {
	o := sdpOut{local: local, id: sessionID, version: sessionID, dir: SendRecv, audio: prefs.formats()}
	if crypto != nil {
		o.crypto, o.cryptoTag, o.savp = &crypto.key, 1, crypto.savp
	}
	return writeSDP(o)
}

// sdpOut is a session description of ours: one audio stream and, in an
// answer, the offer's other streams, refused.
type sdpOut struct {
	local       netip.AddrPort
	id, version uint64 // of the o= line (RFC 4566 section 5.2)
	dir         Direction
	audio       []sdpFormat
	// offer is the offer answered, and audioAt the index of its stream
	// that the audio answers; offer is nil in an offer of ours.
	offer   *sdpSession
	audioAt int
	// crypto, when not nil, is our SRTP key, sent as a=crypto with
	// cryptoTag; savp makes the stream RTP/SAVP.
	crypto    *[SRTPKeyLen]byte
	cryptoTag int
	savp      bool
}

// writeSDP renders a session description.
func writeSDP(o sdpOut) []byte {
	ipVer := "IP4"
	if o.local.Addr().Is6() {
		ipVer = "IP6"
	}
	ip := o.local.Addr().String()
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=partyline %d %d IN %s %s", o.id, o.version, ipVer, ip)
	line("s=partyline")
	line("c=IN %s %s", ipVer, ip)
	line("t=0 0")
	audio := func() {
		proto := " RTP/AVP"
		if o.savp {
			proto = " RTP/SAVP"
		}
		b.WriteString("m=audio " + strconv.Itoa(int(o.local.Port())) + proto)
		for _, f := range o.audio {
			b.WriteString(" " + strconv.Itoa(int(f.pt)))
		}
		b.WriteString("\r\n")
		for _, f := range o.audio {
			line("a=rtpmap:%d %s", f.pt, f.rtpmap())
		}
		for _, f := range o.audio {
			switch {
			case f.name == "telephone-event":
				line("a=fmtp:%d 0-16", f.pt)
			case strings.EqualFold(f.name, "opus"):
				line("a=fmtp:%d %s", f.pt, opusFmtp)
			}
		}
		if o.crypto != nil {
			line("a=%s", cryptoLine(o.cryptoTag, *o.crypto))
		}
		line("a=ptime:20")
		line("a=%s", o.dir)
	}
	if o.offer == nil {
		audio()
		return []byte(b.String())
	}
	// An answer has an m= line for each of the offer's, in order; those
	// refused have port 0 (RFC 3264 section 6).
	for i, st := range o.offer.streams {
		if i == o.audioAt {
			audio()
			continue
		}
		line("m=%s 0 %s %s", st.media, st.proto, st.firstFormat)
	}
	return []byte(b.String())
}

// sdpSession is a parsed session description.
type sdpSession struct {
	conn    netip.Addr // the session-level c= address; invalid if none
	dir     Direction  // the session-level direction attribute; SendRecv if none
	streams []*sdpStream
}

// sdpStream is one m= section of a session description.
type sdpStream struct {
	media       string
	port        uint16
	proto       string
	firstFormat string // the first format as written, for refusing the stream
	formats     []uint8
	conn        netip.Addr       // the section's c= address; invalid if it has none
	dir         Direction        // the section's direction attribute
	hasDir      bool             // whether it has one (else the session's applies)
	rtpmap      map[uint8]string // payload type -> "name/rate[/channels]"
	seenPT      map[uint8]bool   // payload types listed in the m= line
	crypto      []sdpCrypto      // a=crypto attributes of our suite, in order
}

// parseAnswer reads an SDP answer (RFC 4566) to our first offer and
// returns the negotiated media. It is strict about the grammar of what it
// reads and returns an error, never a partial result, for anything it
// cannot use.
func parseAnswer(body []byte, srtp srtpWant, prefs mediaPrefs) (Media, error) {
	sess, err := parseSDP(body)
	if err != nil {
		return Media{}, err
	}
	m, _, err := sess.negotiate(false, srtp, prefs)
	return m, err
}

// parseSDP reads a session description (RFC 4566), strictly.
func parseSDP(body []byte) (*sdpSession, error) {
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	if len(body) > maxSDPSize {
		return nil, fmt.Errorf("%d bytes, more than %d", len(body), maxSDPSize)
	}
	sess := &sdpSession{}
	seen := map[byte]bool{}
	lines := bytes.Split(body, []byte("\n"))
	// Trailing empty lines are tolerated; empty lines elsewhere are not.
	for len(lines) > 0 && len(bytes.TrimRight(lines[len(lines)-1], "\r")) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		text := string(bytes.TrimSuffix(raw, []byte("\r")))
		if len(text) < 2 || text[1] != '=' || text[0] < 'a' || text[0] > 'z' {
			return nil, fmt.Errorf("line %d: %q is not a <type>=<value> line", n, clip(text))
		}
		typ, value := text[0], text[2:]
		if strings.ContainsAny(value, "\r\x00") {
			return nil, fmt.Errorf("line %d: control character in value", n)
		}
		if i == 0 {
			if typ != 'v' || value != "0" {
				return nil, fmt.Errorf("line 1: %q, want v=0", clip(text))
			}
			seen['v'] = true
			continue
		}
		var cur *sdpStream
		if len(sess.streams) > 0 {
			cur = sess.streams[len(sess.streams)-1]
		}
		switch typ {
		case 'v':
			return nil, fmt.Errorf("line %d: second v= line", n)
		case 'o':
			if cur != nil || seen['o'] {
				return nil, fmt.Errorf("line %d: o= out of place", n)
			}
			if err := checkOrigin(value); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		case 's':
			if cur != nil || seen['s'] {
				return nil, fmt.Errorf("line %d: s= out of place", n)
			}
			if value == "" {
				return nil, fmt.Errorf("line %d: empty session name", n)
			}
		case 'c':
			addr, err := parseConnection(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if cur != nil {
				cur.conn = addr
			} else {
				sess.conn = addr
			}
		case 'm':
			if !seen['o'] || !seen['s'] {
				return nil, fmt.Errorf("line %d: m= before the o= and s= lines", n)
			}
			st, err := parseMediaLine(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			sess.streams = append(sess.streams, st)
		case 'a':
			if cur != nil {
				if err := cur.attribute(value); err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
			} else if d, ok := parseDirection(value); ok {
				sess.dir = d
			}
		}
		seen[typ] = true
	}
	if !seen['o'] || !seen['s'] {
		return nil, errors.New("no o= or s= line")
	}
	return sess, nil
}

// negotiate picks the first usable audio stream and, in it, the first of
// our codecs listed (RFC 3264 section 6.1: an answer's order is the
// answerer's preference, an offer's the offerer's). It returns the media
// and the index of the stream. The Direction is ours: the mirror of the
// stream's.
//
// The connection address must be one host's (see checkUnicast): audio
// sent to a broadcast or multicast address would go to every host on the
// network. The one exception is 0.0.0.0 (or ::), the old way of putting a
// stream on hold (RFC 3264 section 8.4): with hold, in a re-INVITE's
// offer or answer, it is taken as such, Remote left invalid (the earlier
// one stays) and sending off; without, as in a first offer or answer,
// which must say where to send, it is refused like the rest.
//
// srtp says what it takes of SRTP: with srtpNone only RTP/AVP streams, and
// their keys are passed over; otherwise RTP/SAVP streams too, and the first
// a=crypto of our suite gives the far end's key (Media.SRTP.Remote; the
// caller fills in Local). An RTP/SAVP stream without a usable key is
// refused, and so, with srtpMust, is a stream without one.
//
// The codec is the first of the description's that prefs allows, and telephone-event is
// taken only if prefs takes it.
func (sess *sdpSession) negotiate(hold bool, srtp srtpWant, prefs mediaPrefs) (Media, int, error) {
	at := -1
	for i, s := range sess.streams {
		savp := strings.EqualFold(s.proto, "RTP/SAVP")
		if s.media == "audio" && s.port != 0 && (strings.EqualFold(s.proto, "RTP/AVP") || savp && srtp != srtpNone) {
			at = i
			break
		}
	}
	if at < 0 {
		return Media{}, 0, errors.New("no accepted RTP/AVP audio stream")
	}
	st := sess.streams[at]
	conn := st.conn
	if !conn.IsValid() {
		conn = sess.conn
	}
	if !conn.IsValid() {
		return Media{}, 0, errors.New("no connection address (c=) for the audio stream")
	}
	dir := sess.dir
	if st.hasDir {
		dir = st.dir
	}
	m := Media{Remote: netip.AddrPortFrom(conn, st.port), Direction: dir.mirror()}
	if hold && conn.Unmap().IsUnspecified() {
		m.Remote = netip.AddrPort{}
		m.Direction = m.Direction.and(RecvOnly)
	} else if err := checkUnicast(conn); err != nil {
		return Media{}, 0, err
	}
	for _, pt := range st.formats {
		name, rate, ok := st.codec(pt)
		if !ok {
			continue
		}
		if codec, ours := ourCodec(name, rate); ours && m.Codec == "" && prefs.allows(codec) {
			m.Codec, m.PayloadType = codec, pt
		}
	}
	if m.Codec == "" {
		return Media{}, 0, fmt.Errorf("no common codec: payload types %v listed", st.formats)
	}
	// telephone-event at the codec's RTP clock rate (RFC 4733 section 2.1), or else, as
	// some peers list it beside Opus, at 8000 Hz.
	codecRate := 8000
	if m.Codec == "opus" {
		codecRate = 48000
	}
	for _, want := range []int{codecRate, 8000} {
		for _, pt := range st.formats {
			if name, rate, ok := st.codec(pt); ok && !prefs.noEvents && rate == want && strings.EqualFold(name, "telephone-event") && m.DTMFPayloadType == 0 {
				m.DTMFPayloadType = pt
				if rate != 8000 {
					m.dtmfRate = rate
				}
			}
		}
	}
	if srtp != srtpNone {
		m.savp = strings.EqualFold(st.proto, "RTP/SAVP")
		switch {
		case len(st.crypto) > 0:
			m.SRTP.Remote, m.cryptoTag = st.crypto[0].key, st.crypto[0].tag
		case m.savp:
			return Media{}, 0, fmt.Errorf("RTP/SAVP stream without a key of %s", srtpSuite)
		case srtp == srtpMust:
			return Media{}, 0, errors.New("no SRTP key: the far end does not encrypt the call")
		}
	}
	return m, at, nil
}

// checkUnicast returns an error unless a, a connection address, names
// one host: not the unspecified address, nor a multicast or broadcast
// address, nor one of the IPv4 blocks no host has (0.0.0.0/8 is "this
// network", 240.0.0.0/4 reserved and 255.255.255.255 in it), nor the
// broadcast address of one of our own IPv4 networks. That last one
// depends on the networks we are on: a broadcast address of a network
// elsewhere looks like any host's and is refused by the router there.
func checkUnicast(a netip.Addr) error {
	a = a.Unmap()
	var why string
	switch {
	case a.IsUnspecified():
		why = "the unspecified address"
	case a.IsMulticast():
		why = "a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "the broadcast address"
	case a.Is4() && a.As4()[0] == 0:
		why = `in 0.0.0.0/8, "this network"`
	case a.Is4() && a.As4()[0] >= 240:
		why = "in 240.0.0.0/4, reserved"
	case localBroadcast(a):
		why = "the broadcast address of a network we are on"
	default:
		return nil
	}
	return fmt.Errorf("connection address %v is %s, not a unicast address", a, why)
}

// localBroadcast reports whether a is the broadcast address of one of the
// IPv4 networks of our interfaces (which a UDP socket in Go may send to).
func localBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		ip, mask := ipn.IP.To4(), ipn.Mask
		if ip == nil || len(mask) != net.IPv4len {
			continue
		}
		if ones, _ := mask.Size(); ones > 30 {
			continue // point-to-point links and single hosts have no broadcast address
		}
		var bcast [4]byte
		for i := range bcast {
			bcast[i] = ip[i] | ^mask[i]
		}
		if a == netip.AddrFrom4(bcast) {
			return true
		}
	}
	return false
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
		case ptG722:
			return "G722", 8000, true
		}
		return "", 0, false
	}
	name, rest, _ := strings.Cut(desc, "/")
	rateText, channels, hasChannels := strings.Cut(rest, "/")
	rate, err := strconv.Atoi(rateText)
	// Opus names two channels whatever it sends (RFC 7587 section 7); others must be mono.
	if err != nil || (hasChannels && channels != "1" && !(strings.EqualFold(name, "opus") && channels == "2")) {
		return "", 0, false
	}
	return name, rate, true
}

// attribute reads a media-level a= line; only rtpmap and the direction
// matter here.
func (s *sdpStream) attribute(value string) error {
	if d, ok := parseDirection(value); ok {
		s.dir, s.hasDir = d, true
		return nil
	}
	if v, ok := strings.CutPrefix(value, "crypto:"); ok {
		c, usable, err := parseCrypto(v)
		if err != nil {
			return err
		}
		if usable {
			s.crypto = append(s.crypto, c)
		}
		return nil
	}
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
	for _, tok := range []string{f[0], f[2], f[3]} {
		if !printable(tok) {
			return nil, fmt.Errorf("m=%s: control character", clip(value))
		}
	}
	st := &sdpStream{media: f[0], port: uint16(port), proto: f[2], firstFormat: f[3], rtpmap: map[uint8]string{}, seenPT: map[uint8]bool{}}
	if !strings.EqualFold(st.proto, "RTP/AVP") && !strings.EqualFold(st.proto, "RTP/SAVP") {
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

// printable reports whether s is printable ASCII only, so that it can go
// back into a description of ours.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 60
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
