package settings

import (
	"errors"
	"reflect"
	"testing"
)

func withBridges(bs ...Bridge) Settings {
	s := valid()
	s.Bridges = bs
	return s
}

func TestBridgesValidate(t *testing.T) {
	ok := Bridge{ID: "lobby", User: "4711", Conference: "main", Account: "alice"}
	tests := []struct {
		field string
		bad   []Bridge
	}{
		{"bridges[0].id", []Bridge{{User: "4711", Conference: "main", Account: "alice"}}},
		{"bridges[1].id", []Bridge{ok, ok}},
		{"bridges[0].user", []Bridge{{ID: "lobby", Conference: "main", Account: "alice"}}},
		{"bridges[0].user", []Bridge{{ID: "lobby", User: "a b", Conference: "main", Account: "alice"}}},
		{"bridges[1].user", []Bridge{ok, {ID: "other", User: "4711", Conference: "main", Account: "alice"}}},
		{"bridges[0].conference", []Bridge{{ID: "lobby", User: "4711", Conference: "side", Account: "alice"}}},
		{"bridges[0].account", []Bridge{{ID: "lobby", User: "4711", Conference: "main"}}},
		{"bridges[0].identity", []Bridge{{ID: "lobby", User: "4711", Conference: "main", Account: "alice", Identity: "account"}}},
		{"bridges[0].identity_prefix", []Bridge{{ID: "lobby", User: "4711", Conference: "main", Account: "alice", Identity: BridgeGenerated, IdentityPrefix: "g/1"}}},
		{"bridges[0].allow_networks[1]", []Bridge{callers(ok, func(b *Bridge) { b.AllowNetworks = []string{"192.0.2.0/24", "192.0.2.300"} })}},
		{"bridges[0].allow_networks[0]", []Bridge{callers(ok, func(b *Bridge) { b.AllowNetworks = []string{"0.0.0.0/0"} })}},
		{"bridges[0].allow_networks", []Bridge{callers(ok, func(b *Bridge) { b.AllowNetworks = make([]string, maxAllowNetworks+1) })}},
		{"bridges[0].auth_user", []Bridge{callers(ok, func(b *Bridge) { b.AuthUser = "a b"; b.AuthPassword = "x" })}},
		{"bridges[0].auth_password", []Bridge{callers(ok, func(b *Bridge) { b.AuthUser = "gate" })}},
		{"bridges[0].auth_user", []Bridge{callers(ok, func(b *Bridge) { b.AuthPassword = "x" })}},
		{"bridges[0].untrusted", []Bridge{callers(ok, func(b *Bridge) { b.Untrusted = "admit" })}},
		{"bridges[0].max_calls", []Bridge{callers(ok, func(b *Bridge) { b.MaxCalls = -1 })}},
		{"bridges[0].max_calls", []Bridge{callers(ok, func(b *Bridge) { b.MaxCalls = maxBridgeCalls + 1 })}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			err := withBridges(tt.bad...).Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("got %v, want an error in %s", err, tt.field)
			}
		})
	}
	if err := withBridges(ok).Validate(); err != nil {
		t.Errorf("valid bridge: %v", err)
	}
}

// callers returns b changed by edit.
func callers(b Bridge, edit func(*Bridge)) Bridge {
	b.AllowNetworks = nil
	edit(&b)
	return b
}

func TestBridgeNetworks(t *testing.T) {
	b := Bridge{AllowNetworks: []string{"192.0.2.7/24", "2001:db8::5", "::ffff:198.51.100.1"}}
	var got []string
	for _, p := range b.Networks() {
		got = append(got, p.String())
	}
	want := []string{"192.0.2.0/24", "2001:db8::5/128", "198.51.100.1/32"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Networks = %v, want %v", got, want)
	}
	if c := (Bridge{}).Calls(); c != DefaultBridgeCalls {
		t.Errorf("Calls of a bridge without a limit = %d, want %d", c, DefaultBridgeCalls)
	}
	if c := (SIPSettings{}).BridgedCalls(); c != DefaultMaxBridgedCalls {
		t.Errorf("BridgedCalls without a limit = %d, want %d", c, DefaultMaxBridgedCalls)
	}
}

func TestMaxBridgedCallsValidate(t *testing.T) {
	s := valid()
	s.SIP.MaxBridgedCalls = maxBridgeCalls + 1
	var fe *FieldError
	if err := s.Validate(); !errors.As(err, &fe) || fe.Field != "sip.max_bridged_calls" {
		t.Errorf("got %v, want an error in sip.max_bridged_calls", err)
	}
}
