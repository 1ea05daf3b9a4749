package gesture

import (
	"encoding/json"
	"strings"
	"testing"
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

func TestGestureNames(t *testing.T) {
	for g := OffHook; g <= LongPress; g++ {
		back, err := ParseGesture(g.String())
		if err != nil || back != g {
			t.Errorf("ParseGesture(%q) = %v, %v; want %v", g, back, err, g)
		}
	}
	if _, err := ParseGesture("wave"); err == nil {
		t.Error("ParseGesture(wave) succeeded")
	}
}

func TestTrigger(t *testing.T) {
	for _, s := range []string{"hook:flash", "hook:off-hook", "button:long-press", "mute:short-press", "button-2:short-press"} {
		tr, err := ParseTrigger(s)
		if err != nil || tr.String() != s {
			t.Errorf("ParseTrigger(%q) = %v, %v", s, tr, err)
		}
	}
	for s, want := range map[string]string{
		"hook":              "want input:gesture",
		"hook:long-press":   "the hook cannot make a long-press",
		"button:flash":      "a button cannot make a flash",
		"Button:long-press": `input name "Button" is not lower-case`,
		":short-press":      `input name ""`,
		"button:wave":       `unknown gesture "wave"`,
	} {
		if _, err := ParseTrigger(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTrigger(%q) error = %v, want one with %q", s, err, want)
		}
	}
}

func TestMapping(t *testing.T) {
	m := DefaultMapping()
	if err := m.Validate(); err != nil {
		t.Fatalf("DefaultMapping: %v", err)
	}
	if a, ok := m.Action("button", LongPress); !ok || a != NextConference {
		t.Errorf("button long press = %v, %v; want next-conference", a, ok)
	}
	if a, ok := m.Action(HookInput, Flash); !ok || a != Mute {
		t.Errorf("hook flash = %v, %v; want mute", a, ok)
	}
	if _, ok := m.Action(HookInput, OffHook); ok {
		t.Error("off-hook is mapped, want it left to the handset's line")
	}

	bad := Mapping{
		{"button", Flash}:          Mute,
		{HookInput, ShortPress}:    Record,
		{"mute", LongPress}:        Action(42),
		{"volume", ShortPress}:     VolumeUp,
		{"volume", LongPress}:      VolumeDown,
		{"mute key", ShortPress}:   Mute,
		{"button", Gesture(0)}:     SendPIN,
		{"button", ShortPress}:     JoinLeave,
		{HookInput, OnHook}:        JoinLeave,
		{"record", ShortPress}:     Record,
		{"next", ShortPress}:       NextConference,
		{"volume-down", LongPress}: VolumeDown,
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
		Gesture Gesture
	}
	raw, err := json.Marshal(settings{SendPIN, LongPress})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"Action":"send-pin","Gesture":"long-press"}` {
		t.Errorf("json = %s", raw)
	}
	var back settings
	if err := json.Unmarshal(raw, &back); err != nil || back != (settings{SendPIN, LongPress}) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"Action":"fly"}`), &back); err == nil {
		t.Error("unmarshal of an unknown action succeeded")
	}
}

// TestLists checks that Actions and Gestures list every name once, in the order of the
// values, so that a new action or gesture reaches the admin page's choices by itself.
func TestLists(t *testing.T) {
	actions := Actions()
	if len(actions) != len(actionNames) {
		t.Errorf("Actions() = %v, want all %d", actions, len(actionNames))
	}
	for i, a := range actions {
		if _, ok := actionNames[a]; !ok || i > 0 && actions[i-1] >= a {
			t.Errorf("Actions() = %v: %v is unknown or out of order", actions, a)
		}
	}
	gestures := Gestures()
	if len(gestures) != len(gestureNames) || gestures[0] != OffHook || gestures[len(gestures)-1] != LongPress {
		t.Errorf("Gestures() = %v, want off-hook to long-press", gestures)
	}
}
