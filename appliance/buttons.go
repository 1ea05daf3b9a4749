package appliance

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/gesture"
)

// buttonMapping turns the button settings into the gesture mapping of every handset: the
// default mapping when there are none. Every invalid entry is a *settings.FieldError naming
// it, in the order of the list, joined (errors.Join).
func buttonMapping(buttons []settings.ButtonMapping) (handset.Mapping, error) {
	if len(buttons) == 0 {
		return handset.DefaultMapping(), nil
	}
	m := handset.Mapping{}
	var errs []error
	for i, b := range buttons {
		f := fmt.Sprintf("buttons[%d].", i)
		t, err := gesture.ParseTrigger(b.Trigger)
		if err != nil {
			errs = append(errs, &settings.FieldError{Field: f + "trigger", Msg: err.Error()})
			continue
		}
		if _, dup := m[t]; dup {
			errs = append(errs, &settings.FieldError{Field: f + "trigger", Msg: fmt.Sprintf("%s is mapped twice", t)})
			continue
		}
		a, err := handset.ParseAction(b.Action)
		if err != nil {
			errs = append(errs, &settings.FieldError{Field: f + "action", Msg: err.Error()})
			continue
		}
		m[t] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// setMapping hands the gesture mapping m to every line: each uses it from its next gesture
// on. m must not be changed afterwards.
func (a *Appliance) setMapping(m handset.Mapping) {
	for _, l := range a.lines {
		l.SetMapping(m)
	}
	a.log.Info("button mapping applied", "handsets", len(a.lines))
}

// buttonInputs are the inputs whose gestures the mapping maps: the hook and the buttons
// that handsetHW.buttons names.
var buttonInputs = []string{gesture.HookInput, "button", "mute"}

// ButtonChoices implements web.Backend: every trigger of the handsets' inputs that the
// mapping can map, every action, and the default mapping. Lifting and hanging up are left
// out: they join and leave by themselves, whatever the mapping says.
func (b backend) ButtonChoices() web.ButtonChoices {
	var c web.ButtonChoices
	for _, input := range buttonInputs {
		for _, g := range gesture.Gestures() {
			t := gesture.Trigger{Input: input, Gesture: g}
			if g != gesture.OffHook && g != gesture.OnHook && t.Validate() == nil {
				c.Triggers = append(c.Triggers, t.String())
			}
		}
	}
	for _, a := range handset.Actions() {
		c.Actions = append(c.Actions, a.String())
	}
	for t, a := range handset.DefaultMapping() {
		c.Default = append(c.Default, settings.ButtonMapping{Trigger: t.String(), Action: a.String()})
	}
	slices.SortFunc(c.Default, func(x, y settings.ButtonMapping) int { return strings.Compare(x.Trigger, y.Trigger) })
	return c
}
