package legs

import (
	"testing"

	"partyline/sip"
)

// TestPlanDescribe checks how the dashboard and the call history show what a leg presents,
// as sip works it out, for each identity mode.
func TestPlanDescribe(t *testing.T) {
	acc := sip.Account{User: "alice", Domain: "example.org"}
	for _, tt := range []struct {
		id        sip.Identity
		want      string
		wantFixed bool
	}{
		{sip.Identity{}, `"Desk" <sip:alice@example.org>`, true},
		{sip.Identity{Mode: sip.IdentityImpersonate, URI: "sip:desk4@example.org"}, `"Desk" <sip:desk4@example.org>`, true},
		{sip.Identity{Mode: sip.IdentityGenerated, Prefix: "anon"}, `"Desk" <sip:anon-…@example.org>, new for every call`, false},
	} {
		p := Plan{Target: "sip:room@example.org", DisplayName: "Desk", Account: acc, Identity: tt.id}
		if got := p.Describe(); got != tt.want {
			t.Errorf("%+v: Describe() = %s, want %s", tt.id, got, tt.want)
		}
		if _, fixed := p.Presents(); fixed != tt.wantFixed {
			t.Errorf("%+v: Presents fixed = %v, want %v", tt.id, fixed, tt.wantFixed)
		}
	}
}
