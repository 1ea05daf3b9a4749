package settings

import (
	"fmt"
	"regexp"
)

// A PinOverride replaces lines of one handset's pin map from the board profile, for a board
// wired differently from its profile. Empty fields keep the profile's line.
type PinOverride struct {
	Handset int    `json:"handset"` // the handset's channel, 0 for the first
	Hook    string `json:"hook"`
	Button  string `json:"button"`
	LED     string `json:"led"`
	Mute    string `json:"mute"`
	MuteLED string `json:"mute_led"`
}

// lineName is a GPIO line by its kernel name, or a pin of an I2C expander.
var lineName = regexp.MustCompile(`^(GPIO[0-9]{1,3}|mcp23017:0x[0-9a-fA-F]{2}:[AB][0-7])$`)

// validatePins checks the pin overrides: known handsets, each at most once, line names
// that the hardware layer can open.
func validatePins(pins []PinOverride) error {
	seen := map[int]bool{}
	for i, p := range pins {
		f := fmt.Sprintf("pins[%d].", i)
		if p.Handset < 0 || p.Handset > MaxChannel {
			return fieldErr(f+"handset", "%d is not in 0..%d", p.Handset, MaxChannel)
		}
		if seen[p.Handset] {
			return fieldErr(f+"handset", "handset %d is overridden twice", p.Handset)
		}
		seen[p.Handset] = true
		for _, l := range []struct{ field, line string }{
			{"hook", p.Hook}, {"button", p.Button}, {"led", p.LED}, {"mute", p.Mute}, {"mute_led", p.MuteLED},
		} {
			if l.line != "" && !lineName.MatchString(l.line) {
				return fieldErr(f+l.field, "%q is not a GPIO line (GPIO17) or an expander pin (mcp23017:0x20:A0)", l.line)
			}
		}
	}
	return nil
}
