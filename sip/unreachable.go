package sip

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	sipmsg "github.com/emiago/sipgo/sip"
)

// IsUnreachable reports whether err, from a failed Join or registration, says that the
// server could not be reached rather than that it refused: an answer of 408 Request
// Timeout or any 5xx (the server, or a proxy on the way, is down or overloaded), a request
// that timed out with no final answer, or a network that refused or dropped it
// (connection refused, no route, a name server that does not answer). 4xx refusals (403,
// 404, 486, 488, failed authentication) and 6xx answers are not: the server is there and
// said no.
func IsUnreachable(err error) bool {
	if je, ok := errors.AsType[*JoinError](err); ok {
		return unreachableStatus(je.Status)
	}
	if se, ok := errors.AsType[*statusError](err); ok {
		return unreachableStatus(se.status)
	}
	if _, ok := errors.AsType[noAnswer](err); ok {
		return true
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

// unreachableStatus reports whether a failure answer says that the server, or a proxy on
// the way, is down or overloaded: 408 or any 5xx.
func unreachableStatus(status int) bool {
	return status == sipmsg.StatusRequestTimeout || status >= 500 && status < 600
}

// statusError is a failure answer to a request other than a join's INVITE, e.g. to a
// REGISTER; its text is the status and reason, "503 Service Unavailable".
type statusError struct {
	status int
	reason string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.status, e.reason) }

// noAnswer is a request that had no answer in time, e.g. "no answer from
// 192.0.2.1:5060 within 10s".
type noAnswer string

func (e noAnswer) Error() string { return string(e) }
