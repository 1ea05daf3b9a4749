// Package sip connects the appliance to SIP servers: it keeps accounts
// registered, joins conferences with a call per handset under the
// handset's own identity, takes incoming calls (Config.OnIncoming),
// follows conference rosters (Subscribe), and answers what servers send
// in between.
//
// It is the only package that uses sipgo (whose own sip package it imports
// as sipmsg). It knows nothing of audio or hardware: a Call reports the
// Media that the offer/answer exchange settled, and the appliance binds
// that to a media session.
//
// One Agent owns one UDP socket, used for every UDP request it sends and
// every UDP request it receives, so that registrars and proxies always see
// the one address that the Contact headers advertise. Accounts on TCP or
// TLS use a connection per server instead, which the agent opens and which
// carries the server's requests to us too (RFC 5626 style). For calls that
// come in over TCP or TLS, the agent listens on TCP on the UDP socket's
// port, and on TLS when Config.TLS gives it a certificate, within limits
// (see DefaultMaxConnections): the caller's requests and ours in the call
// go over the connection its INVITE came on.
package sip

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultListenAddr is where an Agent listens when Config.ListenAddr is "".
const DefaultListenAddr = "0.0.0.0:5060"

// udpReadBuffer is the receive buffer asked for the UDP socket.
const udpReadBuffer = 1 << 20

// readyTimeout bounds how long Run waits for sipgo to take over the socket.
const readyTimeout = 2 * time.Second

// Config configures NewAgent.
type Config struct {
	ListenAddr string       // UDP host:port to listen on, e.g. "0.0.0.0:5060"; port 0 picks a free port
	UserAgent  string       // the User-Agent header of our requests
	Log        *slog.Logger // nil discards
	// OnIncoming is given every new call that arrives with an SDP offer
	// (over UDP, TCP or TLS), on a goroutine of the agent's, which it may
	// answer on or hand on (see Incoming). Nil declines every incoming
	// call with 480.
	OnIncoming func(*Incoming)
	// Resolver looks up the host names of registrars, proxies, conferences
	// and dialogs' hosts; nil means net.DefaultResolver. Tests give one
	// that asks a DNS server of their own.
	Resolver *net.Resolver

	// TLS, if not nil, is the server side of SIP over TLS (its
	// Certificates): the agent then listens for TLS on TLSListenAddr too.
	TLS *tls.Config
	// TLSListenAddr is the TCP host:port of the TLS listener; "" means the
	// host of ListenAddr with port DefaultTLSPort, or a free port when
	// ListenAddr's port is 0.
	TLSListenAddr string
	// MaxConnections and MaxConnectionsPerHost bound the connections the
	// TCP and TLS listeners hold; 0 means DefaultMaxConnections and
	// DefaultMaxConnectionsPerHost.
	MaxConnections, MaxConnectionsPerHost int
	// Tap, when set, sees every datagram of the UDP socket (see Tap).
	Tap Tap
}

// DefaultTLSPort is the port of the TLS listener when
// Config.TLSListenAddr is "" (RFC 3261 section 19.1.2's for sips:).
const DefaultTLSPort = 5061

// bindAttempts bounds how often NewAgent binds a free UDP port again when
// its number is taken for TCP.
const bindAttempts = 5

// errStopped is returned to callers waiting for, or using, an Agent whose
// Run has returned.
var errStopped = errors.New("the SIP agent is not running")

// An Agent is a SIP user agent on one UDP socket. NewAgent binds the socket;
// Run serves it. Join and KeepRegistered work while Run runs.
type Agent struct {
	log       *slog.Logger
	sipgoLog  *slog.Logger // for sipgo, which logs unparsable messages in full
	userAgent string
	resolver  *net.Resolver
	conn      *net.UDPConn
	addr      netip.AddrPort
	// tcp and tls are the listeners for calls over TCP and TLS; either may
	// be nil (no certificate, or its port was taken).
	tcp, tls *streamListener
	limits   *connLimits
	// streamRefused counts connections refused at a limit or failed
	// before their first message.
	streamRefused *floodLog
	ua            *sipgo.UserAgent
	srv           *sipgo.Server
	incoming      func(*Incoming)
	tap           Tap // nil: none
	// malformed counts, and limits the logging of, messages that do not
	// parse or lack what every request needs; refused, requests in a call
	// from a host not of its dialog.
	malformed, refused *floodLog
	// reads counts the datagrams the socket's read loop took (see Beats).
	reads atomic.Uint64

	started atomic.Bool
	ready   chan struct{} // closed once sipgo sends from the socket
	stopped chan struct{} // closed when Run returns

	mu      sync.Mutex // guards following
	clients map[clientKey]*sipgo.Client
	calls   map[dialogKey]*Call
	subs    map[subscriptionKey]*subscription
	roots   map[string]*x509.CertPool // TLS server name -> the CAs of the accounts using it; nil: the system's
	caFiles map[[2]string]bool        // {server name, CA file} pairs recorded in roots
}

