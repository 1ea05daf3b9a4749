package sip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// probeMessage is what Probe sends the socket: a keep-alive (a double CRLF, RFC 5626
// section 4.4.1), which a SIP peer ignores anyway.
var probeMessage = []byte("\r\n\r\n")

// Probe asks the socket's read loop to show that it still reads: it sends the socket a
// keep-alive from the socket itself, which the loop counts in Beats and drops. Every
// other datagram the loop reads counts too. It never blocks for long: a full socket
// buffer drops the probe, and a loop that reads nothing is stuck or swamped either way.
func (a *Agent) Probe() error {
	if _, err := a.conn.WriteToUDPAddrPort(probeMessage, a.probeAddr()); err != nil {
		return fmt.Errorf("sip: probe the read loop: %w", err)
	}
	return nil
}

// Beats counts the datagrams the socket's read loop has taken, probes included. Safe from
// any goroutine.
func (a *Agent) Beats() uint64 { return a.reads.Load() }

// probeAddr is where Probe sends: the socket's own address, on loopback when it is bound
// to every address.
func (a *Agent) probeAddr() netip.AddrPort {
	if a.addr.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.addr.Port())
	}
	return a.addr
}

// readFilter sees every message sipgo reads, before it parses it: it counts the UDP
// socket's reads for Beats and drops the agent's own probes. It never allocates.
func (a *Agent) readFilter(info sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if !strings.EqualFold(info.Transport, "udp") { // sipgo says "UDP"
		return data, nil
	}
	a.reads.Add(1)
	if from, ok := info.RemoteAddr.(*net.UDPAddr); ok && bytes.Equal(data, probeMessage) &&
		from.AddrPort() == a.probeAddr() {
		return nil, nil
	}
	return data, nil
}
