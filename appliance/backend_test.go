package appliance

import (
	"path/filepath"
	"reflect"
	"testing"

	"partyline/appliance/config"
)

// TestSettingsSurviveTheAdminPage converts settings with every section filled to the admin
// page's types and back: a section the conversion forgot would be lost on the next save.
func TestSettingsSurviveTheAdminPage(t *testing.T) {
	set := config.Settings{
		SIP:      config.SIPSettings{ListenAddr: "127.0.0.1:5060"},
		Accounts: []config.Account{{ID: "alice", User: "alice", Password: "pw", Domain: "example.org", ExpiresSeconds: 60}},
		Handsets: []config.Handset{{ID: "h1", Name: "Desk", Account: "alice", Conference: "main",
			Identity: config.IdentityImpersonate, IdentityURI: "sip:desk@example.org", AssertIdentity: true}},
		Conferences: []config.Conference{{ID: "main", URI: "sip:conf@example.org", PIN: "1#", Record: true,
			Announce: []string{"tone:440:1s"}, RecorderPrefix: "rec"}},
		Recordings: config.Recordings{ReserveMB: 200},
		Bridges:    []config.Bridge{{ID: "front", User: "100", Conference: "main", Identity: "caller", Account: "alice"}},
		Pins:       []config.PinOverride{{Handset: 1, Hook: "GPIO5", LED: "mcp23017:0x21:A0"}},
		Buttons:    []config.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}},
		Metrics:    config.MetricsSettings{Access: config.MetricsToken, Token: "metrics-token-0123456789"},
		Board:      "pi-wm8960",
		AdminPage:  config.AdminPageSettings{Hosts: []string{"partyline.example.org"}},
	}
	v := reflect.ValueOf(set)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test leaves settings section %s empty: fill it", v.Type().Field(i).Name)
		}
	}
	if got := fromWeb(toWeb(set)); !reflect.DeepEqual(got, set) {
		t.Errorf("through the admin page's types:\n got %+v\nwant %+v", got, set)
	}
}

// TestButtonsApplyWithoutARestart: a changed button mapping needs no restart, changed pins
// still do.
func TestButtonsApplyWithoutARestart(t *testing.T) {
	old := config.Settings{Buttons: []config.ButtonMapping{{Trigger: "mute:long-press", Action: "send-pin"}}}
	buttons := old
	buttons.Buttons = []config.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
	if needsRestart(old, buttons) {
		t.Error("a changed button mapping needs a restart")
	}
	if emptied := (config.Settings{}); needsRestart(old, emptied) {
		t.Error("going back to the default button mapping needs a restart")
	}
	pins := old
	pins.Pins = []config.PinOverride{{Handset: 0, Hook: "GPIO5"}}
	if !needsRestart(old, pins) {
		t.Error("changed pins need no restart, want one: the GPIO lines are opened at start")
	}
	board := old
	board.Board = "pi-octo"
	if !needsRestart(old, board) {
		t.Error("a changed board needs no restart, want one: the board is chosen at start")
	}
	if needsRestart(old, old) {
		t.Error("unchanged settings need a restart")
	}
}

// newTestStore opens a settings store in the test's directory, with the first-start
// settings of a two-handset board, until the test ends.
func newTestStore(t *testing.T) *config.Store {
	t.Helper()
	st, err := config.Open(filepath.Join(t.TempDir(), "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	return st
}
