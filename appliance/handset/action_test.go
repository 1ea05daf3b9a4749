package handset

import (
	"encoding/json"
	"strings"
	"testing"

	"partyline/hw/gesture"
)

func TestActionNames(t *testing.T) {
	want := map[Action]string{
		JoinLeave: "join-leave", Mute: "mute", NextConference: "next-conference",
		VolumeUp: "volume-up", VolumeDown: "volume-down", SendPIN: "send-pin", Record: "record",
		Hold: "hold",
	}
	for a, name := range want {
		if a.String() != name {
			t.Errorf("%d.String() = %q, want %q", int(a), a, name)
		}
		if got, err := ParseAction(name); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", name, got, err, a)
		}
	}
	if len(actionNames) != len(want) {
		t.Errorf("%d actions, want %d", len(actionNames), len(want))
	}
	_, err := ParseAction("dance")
	if err == nil || !strings.Contains(err.Error(), `unknown action "dance" (known: hold, join-leave, mute,`) {
		t.Errorf("ParseAction(dance) error = %v, want one listing the actions", err)
	}
	if s := Action(99).String(); s != "action(99)" {
		t.Errorf("Action(99).String() = %q", s)
	}
	if _, err := Action(0).MarshalText(); err == nil {
		t.Error("Action(0).MarshalText succeeded, want an error")
	}
}

func TestMapping(t *testing.T) {
	m := DefaultMapping()
	if err := m.Validate(); err != nil {
		t.Fatalf("DefaultMapping: %v", err)
	}
	if a, ok := m.Action("button", gesture.LongPress); !ok || a != NextConference {
		t.Errorf("button long press = %v, %v; want next-conference", a, ok)
	}
	// Holding the call button proves presence while the appliance wants it: the gesture
	// that otherwise picks the next conference.
	if err := PresenceTrigger.Validate(); err != nil || PresenceTrigger.String() != "button:long-press" {
		t.Errorf("PresenceTrigger = %v (%v), want button:long-press", PresenceTrigger, err)
	}
	if a, ok := m[PresenceTrigger]; !ok || a != NextConference {
		t.Errorf("PresenceTrigger is mapped to %v, %v; want next-conference when no presence is wanted", a, ok)
	}
	if a, ok := m.Action(gesture.HookInput, gesture.Flash); !ok || a != Mute {
		t.Errorf("hook flash = %v, %v; want mute", a, ok)
	}
	if _, ok := m.Action(gesture.HookInput, gesture.OffHook); ok {
		t.Error("off-hook is mapped, want it left to the handset's line")
	}

	bad := Mapping{
		{Input: "button", Gesture: gesture.Flash}:               Mute,
		{Input: gesture.HookInput, Gesture: gesture.ShortPress}: Record,
		{Input: "mute", Gesture: gesture.LongPress}:             Action(42),
		{Input: "volume", Gesture: gesture.ShortPress}:          VolumeUp,
		{Input: "volume", Gesture: gesture.LongPress}:           VolumeDown,
		{Input: "mute key", Gesture: gesture.ShortPress}:        Mute,
		{Input: "button", Gesture: gesture.Gesture(0)}:          SendPIN,
		{Input: "button", Gesture: gesture.ShortPress}:          JoinLeave,
		{Input: gesture.HookInput, Gesture: gesture.OnHook}:     JoinLeave,
		{Input: "record", Gesture: gesture.ShortPress}:          Record,
		{Input: "next", Gesture: gesture.ShortPress}:            NextConference,
		{Input: "volume-down", Gesture: gesture.LongPress}:      VolumeDown,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad mapping")
	}
	for _, want := range []string{
		"gesture mapping",
		"trigger button:flash: a button cannot make a flash",
		"trigger hook:short-press: the hook cannot make a short-press",
		"trigger mute:long-press: action(42) is not an action",
		`input name "mute key"`,
		"trigger button:gesture(0): not a gesture",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, want it to contain %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("Validate reported %d problems, want 5:\n%v", n, err)
	}
}

func TestTextEncoding(t *testing.T) {
	type settings struct {
		Action  Action
		Gesture gesture.Gesture
	}
	raw, err := json.Marshal(settings{SendPIN, gesture.LongPress})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"Action":"send-pin","Gesture":"long-press"}` {
		t.Errorf("json = %s", raw)
	}
	var back settings
	if err := json.Unmarshal(raw, &back); err != nil || back != (settings{SendPIN, gesture.LongPress}) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"Action":"fly"}`), &back); err == nil {
		t.Error("unmarshal of an unknown action succeeded")
	}
}

// TestActionList checks that Actions lists every action once, in the order of the
// values, so that a new action reaches the admin page's choices by itself.
func TestActionList(t *testing.T) {
	actions := Actions()
	if len(actions) != len(actionNames) {
		t.Errorf("Actions() = %v, want all %d", actions, len(actionNames))
	}
	for i, a := range actions {
		if _, ok := actionNames[a]; !ok || i > 0 && actions[i-1] >= a {
			t.Errorf("Actions() = %v: %v is unknown or out of order", actions, a)
		}
	}
}
