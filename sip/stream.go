package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the TCP and TLS listeners, which anyone on the network can
// reach: connections are few, short of idle time, and refused as soon as
// they are accepted once a limit is reached (no read, no handshake, no
// goroutine). A message longer than sipgo's ParseMaxMessageLength (64 KiB)
// closes its connection.
const (
	// DefaultMaxConnections bounds the connections of both listeners
	// together, handshakes under way included.
	DefaultMaxConnections = 64
	// DefaultMaxConnectionsPerHost bounds the connections from one source
	// address.
	DefaultMaxConnectionsPerHost = 8
	// streamIdleTimeout closes a connection that brought nothing (not even
	// a keep-alive, RFC 5626 section 3.5.1) for this long, unless a call
	// it brought is still up.
	streamIdleTimeout = 2 * time.Minute
	// tlsHandshakeTimeout bounds a TLS handshake from the accept on.
	tlsHandshakeTimeout = 5 * time.Second
	// streamWriteTimeout bounds a write to a connection: a peer that reads
	// nothing cannot hold up who answers it.
	streamWriteTimeout = 10 * time.Second
)

// connLimits counts the connections accepted by the agent's listeners, in
// total and per source address.
type connLimits struct {
	total, perHost int

	mu     sync.Mutex // guards following
	n      int
	byHost map[netip.Addr]int
}

func newConnLimits(total, perHost int) *connLimits {
	return &connLimits{total: total, perHost: perHost, byHost: make(map[netip.Addr]int)}
}

// acquire takes a place for a connection from host, if there is one.
func (l *connLimits) acquire(host netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= l.total || l.byHost[host] >= l.perHost {
		return false
	}
	l.n++
	l.byHost[host]++
	return true
}

// release gives back the place of a connection from host.
func (l *connLimits) release(host netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
}

// open returns how many connections hold a place.
func (l *connLimits) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// A streamListener is the listener sipgo serves TCP or TLS on: it accepts
// connections from the TCP listener raw within limits and, for TLS,
// hands them on only once their handshake completed within
// tlsHandshakeTimeout. Handshakes run on goroutines of their own, so that
// a slow one holds up nobody else's accept.
type streamListener struct {
	raw     net.Listener
	tls     *tls.Config // nil: plain TCP
	limits  *connLimits
	refused *floodLog // connections refused or failed before a message
	log     *slog.Logger

	ctx   context.Context // ends with Close
	stop  context.CancelFunc
	conns chan net.Conn
	wg    sync.WaitGroup // the accept loop and the handshakes
	err   error          // why the accept loop ended; read after wg
}

func newStreamListener(raw net.Listener, tlsConf *tls.Config, limits *connLimits, refused *floodLog, log *slog.Logger) *streamListener {
	ctx, stop := context.WithCancel(context.Background())
	return &streamListener{raw: raw, tls: tlsConf, limits: limits, refused: refused, log: log,
		ctx: ctx, stop: stop, conns: make(chan net.Conn)}
}

// start starts accepting, until Close.
func (l *streamListener) start() { l.wg.Go(l.acceptLoop) }

// network names the listener's transport for the log.
func (l *streamListener) network() string {
	if l.tls != nil {
		return TransportTLS
	}
	return TransportTCP
}

func (l *streamListener) acceptLoop() {
	for {
		c, err := l.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && l.ctx.Err() == nil {
				continue // e.g. out of file descriptors for a moment
			}
			l.err = err
			l.stop()
			return
		}
		host := remoteHost(c)
		if !l.limits.acquire(host) {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: nothing kept in TIME_WAIT for it
			}
			c.Close()
			l.refused.log(l.log, slog.LevelWarn, "connection refused: too many connections", "transport", l.network(), "source", c.RemoteAddr().String())
			continue
		}
		sc := &streamConn{Conn: c, limits: l.limits, host: host, idle: streamIdleTimeout}
		if l.tls == nil {
			l.handOver(sc)
			continue
		}
		l.wg.Go(func() { l.handshake(sc) })
	}
}

// handshake hands c on as a TLS connection once its handshake is done, or
// closes it.
func (l *streamListener) handshake(c *streamConn) {
	tc := tls.Server(c, l.tls)
	ctx, cancel := context.WithTimeout(l.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		l.refused.log(l.log, slog.LevelInfo, "TLS handshake failed", "source", c.RemoteAddr().String(), "err", err)
		return
	}
	l.handOver(tc)
}

// handOver gives c to Accept, or closes it if the listener closes first.
func (l *streamListener) handOver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// Accept returns the next connection within the limits (for TLS, with its
// handshake done).
func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for the handshakes under way to give up;
// it leaves the connections handed on to their owner.
func (l *streamListener) Close() error {
	l.stop()
	err := l.raw.Close()
	l.wg.Wait()
	return err
}

// Addr returns the TCP listener's address.
func (l *streamListener) Addr() net.Addr { return l.raw.Addr() }

// remoteHost returns the source address of c, unmapped.
func remoteHost(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// A streamConn is an accepted connection: it holds its place in the limits
// until closed, ends a read that waited streamIdleTimeout, unless a call it
// brought is up, and a write that waited streamWriteTimeout. Every read error ends the connection as io.EOF,
// which sipgo closes quietly: a peer that resets its connection does not
// make the log grow.
type streamConn struct {
	net.Conn
	limits *connLimits
	host   netip.Addr
	idle   time.Duration // streamIdleTimeout, but in tests

	calls     atomic.Int32 // calls up that came over the connection
	closeOnce sync.Once
}

func (c *streamConn) Read(b []byte) (int, error) {
	for {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, io.EOF
		}
		n, err := c.Conn.Read(b)
		if err == nil || n > 0 {
			return n, nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && c.calls.Load() > 0 {
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return 0, err
		}
		return 0, io.EOF
	}
}

func (c *streamConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *streamConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.limits.release(c.host) })
	return err
}
