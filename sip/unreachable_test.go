package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestIsUnreachable(t *testing.T) {
	join := func(status int) error {
		return fmt.Errorf("join sip:room@example.org: %w", &JoinError{Status: status, Reason: "x", Identity: "sip:a@example.org"})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"408", join(408), true},
		{"500", join(500), true},
		{"503", join(503), true},
		{"504", join(504), true},
		{"403", join(403), false},
		{"404", join(404), false},
		{"407 not answered", join(407), false},
		{"486", join(486), false},
		{"488", join(488), false},
		{"603", join(603), false},
		{"transaction timeout", fmt.Errorf("send INVITE: %w", sipmsg.ErrTransactionTimeout), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"no route", &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", syscall.ENETUNREACH)}, true},
		{"name server silent", &net.DNSError{Err: "i/o timeout", Name: "pbx.example.org", IsTimeout: true}, true},
		{"no such name", &net.DNSError{Err: "no such host", Name: "pbx.example.org", IsNotFound: true}, false},
		{"REGISTER answered 503", fmt.Errorf("register: %w", &statusError{status: 503, reason: "Service Unavailable"}), true},
		{"REGISTER answered 408", &statusError{status: 408, reason: "Request Timeout"}, true},
		{"REGISTER refused after authentication", &statusError{status: 403, reason: "Forbidden"}, false},
		{"REGISTER challenged again", &statusError{status: 401, reason: "Unauthorized"}, false},
		{"REGISTER unanswered", noAnswer("no answer from 192.0.2.1:5060 within 10s"), true},
		{"given up", context.Canceled, false},
		{"a settings error", errors.New("handset 1 has no account"), false},
	}
	for _, tt := range tests {
		if got := IsUnreachable(tt.err); got != tt.want {
			t.Errorf("%s: IsUnreachable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
