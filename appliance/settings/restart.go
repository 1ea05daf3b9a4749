package settings

import (
	"fmt"
	"slices"
)

// NeedsRestart reports whether going from old to next changes something the appliance reads
// only when it starts: the SIP listener, the accounts (their registrations), the handsets'
// IDs and channels (the lines are bound to them), the pins or the board profile.
// Everything else applies while the appliance runs.
func NeedsRestart(old, next Settings) bool {
	channels := func(s Settings) []string {
		var c []string
		for _, h := range s.Handsets {
			c = append(c, fmt.Sprintf("%s@%d", h.ID, h.Channel))
		}
		return c
	}
	// The accounts' codecs and DTMF mode apply from the next call.
	registered := func(s Settings) []Account {
		accounts := slices.Clone(s.Accounts)
		for i := range accounts {
			accounts[i].Codecs, accounts[i].DTMF = "", ""
		}
		return accounts
	}
	return old.SIP != next.SIP ||
		!slices.Equal(registered(old), registered(next)) ||
		!slices.Equal(old.Pins, next.Pins) ||
		old.Board != next.Board ||
		!slices.Equal(channels(old), channels(next))
}
