//go:build !linux

package media

import (
	"context"
	"errors"
	"net/netip"
)

// runClocked returns false: the relays' clock is Linux's (relayclock.go).
func (r *Relay) runClocked(context.Context) bool { return false }

// sendto4 is never called where there is no relay clock.
func sendto4(int, []byte, netip.AddrPort) error { return errors.New("relay clock: not on this system") }
