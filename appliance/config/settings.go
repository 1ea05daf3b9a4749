package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// Settings is everything the user configures.
type Settings struct {
	SIP         SIPSettings  `json:"sip"`
	Accounts    []Account    `json:"accounts"`
	Handsets    []Handset    `json:"handsets"`
	Conferences []Conference `json:"conferences"`
}

// SIPSettings configures the SIP listener.
type SIPSettings struct {
	// ListenAddr is the UDP host:port to listen on, DefaultListenAddr by
	// default; port 0 picks a free port.
	ListenAddr string `json:"listen_addr"`
}

// An Account is a SIP account the handsets call from.
type Account struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	AuthUser string `json:"auth_user"` // "" = User
	Password string `json:"password"`
	Domain   string `json:"domain"` // host of the address of record
	Proxy    string `json:"proxy"`  // outbound proxy "host:port", "" = Domain
	// ExpiresSeconds is the registration lifetime; 0 means DefaultExpiresSeconds.
	ExpiresSeconds int `json:"expires_seconds"`
}

// LogValue implements slog.LogValuer; it leaves the password out.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("user", a.User),
		slog.String("auth_user", a.AuthUser),
		slog.String("domain", a.Domain),
		slog.String("proxy", a.Proxy),
		slog.Int("expires_seconds", a.ExpiresSeconds),
	)
}

// A Handset is one telephone handset on the board.
type Handset struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Channel     int    `json:"channel"`      // audio channel and switch index, 0..15
	Account     string `json:"account"`      // Account.ID, "" = none
	DisplayName string `json:"display_name"` // shown to the other participants
	Conference  string `json:"conference"`   // Conference.ID, "" = none
}

// A Conference is a conference bridge the handsets join.
type Conference struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URI  string `json:"uri"` // sip: or sips: URI, "" = not set up yet
	PIN  string `json:"pin"` // digits, * and #
}

// A FieldError says which setting is invalid and why.
type FieldError struct {
	Field string // e.g. "handsets[1].channel"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

const (
	maxChannel = 15
	maxExpires = 86400
)

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate reports the first invalid setting as a *FieldError, or nil.
func (s Settings) Validate() error {
	if err := checkHostPort("sip.listen_addr", s.SIP.ListenAddr, true); err != nil {
		return err
	}
	accounts := map[string]bool{}
	for i, a := range s.Accounts {
		f := fmt.Sprintf("accounts[%d].", i)
		if err := checkID(f+"id", a.ID, accounts); err != nil {
			return err
		}
		if a.User == "" {
			return fieldErr(f+"user", "must not be empty")
		}
		if !isSIPUser(a.User) {
			return fieldErr(f+"user", "%q has characters not allowed in a SIP user", a.User)
		}
		if a.AuthUser != "" && !isSIPUser(a.AuthUser) {
			return fieldErr(f+"auth_user", "%q has characters not allowed in a SIP user", a.AuthUser)
		}
		if !isHost(a.Domain) {
			return fieldErr(f+"domain", "%q is not a host name or IP address", a.Domain)
		}
		if a.Proxy != "" {
			if err := checkHostPort(f+"proxy", a.Proxy, false); err != nil {
				return err
			}
		}
		if a.ExpiresSeconds < 0 || a.ExpiresSeconds > maxExpires {
			return fieldErr(f+"expires_seconds", "%d is not 0 (default) or 1..%d", a.ExpiresSeconds, maxExpires)
		}
	}
	conferences := map[string]bool{}
	for i, c := range s.Conferences {
		f := fmt.Sprintf("conferences[%d].", i)
		if err := checkID(f+"id", c.ID, conferences); err != nil {
			return err
		}
		if hasControl(c.Name) {
			return fieldErr(f+"name", "must not contain control characters")
		}
		if c.URI != "" && !isSIPURI(c.URI) {
			return fieldErr(f+"uri", "%q is not a sip: or sips: URI of the form user@host[:port]", c.URI)
		}
		if strings.Trim(c.PIN, "0123456789*#") != "" {
			return fieldErr(f+"pin", "may contain only digits, * and #")
		}
	}
	handsets := map[string]bool{}
	channels := map[int]bool{}
	for i, h := range s.Handsets {
		f := fmt.Sprintf("handsets[%d].", i)
		if err := checkID(f+"id", h.ID, handsets); err != nil {
			return err
		}
		if strings.TrimSpace(h.Name) == "" {
			return fieldErr(f+"name", "must not be empty")
		}
		if hasControl(h.Name) {
			return fieldErr(f+"name", "must not contain control characters")
		}
		if h.Channel < 0 || h.Channel > maxChannel {
			return fieldErr(f+"channel", "%d is not in 0..%d", h.Channel, maxChannel)
		}
		if channels[h.Channel] {
			return fieldErr(f+"channel", "%d is used by another handset", h.Channel)
		}
		channels[h.Channel] = true
		if h.Account != "" && !accounts[h.Account] {
			return fieldErr(f+"account", "no account %q", h.Account)
		}
		if h.Conference != "" && !conferences[h.Conference] {
			return fieldErr(f+"conference", "no conference %q", h.Conference)
		}
		// Quotes and backslashes are fine: the SIP layer escapes them.
		if hasControl(h.DisplayName) {
			return fieldErr(f+"display_name", "must not contain control characters")
		}
	}
	return nil
}

// checkID checks that id is a non-empty, unused [a-z0-9_-] string and
// records it in seen.
func checkID(field, id string, seen map[string]bool) error {
	if id == "" {
		return fieldErr(field, "must not be empty")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fieldErr(field, "%q may contain only a-z, 0-9, - and _", id)
		}
	}
	if seen[id] {
		return fieldErr(field, "%q is used twice", id)
	}
	seen[id] = true
	return nil
}

// checkHostPort checks a "host:port" address. A listen address may have
// an empty host and port 0.
func checkHostPort(field, addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(field, "%q is not host:port", addr)
	}
	if !(listen && host == "") && !isHost(host) {
		return fieldErr(field, "%q is not a host name or IP address", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fieldErr(field, "%q is not a valid port", port)
	}
	return nil
}

// isHost reports whether s is an IP address or a DNS host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// isSIPUser reports whether s uses only the characters RFC 3261 allows
// unescaped in the user part (unreserved and user-unreserved).
// https://datatracker.ietf.org/doc/html/rfc3261#section-25.1
func isSIPUser(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_.!~*'()&=+$,;?/", r)) {
			return false
		}
	}
	return true
}

// isSIPURI reports whether s is sip:user@host[:port] or sips:...
func isSIPURI(s string) bool {
	rest, ok := strings.CutPrefix(s, "sip:")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "sips:"); !ok {
			return false
		}
	}
	user, hostport, ok := strings.Cut(rest, "@")
	if !ok || !isSIPUser(user) {
		return false
	}
	if isHost(hostport) {
		return true
	}
	return checkHostPort("", hostport, false) == nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
