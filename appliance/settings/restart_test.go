package settings

import "testing"

// TestNeedsRestart: what the appliance sets up only when it starts needs a restart when it
// changes; the rest, such as the button mapping, applies while it runs.
func TestNeedsRestart(t *testing.T) {
	old := Settings{
		SIP:      SIPSettings{ListenAddr: "0.0.0.0:5060"},
		Accounts: []Account{{ID: "alice", User: "alice", Domain: "example.org"}},
		Handsets: []Handset{{ID: "h1", Name: "Desk", Channel: 0}, {ID: "h2", Name: "Door", Channel: 1}},
		Buttons:  []ButtonMapping{{Trigger: "mute:long-press", Action: "send-pin"}},
	}
	for _, tt := range []struct {
		name   string
		change func(s *Settings)
		want   bool
	}{
		{"nothing", func(s *Settings) {}, false},
		{"a changed button mapping", func(s *Settings) { s.Buttons = []ButtonMapping{{Trigger: "mute:long-press", Action: "record"}} }, false},
		{"the default button mapping", func(s *Settings) { s.Buttons = nil }, false},
		{"a handset's name and levels", func(s *Settings) { s.Handsets[0].Name, s.Handsets[0].MicGainDB = "Kitchen", 6 }, false},
		{"a conference", func(s *Settings) { s.Conferences = []Conference{{ID: "main", URI: "sip:conf@example.org"}} }, false},
		{"the metrics access", func(s *Settings) { s.Metrics.Access = MetricsOff }, false},
		{"the SIP listener", func(s *Settings) { s.SIP.ListenAddr = "0.0.0.0:5070" }, true},
		{"the SIP over TLS listener", func(s *Settings) { s.SIP.TLSListenAddr = "0.0.0.0:5071" }, true},
		{"the RTP timeout", func(s *Settings) { s.SIP.RTPTimeoutSeconds = 10 }, false},
		{"an account's password", func(s *Settings) { s.Accounts[0].Password = "new" }, false},
		{"a new account", func(s *Settings) {
			s.Accounts = append(s.Accounts, Account{ID: "bob", User: "bob", Domain: "example.org"})
		}, false},
		{"pins", func(s *Settings) { s.Pins = []PinOverride{{Handset: 0, Hook: "GPIO5"}} }, true},
		{"the board", func(s *Settings) { s.Board = "pi-octo" }, true},
		{"a handset's channel", func(s *Settings) { s.Handsets[0].Channel, s.Handsets[1].Channel = 1, 0 }, true},
		{"a handset's ID", func(s *Settings) { s.Handsets[1].ID = "h3" }, true},
	} {
		next := old.Clone()
		tt.change(&next)
		if got := NeedsRestart(old, next); got != tt.want {
			t.Errorf("%s: NeedsRestart = %v, want %v", tt.name, got, tt.want)
		}
	}
}
