package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/sip"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// withTLS gives the bridge rig's agent a certificate (self-signed, as the appliance's
// own), so that it listens for SIP over TLS on a free port too.
func withTLS(t *testing.T) func(*sip.Config) {
	t.Helper()
	certPEM, keyPEM, err := web.NewCertificate([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *sip.Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
}

// TestBridgeOverTCPAndTLS: baresip calls the bridge over TCP (on the UDP socket's port)
// and over TLS (on the TLS listener), with the bridge's credentials, and is bridged in as
// itself: each side hears the other. Either hang-up ends both calls: the caller's comes
// over its connection, and so does our BYE when the conference ends the call (baresip
// has no TLS server to take a new connection).
func TestBridgeOverTCPAndTLS(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		for _, side := range []string{"caller", "conference"} {
			t.Run(transport+"/"+side+" hangs up", func(t *testing.T) {
				f := focus.Start(t, focus.Config{UniqueIdentities: true})
				f.Tone("room", conferenceHz, 0.2)
				agent := startBridge(t, f, nil, withTLS(t))
				b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, 2*time.Minute)})
				ctx, cancel := context.WithTimeout(t.Context(), failsafe)
				defer cancel()
				leg := bridgedCallTo(t, ctx, f, streamURI(t, agent, transport), b)
				if side == "caller" {
					if err := b.Hangup(); err != nil {
						t.Fatalf("baresip hangup: %v", err)
					}
				} else if err := f.Kick(leg.CallID); err != nil {
					t.Fatalf("kick: %v", err)
				}
				if _, err := b.Await(ctx, "CALL_CLOSED"); err != nil {
					t.Fatal(err)
				}
				if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
					t.Fatal(err)
				}
				checkCallerHeard(t, b)
			})
		}
	}
}

// TestBridgeRulesOverTCPAndTLS: who may call in is judged by the connection's source
// address as over UDP: a caller from a network the bridge does not list gets 403 over TCP
// and over TLS, and the conference sees nothing.
func TestBridgeRulesOverTCPAndTLS(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			f := focus.Start(t, focus.Config{})
			agent := startBridge(t, f, func(set *settings.Settings) {
				set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
				set.Bridges[0].AllowNetworks = []string{"127.0.0.2"}
			}, withTLS(t))
			refusedCallTo(t, f, streamURI(t, agent, transport), peertest.BaresipConfig{User: "carol"}, "403")
		})
	}
}

// streamURI is the bridge's address on agent's listener for transport ("tcp", "tls").
func streamURI(t *testing.T, agent *sip.Agent, transport string) string {
	t.Helper()
	addr := agent.TCPAddr()
	if transport == "tls" {
		addr = agent.TLSAddr()
	}
	if !addr.IsValid() {
		t.Fatalf("the agent listens on no %s port", transport)
	}
	return fmt.Sprintf("sip:lobby@%v;transport=%s", addr, transport)
}

