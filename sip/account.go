package sip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultExpires is the registration lifetime asked for when
// Account.Expires is 0.
const DefaultExpires = 3600 * time.Second

// DefaultKeepAlive is the interval of keep-alives when Account.KeepAlive
// is 0: short enough for the UDP bindings of most NATs (30 s and more).
const DefaultKeepAlive = 25 * time.Second

// The transports an Account can use.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls" // TCP with TLS, verifying the server's certificate
)

// An Account is a SIP identity with the credentials that prove it.
type Account struct {
	User     string // the user part of the address of record
	AuthUser string // the digest user name; "" means User
	Password string
	Domain   string        // the host part of the address of record, and the registrar
	Proxy    string        // outbound proxy "host:port" every request is sent through; "" sends to Domain
	Expires  time.Duration // registration lifetime asked for; 0 means DefaultExpires

	// Transport is TransportUDP (also ""), TransportTCP or TransportTLS,
	// for every request of the account: registration, keep-alives, calls.
	Transport string
	// CAFile names a PEM file of the certificate authorities that TLS
	// accepts the server's certificate from, instead of the system's.
	// Certificates are always verified, including the host name.
	CAFile string
	// SRTP is SRTPOff (also ""), SRTPOffered or SRTPRequired: whether the
	// account's calls offer SRTP keys (RFC 4568), and whether they must be
	// encrypted. Keys travel in the SDP: use it with TLS.
	SRTP string
	// Codecs are the voice codecs the account's calls offer, in this order, and accept:
	// some of "G722", "PCMU" and "PCMA" (any case); none means all three, G.722 first.
	Codecs []string
	// DTMF is DTMFAuto (also ""), DTMFRFC4733 or DTMFInfo: with DTMFInfo the account's
	// calls offer no telephone-event, so that digits go by SIP INFO (Call.SendInfoDTMF).
	// The caller that sends digits follows the rest of the mode.
	DTMF string
	// KeepAlive is the interval of the OPTIONS keep-alives sent to the
	// registrar while registered; 0 means DefaultKeepAlive, negative
	// sends none. A keep-alive without answer fails the registration,
	// which then registers again.
	KeepAlive time.Duration
}

// The DTMF modes of an Account.
const (
	DTMFAuto    = "auto"    // RFC 4733 events where the call negotiated them, else SIP INFO
	DTMFRFC4733 = "rfc4733" // RFC 4733 events only
	DTMFInfo    = "info"    // SIP INFO only: no telephone-event offered
)

// mediaPrefs returns what the account's calls offer and accept.
func (a Account) mediaPrefs() mediaPrefs {
	p := mediaPrefs{noEvents: strings.EqualFold(a.DTMF, DTMFInfo)}
	for _, c := range a.Codecs {
		p.codecs = append(p.codecs, strings.ToUpper(c))
	}
	return p
}

// AOR returns the account's address of record, "sip:user@domain".
func (a Account) AOR() string { return "sip:" + a.User + "@" + a.Domain }

// LogValue keeps the password out of logs.
func (a Account) LogValue() slog.Value { return slog.StringValue(a.AOR()) }

// transport returns the account's transport in lower case, "udp" for "".
func (a Account) transport() string {
	if a.Transport == "" {
		return TransportUDP
	}
	return strings.ToLower(a.Transport)
}

// stream reports whether the account uses a connection (TCP or TLS).
func (a Account) stream() bool { return a.transport() != TransportUDP }

// keepAlive returns the keep-alive interval, 0 for none.
func (a Account) keepAlive() time.Duration {
	switch {
	case a.KeepAlive < 0:
		return 0
	case a.KeepAlive == 0:
		return DefaultKeepAlive
	}
	return a.KeepAlive
}

func (a Account) authUser() string {
	if a.AuthUser != "" {
		return a.AuthUser
	}
	return a.User
}

// expires returns the registration lifetime to ask for, in whole seconds
// (the unit of the Expires header) and at least one.
func (a Account) expires() time.Duration {
	if a.Expires <= 0 {
		return DefaultExpires
	}
	return max(a.Expires.Round(time.Second), time.Second)
}