// clientKey names a sipgo client: one per transport and advertised host.
type clientKey struct {
	transport string
	host      netip.Addr
}

// NewAgent binds the UDP socket (IPv4) of cfg.ListenAddr, so that Addr is
// known at once. It starts nothing: Run serves the socket.
func NewAgent(cfg Config) (*Agent, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = DefaultListenAddr
	}
	laddr, err := net.ResolveUDPAddr("udp4", listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: %w", listen, err)
	}
	conn, tcp, err := bindUDPAndTCP(laddr, log)
	if err != nil {
		return nil, err
	}
	// Room for bursts: every leg's answers at once, a registrar's to
	// every account. The kernel caps it (net.core.rmem_max).
	if err := conn.SetReadBuffer(udpReadBuffer); err != nil {
		log.Warn("sip socket read buffer", "err", err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	resolver := cfg.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	a := &Agent{
		log:       log,
		userAgent: cfg.UserAgent,
		resolver:  resolver,
		incoming:  cfg.OnIncoming,
		tap:       cfg.Tap,
		conn:      conn,
		addr:      netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port()),
		ready:     make(chan struct{}),
		stopped:   make(chan struct{}),
		clients:   make(map[clientKey]*sipgo.Client),
		calls:     make(map[dialogKey]*Call),
		subs:      make(map[subscriptionKey]*subscription),
		roots:     make(map[string]*x509.CertPool),
		caFiles:   make(map[[2]string]bool),
		malformed: newFloodLog("SIP messages that do not parse or lack what every request needs"),
		refused:   newFloodLog("requests in calls from hosts not of their dialogs"),
		limits: newConnLimits(cmp.Or(cfg.MaxConnections, DefaultMaxConnections),
			cmp.Or(cfg.MaxConnectionsPerHost, DefaultMaxConnectionsPerHost)),
		streamRefused: newFloodLog("TCP and TLS connections refused or failed"),
	}
	if tcp != nil {
		a.tcp = newStreamListener(tcp, nil, a.limits, a.streamRefused, log)
	}
	if cfg.TLS != nil {
		if l, err := listenTLS(cfg, laddr); err != nil {
			log.Error("no SIP over TLS", "err", err)
		} else {
			a.tls = newStreamListener(l, cfg.TLS, a.limits, a.streamRefused, log)
		}
	}
	quietSipgoDefault()
	sipgoLog := slog.New(sipgoHandler{next: log.Handler(), malformed: a.malformed}).With("sipgo", true)
	a.sipgoLog = sipgoLog
	a.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(uaName(cfg.UserAgent)),
		sipgo.WithUserAgenTLSConfig(a.tlsConfig()),
		sipgo.WithUserAgentDNSResolver(resolver),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(sipgoLog),
			sipmsg.WithTransportLayerReadFilter(a.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(sipgoLog),
			// 2xx retransmissions after the INVITE transaction ended, and
			// strays.
			sipmsg.WithTransactionLayerUnhandledResponseHandler(a.strayResponse),
		),
	)
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	a.srv, err = sipgo.NewServer(a.ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	// All handlers before serving: sipgo keeps them in a plain map.
	a.srv.OnInvite(a.onInvite)
	a.srv.OnAck(a.onAck)
	a.srv.OnBye(a.onBye)
	a.srv.OnCancel(a.onCancel)
	a.srv.OnOptions(a.onOptions)
	a.srv.OnInfo(a.onInfo)
	a.srv.OnNotify(a.onNotify)
	a.srv.OnNoRoute(a.onOther)
	return a, nil
}

