package sip

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConnLimits: places are taken up to the total and per host, and given back.
func TestConnLimits(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	l := newConnLimits(3, 2)
	for i, tc := range []struct {
		host netip.Addr
		want bool
	}{{a, true}, {a, true}, {a, false}, {b, true}, {b, false}} {
		if got := l.acquire(tc.host); got != tc.want {
			t.Errorf("acquire %d from %v = %v, want %v", i, tc.host, got, tc.want)
		}
	}
	if n := l.open(); n != 3 {
		t.Errorf("open = %d, want 3", n)
	}
	l.release(a)
	if !l.acquire(b) {
		t.Error("a place given back by one host is not free for another")
	}
	if l.acquire(a) {
		t.Error("acquire past the total succeeded")
	}
}

// TestIdleConnectionHeldByACall: a connection that brings nothing is ended after its idle
// time, unless a call it brought is up; then a message that comes later still gets
// through.
func TestIdleConnectionHeldByACall(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &streamConn{Conn: server, limits: newConnLimits(1, 1), idle: 20 * time.Millisecond}
	c.limits.acquire(c.host)
	defer c.Close()
	c.calls.Add(1)
	go func() {
		time.Sleep(200 * time.Millisecond) // many idle times
		client.Write([]byte("x"))
	}()
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("read during a call: %d, %v; want the byte that came late", n, err)
	}
	c.calls.Add(-1)
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("read without a call, nothing coming: %v, want EOF after the idle time", err)
	}
}

// TestOversizeMessageClosesConnection: a message over sipgo's 64 KiB over TCP closes its
// connection and is counted as malformed.
func TestOversizeMessageClosesConnection(t *testing.T) {
	a := startAgent(t)
	c, err := net.Dial("tcp4", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		msg := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n"
		c.Write([]byte(msg)) // fails once the agent has closed the connection
	}()
	c.SetReadDeadline(time.Now().Add(failsafe))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) { // reset: data left unread
		t.Fatalf("the connection was not closed: %v", err)
	}
	deadline := time.Now().Add(failsafe)
	for a.MalformedMessages() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the oversize message was not counted as malformed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for a.StreamConnections() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the agent still holds %d connections", a.StreamConnections())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
