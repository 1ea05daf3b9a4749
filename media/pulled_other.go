//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
)

// pulledSocket is Linux's (pulled.go): elsewhere Run reads, as without ReadOnReceive.
type pulledSocket struct{ failed chan error }

func pull(*net.UDPConn) *pulledSocket    { return nil }
func (*pulledSocket) read(*Session, int) {}
func (*pulledSocket) send([]byte, netip.AddrPort) error {
	return errors.New("send RTP: no pulled socket here")
}
func (*pulledSocket) close() {}
