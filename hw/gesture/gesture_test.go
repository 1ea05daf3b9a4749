package gesture

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// change is a raw level change of a line, n ms after t0.
type change struct {
	n      int
	active bool
}

// got is an event as the tests write it: the gesture and ms after t0.
type got struct {
	g Gesture
	n int
}

func (g got) String() string { return fmt.Sprintf("%v@%d", g.g, g.n) }

// drive feeds m the changes and, between them, advances it exactly to each deadline it
// reports, as Watch does; then it runs on to end ms.
func drive(t *testing.T, m Machine, changes []change, end int) []got {
	t.Helper()
	var out []got
	collect := func(evs []Event) {
		for _, e := range evs {
			out = append(out, got{e.Gesture, int(e.At.Sub(t0) / time.Millisecond)})
		}
	}
	advanceTo := func(limit time.Time) {
		for {
			at, ok := m.Deadline()
			if !ok || at.After(limit) {
				return
			}
			evs := m.Advance(at)
			if len(evs) == 0 {
				if next, ok := m.Deadline(); ok && !next.After(at) {
					t.Fatalf("deadline %v returned no events and did not move", at.Sub(t0))
				}
			}
			collect(evs)
		}
	}
	for _, c := range changes {
		advanceTo(ms(c.n))
		collect(m.Input(ms(c.n), c.active))
	}
	advanceTo(ms(end))
	return out
}

// feed gives m the changes only, then one Advance at end: a caller that polls late must
// get the same events at the same times.
func feed(m Machine, changes []change, end int) []got {
	var out []got
	collect := func(evs []Event) {
		for _, e := range evs {
			out = append(out, got{e.Gesture, int(e.At.Sub(t0) / time.Millisecond)})
		}
	}
	for _, c := range changes {
		collect(m.Input(ms(c.n), c.active))
	}
	collect(m.Advance(ms(end)))
	return out
}

func TestHook(t *testing.T) {
	const up, down = true, false
	lifted := change{0, up} // OffHook at 30
	tests := []struct {
		name    string
		changes []change
		want    []got
	}{
		{"lift", []change{lifted}, []got{{OffHook, 30}}},
		{"bounce rejected", []change{{0, up}, {5, down}, {10, up}, {15, down}}, nil},
		{"bounce then lift", []change{{0, up}, {5, down}, {10, up}}, []got{{OffHook, 40}}},
		{"short bounce while off-hook ignored", []change{lifted, {1000, down}, {1010, up}}, []got{{OffHook, 30}}},
		{"300 ms on-hook is a flash", []change{lifted, {1000, down}, {1300, up}},
			[]got{{OffHook, 30}, {Flash, 1330}}},
		{"1 s on-hook is a hang-up, reported at flash maximum", []change{lifted, {1000, down}, {2000, up}},
			[]got{{OffHook, 30}, {OnHook, 1700}, {OffHook, 2030}}},
		{"hang-up and stay down", []change{lifted, {1000, down}}, []got{{OffHook, 30}, {OnHook, 1700}}},
		{"50 ms on-hook is a glitch", []change{lifted, {1000, down}, {1050, up}}, []got{{OffHook, 30}}},
		{"on-hook of exactly flash minimum is a flash", []change{lifted, {1000, down}, {1100, up}},
			[]got{{OffHook, 30}, {Flash, 1130}}},
		{"on-hook just under flash minimum is a glitch", []change{lifted, {1000, down}, {1099, up}},
			[]got{{OffHook, 30}}},
		{"bouncing hang-up measured from the last bounce", []change{lifted, {1000, down}, {1005, up}, {1010, down}},
			[]got{{OffHook, 30}, {OnHook, 1710}}},
		{"lift just before flash maximum is a flash", []change{lifted, {1000, down}, {1690, up}},
			[]got{{OffHook, 30}, {Flash, 1720}}},
		{"lift at flash maximum is a hang-up", []change{lifted, {1000, down}, {1700, up}},
			[]got{{OffHook, 30}, {OnHook, 1700}, {OffHook, 1730}}},
		{"lift bouncing back before flash maximum", []change{lifted, {1000, down}, {1690, up}, {1695, down}},
			[]got{{OffHook, 30}, {OnHook, 1700}}},
		{"lift bouncing back after flash maximum", []change{lifted, {1000, down}, {1690, up}, {1710, down}},
			[]got{{OffHook, 30}, {OnHook, 1710}}},
		{"two flashes", []change{lifted, {1000, down}, {1200, up}, {2000, down}, {2500, up}},
			[]got{{OffHook, 30}, {Flash, 1230}, {Flash, 2530}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, run := range map[string]func(Machine) []got{
				"deadlines": func(m Machine) []got { return drive(t, m, tt.changes, 5000) },
				"late":      func(m Machine) []got { return feed(m, tt.changes, 5000) },
			} {
				h, err := NewHook(DefaultHook())
				if err != nil {
					t.Fatal(err)
				}
				if g := run(h); !slices.Equal(g, tt.want) {
					t.Errorf("%s: events %v, want %v", name, g, tt.want)
				}
			}
		})
	}
}

