package settings

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// valid returns settings that pass validation; tests break one field.
func valid() Settings {
	return Settings{
		SIP: SIPSettings{ListenAddr: "0.0.0.0:5060"},
		Accounts: []Account{
			{ID: "alice", User: "alice", Password: "secret", Domain: "example.org", Proxy: "127.0.0.1:5060", ExpiresSeconds: 2},
			{ID: "bob", User: "bob", Domain: "10.0.0.1"},
		},
		Handsets: []Handset{
			{ID: "h1", Name: "Handset 1", Channel: 0, Account: "alice", DisplayName: `Kitchen "the" \ one`, Conference: "main"},
			{ID: "h2", Name: "Handset 2", Channel: 1},
		},
		Conferences: []Conference{{ID: "main", Name: "Main", URI: "sip:conf@example.org:5070", PIN: "12*#",
			Record: true, Announce: []string{"tone:440:1s", "welcome.wav"}, ServiceAccount: "bob", RecorderPrefix: "tape"}},
		Recordings: Recordings{ReserveMB: 250},
	}
}

func TestValidAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
	}{
		{"listen port 0", func(s *Settings) { s.SIP.ListenAddr = "127.0.0.1:0" }},
		{"listen any host", func(s *Settings) { s.SIP.ListenAddr = ":5060" }},
		{"TLS on its own port", func(s *Settings) { s.SIP.TLSListenAddr = "0.0.0.0:5071" }},
		{"no TLS", func(s *Settings) { s.SIP.TLSListenAddr = TLSOff }},
		{"IPv6 proxy", func(s *Settings) { s.Accounts[0].Proxy = "[::1]:5060" }},
		{"no conference URI yet", func(s *Settings) { s.Conferences[0].URI = "" }},
		{"sips URI", func(s *Settings) { s.Conferences[0].URI = "sips:conf@example.org" }},
		{"default expiry", func(s *Settings) { s.Accounts[0].ExpiresSeconds = 0 }},
		{"impersonate", func(s *Settings) {
			s.Handsets[0].Identity, s.Handsets[0].IdentityURI, s.Handsets[0].AssertIdentity = IdentityImpersonate, "sip:desk4@example.org", true
		}},
		{"generated, default prefix", func(s *Settings) { s.Handsets[0].Identity, s.Handsets[0].Private = IdentityGenerated, true }},
		{"generated with prefix", func(s *Settings) { s.Handsets[0].Identity, s.Handsets[0].IdentityPrefix = IdentityGenerated, "rec-1" }},
		{"account spelled out", func(s *Settings) { s.Handsets[0].Identity = IdentityAccount }},
		{"pin overrides", func(s *Settings) {
			s.Pins = []PinOverride{{Handset: 0, Hook: "GPIO5", LED: "mcp23017:0x21:B7"}, {Handset: 1, Mute: "GPIO26"}}
		}},
		{"services with defaults", func(s *Settings) {
			c := &s.Conferences[0]
			c.ServiceAccount, c.RecorderPrefix, c.AnnouncerPrefix, c.AnnounceLoop = "", "", "", true
		}},
		{"no services, no account", func(s *Settings) {
			s.Accounts, s.Handsets[0].Account = nil, ""
			s.Conferences[0] = Conference{ID: "main"}
		}},
		{"prefixes swapped", func(s *Settings) { s.Conferences[0].RecorderPrefix, s.Conferences[0].AnnouncerPrefix = "ann", "rec" }},
		{"pause and upper-case file", func(s *Settings) { s.Conferences[0].Announce = []string{"tone:0:500ms", "Hello_2.WAV"} }},
		{"default reserve", func(s *Settings) { s.Recordings.ReserveMB = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := valid()
			tt.change(&set)
			if err := set.Validate(); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestAccountLogOmitsPassword(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("account", "account", valid().Accounts[0])
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("log contains the password: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "alice") {
		t.Errorf("log lacks the user: %s", buf.String())
	}
}

// TestCloneCopiesEverySection fills every section of the settings, changes every string
// and number a clone holds, and checks that the original stays as it was: a section Clone
// forgot to copy would be shared with the snapshot every reader sees.
func TestCloneCopiesEverySection(t *testing.T) {
	set := valid()
	set.Bridges = []Bridge{{ID: "front", User: "100", Conference: "main", Account: "alice", AllowNetworks: []string{"192.0.2.0/24"}}}
	set.Pins = []PinOverride{{Handset: 1, Hook: "GPIO5"}}
	set.Buttons = []ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
	set.Metrics = MetricsSettings{Access: MetricsToken, Token: "metrics-token-0123456789"}
	set.Board = "pi-wm8960"
	set.AdminPage = AdminPageSettings{Hosts: []string{"pi.example.org"}}
	set.Log = LogSettings{Level: "debug"}
	set.Provisioning = ProvisioningSettings{URL: "https://prov.example.com/{mac}.json", IntervalMinutes: 5}
	v := reflect.ValueOf(set)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test leaves settings section %s empty: fill it", v.Type().Field(i).Name)
		}
	}
	want := valid()
	want.Bridges, want.Pins, want.Buttons, want.Metrics, want.Board = set.Bridges, set.Pins, set.Buttons, set.Metrics, set.Board
	want.AdminPage, want.Log, want.Provisioning = set.AdminPage, set.Log, set.Provisioning
	want = want.Clone() // Clone must keep everything it copies
	if !reflect.DeepEqual(want, set) {
		t.Fatalf("Clone changed the settings:\n got %+v\nwant %+v", want, set)
	}
	c := set.Clone()
	scribble(reflect.ValueOf(&c).Elem())
	if !reflect.DeepEqual(set, want) {
		t.Errorf("changing a clone changed the original:\n got %+v\nwant %+v", set, want)
	}
}

// scribble changes every string, number and bool that v holds, through its slices.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int:
		v.SetInt(v.Int() + 1)
	case reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Struct:
		for i := range v.NumField() {
			scribble(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	}
}
