package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// The limits NewServer and LimitConnections put on clients, so that none can hold
// connections open, or send or read a request for ever. The event stream and recording
// downloads, which only a logged-in browser gets, are exempt from WriteTimeout.
const (
	ReadHeaderTimeout = 5 * time.Second   // to send a request's headers, and the TLS handshake
	ReadTimeout       = 30 * time.Second  // to send a whole request, a settings import's too
	WriteTimeout      = 60 * time.Second  // to read an answer, from the end of the request's headers
	IdleTimeout       = 120 * time.Second // between requests on a kept-alive connection
	// MaxConnsPerClient is how many connections one IP address may hold open at once;
	// a browser opens about six, and one more for the dashboard's event stream.
	MaxConnsPerClient = 16
)

// NewServer returns an HTTP server for h, the admin page's handler, with the timeouts
// above. Requests' contexts derive from ctx, so that live event streams end with it;
// errorLog gets the server's own complaints, mostly TLS handshakes that browsers give up.
func NewServer(ctx context.Context, h http.Handler, errorLog *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(errorLog.Handler(), slog.LevelWarn),
	}
}

// LimitConnections returns l, closing at once each connection from an IP address that
// has perClient open already.
func LimitConnections(l net.Listener, perClient int) net.Listener {
	return &connLimiter{Listener: l, perClient: perClient, open: make(map[netip.Addr]int)}
}

type connLimiter struct {
	net.Listener
	perClient int

	mu   sync.Mutex // guards following
	open map[netip.Addr]int
}

// Accept returns the next connection within the limit.
func (cl *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := cl.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		cl.mu.Lock()
		ok := cl.open[ip] < cl.perClient
		if ok {
			cl.open[ip]++
		}
		cl.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, release: func() { cl.release(ip) }}, nil
		}
		_ = c.Close()
	}
}

func (cl *connLimiter) release(ip netip.Addr) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.open[ip]--; cl.open[ip] <= 0 {
		delete(cl.open, ip)
	}
}

// remoteIP is the address a connection comes from, without its port.
func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// limitedConn gives its place back when it closes.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