func TestHookOnHookLatencyIsFlashMax(t *testing.T) {
	c := DefaultHook()
	c.FlashMax = 900 * time.Millisecond
	h, err := NewHook(c)
	if err != nil {
		t.Fatal(err)
	}
	h.Input(ms(0), true)
	if evs := h.Input(ms(1000), false); len(evs) != 1 || evs[0] != (Event{OffHook, ms(30)}) {
		t.Fatalf("events by 1000 ms = %v, want off-hook at 30 ms", evs)
	}
	if evs := h.Advance(ms(1899)); len(evs) != 0 {
		t.Fatalf("events by 1899 ms = %v, want none", evs)
	}
	if at, ok := h.Deadline(); !ok || !at.Equal(ms(1900)) {
		t.Fatalf("Deadline = %v, %v; want 1900 ms", at.Sub(t0), ok)
	}
	if evs := h.Advance(ms(1900)); len(evs) != 1 || evs[0] != (Event{OnHook, ms(1900)}) {
		t.Errorf("events at 1900 ms = %v, want on-hook at 1900 ms", evs)
	}
	if _, ok := h.Deadline(); ok {
		t.Errorf("Deadline set after the hang-up, want none")
	}
}

func TestButton(t *testing.T) {
	const press, release = true, false
	tests := []struct {
		name    string
		changes []change
		want    []got
	}{
		{"short press reported on release", []change{{0, press}, {200, release}}, []got{{ShortPress, 230}}},
		{"long press reported while held", []change{{0, press}}, []got{{LongPress, 800}}},
		{"long press then release", []change{{0, press}, {2000, release}}, []got{{LongPress, 800}}},
		{"bounce rejected", []change{{0, press}, {5, release}, {10, press}, {12, release}}, nil},
		{"bouncing press measured from the last bounce", []change{{0, press}, {5, release}, {10, press}, {300, release}},
			[]got{{ShortPress, 330}}},
		{"release just before the long-press time", []change{{0, press}, {790, release}}, []got{{ShortPress, 820}}},
		{"two presses", []change{{0, press}, {100, release}, {500, press}, {1500, release}},
			[]got{{ShortPress, 130}, {LongPress, 1300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, run := range map[string]func(Machine) []got{
				"deadlines": func(m Machine) []got { return drive(t, m, tt.changes, 5000) },
				"late":      func(m Machine) []got { return feed(m, tt.changes, 5000) },
			} {
				b, err := NewButton(DefaultButton())
				if err != nil {
					t.Fatal(err)
				}
				if g := run(b); !slices.Equal(g, tt.want) {
					t.Errorf("%s: events %v, want %v", name, g, tt.want)
				}
			}
		})
	}
}

func TestZeroDebounce(t *testing.T) {
	b, err := NewButton(ButtonConfig{LongPress: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if evs := b.Input(ms(0), true); len(evs) != 0 {
		t.Errorf("press: %v, want nothing yet", evs)
	}
	if evs := b.Input(ms(1), false); len(evs) != 1 || evs[0] != (Event{ShortPress, ms(1)}) {
		t.Errorf("release: %v, want short press at 1 ms", evs)
	}
}

func TestConfigValidation(t *testing.T) {
	hook := func(f func(*HookConfig)) HookConfig { c := DefaultHook(); f(&c); return c }
	button := func(f func(*ButtonConfig)) ButtonConfig { c := DefaultButton(); f(&c); return c }
	tests := []struct {
		name string
		err  error
		want []string // substrings; none: valid
	}{
		{"default hook", DefaultHook().Validate(), nil},
		{"default button", DefaultButton().Validate(), nil},
		{"pre-debounced hook", hook(func(c *HookConfig) { c.Debounce = 0 }).Validate(), nil},
		{"negative debounce", hook(func(c *HookConfig) { c.Debounce = -time.Millisecond }).Validate(),
			[]string{"hook config", "debounce -1ms is outside 0 to 200ms"}},
		{"flash window reversed", hook(func(c *HookConfig) { c.FlashMin, c.FlashMax = 700*time.Millisecond, 100*time.Millisecond }).Validate(),
			[]string{"flash minimum 700ms is not shorter than flash maximum 100ms"}},
		{"flash maximum too long", hook(func(c *HookConfig) { c.FlashMax = 2 * time.Second }).Validate(),
			[]string{"flash maximum 2s is outside 25ms to 1.6s"}},
		{"flash minimum too short", hook(func(c *HookConfig) { c.FlashMin = 10 * time.Millisecond }).Validate(),
			[]string{"flash minimum 10ms is outside", "debounce 30ms is not shorter than flash minimum 10ms"}},
		{"zero hook", HookConfig{}.Validate(), []string{"flash minimum 0s", "flash maximum 0s", "not shorter"}},
		{"long press too short", button(func(c *ButtonConfig) { c.LongPress = 50 * time.Millisecond }).Validate(),
			[]string{"button config", "long press 50ms is outside 200ms to 10s"}},
		{"button debounce too long", button(func(c *ButtonConfig) { c.Debounce = time.Second }).Validate(),
			[]string{"debounce 1s is outside 0 to 200ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 {
				if tt.err != nil {
					t.Errorf("Validate = %v, want nil", tt.err)
				}
				return
			}
			if tt.err == nil {
				t.Fatalf("Validate = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.err.Error(), w) {
					t.Errorf("Validate = %q, want it to contain %q", tt.err, w)
				}
			}
		})
	}
	if _, err := NewHook(HookConfig{}); err == nil {
		t.Error("NewHook(zero config) succeeded, want an error")
	}
	if _, err := NewButton(ButtonConfig{}); err == nil {
		t.Error("NewButton(zero config) succeeded, want an error")
	}
}

func TestDebouncer(t *testing.T) {
	b := NewDebouncer(30 * time.Millisecond)
	b.Sample(ms(0), true)
	if _, _, changed := b.Update(ms(29)); changed {
		t.Fatal("settled after 29 ms")
	}
	b.Sample(ms(20), true) // the same level again: the wait goes on
	if at, ok := b.Deadline(); !ok || !at.Equal(ms(30)) {
		t.Fatalf("Deadline = %v, %v; want 30 ms", at.Sub(t0), ok)
	}
	if level, at, changed := b.Update(ms(30)); !changed || !level || !at.Equal(ms(0)) {
		t.Fatalf("Update(30 ms) = %v, %v, %v; want active since 0", level, at.Sub(t0), changed)
	}
	b.Sample(ms(100), false)
	b.Edge(ms(110), false) // a bounce the samples did not show: wait again
	if _, _, changed := b.Update(ms(139)); changed {
		t.Fatal("settled 29 ms after a bounce")
	}
	if level, _, changed := b.Update(ms(140)); !changed || level || b.Level() {
		t.Fatalf("Update(140 ms) = %v, %v; want inactive", level, changed)
	}
	if _, ok := b.Deadline(); ok {
		t.Error("Deadline set with nothing settling")
	}
}
