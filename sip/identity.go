package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// IdentityMode says whose identity a call presents (the From header).
type IdentityMode string

// The identity modes. The zero value means IdentityAccount.
const (
	// IdentityAccount presents the account's own address of record.
	IdentityAccount IdentityMode = "account"
	// IdentityImpersonate presents Identity.URI; the account, which the
	// server must trust to do so, authenticates the call.
	IdentityImpersonate IdentityMode = "impersonate"
	// IdentityGenerated presents a fresh URI for every call,
	// sip:<prefix>-<random>@<account domain>, for hidden or anonymous legs.
	IdentityGenerated IdentityMode = "generated"
)

// DefaultGeneratedPrefix is the user prefix of generated identities when
// Identity.Prefix is "".
const DefaultGeneratedPrefix = "pl"

// maxPrefix bounds a generated identity's prefix.
const maxPrefix = 32

// generatedRandom is how many base32 characters (5 bits each) make the
// random part of a generated identity's user: 60 bits.
const generatedRandom = 12

// An Identity describes what a call puts on the wire about who is calling.
// The zero value presents the account's address of record.
type Identity struct {
	Mode IdentityMode
	// URI is the address presented in IdentityImpersonate mode, e.g.
	// "sip:desk4@example.com" (see ParseURI); other modes ignore it.
	URI string
	// Prefix starts the user part of a generated identity; "" means
	// DefaultGeneratedPrefix. Other modes ignore it.
	Prefix string
	// Assert adds a P-Asserted-Identity header (RFC 3325): the presented
	// URI in modes account and impersonate, the account's address of
	// record in mode generated (the identity the server can vouch for).
	Assert bool
	// Private adds "Privacy: id" (RFC 3325 section 9.3): the server is
	// asked to hide the asserted identity from untrusted parties.
	Private bool
}

// Validate checks the identity's mode, and the URI or prefix the mode
// uses, and says what is wrong in terms a settings page can show.
func (id Identity) Validate() error {
	switch id.Mode {
	case "", IdentityAccount:
		return nil
	case IdentityImpersonate:
		if id.URI == "" {
			return errors.New("identity: impersonate needs a URI to present")
		}
		if _, err := ParseURI(id.URI); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		return nil
	case IdentityGenerated:
		return validPrefix(id.Prefix)
	}
	return fmt.Errorf("identity: unknown mode %q (want account, impersonate or generated)", clip(string(id.Mode)))
}

func validPrefix(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxPrefix {
		return fmt.Errorf("identity: prefix %q is longer than %d characters", clip(p), maxPrefix)
	}
	for i := 0; i < len(p); i++ {
		if !isUnreserved(p[i]) {
			return fmt.Errorf("identity: prefix %q has %q, which a SIP user name cannot have unescaped", clip(p), p[i])
		}
	}
	return nil
}

// Presents returns the From URI a call as acc under id presents: the URI to impersonate,
// or the account's address of record. A generated identity is new for every call:
// Presents returns its pattern, sip:<prefix>-…@<domain>, and fixed false. The appliance
// shows it, and compares the fixed ones so that no two of its legs present the same URI in
// one conference.
func (id Identity) Presents(acc Account) (uri string, fixed bool) {
	switch id.Mode {
	case IdentityImpersonate:
		return id.URI, true
	case IdentityGenerated:
		prefix := id.Prefix
		if prefix == "" {
			prefix = DefaultGeneratedPrefix
		}
		return "sip:" + prefix + "-…@" + acc.Domain, false
	}
	return acc.AOR(), true
}

// presented is what one call shows of its caller.
type presented struct {
	from     sipmsg.Uri // the From URI
	asserted sipmsg.Uri // the P-Asserted-Identity URI; meaningful if assert
	named    bool       // whether the asserted identity carries the display name
	assert   bool
	private  bool
}

// present works out the identity of one call as acc under id. A generated
// identity is new on every call.
func present(id Identity, acc Account) (presented, error) {
	if err := id.Validate(); err != nil {
		return presented{}, err
	}
	p := presented{assert: id.Assert, private: id.Private, named: true}
	switch id.Mode {
	case IdentityImpersonate:
		u, _ := ParseURI(id.URI) // validated above
		p.from = u.sipURI()
		p.asserted = p.from
	case IdentityGenerated:
		prefix := id.Prefix
		if prefix == "" {
			prefix = DefaultGeneratedPrefix
		}
		p.from = sipmsg.Uri{Scheme: "sip", User: prefix + "-" + strings.ToLower(newToken()[:generatedRandom]), Host: acc.Domain}
		p.asserted = acc.aorURI() // the account's, not the leg's name
		p.named = false
	default:
		p.from = acc.aorURI()
		p.asserted = p.from
	}
	return p, nil
}

