// Package faultproxy is a UDP proxy for tests, put between a SIP client and its server on
// loopback: it passes datagrams, delays them (by a fixed time, and by a random one that
// reorders them as jitter does), drops a share of them, or drops all of them (a
// blackhole), each direction on its own, and the test changes what it does while it runs.
//
// Each client address gets a socket of its own toward the server, as behind a NAT, so the
// server's answers to a client come back through the proxy to that client. Requests the
// server sends to an address a client registered go to that address directly, not
// through the proxy.
package faultproxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Direction is the way a datagram goes through the proxy.
type Direction int

const (
	// Up is from a client to the server.
	Up Direction = iota
	// Down is from the server to a client.
	Down
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// A Fault is what the proxy does to the datagrams of one direction. The zero Fault passes
// them all at once.
type Fault struct {
	Blackhole bool          // drop every datagram
	Loss      float64       // share of datagrams dropped at random, 0 to 1
	Delay     time.Duration // added to every datagram that is not dropped
	// Jitter adds to each datagram that is not dropped a random delay from 0 up to Jitter,
	// drawn on its own, so that a datagram may overtake the one sent before it.
	Jitter time.Duration
}

// Counts are how many datagrams of one direction the proxy passed and dropped.
type Counts struct {
	Passed, Dropped int
}

// A Proxy forwards datagrams between clients and one server until the test ends.
type Proxy struct {
	t    testing.TB
	conn *net.UDPConn   // the clients send here
	wg   sync.WaitGroup // every goroutine of the proxy, delayed sends included

	mu      sync.Mutex // guards following
	closed  bool
	server  netip.AddrPort // the zero AddrPort until SetServer when Start had none
	faults  [2]Fault
	counts  [2]Counts
	rng     [2]*rand.Rand                   // per direction, so that the nth datagram's fate each way is repeatable
	clients map[netip.AddrPort]*net.UDPConn // each client's socket toward the server
}

// Start starts a proxy for server on a free 127.0.0.1 port. seed makes its random losses
// repeatable: with the same seed and Loss, the nth datagram going each way has the same
// fate however the two ways interleave. The proxy stops when the test ends.
//
// server may be the zero AddrPort when the server must be told the proxy's address before
// it starts, and so before its own address is known: SetServer sets it then, and the
// proxy drops (and counts) what clients send until it does.
func Start(t testing.TB, server netip.AddrPort, seed uint64) *Proxy {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("fault proxy: listen: %v", err)
	}
	p := &Proxy{
		t:       t,
		conn:    conn,
		server:  server,
		rng:     [2]*rand.Rand{rand.New(rand.NewPCG(seed, uint64(Up))), rand.New(rand.NewPCG(seed, uint64(Down)))},
		clients: map[netip.AddrPort]*net.UDPConn{},
	}
	p.wg.Go(p.fromClients)
	t.Cleanup(p.close)
	return p
}

// Addr is where clients send to reach the server through the proxy.
func (p *Proxy) Addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// SetServer makes the proxy forward what clients send from now on to server.
func (p *Proxy) SetServer(server netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.server = server
}

// Set makes the proxy do f to the datagrams going d, from the next datagram on. Datagrams
// already delayed keep their delay.
func (p *Proxy) Set(d Direction, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[d] = f
}

// SetBoth makes the proxy do f in both directions.
func (p *Proxy) SetBoth(f Fault) {
	p.Set(Up, f)
	p.Set(Down, f)
}

// Counts returns how many datagrams going d the proxy passed and dropped so far.
func (p *Proxy) Counts(d Direction) Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[d]
}

// fromClients forwards what the clients send to the server, each through its own socket.
func (p *Proxy) fromClients() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("fault proxy: read from clients: %v", err)
			}
			return
		}
		up, err := p.upstream(from)
		if err != nil {
			p.t.Errorf("fault proxy: %v", err)
			return
		}
		if up == nil {
			return // closed
		}
		server, ok := p.serverOrDrop()
		if !ok {
			continue
		}
		p.forward(Up, buf[:n], func(b []byte) error {
			_, err := up.WriteToUDPAddrPort(b, server)
			return err
		})
	}
}

// serverOrDrop returns the server, or counts a datagram up dropped and reports false while
// the proxy has none.
func (p *Proxy) serverOrDrop() (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.server.IsValid() {
		p.counts[Up].Dropped++
		return p.server, false
	}
	return p.server, true
}

// upstream returns client's socket toward the server, opening it (and the goroutine that
// forwards the server's answers back) on the client's first datagram; nil once closed.
func (p *Proxy) upstream(client netip.AddrPort) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil
	}
	if c := p.clients[client]; c != nil {
		return c, nil
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("socket toward the server for %v: %w", client, err)
	}
	p.clients[client] = c
	p.wg.Go(func() { p.fromServer(c, client) })
	return c, nil
}

// fromServer forwards what the server sends to up back to client.
func (p *Proxy) fromServer(up *net.UDPConn, client netip.AddrPort) {
	buf := make([]byte, 65536)
	for {
		n, _, err := up.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("fault proxy: read from the server for %v: %v", client, err)
			}
			return
		}
		p.forward(Down, buf[:n], func(b []byte) error {
			_, err := p.conn.WriteToUDPAddrPort(b, client)
			return err
		})
	}
}

// forward applies the fault of direction d to datagram b and sends what passes, later if
// it is delayed.
func (p *Proxy) forward(d Direction, b []byte, send func([]byte) error) {
	p.mu.Lock()
	f := p.faults[d]
	drop := f.Blackhole || (f.Loss > 0 && p.rng[d].Float64() < f.Loss)
	delay := f.Delay
	if drop {
		p.counts[d].Dropped++
	} else {
		p.counts[d].Passed++
		if f.Jitter > 0 {
			delay += time.Duration(p.rng[d].Int64N(int64(f.Jitter) + 1))
		}
	}
	closed := p.closed
	p.mu.Unlock()
	if drop || closed {
		return
	}
	if delay <= 0 {
		p.send(d, b, send)
		return
	}
	late := append([]byte(nil), b...)
	p.wg.Go(func() {
		time.Sleep(delay)
		p.send(d, late, send)
	})
}

// send sends b, and fails the test if that fails while the proxy runs.
func (p *Proxy) send(d Direction, b []byte, send func([]byte) error) {
	if err := send(b); err != nil {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if !closed {
			p.t.Errorf("fault proxy: send %s: %v", d, err)
		}
	}
}

// close closes every socket and waits for the proxy's goroutines.
func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.conn.Close()
	for _, c := range p.clients {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
