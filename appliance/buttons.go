package appliance

import (
	"fmt"

	"partyline/appliance/config"
	"partyline/hw/gesture"
)

// buttonMapping turns the button settings into the gesture mapping of every handset: the
// default mapping when there are none. An invalid entry is a *config.FieldError naming it.
func buttonMapping(buttons []config.ButtonMapping) (gesture.Mapping, error) {
	if len(buttons) == 0 {
		return gesture.DefaultMapping(), nil
	}
	m := gesture.Mapping{}
	for i, b := range buttons {
		f := fmt.Sprintf("buttons[%d].", i)
		t, err := gesture.ParseTrigger(b.Trigger)
		if err != nil {
			return nil, &config.FieldError{Field: f + "trigger", Msg: err.Error()}
		}
		if _, dup := m[t]; dup {
			return nil, &config.FieldError{Field: f + "trigger", Msg: fmt.Sprintf("%s is mapped twice", t)}
		}
		a, err := gesture.ParseAction(b.Action)
		if err != nil {
			return nil, &config.FieldError{Field: f + "action", Msg: err.Error()}
		}
		m[t] = a
	}
	return m, nil
}