// flood opens n connections from source to addr and returns them, open or closed; one the
// far end reset before the connect returned is nil.
func flood(t *testing.T, source string, addr netip.AddrPort, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp4", addr.String())
		if errors.Is(err, syscall.ECONNRESET) {
			conns = append(conns, nil)
			continue
		}
		if err != nil {
			t.Fatalf("connect from %s to %v: %v", source, addr, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// closedByPeer reports whether the far end closed c (nil: reset as it connected): a read
// gets EOF (or a reset) before the deadline, rather than waiting.
func closedByPeer(c net.Conn, wait time.Duration) bool {
	if c == nil {
		return true
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestBridgeRefusesAConnectionFlood replays a connection flood against the TCP and TLS
// listeners: one host opens hundreds of connections, many hosts open more than the total.
// The connections past the limits are closed as soon as they are accepted, the ones held
// stay within the limits, no conference leg is made, and a caller from another address
// is still bridged in while one host floods. A TLS connection that never says hello is
// closed after the handshake timeout.
func TestBridgeRefusesAConnectionFlood(t *testing.T) {
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	f.Tone("room", conferenceHz, 0.2)
	agent := startBridge(t, f, nil, withTLS(t))
	ctx, cancel := context.WithTimeout(t.Context(), 3*failsafe)
	defer cancel()

	// One host: 8 connections held, the rest closed at once.
	conns := append(flood(t, "127.0.0.2", agent.TCPAddr(), 150), flood(t, "127.0.0.2", agent.TLSAddr(), 150)...)
	want := len(conns) - sip.DefaultMaxConnectionsPerHost
	for agent.RefusedConnections() < uint64(want) { // the listeners got to them all
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections refused, want %d", agent.RefusedConnections(), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
	closed := 0
	for _, c := range conns {
		if closedByPeer(c, 50*time.Millisecond) {
			closed++
		}
	}
	if closed < want {
		t.Errorf("%d of %d connections from one host were closed at once, want %d", closed, len(conns), want)
	}
	if n := agent.StreamConnections(); n > sip.DefaultMaxConnectionsPerHost {
		t.Errorf("the agent holds %d connections of one host, want %d at most", n, sip.DefaultMaxConnectionsPerHost)
	}

	// Meanwhile a caller from another address gets in.
	b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, 2*time.Minute)})
	bridgedCallTo(t, ctx, f, streamURI(t, agent, "tcp"), b)
	if err := b.Hangup(); err != nil {
		t.Fatalf("baresip hangup: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}

	// Many hosts: never more than the total.
	for i := range 20 {
		flood(t, fmt.Sprintf("127.0.1.%d", i+1), agent.TCPAddr(), sip.DefaultMaxConnectionsPerHost)
	}
	if n := agent.StreamConnections(); n > sip.DefaultMaxConnections {
		t.Errorf("the agent holds %d connections, want %d at most", n, sip.DefaultMaxConnections)
	}
	if c := flood(t, "127.0.0.3", agent.TCPAddr(), 1)[0]; !closedByPeer(c, failsafe) {
		t.Error("a connection past the total limit was not closed")
	}
	if calls := f.Calls(); len(calls) != 1 {
		t.Errorf("the conference saw %d joins, want only the caller's: %+v", len(calls), calls)
	}
	if agent.RefusedConnections() == 0 {
		t.Error("no refused connection counted")
	}

	// A TLS connection that says nothing is closed once the handshake times out.
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	for agent.StreamConnections() > sip.DefaultMaxConnections-sip.DefaultMaxConnectionsPerHost {
		select {
		case <-ctx.Done():
			t.Fatalf("the agent still holds %d connections after one host closed its own", agent.StreamConnections())
		case <-time.After(20 * time.Millisecond):
		}
	}
	silent := flood(t, "127.0.0.4", agent.TLSAddr(), 1)[0]
	if !closedByPeer(silent, failsafe) {
		t.Error("a TLS connection without a handshake was not closed within a minute")
	}
}

// TestBridgeSIPpOverTCP: SIPp calls the bridge over TCP (-t t1) from an allowed network,
// and is bridged in under a generated identity: the conference sees the leg, and SIPp's
// call completes, its BYE on its connection.
func TestBridgeSIPpOverTCP(t *testing.T) {
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	agent := startBridge(t, f, func(set *settings.Settings) {
		set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
		set.Bridges[0].AllowNetworks = []string{"127.0.0.0/8"}
	})
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioCall, TCP: true, Call: agent.TCPAddr(), Service: "lobby"})
	if err := s.Wait(failsafe); err != nil {
		t.Fatalf("SIPp's call over TCP: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 1 || !strings.HasPrefix(calls[0].From, "sip:caller-") {
		t.Fatalf("the conference saw %+v, want one leg under a generated identity", calls)
	}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
		t.Fatal(err)
	}
	if invites := s.Received("SIP/2.0 200"); len(invites) == 0 {
		t.Error("SIPp got no 200 OK")
	}
}
