package settings

import (
	"fmt"
	"slices"
)

// NeedsRestart reports whether going from old to next changes something the appliance reads
// only when it starts: the SIP listeners, the handsets' IDs and channels (the lines are
// bound to them), the pins or the board profile. Everything else applies while the
// appliance runs; the registrations follow the accounts at once.
func NeedsRestart(old, next Settings) bool { return len(RestartReasons(old, next)) > 0 }

// Reasons of RestartReasons that a command-line flag of the appliance may override.
const (
	RestartSIPListen = "the SIP listen address"
	RestartBoard     = "the board"
)

// RestartReasons lists, for the admin page, what of the change from old to next applies
// only when the appliance restarts (see NeedsRestart), in the order of the settings page;
// nil when nothing does.
func RestartReasons(old, next Settings) []string {
	channels := func(s Settings) []string {
		var c []string
		for _, h := range s.Handsets {
			c = append(c, fmt.Sprintf("%s@%d", h.ID, h.Channel))
		}
		return c
	}
	var why []string
	if old.SIP.ListenAddr != next.SIP.ListenAddr {
		why = append(why, RestartSIPListen)
	}
	if old.SIP.TLSListenAddr != next.SIP.TLSListenAddr {
		why = append(why, "the SIP over TLS listen address")
	}
	if !slices.Equal(channels(old), channels(next)) {
		why = append(why, "the handsets' IDs or channels")
	}
	if old.Board != next.Board {
		why = append(why, RestartBoard)
	}
	if !slices.Equal(old.Pins, next.Pins) {
		why = append(why, "the pins")
	}
	return why
}