func uaName(s string) string {
	if s == "" {
		return "partyline"
	}
	return s
}

// Addr returns the address the socket is bound to.
func (a *Agent) Addr() netip.AddrPort { return a.addr }

// TCPAddr returns the address the TCP listener is bound to (the UDP
// socket's), the zero AddrPort if there is none.
func (a *Agent) TCPAddr() netip.AddrPort { return listenerAddr(a.tcp) }

// TLSAddr returns the address the TLS listener is bound to, the zero
// AddrPort if there is none.
func (a *Agent) TLSAddr() netip.AddrPort { return listenerAddr(a.tls) }

// StreamConnections returns how many TCP and TLS connections the listeners
// hold now, handshakes under way included.
func (a *Agent) StreamConnections() int { return a.limits.open() }

// RefusedConnections returns how many TCP and TLS connections the
// listeners refused at a limit, or closed because their TLS handshake
// failed, since the agent started. Only a few a minute are logged.
func (a *Agent) RefusedConnections() uint64 { return a.streamRefused.total.Load() }

func listenerAddr(l *streamListener) netip.AddrPort {
	if l == nil {
		return netip.AddrPort{}
	}
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// bindUDPAndTCP binds the UDP socket at laddr and a TCP listener on the
// same address and port. When laddr's port is 0 it picks a port free for
// both; a fixed port taken for TCP leaves the agent without TCP (nil),
// which it logs.
func bindUDPAndTCP(laddr *net.UDPAddr, log *slog.Logger) (*net.UDPConn, net.Listener, error) {
	for attempt := 1; ; attempt++ {
		// udp4: sipgo pools the socket under LocalAddr().String(), and only an
		// IPv4 socket bound to 0.0.0.0 reports "0.0.0.0:port" there, the key
		// our clients name (research/sip.md section 5.1).
		conn, err := net.ListenUDP("udp4", laddr)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen on udp %s: %w", laddr, err)
		}
		port := conn.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: laddr.IP, Port: port})
		if err == nil {
			return conn, tcp, nil
		}
		if laddr.Port != 0 || attempt == bindAttempts {
			log.Error("no SIP over TCP", "err", err)
			return conn, nil, nil
		}
		conn.Close()
	}
}

// listenTLS binds the TLS listener's TCP socket: at cfg.TLSListenAddr, or
// on laddr's host at DefaultTLSPort, or at a free port if laddr's port is
// 0.
func listenTLS(cfg Config, laddr *net.UDPAddr) (net.Listener, error) {
	addr := cfg.TLSListenAddr
	if addr == "" {
		port := DefaultTLSPort
		if laddr.Port == 0 {
			port = 0
		}
		addr = net.JoinHostPort(laddr.IP.String(), strconv.Itoa(port))
		if laddr.IP == nil {
			addr = net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
		}
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen on tls %s: %w", addr, err)
	}
	return l, nil
}

// closeListeners closes the socket and the listeners, for a NewAgent
// that fails.
func (a *Agent) closeListeners() {
	a.conn.Close()
	for _, l := range []*streamListener{a.tcp, a.tls} {
		if l != nil {
			l.Close()
		}
	}
}

// MalformedMessages returns how many messages the agent dropped, or
// answered 400, since it started because they do not parse or lack what
// every request needs (RFC 3261 section 8.1.1). Only a few a minute are
// logged.
func (a *Agent) MalformedMessages() uint64 { return a.malformed.total.Load() }

