package appliance

import (
	"fmt"
	"slices"

	"partyline/appliance/config"
	"partyline/board"
)

// withPins returns the profile p with the pin overrides of the settings applied: each
// override's lines replace the profile's lines of its handset; empty ones keep them.
func withPins(p board.Profile, pins []config.PinOverride) (board.Profile, error) {
	if len(pins) == 0 {
		return p, nil
	}
	p.Handsets = slices.Clone(p.Handsets)
	for _, o := range pins {
		if o.Handset >= len(p.Handsets) {
			return board.Profile{}, fmt.Errorf("pin override for handset %d: the %s board has %d handsets", o.Handset+1, p.Name, len(p.Handsets))
		}
		h := &p.Handsets[o.Handset]
		for _, f := range []struct {
			line *string
			to   string
		}{{&h.Hook, o.Hook}, {&h.Button, o.Button}, {&h.LED, o.LED}, {&h.Mute, o.Mute}, {&h.MuteLED, o.MuteLED}} {
			if f.to != "" {
				*f.line = f.to
			}
		}
	}
	return p, nil
}