// headers returns the P-Asserted-Identity and Privacy headers the identity
// asks for, with display as the asserted identity's display name unless
// it is the account's behind a generated identity.
func (p presented) headers(display string) []sipmsg.Header {
	var hs []sipmsg.Header
	if p.assert {
		if !p.named {
			display = ""
		}
		hs = append(hs, sipmsg.NewHeader("P-Asserted-Identity", nameAddr(display, p.asserted)))
	}
	if p.private {
		hs = append(hs, sipmsg.NewHeader("Privacy", "id"))
	}
	return hs
}

// nameAddr renders `"display" <uri>` (RFC 3261 section 25.1), or `<uri>`
// without a display name.
func nameAddr(display string, u sipmsg.Uri) string {
	if q := quoteDisplayName(display); q != "" {
		return `"` + q + `" <` + u.String() + ">"
	}
	return "<" + u.String() + ">"
}

// A URI is a SIP or SIPS URI naming a user or a conference (RFC 3261
// section 19.1), as ParseURI reads it.
type URI struct {
	Scheme string // "sip" or "sips"
	User   string // the user part, as written (escapes kept)
	Host   string // a host name, an IPv4 address or an IPv6 address (without brackets)
	Port   uint16 // 0 when the URI names none
	Params string // the URI parameters after the host and port, without the leading ";", e.g. "transport=tcp;lr"
}

// String returns the URI in its text form, e.g. "sip:desk4@example.com:5061;transport=tls".
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteByte(':')
	if u.User != "" {
		b.WriteString(u.User)
		b.WriteByte('@')
	}
	b.WriteString(hostText(u.Host))
	if u.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(u.Port)))
	}
	if u.Params != "" {
		b.WriteByte(';')
		b.WriteString(u.Params)
	}
	return b.String()
}

// param returns the value of the URI parameter name (case-insensitive).
func (u URI) param(name string) (string, bool) {
	for p := range strings.SplitSeq(u.Params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// sipURI converts u for sipgo.
func (u URI) sipURI() sipmsg.Uri {
	s := sipmsg.Uri{Scheme: u.Scheme, User: u.User, Host: u.Host, Port: int(u.Port)} // sipgo brackets IPv6 hosts itself
	if u.Params != "" {
		s.UriParams = sipmsg.NewParams()
		for p := range strings.SplitSeq(u.Params, ";") {
			k, v, _ := strings.Cut(p, "=")
			s.UriParams.Add(k, v)
		}
	}
	return s
}

func hostText(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// ValidateURI checks that s is a SIP URI naming a user, as ParseURI does.
// The error says what is wrong, for a settings page to show.
func ValidateURI(s string) error {
	_, err := ParseURI(s)
	return err
}

// ParseURI reads a SIP or SIPS URI naming a user or a conference:
// "sip:user@host[:port][;params]" (RFC 3261 section 25.1), with no
// password and no headers part. It is stricter than the grammar where
// strictness avoids ambiguity: the user part may not contain ";", "?",
// "," or ":", and a name-addr ("Name <sip:...>") is not a URI.
func ParseURI(s string) (URI, error) {
	u, err := parseURI(s)
	if err != nil {
		return URI{}, fmt.Errorf("SIP URI %q: %w", clip(s), err)
	}
	return u, nil
}

func parseURI(s string) (URI, error) {
	var u URI
	if s == "" {
		return u, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' {
			return u, fmt.Errorf("%q is not allowed in a URI (write the URI alone, e.g. sip:user@example.com)", s[i])
		}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return u, errors.New("no scheme: want sip:user@host")
	}
	u.Scheme = strings.ToLower(scheme)
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return u, fmt.Errorf("scheme %q is not sip or sips", clip(scheme))
	}
	if strings.Contains(rest, "?") {
		return u, errors.New("a URI with headers (?...) cannot be used here")
	}
	user, hostpart, ok := strings.Cut(rest, "@")
	if !ok {
		return u, errors.New("no user part: want sip:user@host")
	}
	if err := validUser(user); err != nil {
		return u, err
	}
	u.User = user
	hostport, params, _ := strings.Cut(hostpart, ";")
	if err := u.setHostPort(hostport); err != nil {
		return u, err
	}
	if strings.Contains(hostpart, ";") {
		if err := validParams(params); err != nil {
			return u, err
		}
		u.Params = params
	}
	return u, nil
}

// validUser checks a user part: unreserved characters, escapes and the
// user-unreserved ones of RFC 3261 section 25.1 except ";", "?" and ","
// (which separates header values).
func validUser(user string) error {
	if user == "" {
		return errors.New("empty user part")
	}
	if strings.Contains(user, ":") {
		return errors.New("a password in the URI (user:password@) is not allowed")
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		switch {
		case isUnreserved(c) || strings.IndexByte("&=+$/", c) >= 0:
		case c == '%':
			if i+2 >= len(user) || !isHex(user[i+1]) || !isHex(user[i+2]) {
				return fmt.Errorf("user part %q has a bad %%-escape", clip(user))
			}
			i += 2
		default:
			return fmt.Errorf("user part %q has %q, which must be %%-escaped", clip(user), c)
		}
	}
	return nil
}

func (u *URI) setHostPort(hp string) error {
	host, portText := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return fmt.Errorf("host %q: unclosed [", clip(hp))
		}
		host, portText = hp[1:end], hp[end+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return fmt.Errorf("host [%s] is not an IPv6 address", clip(host))
		}
		if portText != "" && portText[0] != ':' {
			return fmt.Errorf("host %q: junk after ]", clip(hp))
		}
		portText = strings.TrimPrefix(portText, ":")
		if strings.HasPrefix(hp[end+1:], ":") && portText == "" {
			return errors.New("empty port")
		}
	} else if h, p, ok := strings.Cut(hp, ":"); ok {
		host, portText = h, p
		if portText == "" {
			return errors.New("empty port")
		}
		if !validHost(host) {
			return fmt.Errorf("host %q is not a host name or IP address", clip(host))
		}
	} else if !validHost(host) {
		return fmt.Errorf("host %q is not a host name or IP address", clip(host))
	}
	if portText != "" {
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("port %q is not a port number", clip(portText))
		}
		u.Port = uint16(port)
	}
	u.Host = strings.ToLower(host)
	return nil
}

