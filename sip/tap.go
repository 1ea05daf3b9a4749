package sip

import (
	"net"
	"net/netip"
)

// A Tap sees every datagram the agent's UDP socket sends and receives, SIP as on the wire:
// for a packet capture (the admin page's). Datagram must be quick and must not keep b.
type Tap interface {
	Datagram(sent bool, local, remote netip.AddrPort, b []byte)
}

// tappedConn is the agent's socket as sipgo serves it, telling tap of every datagram.
// Requests over TCP and TLS go on connections of sipgo's own, which it does not see.
type tappedConn struct {
	*net.UDPConn
	local netip.AddrPort
	tap   Tap
}

// ReadFrom implements net.PacketConn.
func (c tappedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(b)
	if err == nil {
		if ua, ok := addr.(*net.UDPAddr); ok {
			c.tap.Datagram(false, c.local, ua.AddrPort(), b[:n])
		}
	}
	return n, addr, err
}

// WriteTo implements net.PacketConn.
func (c tappedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.UDPConn.WriteTo(b, addr)
	if err == nil {
		if ua, ok := addr.(*net.UDPAddr); ok {
			c.tap.Datagram(true, c.local, ua.AddrPort(), b[:n])
		}
	}
	return n, err
}

// served is the socket as sipgo serves it: tapped when the agent has a Tap.
func (a *Agent) served() net.PacketConn {
	if a.tap == nil {
		return a.conn
	}
	return tappedConn{UDPConn: a.conn, local: a.addr, tap: a.tap}
}

// Tap returns the agent's Tap (Config.Tap), nil without one: the media of its calls can
// tell it of their datagrams too.
func (a *Agent) Tap() Tap { return a.tap }
