package appliance

import (
	"testing"

	"partyline/appliance/settings"
)

func TestFindHandsetByTheUserDialled(t *testing.T) {
	set := settings.Settings{
		Accounts: []settings.Account{{ID: "main", User: "alice", Domain: "example.org"}, {ID: "trunk", User: "trunk", Domain: "example.org"}},
		Handsets: []settings.Handset{
			{ID: "h1", Account: "main"},
			{ID: "h2", Account: "trunk", Identity: settings.IdentityImpersonate, IdentityURI: "sip:desk4@example.org"},
			{ID: "h3", Account: "main"},
			{ID: "h4", Account: "trunk", Identity: settings.IdentityGenerated},
		},
	}
	for _, tc := range []struct {
		users []string
		want  int // -1: none
	}{
		{[]string{"alice"}, 0},        // the account's user; h3 shares it: the first rings
		{[]string{"desk4"}, 1},        // the URI h2 impersonates
		{[]string{"trunk"}, 3},        // the trusted account of h2 is not h2's identity; h4 has it as its own
		{[]string{"", "desk4"}, 1},    // no Request-URI user: the To user
		{[]string{"bob", "alice"}, 0}, // the Request-URI first, then the To user
		{[]string{"bob"}, -1},
	} {
		i, ok := findHandset(set, tc.users...)
		if !ok {
			i = -1
		}
		if i != tc.want {
			t.Errorf("findHandset(%q) = %d, want %d", tc.users, i, tc.want)
		}
	}
}