// validate checks what building requests for the account needs.
func (a Account) validate() error {
	switch {
	case a.User == "":
		return errors.New("account has no user")
	case a.Domain == "":
		return errors.New("account has no domain")
	case strings.ContainsAny(a.User, "@:;<>\" \t\r\n"):
		return fmt.Errorf("account user %q is not a plain SIP user name", a.User)
	case strings.ContainsAny(a.Domain, "@:;<>\" \t\r\n"):
		return fmt.Errorf("account domain %q is not a host name", a.Domain)
	}
	switch a.transport() {
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		return fmt.Errorf("account transport %q is not udp, tcp or tls", clip(a.Transport))
	}
	if _, err := a.route(); err != nil {
		return err
	}
	return nil
}

// aorURI returns the address of record as a URI.
func (a Account) aorURI() sipmsg.Uri {
	return sipmsg.Uri{Scheme: "sip", User: a.User, Host: a.Domain}
}

// route returns the Route header that sends out-of-dialog requests through
// the outbound proxy (a pre-existing route set, RFC 3261 section 8.1.2), or
// nil when the account has no proxy. A Route header rather than a fixed
// destination, because sipgo builds CANCEL and the ACK for non-2xx answers
// from the INVITE's headers and would otherwise send them to the
// request-URI's host. On TCP and TLS it names the transport, which is how
// sipgo picks it for a CANCEL.
func (a Account) route() (*sipmsg.RouteHeader, error) {
	if a.Proxy == "" {
		return nil, nil
	}
	hostport := strings.TrimPrefix(a.Proxy, "sip:")
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: the default one.
		host, portText = hostport, "5060"
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || host == "" || strings.ContainsAny(host, "@;<>\" \t\r\n") {
		return nil, fmt.Errorf("outbound proxy %q is not host:port", a.Proxy)
	}
	params := sipmsg.HeaderParams{{K: "lr", V: ""}}
	if a.stream() {
		params = sipmsg.HeaderParams{{K: "transport", V: a.transport()}, {K: "lr", V: ""}}
	}
	return &sipmsg.RouteHeader{Address: sipmsg.Uri{
		Scheme:    "sip",
		Host:      host,
		Port:      int(port),
		UriParams: params,
	}}, nil
}

// requestURI returns u as the request-URI of an out-of-dialog request of
// the account: on TCP and TLS without outbound proxy it carries the
// transport (RFC 3263 section 4.1), which is how sipgo picks it for a
// CANCEL.
func (a Account) requestURI(u sipmsg.Uri) sipmsg.Uri {
	u = *u.Clone()
	if a.stream() && a.Proxy == "" && !u.UriParams.Has("transport") {
		u.UriParams.Add("transport", a.transport())
	}
	return u
}

// sipTransport is the transport as sipgo names it.
func (a Account) sipTransport() string { return strings.ToUpper(a.transport()) }

// RegState is where a registration stands.
type RegState int

// The registration states, in the order a registration usually goes
// through them.
const (
	Unregistered RegState = iota // no binding, or unregistered on the way out
	Registering                  // the first REGISTER is on its way
	Registered                   // the registrar holds a binding until Registration.Expires
	Failed                       // the last attempt failed; the next one follows after a backoff
)

// String returns the state's name in lower case, as the admin page shows it.
func (s RegState) String() string {
	switch s {
	case Unregistered:
		return "unregistered"
	case Registering:
		return "registering"
	case Registered:
		return "registered"
	case Failed:
		return "failed"
	}
	return "RegState(" + strconv.Itoa(int(s)) + ")"
}

// A Registration is the state of one account's registration.
type Registration struct {
	State   RegState
	Detail  string    // why it failed, e.g. "403 Forbidden" or "no answer from 192.0.2.1:5060"
	Expires time.Time // when the binding runs out; zero unless Registered
	// NextAttempt is when the next REGISTER goes out: the retry after a
	// failure, the refresh while registered; zero otherwise.
	NextAttempt time.Time
	// Unreachable is set with Failed when the last failure says that the registrar could
	// not be reached (see IsUnreachable): no answer, 408 or a 5xx, a network that refused
	// the request. It is not set for a registrar that refused, e.g. 401 or 403 after
	// authentication.
	Unreachable bool
}
