package config

import (
	"reflect"
	"testing"

	"partyline/appliance/settings"
)

func TestBridgesRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	want := valid()
	want.Bridges = []settings.Bridge{
		{ID: "lobby", User: "4711", Conference: "main", Account: "alice", AssertIdentity: true},
		{ID: "anon", User: "anon", Conference: "main", Account: "bob", Identity: settings.BridgeGenerated, IdentityPrefix: "guest"},
		{ID: "door", User: "door", Conference: "main", Account: "bob", AllowNetworks: []string{"192.0.2.0/24", "2001:db8::5"},
			AllowProxy: true, AuthUser: "gate", AuthPassword: "s3cret", Untrusted: settings.UntrustedRefuse, MaxCalls: 3},
	}
	if err := s.Save(want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !reflect.DeepEqual(got.Bridges, want.Bridges) {
		t.Errorf("bridges: got %+v, want %+v", got.Bridges, want.Bridges)
	}
}
