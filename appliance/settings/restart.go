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
	return old.SIP != next.SIP ||
		!slices.Equal(old.Accounts, next.Accounts) ||
		!slices.Equal(old.Pins, next.Pins) ||
		old.Board != next.Board ||
		!slices.Equal(channels(old), channels(next))
}
