package appliance

import (
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
)

// TestOneHandsetNumbering renames handset 2 and has it fail a join: the dashboard's status,
// the events, the log and the metrics all name it by the same number (2) and the same
// stable ID (handset-2), whatever its name.
func TestOneHandsetNumbering(t *testing.T) {
	var logs syncBuffer
	a := newSimAppliance(t, &logs)
	run(t, a)
	b := backend{a}
	if _, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Handsets[1].Name = "Kitchen"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Control(1, web.ActionJoin); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(logs.String(), "join failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed join in the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if h := b.Status().Handsets[1]; h.Number != 2 || h.ID != "handset-2" || h.Name != "Kitchen" {
		t.Errorf("status of handset 2: number %d, ID %q, name %q", h.Number, h.ID, h.Name)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "join failed") && !strings.Contains(line, "handset=handset-2") {
			t.Errorf("the log names handset 2 otherwise: %s", line)
		}
	}
	var sources []string
	for _, e := range b.Events() {
		if strings.Contains(e.Text, "asked on the admin page") || strings.Contains(e.Text, "has no conference") {
			sources = append(sources, e.Source)
		}
	}
	for _, s := range sources {
		// Handset 2's events from before the rename name it as it was called then.
		if s != "Handset 1" && s != "Handset 2" && s != "Kitchen (handset 2)" {
			t.Errorf("an event names a handset %q, want its name with its number", s)
		}
	}
	if !strings.Contains(strings.Join(sources, "|"), "Kitchen (handset 2)") {
		t.Errorf("no event names Kitchen (handset 2): %q", sources)
	}
	m := metrics(t, a.adminURL())
	if !strings.Contains(m, `partyline_handset_info{handset="handset-2",name="Kitchen",number="2"} 1`) ||
		!strings.Contains(m, `partyline_handset_state{handset="handset-2",state=`) {
		t.Errorf("the metrics do not key handset 2 by its ID:\n%s", m)
	}
}
