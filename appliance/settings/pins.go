package settings

import (
	"errors"
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
// that the hardware layer can open. It reports every invalid field of the first override
// that has any, joined (errors.Join).
func validatePins(pins []PinOverride) error {
	seen := map[int]bool{}
	for i, p := range pins {
		f := fmt.Sprintf("pins[%d].", i)
		var errs []error
		if p.Handset < 0 || p.Handset > MaxChannel {
			errs = append(errs, fieldErr(f+"handset", "%d is not in 0..%d", p.Handset, MaxChannel))
		} else if seen[p.Handset] {
			errs = append(errs, fieldErr(f+"handset", "handset %d is overridden twice", p.Handset))
		}
		seen[p.Handset] = true
		for _, l := range []struct{ field, line string }{
			{"hook", p.Hook}, {"button", p.Button}, {"led", p.LED}, {"mute", p.Mute}, {"mute_led", p.MuteLED},
		} {
			if l.line != "" && !lineName.MatchString(l.line) {
				errs = append(errs, fieldErr(f+l.field, "%q is not a GPIO line (GPIO17) or an expander pin (mcp23017:0x20:A0)", l.line))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}
