package config

import (
	"reflect"
	"testing"
	"time"

	"partyline/appliance/settings"
)

// TestFactoryReset changes the settings, records a call and sets the password, then resets:
// the settings are the first-start ones, the history is empty, the password stays.
func TestFactoryReset(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	first := s.Current().Settings
	if err := s.Update(func(set *settings.Settings) error {
		set.Accounts = []settings.Account{{ID: "alice", User: "alice", Domain: "example.org", Password: "secret"}}
		set.Handsets[0].Account, set.Handsets[0].Name = "alice", "Kitchen"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdminPassword("admin-password"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(settings.CallRecord{Handset: "Kitchen", Start: time.Now(), End: settings.EndLocal}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History(0); err != nil || len(h) != 1 {
		t.Fatalf("history before the reset: %v, %v", h, err)
	}

	if err := s.FactoryReset(2); err != nil {
		t.Fatal(err)
	}
	if got := s.Current().Settings; !reflect.DeepEqual(got, first) {
		t.Errorf("settings after the reset:\n %+v\nwant the first-start ones\n %+v", got, first)
	}
	if saved, err := s.Settings(); err != nil || !reflect.DeepEqual(saved, first) {
		t.Errorf("stored settings after the reset: %+v, %v", saved, err)
	}
	if h, err := s.History(0); err != nil || len(h) != 0 {
		t.Errorf("history after the reset: %v, %v; want none", h, err)
	}
	if ok, err := s.CheckAdminPassword("admin-password"); err != nil || !ok {
		t.Errorf("the admin password after the reset: %v, %v; want it kept", ok, err)
	}
}
