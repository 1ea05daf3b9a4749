package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"partyline/appliance/settings"
)

// ButtonChoices is what the button mapping on the settings page offers.
type ButtonChoices struct {
	// Triggers are the gestures the mapping maps, written "input:gesture" (such as
	// "mute:long-press"), in the order the page shows them.
	Triggers []string
	// Actions are the names of what a gesture can do, such as "record".
	Actions []string
	// Default is the mapping that applies while the settings have none.
	Default []settings.ButtonMapping
}

// inputLabels name a handset's inputs on the page; any other input shows its own name.
var inputLabels = map[string]string{"hook": "Hook switch", "button": "Call button", "mute": "Mute button"}

// buttonsForm draws the button mapping: a fieldset per input, a choice of action per
// gesture. Without a mapping in the settings it shows the default one.
func buttonsForm(buttons []settings.ButtonMapping, c ButtonChoices) formView {
	current := buttons
	if len(current) == 0 {
		current = c.Default
	}
	mapped := map[string]string{}
	for _, b := range current {
		mapped[b.Trigger] = b.Action
	}
	form := formView{ID: "buttons", Method: "post", Action: "/settings/buttons", Submit: "Save",
		Note: "What each gesture on a handset's hook switch and buttons does, the same on every handset. " +
			"Changes apply at once: every handset uses the new mapping from its next press or flash, and calls in progress keep going."}
	if len(buttons) == 0 {
		form.Note += " This is the default mapping."
	}
	for _, t := range c.Triggers {
		input, gesture, _ := strings.Cut(t, ":")
		legend := inputLabels[input]
		if legend == "" {
			legend = input
		}
		if len(form.Groups) == 0 || form.Groups[len(form.Groups)-1].Legend != legend {
			form.Groups = append(form.Groups, groupView{Legend: legend})
		}
		label := strings.ReplaceAll(gesture, "-", " ")
		in := selection(form.ID, t, strings.ToUpper(label[:1])+label[1:], mapped[t], "nothing", c.Actions)
		in.ID = form.ID + "-" + strings.ReplaceAll(t, ":", "-")
		g := &form.Groups[len(form.Groups)-1]
		g.Inputs = append(g.Inputs, in)
	}
	return form
}

// saveButtons saves the button mapping. Mappings of triggers the form does not offer stay
// as they are. The backend's errors name a mapping by its place in the list ("buttons[2].action"):
// they are shown next to the gesture's choice.
func (s *server) saveButtons(w http.ResponseWriter, r *http.Request) {
	c := s.backend.ButtonChoices()
	var order []string // the trigger of each mapping saved; "" for one the form does not offer
	s.saveLocal(w, r, "buttons", func(set *settings.Settings, v url.Values) (string, error) {
		const prefix = "buttons."
		var next []settings.ButtonMapping
		order = nil
		for _, t := range c.Triggers {
			if a := formText(v, t); a != "" {
				next = append(next, settings.ButtonMapping{Trigger: t, Action: a})
				order = append(order, t)
			}
		}
		if len(next) == 0 {
			return prefix, &settings.FieldError{Field: "buttons", Msg: "map at least one gesture: a mapping without any is the default mapping"}
		}
		if len(set.Buttons) == 0 && sameMapping(next, c.Default) {
			return prefix, nil // the default mapping, which the settings have already
		}
		for _, b := range set.Buttons {
			if !slices.Contains(c.Triggers, b.Trigger) {
				next = append(next, b)
				order = append(order, "")
			}
		}
		set.Buttons = next
		return prefix, nil
	}, func(fe *settings.FieldError) *settings.FieldError {
		rest, ok := strings.CutPrefix(fe.Field, "buttons[")
		n, _, found := strings.Cut(rest, "].")
		k, err := strconv.Atoi(n)
		if !ok || !found || err != nil || k < 0 || k >= len(order) || order[k] == "" {
			return fe
		}
		return &settings.FieldError{Field: "buttons." + order[k], Msg: fe.Msg}
	})
}

// sameMapping reports whether a and b map the same triggers to the same actions.
func sameMapping(a, b []settings.ButtonMapping) bool {
	m := func(l []settings.ButtonMapping) map[string]string {
		out := map[string]string{}
		for _, e := range l {
			out[e.Trigger] = e.Action
		}
		return out
	}
	return len(a) == len(b) && maps.Equal(m(a), m(b))
}

// pinsForm draws the pin overrides of handset i, called name, whose ID is id. The pins
// belong to the board's handset i, whatever its ID: the form goes by the index.
func pinsForm(i int, name, id string, pins []settings.PinOverride) formView {
	var o settings.PinOverride
	if k := slices.IndexFunc(pins, func(p settings.PinOverride) bool { return p.Handset == i }); k >= 0 {
		o = pins[k]
	}
	legend := fmt.Sprintf("%s (handset %d)", name, i+1)
	if id != "" {
		legend = fmt.Sprintf("%s (handset %d, ID %s)", name, i+1, id)
	}
	form := fmt.Sprintf("pins-%d", i)
	return formView{ID: form, Method: "post", Action: fmt.Sprintf("/settings/pins/%d", i), Submit: "Save",
		Legend: legend,
		Inputs: []inputView{
			input(form, "hook", "Hook switch", o.Hook),
			input(form, "button", "Call button", o.Button),
			input(form, "led", "Call LED", o.LED),
			input(form, "mute", "Mute button", o.Mute),
			input(form, "mute_led", "Mute LED", o.MuteLED),
		},
	}
}

// savePins saves the pin overrides of one handset; with every line empty it has none.
func (s *server) savePins(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("handset"))
	if err != nil || i < 0 || i >= len(s.backend.Status().Handsets) {
		http.NotFound(w, r)
		return
	}
	s.save(w, r, fmt.Sprintf("pins-%d", i), func(set *settings.Settings, v url.Values) (string, error) {
		o := settings.PinOverride{Handset: i, Hook: formText(v, "hook"), Button: formText(v, "button"), LED: formText(v, "led"),
			Mute: formText(v, "mute"), MuteLED: formText(v, "mute_led")}
		k := slices.IndexFunc(set.Pins, func(p settings.PinOverride) bool { return p.Handset == i })
		switch {
		case o == settings.PinOverride{Handset: i} && k >= 0:
			set.Pins = slices.Delete(set.Pins, k, k+1)
		case o == settings.PinOverride{Handset: i}:
		case k >= 0:
			set.Pins[k] = o
		default:
			set.Pins = append(set.Pins, o)
			k = len(set.Pins) - 1
		}
		return fmt.Sprintf("pins[%d].", k), nil
	})
}
