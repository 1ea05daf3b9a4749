package media

import (
	"net"
	"net/netip"
)

// A Tap sees every datagram a Session or a RelayLeg sends and receives on its socket, RTP
// and RTCP as on the wire (SRTP still encrypted): for a packet capture. Datagram is called
// on the media's own goroutines, once per packet: it must be quick, must not keep b, and
// should not allocate while it records nothing.
type Tap interface {
	Datagram(sent bool, local, remote netip.AddrPort, b []byte)
}

// localAddr is the address conn is bound to, for a Tap.
func localAddr(conn *net.UDPConn) netip.AddrPort {
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
