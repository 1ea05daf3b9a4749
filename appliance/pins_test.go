package appliance

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"partyline/appliance/settings"
	"partyline/board"
)

func TestPinOverrides(t *testing.T) {
	p, err := board.ByName("pi-wm8960")
	if err != nil {
		t.Fatal(err)
	}
	before := p.Handsets[1]
	got, err := withPins(p, []settings.PinOverride{{Handset: 1, Hook: "GPIO5", LED: "GPIO6"}})
	if err != nil {
		t.Fatal(err)
	}
	h := got.Handsets[1]
	if h.Hook != "GPIO5" || h.LED != "GPIO6" || h.Button != before.Button || h.Mute != before.Mute {
		t.Errorf("handset 2 after the override: %+v (before %+v), want hook GPIO5, LED GPIO6, the rest kept", h, before)
	}
	if got.Handsets[0] != p.Handsets[0] {
		t.Errorf("handset 1 changed: %+v", got.Handsets[0])
	}
	if p.Handsets[1] != before {
		t.Error("the override changed the profile it was given")
	}
	_, err = withPins(p, []settings.PinOverride{{Handset: 5, Hook: "GPIO5"}})
	if err == nil || !strings.Contains(err.Error(), "has 2 handsets") {
		t.Errorf("an override of handset 6 on a two-handset board: %v, want an error", err)
	}
}

// TestCheckPins refuses, naming the field, what would stop the appliance from opening its
// pins at the next start and can be known without opening them.
func TestCheckPins(t *testing.T) {
	p, err := board.ByName("pi-octo")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPins(p, []settings.PinOverride{{Handset: 5, Hook: "mcp23017:0x21:A0", LED: "GPIO6"}}); err != nil {
		t.Errorf("a valid override: %v", err)
	}
	for _, tt := range []struct {
		pin   settings.PinOverride
		field string
	}{
		{settings.PinOverride{Handset: 6, Hook: "GPIO6"}, "pins[0].handset"},
		{settings.PinOverride{Handset: 0, Mute: "mcp23017:0x27:A0"}, "pins[0].mute"},
		{settings.PinOverride{Handset: 0, MuteLED: p.Reserved[0]}, "pins[0].mute_led"},
		{settings.PinOverride{Handset: 1, Hook: "GPIO99"}, "pins[0].hook"},
		{settings.PinOverride{Handset: 1, Button: "GPIO28"}, "pins[0].button"},
		{settings.PinOverride{Handset: 1, Hook: "GPIO99", Mute: "mcp23017:0x27:A0"}, "pins[0].hook pins[0].mute"},
	} {
		err := checkPins(p, []settings.PinOverride{tt.pin})
		var fields []string
		for _, fe := range settings.FieldErrors(err) {
			fields = append(fields, fe.Field)
		}
		if got := strings.Join(fields, " "); got != tt.field {
			t.Errorf("%+v: %v, want errors on %s", tt.pin, err, tt.field)
		}
	}
}

// TestPinsAndButtonsThroughTheBackend saves pins and buttons as the admin page does, on a
// sim appliance: pins for a handset the board lacks are refused, naming the field, and
// change nothing; a new button mapping says it waits for a restart, the same one saved
// again does not.
func TestPinsAndButtonsThroughTheBackend(t *testing.T) {
	a := newSimAppliance(t, nil)
	run(t, a)
	b := backend{a}
	before, err := a.store.Settings()
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.UpdateSettings(func(s *settings.Settings) error {
		s.Pins = []settings.PinOverride{{Handset: len(a.lines), Hook: "GPIO5"}}
		return nil
	})
	var fe *settings.FieldError
	if !errors.As(err, &fe) || fe.Field != "pins[0].handset" {
		t.Errorf("pins of handset %d on a %d-handset board: %v, want an error on pins[0].handset", len(a.lines)+1, len(a.lines), err)
	}
	if after, _ := a.store.Settings(); !reflect.DeepEqual(after, before) {
		t.Errorf("refused pins changed the settings: %+v", after.Pins)
	}
	mapping := func(s *settings.Settings) error {
		s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
		return nil
	}
	if restart, err := b.UpdateSettings(mapping); err != nil || restart {
		t.Errorf("a new button mapping: restart %v, %v; want it applied without a restart", restart, err)
	}
}
