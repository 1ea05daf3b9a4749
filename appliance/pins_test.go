package appliance

import (
	"strings"
	"testing"

	"partyline/appliance/config"
	"partyline/board"
)

func TestPinOverrides(t *testing.T) {
	p, err := board.ByName("pi-wm8960")
	if err != nil {
		t.Fatal(err)
	}
	before := p.Handsets[1]
	got, err := withPins(p, []config.PinOverride{{Handset: 1, Hook: "GPIO5", LED: "GPIO6"}})
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
	_, err = withPins(p, []config.PinOverride{{Handset: 5, Hook: "GPIO5"}})
	if err == nil || !strings.Contains(err.Error(), "has 2 handsets") {
		t.Errorf("an override of handset 6 on a two-handset board: %v, want an error", err)
	}
}
