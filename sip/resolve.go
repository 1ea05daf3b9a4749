package sip

import (
	"errors"
	"net"
)

// A nameError says that a host name of a registrar, proxy or conference did not resolve,
// or could not be looked up: what the admin page shows of such a failure.
type nameError struct {
	host string
	err  *net.DNSError
}

func (e *nameError) Error() string {
	if e.err.IsNotFound {
		return "the name " + e.host + " does not resolve"
	}
	return "cannot look up the name " + e.host + ": " + e.err.Err
}

func (e *nameError) Unwrap() error { return e.err }

// lookupError returns err as a *nameError of host when a DNS lookup failed in it (sipgo
// looks up the names of the hosts it sends to, first as A/AAAA, then as SRV, and wraps
// what the last lookup said), else err itself.
func lookupError(host string, err error) error {
	if _, ok := errors.AsType[*nameError](err); ok {
		return err
	}
	dnsErr, ok := errors.AsType[*net.DNSError](err)
	if !ok {
		return err
	}
	return &nameError{host: host, err: dnsErr}
}

// hopHost is the host of hop, host:port.
func hopHost(hop string) string {
	host, _, err := net.SplitHostPort(hop)
	if err != nil {
		return hop
	}
	return host
}