// Run serves SIP on the socket until ctx is done, then ends the calls still
// up (without BYE: hang up before) and closes the socket. It returns nil
// when ctx ended it. An Agent runs once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("sip: agent already ran")
	}
	defer close(a.stopped)
	defer a.ua.Close()

	served := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { served <- a.srv.ServeUDP(a.served()) })
	streams := make(chan error, 2)
	if a.tcp != nil {
		a.tcp.start()
		wg.Go(func() { streams <- a.srv.ServeTCP(a.tcp) })
	}
	if a.tls != nil {
		a.tls.start()
		wg.Go(func() { streams <- a.srv.ServeTLS(a.tls) })
	}
	logCtx, stopLogs := context.WithCancel(ctx)
	wg.Go(func() { a.malformed.run(logCtx, a.log) })
	wg.Go(func() { a.refused.run(logCtx, a.log) })
	wg.Go(func() { a.streamRefused.run(logCtx, a.log) })
	err := a.awaitListener(ctx, served)
	if err == nil && ctx.Err() == nil {
		close(a.ready)
		a.log.Info("sip listening", "addr", a.addr, "tcp", a.TCPAddr(), "tls", a.TLSAddr())
		select {
		case <-ctx.Done():
		case serr := <-served:
			err = fmt.Errorf("sip: serve udp %s: stopped unexpectedly (%v)", a.addr, serr)
		case serr := <-streams:
			err = fmt.Errorf("sip: serve tcp or tls: stopped unexpectedly (%v)", serr)
		}
	}
	a.closeListeners() // ends the Serves
	stopLogs()
	wg.Wait()
	a.endCalls(errStopped)
	return err
}

// awaitListener waits until sipgo has pooled the socket as the connection
// our clients send from. Until then a request would make sipgo bind a
// second socket to the same address and fail (sipgo issue #367: its ready
// signal comes before the pool entry).
func (a *Agent) awaitListener(ctx context.Context, served <-chan error) error {
	key := a.conn.LocalAddr().String()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(readyTimeout)
	for {
		if c, err := a.ua.TransportLayer().GetConnection("udp", key); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			return fmt.Errorf("sip: serve udp %s: %v", a.addr, err)
		case <-deadline:
			return fmt.Errorf("sip: serve udp %s: socket not in use after %v", a.addr, readyTimeout)
		case <-tick.C:
		}
	}
}

// waitReady blocks until Run serves the socket.
func (a *Agent) waitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		select {
		case <-a.stopped:
			return errStopped
		default:
			return nil
		}
	case <-a.stopped:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// client returns the sipgo client for transport ("udp", "tcp" or "tls")
// that advertises host in Via.
//
// A UDP client sends from the agent's socket: WithClientConnectionAddr
// names the pool key of the socket exactly, and Via asks for rport (RFC
// 3581). A TCP or TLS client must not name a local address: sipgo would
// then send requests for one server over another's connection
// (research/sip.md section 5.1). Its Via names no port, so sipgo writes
// the connection's.
func (a *Agent) client(transport string, host netip.Addr) (*sipgo.Client, error) {
	key := clientKey{transport: transport, host: host}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c, nil
	}
	opts := []sipgo.ClientOption{
		sipgo.WithClientHostname(host.String()),
		sipgo.WithClientLogger(a.sipgoLog),
	}
	if transport == TransportUDP {
		opts = append(opts,
			sipgo.WithClientPort(int(a.addr.Port())),
			sipgo.WithClientConnectionAddr(a.conn.LocalAddr().String()),
			sipgo.WithClientNAT(),
		)
	}
	c, err := sipgo.NewClient(a.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("sip %s client for %v: %w", transport, host, err)
	}
	a.clients[key] = c
	return c, nil
}

// tlsConfig is the configuration of every TLS connection the agent opens.
// sipgo takes one for the whole user agent, while accounts may each name
// their own CA file: so the standard verification is replaced by
// verifyServer, which picks the CAs by server name and verifies chain and
// name just as the standard one does. InsecureSkipVerify only turns off
// the built-in check that verifyServer stands in for.
func (a *Agent) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection:   a.verifyServer,
	}
}

// verifyServer verifies a TLS server's certificate chain against the CAs
// trusted for its name (the system's unless an account named a CA file)
// and the certificate against the name. For a server given by IP address
// TLS carries no name (no SNI): the certificate must then be valid, with
// its CAs, for one of the IP addresses of the TLS servers the agent's
// accounts use.
func (a *Agent) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("TLS server %s sent no certificate", cs.ServerName)
	}
	type candidate struct {
		name  string
		roots *x509.CertPool
	}
	var names []candidate
	a.mu.Lock()
	if cs.ServerName != "" {
		names = append(names, candidate{cs.ServerName, a.roots[strings.ToLower(cs.ServerName)]})
	} else {
		for host, pool := range a.roots {
			if _, err := netip.ParseAddr(host); err == nil {
				names = append(names, candidate{host, pool})
			}
		}
	}
	a.mu.Unlock()
	if len(names) == 0 {
		return errors.New("TLS server without a name, and no account uses one by IP address")
	}
	var first error
	for _, c := range names {
		opts := x509.VerifyOptions{DNSName: c.name, Roots: c.roots, Intermediates: x509.NewCertPool()}
		for _, cert := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(cert)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("TLS server %s: %w", c.name, err)
		}
	}
	return first
}

