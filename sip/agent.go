// Package sip connects the appliance to SIP servers: it keeps accounts
// registered, joins conferences with a call per handset under the
// handset's own identity, and answers what servers send in between.
//
// It is the only package that uses sipgo (whose own sip package it imports
// as sipmsg). It knows nothing of audio or hardware: a Call reports the
// Media that the offer/answer exchange settled, and the appliance binds
// that to a media session.
//
// One Agent owns one UDP socket, used for every request it sends and every
// request it receives, so that registrars and proxies always see the one
// address that the Contact headers advertise.
package sip

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultListenAddr is where an Agent listens when Config.ListenAddr is "".
const DefaultListenAddr = "0.0.0.0:5060"

// readyTimeout bounds how long Run waits for sipgo to take over the socket.
const readyTimeout = 2 * time.Second

// Config configures NewAgent.
type Config struct {
	ListenAddr string       // UDP host:port to listen on, e.g. "0.0.0.0:5060"; port 0 picks a free port
	UserAgent  string       // the User-Agent header of our requests
	Log        *slog.Logger // nil discards
}

// errStopped is returned to callers waiting for, or using, an Agent whose
// Run has returned.
var errStopped = errors.New("the SIP agent is not running")

// An Agent is a SIP user agent on one UDP socket. NewAgent binds the socket;
// Run serves it. Join and KeepRegistered work while Run runs.
type Agent struct {
	log       *slog.Logger
	userAgent string
	conn      *net.UDPConn
	addr      netip.AddrPort
	ua        *sipgo.UserAgent
	srv       *sipgo.Server

	started atomic.Bool
	ready   chan struct{} // closed once sipgo sends from the socket
	stopped chan struct{} // closed when Run returns

	mu      sync.Mutex // guards following
	clients map[netip.Addr]*sipgo.Client
	calls   map[dialogKey]*Call
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
	// udp4: sipgo pools the socket under LocalAddr().String(), and only an
	// IPv4 socket bound to 0.0.0.0 reports "0.0.0.0:port" there, the key
	// our clients name (research/sip.md section 5.1).
	conn, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen on udp %s: %w", listen, err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	a := &Agent{
		log:       log,
		userAgent: cfg.UserAgent,
		conn:      conn,
		addr:      netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port()),
		ready:     make(chan struct{}),
		stopped:   make(chan struct{}),
		clients:   make(map[netip.Addr]*sipgo.Client),
		calls:     make(map[dialogKey]*Call),
	}
	sipgoLog := log.With("sipgo", true)
	a.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(uaName(cfg.UserAgent)),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(sipgoLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(sipgoLog),
			// 2xx retransmissions after the INVITE transaction ended, and
			// strays: nothing to do but note them.
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(res *sipmsg.Response) {
				log.Debug("unmatched response", "response", res.StartLine(), "call", callID(res))
			}),
		),
	)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	a.srv, err = sipgo.NewServer(a.ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	// All handlers before serving: sipgo keeps them in a plain map.
	a.srv.OnInvite(a.onInvite)
	a.srv.OnAck(a.onAck)
	a.srv.OnBye(a.onBye)
	a.srv.OnCancel(a.onCancel)
	a.srv.OnOptions(a.onOptions)
	a.srv.OnInfo(a.onInfo)
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
	wg.Go(func() { served <- a.srv.ServeUDP(a.conn) })
	err := a.awaitListener(ctx, served)
	if err == nil && ctx.Err() == nil {
		close(a.ready)
		a.log.Info("sip listening", "addr", a.addr)
		select {
		case <-ctx.Done():
		case serr := <-served:
			err = fmt.Errorf("sip: serve udp %s: stopped unexpectedly (%v)", a.addr, serr)
		}
	}
	a.conn.Close() // ends ServeUDP
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

// client returns the sipgo client that advertises host in Via. Every client
// sends from the agent's socket: WithClientConnectionAddr names the pool key
// of the socket exactly (research/sip.md section 5.1).
func (a *Agent) client(host netip.Addr) (*sipgo.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[host]; ok {
		return c, nil
	}
	c, err := sipgo.NewClient(a.ua,
		sipgo.WithClientHostname(host.String()),
		sipgo.WithClientPort(int(a.addr.Port())),
		sipgo.WithClientConnectionAddr(a.conn.LocalAddr().String()),
		sipgo.WithClientNAT(),
		sipgo.WithClientLogger(a.log.With("sipgo", true)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip client for %v: %w", host, err)
	}
	a.clients[host] = c
	return c, nil
}

// localIP returns the address to advertise (Via, Contact, SDP) to a peer
// at hostport: the socket's own address, or when it is bound to 0.0.0.0,
// the address the kernel would send from to that peer. Finding that out
// connects a UDP socket, which sends nothing.
func (a *Agent) localIP(hostport string) (netip.Addr, error) {
	if ip := a.addr.Addr(); !ip.IsUnspecified() {
		return ip, nil
	}
	c, err := net.Dial("udp4", hostport)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find local address towards %s: %w", hostport, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// nextHop returns host:port of where an out-of-dialog request to target
// goes first: the route's host, or the target's.
func nextHop(route *sipmsg.RouteHeader, target sipmsg.Uri) string {
	u := target
	if route != nil {
		u = route.Address
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(u.Host, fmt.Sprint(port))
}

// contact returns a fresh Contact header for user at host on our socket.
// Every call and registration gets its own: sipgo's DialogUA otherwise
// shares and mutates one (research/sip.md section 5.2).
func (a *Agent) contact(user string, host netip.Addr) *sipmsg.ContactHeader {
	return &sipmsg.ContactHeader{Address: sipmsg.Uri{
		Scheme: "sip",
		User:   user,
		Host:   host.String(),
		Port:   int(a.addr.Port()),
	}}
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
