package appliance

import (
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"partyline/appliance/audiohub"
	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/hw"
	"partyline/hw/gesture"
)

func TestButtonMapping(t *testing.T) {
	m, err := buttonMapping(nil)
	if err != nil || len(m) != len(handset.DefaultMapping()) {
		t.Fatalf("no settings: %v, %v; want the default mapping", m, err)
	}
	m, err = buttonMapping([]settings.ButtonMapping{
		{Trigger: "mute:long-press", Action: "record"}, {Trigger: "hook:flash", Action: "mute"}, {Trigger: "button:long-press", Action: "hold"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.Action("mute", gesture.LongPress); !ok || a != handset.Record {
		t.Errorf("mute:long-press = %v, %v; want record", a, ok)
	}
	if a, ok := m.Action("button", gesture.LongPress); !ok || a != handset.Hold {
		t.Errorf("button:long-press = %v, %v; want hold", a, ok)
	}
	if _, ok := m.Action("button", gesture.ShortPress); ok {
		t.Error("a configured mapping kept a default entry it does not name")
	}
	for _, tt := range []struct {
		buttons []settings.ButtonMapping
		field   string
	}{
		{[]settings.ButtonMapping{{Trigger: "mute:wiggle", Action: "record"}}, "buttons[0].trigger"},
		{[]settings.ButtonMapping{{Trigger: "hook:flash", Action: "mute"}, {Trigger: "mute:long-press", Action: "dance"}}, "buttons[1].action"},
		{[]settings.ButtonMapping{{Trigger: "hook:flash", Action: "mute"}, {Trigger: "hook:flash", Action: "record"}}, "buttons[1].trigger"},
		{[]settings.ButtonMapping{{Trigger: "hook:flash", Action: "dance"}, {Trigger: "mute:wiggle", Action: "mute"}}, "buttons[0].action buttons[1].trigger"},
	} {
		_, err := buttonMapping(tt.buttons)
		var fields []string
		for _, fe := range settings.FieldErrors(err) {
			fields = append(fields, fe.Field)
		}
		if got := strings.Join(fields, " "); got != tt.field {
			t.Errorf("%+v: err = %v, want field errors on %s", tt.buttons, err, tt.field)
		}
	}
}

// TestInvalidButtonMappingIsRefused saves a mapping with an unknown action through the
// admin page's path: it is refused naming the field, and the stored settings stay.
func TestInvalidButtonMappingIsRefused(t *testing.T) {
	st := newTestStore(t)
	b := backend{&Appliance{store: st, log: slog.New(slog.DiscardHandler)}}
	_, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "dance"}}
		return nil
	})
	var fe *settings.FieldError
	if !errors.As(err, &fe) || fe.Field != "buttons[0].action" {
		t.Fatalf("UpdateSettings = %v, want a field error on buttons[0].action", err)
	}
	if set, err := st.Settings(); err != nil || len(set.Buttons) != 0 {
		t.Errorf("after the refusal: buttons %+v, %v; want none stored", set.Buttons, err)
	}
	if _, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
		return nil
	}); err != nil {
		t.Fatalf("a valid mapping: %v", err)
	}
}

// TestSavedButtonMappingReachesTheLines saves a mapping through the admin page's path: every
// line has it at once, without a restart; a save that leaves the buttons alone keeps the
// lines' mapping, and an emptied mapping is the default again.
func TestSavedButtonMappingReachesTheLines(t *testing.T) {
	st := newTestStore(t)
	a := &Appliance{store: st, log: slog.New(slog.DiscardHandler)}
	for i := range 2 {
		a.lines = append(a.lines, handset.New(handset.Config{Index: i, Log: a.log}))
	}
	b := backend{a}
	save := func(change func(*settings.Settings)) {
		t.Helper()
		restart, err := b.UpdateSettings(func(s *settings.Settings) error { change(s); return nil })
		if err != nil || restart {
			t.Fatalf("UpdateSettings = restart %v, %v; want no restart", restart, err)
		}
	}
	want := handset.Mapping{{Input: "mute", Gesture: gesture.LongPress}: handset.Record}
	save(func(s *settings.Settings) {
		s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
	})
	for i, l := range a.lines {
		if got := l.Mapping(); !maps.Equal(got, want) {
			t.Errorf("line %d after the save: mapping %v, want %v", i+1, got, want)
		}
	}
	// The same map, not an equal one: the mapping was not replaced.
	before := reflect.ValueOf(a.lines[0].Mapping()).Pointer()
	save(func(s *settings.Settings) { s.Recordings.ReserveMB = 123 })
	if reflect.ValueOf(a.lines[0].Mapping()).Pointer() != before {
		t.Error("a save that left the buttons alone replaced the lines' mapping")
	}
	save(func(s *settings.Settings) { s.Buttons = nil })
	if got := a.lines[1].Mapping(); !maps.Equal(got, handset.DefaultMapping()) {
		t.Errorf("after emptying the buttons: mapping %v, want the default", got)
	}
}

// TestVolumeButtonsChangeTheEarpieceGain maps the volume actions and presses them: the
// earpiece gain moves 3 dB a press, stays within its limits, and is kept in the settings.
func TestVolumeButtonsChangeTheEarpieceGain(t *testing.T) {
	st := newTestStore(t)
	c := &conferencing{store: st, hub: audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}),
		saves: newHandsetSaves(st, slog.New(slog.DiscardHandler))}
	for range 2 {
		if _, err := c.Louder(1, handset.VolumeStep); err != nil {
			t.Fatal(err)
		}
	}
	flushSaves(c.saves)
	set, _ := st.Settings()
	if got := set.Handsets[1].EarGainDB; got != 6 {
		t.Errorf("after two presses up: %g dB, want 6", got)
	}
	if _, got, _, _ := c.hub.Gains(1); got != gainOf(t, 6) {
		t.Errorf("the hub's earpiece gain %d, want %d (6 dB)", got, gainOf(t, 6))
	}
	for range 30 {
		if _, err := c.Louder(1, -handset.VolumeStep); err != nil {
			t.Fatal(err)
		}
	}
	flushSaves(c.saves)
	if set, _ := st.Settings(); set.Handsets[1].EarGainDB != settings.MinGainDB {
		t.Errorf("after thirty presses down: %g dB, want the floor %d", set.Handsets[1].EarGainDB, settings.MinGainDB)
	}
}

// TestButtonChoices checks what the admin page offers: every trigger the mapping can map,
// none that a handset.Line handles by itself, every action, and a default the mapping accepts.
func TestButtonChoices(t *testing.T) {
	c := backend{}.ButtonChoices()
	want := []string{"hook:flash", "button:short-press", "button:long-press", "mute:short-press", "mute:long-press"}
	if !slices.Equal(c.Triggers, want) {
		t.Errorf("triggers %q, want %q", c.Triggers, want)
	}
	if len(c.Actions) != len(handset.Actions()) || !slices.Contains(c.Actions, "record") || !slices.Contains(c.Actions, "join-leave") {
		t.Errorf("actions %q, want every gesture action", c.Actions)
	}
	var def []settings.ButtonMapping
	for _, m := range c.Default {
		def = append(def, settings.ButtonMapping(m))
	}
	m, err := buttonMapping(def)
	if err != nil || !maps.Equal(m, handset.DefaultMapping()) {
		t.Errorf("the default choices map to %v, %v; want the default mapping", m, err)
	}
}
