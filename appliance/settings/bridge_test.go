package settings

import (
	"errors"
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
