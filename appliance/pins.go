package appliance

import (
	"errors"
	"fmt"
	"slices"

	"partyline/appliance/settings"
	"partyline/board"
)

// withPins returns the profile p with the pin overrides of the settings applied: each
// override's lines replace the profile's lines of its handset; empty ones keep them.
func withPins(p board.Profile, pins []settings.PinOverride) (board.Profile, error) {
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

// checkPins checks pin overrides against the board p, as far as that can be done without
// opening the lines: the handset exists, an expander pin is on one of the board's
// expanders, and a GPIO line is one the board has and does not reserve. Overrides that
// pass can still fail when the appliance opens them at its next start (a line used twice,
// a line the kernel will not give). Each invalid field is a *settings.FieldError naming it:
// those of the first invalid override, in its fields' order, joined (errors.Join).
func checkPins(p board.Profile, pins []settings.PinOverride) error {
	for i, o := range pins {
		f := fmt.Sprintf("pins[%d].", i)
		var errs []error
		if o.Handset < 0 || o.Handset >= len(p.Handsets) {
			errs = append(errs, &settings.FieldError{Field: f + "handset", Msg: fmt.Sprintf("the %s board has %d handsets", p.Name, len(p.Handsets))})
		}
		for _, l := range []struct{ field, line string }{
			{"hook", o.Hook}, {"button", o.Button}, {"led", o.LED}, {"mute", o.Mute}, {"mute_led", o.MuteLED},
		} {
			if err := checkLine(p, l.line); err != nil {
				errs = append(errs, &settings.FieldError{Field: f + l.field, Msg: err.Error()})
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// checkLine checks one line of a pin override against the board p; "" keeps the board's.
func checkLine(p board.Profile, line string) error {
	if line == "" {
		return nil
	}
	if slices.Contains(p.Reserved, line) {
		return fmt.Errorf("%s is in use on the %s board (its HAT, a bus or the console)", line, p.Name)
	}
	l, ok, err := board.ParseExpanderLine(line)
	if err != nil {
		return err
	}
	if ok && !slices.ContainsFunc(p.Expanders, func(e board.Expander) bool { return e.Chip == l.Chip && e.Addr == l.Addr }) {
		return fmt.Errorf("the %s board has no %s at %#02x", p.Name, l.Chip, l.Addr)
	}
	if !ok && !p.HasGPIO(line) {
		if len(p.GPIO) == 0 {
			return fmt.Errorf("the %s board has no GPIO lines", p.Name)
		}
		return fmt.Errorf("the %s board has no line %s: its GPIO lines are %s to %s", p.Name, line, p.GPIO[0], p.GPIO[len(p.GPIO)-1])
	}
	return nil
}