// trustServer records server as a TLS server of an account, whose
// certificate comes from the system's CAs, or from those in the PEM file
// caFile if not "" (in addition to those of other accounts' files for the
// same server).
func (a *Agent) trustServer(server, caFile string) error {
	server = strings.ToLower(server)
	key := [2]string{server, caFile}
	a.mu.Lock()
	done := a.caFiles[key]
	a.mu.Unlock()
	if done {
		return nil
	}
	var pem []byte
	if caFile != "" {
		var err error
		if pem, err = os.ReadFile(caFile); err != nil {
			return fmt.Errorf("read CA file: %w", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pool, known := a.roots[server]
	if caFile != "" {
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
	} else if known && pool != nil {
		// Another account trusts only its CA file for this server, this
		// one the system's; the CA file's pool stays.
		a.caFiles[key] = true
		return nil
	}
	a.roots[server] = pool // nil: the system's
	a.caFiles[key] = true
	return nil
}

// prepare returns the client and the advertised host for requests of acc
// to hop (host:port), after trusting the account's CA file for TLS.
func (a *Agent) prepare(ctx context.Context, acc Account, hop string) (*sipgo.Client, netip.Addr, error) {
	if acc.transport() == TransportTLS {
		host, _, _ := net.SplitHostPort(hop)
		if err := a.trustServer(host, acc.CAFile); err != nil {
			return nil, netip.Addr{}, err
		}
	}
	host, err := a.localIP(ctx, hop)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	c, err := a.client(acc.transport(), host)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	return c, host, nil
}

// localIP returns the address to advertise (Via, Contact, SDP) to a peer
// at hostport: the socket's own address, or when it is bound to 0.0.0.0,
// the address the kernel would send from to that peer. Finding that out
// looks up the peer's name and connects a UDP socket, which sends nothing.
func (a *Agent) localIP(ctx context.Context, hostport string) (netip.Addr, error) {
	if ip := a.addr.Addr(); !ip.IsUnspecified() {
		return ip, nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find local address towards %s: %w", hostport, err)
	}
	addrs, err := a.lookupHost(ctx, host)
	if err != nil {
		return netip.Addr{}, err
	}
	var peer netip.Addr
	for _, addr := range addrs {
		if addr.Is4() {
			peer = addr
			break
		}
	}
	if !peer.IsValid() {
		return netip.Addr{}, fmt.Errorf("find local address towards %s: %s has no IPv4 address", hostport, host)
	}
	c, err := net.Dial("udp4", net.JoinHostPort(peer.String(), port))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find local address towards %s: %w", hostport, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// nextHop returns host:port of where an out-of-dialog request to target
// goes first: the route's host, or the target's, with the default port of
// the transport (RFC 3261 section 19.1.2) if it names none.
func nextHop(route *sipmsg.RouteHeader, target sipmsg.Uri, transport string) string {
	u := target
	if route != nil {
		u = route.Address
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if transport == TransportTLS {
			port = 5061
		}
	}
	return net.JoinHostPort(strings.Trim(u.Host, "[]"), fmt.Sprint(port))
}

// contact returns a fresh Contact header for user at host. Every call and
// registration gets its own: sipgo's DialogUA otherwise shares and mutates
// one (research/sip.md section 5.2). On UDP it names our socket; on TCP
// and TLS it names the transport and port 0, for the caller to fill in the
// connection's port.
func (a *Agent) contact(user string, host netip.Addr, transport string) *sipmsg.ContactHeader {
	c := &sipmsg.ContactHeader{Address: sipmsg.Uri{
		Scheme: "sip",
		User:   user,
		Host:   host.String(),
		Port:   int(a.addr.Port()),
	}}
	if transport != TransportUDP {
		c.Address.Port = 0
		c.Address.UriParams = sipmsg.HeaderParams{{K: "transport", V: transport}}
	}
	return c
}

// streamPort returns the local port of the TCP or TLS connection that req
// goes out on, connecting first if there is none: the port our Contact
// names, since the agent has no TCP listener. It adds a Via to req (sipgo
// needs one to pick a connection), which req then keeps.
func (a *Agent) streamPort(ctx context.Context, client *sipgo.Client, req *sipmsg.Request) (int, error) {
	if err := sipgo.ClientRequestAddVia(client, req); err != nil {
		return 0, err
	}
	conn, err := a.ua.TransportLayer().ClientRequestConnection(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", req.Destination(), err)
	}
	defer func() { _, _ = conn.TryClose() }() // the reference ClientRequestConnection took
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return 0, fmt.Errorf("local address of the connection to %s: %w", req.Destination(), err)
	}
	return int(ap.Port()), nil
}

// dialogKey identifies a dialog (RFC 3261 section 12): the Call-ID and the
// two tags, seen from our side.
type dialogKey struct {
	callID, localTag, remoteTag string
}

func (a *Agent) addCall(c *Call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[c.key] = c
}

func (a *Agent) removeCall(c *Call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls[c.key] == c {
		delete(a.calls, c.key)
	}
}

// findCall returns the call an incoming in-dialog request belongs to.
func (a *Agent) findCall(req *sipmsg.Request) (*Call, bool) {
	key, ok := requestDialog(req)
	if !ok {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.calls[key]
	return c, ok
}

// strayResponse takes a response that matches no transaction: a 2xx
// resent because our ACK to a re-INVITE was lost is acknowledged again
// (RFC 3261 section 13.2.2.4); the rest is only noted.
func (a *Agent) strayResponse(res *sipmsg.Response) {
	if cseq := res.CSeq(); res.IsSuccess() && cseq != nil && cseq.MethodName == sipmsg.INVITE {
		if key, ok := responseDialog(res); ok {
			a.mu.Lock()
			c := a.calls[key]
			a.mu.Unlock()
			if c != nil && c.reack(cseq.SeqNo) {
				return
			}
		}
	}
	a.log.Debug("unmatched response", "response", res.StartLine(), "call", callID(res))
}

// responseDialog returns the dialog of a response to a request of ours:
// its From tag is ours, its To tag the far end's.
func responseDialog(res *sipmsg.Response) (dialogKey, bool) {
	from, to, id := res.From(), res.To(), res.CallID()
	if from == nil || to == nil || id == nil {
		return dialogKey{}, false
	}
	local, remote := tag(from.Params), tag(to.Params)
	if local == "" || remote == "" {
		return dialogKey{}, false
	}
	return dialogKey{callID: id.Value(), localTag: local, remoteTag: remote}, true
}

// endCalls ends every call without signalling; Run is going away.
func (a *Agent) endCalls(err error) {
	a.mu.Lock()
	calls := make([]*Call, 0, len(a.calls))
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.mu.Unlock()
	for _, c := range calls {
		c.end(err)
	}
}

// requestDialog returns the dialog of a request that the far end sent in
// a dialog we started: its From tag is theirs, its To tag ours.
func requestDialog(req *sipmsg.Request) (dialogKey, bool) {
	from, to, id := req.From(), req.To(), req.CallID()
	if from == nil || to == nil || id == nil {
		return dialogKey{}, false
	}
	remote, rok := from.Params.Get("tag")
	local, lok := to.Params.Get("tag")
	if !rok || !lok || remote == "" || local == "" {
		return dialogKey{}, false
	}
	return dialogKey{callID: id.Value(), localTag: local, remoteTag: remote}, true
}

func callID(m sipmsg.Message) string {
	if id := m.CallID(); id != nil {
		return id.Value()
	}
	return ""
}

// newToken returns a random token for tags and Call-IDs (RFC 3261 sections
// 19.3 and 8.1.1.4 ask for global uniqueness and 32 bits of randomness;
// this has 130).
func newToken() string { return rand.Text() }