// validHost checks a host name (RFC 1123 labels) or an IPv4 address.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Is4()
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	allDigits := true
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlnum(c) && c != '-' {
				return false
			}
			if c < '0' || c > '9' {
				allDigits = false
			}
		}
	}
	// Digits and dots only, but no valid IPv4 address: a typo, not a name.
	return !allDigits
}

// validParams checks URI parameters: ;name[=value] with the characters
// RFC 3261 section 25.1 allows (pname, pvalue), each name once (section
// 19.1.1).
func validParams(params string) error {
	seen := map[string]bool{}
	for p := range strings.SplitSeq(params, ";") {
		name, value, eq := strings.Cut(p, "=")
		if name == "" {
			return fmt.Errorf("parameter %q has no name", clip(p))
		}
		if seen[strings.ToLower(name)] {
			return fmt.Errorf("parameter %q appears twice", clip(name))
		}
		seen[strings.ToLower(name)] = true
		if eq && value == "" {
			return fmt.Errorf("parameter %q has = but no value", clip(p))
		}
		for _, part := range []string{name, value} {
			for i := 0; i < len(part); i++ {
				c := part[i]
				switch {
				case isUnreserved(c) || strings.IndexByte("[]/:&+$", c) >= 0:
				case c == '%' && i+2 < len(part) && isHex(part[i+1]) && isHex(part[i+2]):
					i += 2
				default:
					return fmt.Errorf("parameter %q has %q", clip(p), c)
				}
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isUnreserved reports the unreserved characters of RFC 3261 section
// 25.1: alphanumerics and the marks.
func isUnreserved(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-_.!~*'()", c) >= 0
}

// IsRosterConflict reports whether err is a join the conference refused
// with one of the answers servers give an identity already in their
// roster: 486 Busy Here, 403 Forbidden, 409 Conflict or 603 Decline. The
// *JoinError's Identity names the identity refused. 403 is also how some
// servers refuse wrong credentials: an account that registers fine and
// gets 403 on a join was refused for its identity.
func IsRosterConflict(err error) bool {
	var je *JoinError
	if !errors.As(err, &je) {
		return false
	}
	switch je.Status {
	case sipmsg.StatusBusyHere, sipmsg.StatusForbidden, statusConflict, sipmsg.StatusGlobalDecline:
		return true
	}
	return false
}

// statusConflict is 409 Conflict (RFC 3261 section 21.4.10 does not list
// it; RFC 4579 and conference servers use it), which sipgo has no name for.
const statusConflict = 409
