package sip

import (
	"errors"
	"net"
	"syscall"

	sipmsg "github.com/emiago/sipgo/sip"
)

// IsUnreachable reports whether err, from a failed Join, says that the conference could
// not be reached rather than that it refused: an answer of 408 Request Timeout or any 5xx
// (the server, or a proxy on the way, is down or overloaded), an INVITE that timed out
// with no final answer, or a network that refused or dropped it (connection refused, no
// route, a name server that does not answer). 4xx refusals (403, 404, 486, 488, failed
// authentication) and 6xx answers are not: the server is there and said no.
func IsUnreachable(err error) bool {
	var je *JoinError
	if errors.As(err, &je) {
		return je.Status == sipmsg.StatusRequestTimeout || je.Status >= 500 && je.Status < 600
	}
	if errors.Is(err, sipmsg.ErrTransactionTimeout) || errors.Is(err, sipmsg.ErrTransactionTransport) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTimeout || dns.IsTemporary
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
