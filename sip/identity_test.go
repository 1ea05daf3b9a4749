package sip

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	good := []struct {
		in   string
		want URI
		text string // String(); "" means in
	}{
		{"sip:desk4@example.com", URI{Scheme: "sip", User: "desk4", Host: "example.com"}, ""},
		{"SIP:Desk4@Example.COM", URI{Scheme: "sip", User: "Desk4", Host: "example.com"}, "sip:Desk4@example.com"},
		{"sips:alice@example.com:5061;transport=tls", URI{Scheme: "sips", User: "alice", Host: "example.com", Port: 5061, Params: "transport=tls"}, ""},
		{"sip:+15551234@192.0.2.1;user=phone", URI{Scheme: "sip", User: "+15551234", Host: "192.0.2.1", Params: "user=phone"}, ""},
		{"sip:conf@[2001:db8::1]:5070", URI{Scheme: "sip", User: "conf", Host: "2001:db8::1", Port: 5070}, ""},
		{"sip:a%20b@host", URI{Scheme: "sip", User: "a%20b", Host: "host"}, ""},
		{"sip:o'neil(x)!~*._-@host.example.", URI{Scheme: "sip", User: "o'neil(x)!~*._-", Host: "host.example."}, ""},
		{"sip:room&=+$/1@conf.example;lr", URI{Scheme: "sip", User: "room&=+$/1", Host: "conf.example", Params: "lr"}, ""},
	}
	for _, tt := range good {
		got, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		text := tt.text
		if text == "" {
			text = tt.in
		}
		if got.String() != text {
			t.Errorf("ParseURI(%q).String() = %q, want %q", tt.in, got.String(), text)
		}
		if s := got.sipURI(); s.String() != text {
			t.Errorf("ParseURI(%q) for sipgo = %q, want %q", tt.in, s.String(), text)
		}
	}
	bad := []struct{ in, wantErr string }{
		{"", "empty"},
		{"desk4@example.com", "no scheme"},
		{"tel:+15551234", "not sip or sips"},
		{"sip:example.com", "no user part"},
		{"sip:@example.com", "empty user"},
		{"sip:alice:secret@example.com", "password"},
		{"sip:al ice@example.com", "not allowed"},
		{`"Alice" <sip:alice@example.com>`, "not allowed"},
		{"sip:alice@exa mple.com", "not allowed"},
		{"sip:alice@example.com\r\nX-Evil: 1", "not allowed"},
		{"sip:al\"ice@example.com", "not allowed"},
		{"sip:al;ice@example.com", "must be %-escaped"},
		{"sip:al,ice@example.com", "must be %-escaped"},
		{"sip:a%2@example.com", "bad %-escape"},
		{"sip:alice@example.com?subject=x", "headers"},
		{"sip:alice@-bad-.com", "not a host name"},
		{"sip:alice@ex_ample.com", "not a host name"},
		{"sip:alice@1.2.3", "not a host name"},
		{"sip:alice@300.1.1.1", "not a host name"},
		{"sip:alice@example.com:0", "not a port"},
		{"sip:alice@example.com:70000", "not a port"},
		{"sip:alice@example.com:", "empty port"},
		{"sip:alice@[::1", "unclosed"},
		{"sip:alice@[192.0.2.1]", "not an IPv6"},
		{"sip:alice@[::1]x", "junk"},
		{"sip:alice@example.com;=x", "no name"},
		{"sip:alice@example.com;a=b{c}", "parameter"},
		{"sip:alice@" + strings.Repeat("a", 64) + ".com", "not a host name"},
	}
	for _, tt := range bad {
		_, err := ParseURI(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseURI(%q) = %v, want an error with %q", tt.in, err, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "SIP URI ") {
			t.Errorf("ParseURI(%q) error %q does not say what it parsed", tt.in, err)
		}
		if err := ValidateURI(tt.in); err == nil {
			t.Errorf("ValidateURI(%q): got nil error", tt.in)
		}
	}
}

func TestIdentityValidate(t *testing.T) {
	for _, id := range []Identity{
		{},
		{Mode: IdentityAccount, Assert: true},
		{Mode: IdentityImpersonate, URI: "sip:desk4@example.com", Assert: true},
		{Mode: IdentityGenerated},
		{Mode: IdentityGenerated, Prefix: "rec.svc", Private: true},
	} {
		if err := id.Validate(); err != nil {
			t.Errorf("%+v: Validate: %v", id, err)
		}
	}
	for _, tt := range []struct {
		id      Identity
		wantErr string
	}{
		{Identity{Mode: "anonymous"}, "unknown mode"},
		{Identity{Mode: IdentityImpersonate}, "needs a URI"},
		{Identity{Mode: IdentityImpersonate, URI: "desk4"}, "no scheme"},
		{Identity{Mode: IdentityGenerated, Prefix: "rec@svc"}, "cannot have"},
		{Identity{Mode: IdentityGenerated, Prefix: strings.Repeat("p", maxPrefix+1)}, "longer"},
	} {
		if err := tt.id.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v: Validate = %v, want an error with %q", tt.id, err, tt.wantErr)
		}
	}
}

func TestPresent(t *testing.T) {
	acc := Account{User: "svc", Domain: "example.com"}
	render := func(p presented, display string) string {
		var hs []string
		for _, h := range p.headers(display) {
			hs = append(hs, h.Name()+": "+h.Value())
		}
		return p.from.String() + " | " + strings.Join(hs, " | ")
	}
	tests := []struct {
		id   Identity
		want string // regexp of render
	}{
		{Identity{}, `^sip:svc@example\.com \| $`},
		{Identity{Assert: true}, `^sip:svc@example\.com \| P-Asserted-Identity: "Desk \\"4\\"" <sip:svc@example\.com>$`},
		{Identity{Mode: IdentityImpersonate, URI: "sip:desk4@example.com;user=phone", Assert: true},
			`^sip:desk4@example\.com;user=phone \| P-Asserted-Identity: "Desk \\"4\\"" <sip:desk4@example\.com;user=phone>$`},
		{Identity{Mode: IdentityGenerated, Assert: true, Private: true},
			`^sip:pl-[a-z2-7]{12}@example\.com \| P-Asserted-Identity: <sip:svc@example\.com> \| Privacy: id$`},
		{Identity{Mode: IdentityGenerated, Prefix: "rec"}, `^sip:rec-[a-z2-7]{12}@example\.com \| $`},
	}
	for _, tt := range tests {
		p, err := present(tt.id, acc)
		if err != nil {
			t.Fatalf("present(%+v): %v", tt.id, err)
		}
		if got := render(p, `Desk "4"`); !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("present(%+v) = %s, want %s", tt.id, got, tt.want)
		}
	}
	// Generated identities are new on every call.
	seen := map[string]bool{}
	for range 100 {
		p, _ := present(Identity{Mode: IdentityGenerated}, acc)
		if u := p.from.String(); seen[u] {
			t.Fatalf("generated %s twice", u)
		} else {
			seen[u] = true
		}
	}
	if _, err := present(Identity{Mode: IdentityImpersonate, URI: "bad"}, acc); err == nil {
		t.Error("present with a bad URI: got nil error")
	}
}

func TestIsRosterConflict(t *testing.T) {
	for status, want := range map[int]bool{486: true, 403: true, 409: true, 603: true, 404: false, 480: false, 488: false, 500: false} {
		err := fmt.Errorf("join sip:conf@example.com: %w", &JoinError{Status: status, Reason: "x", Identity: "sip:desk1@example.com"})
		if got := IsRosterConflict(err); got != want {
			t.Errorf("IsRosterConflict(%d) = %v, want %v", status, got, want)
		}
	}
	if IsRosterConflict(errors.New("486 Busy Here")) || IsRosterConflict(nil) {
		t.Error("IsRosterConflict of an error that is no *JoinError: got true")
	}
}

// TestPresents checks what each identity mode says a call presents: the one place the
// appliance learns it, for its dashboard and its identity claims.
func TestPresents(t *testing.T) {
	acc := Account{User: "trunk", Domain: "example.com"}
	for _, tt := range []struct {
		id        Identity
		uri       string
		wantFixed bool
	}{
		{Identity{}, "sip:trunk@example.com", true},
		{Identity{Mode: IdentityAccount, URI: "sip:ignored@example.com"}, "sip:trunk@example.com", true},
		{Identity{Mode: IdentityImpersonate, URI: "sip:desk4@example.com"}, "sip:desk4@example.com", true},
		{Identity{Mode: IdentityGenerated}, "sip:pl-…@example.com", false},
		{Identity{Mode: IdentityGenerated, Prefix: "rec"}, "sip:rec-…@example.com", false},
	} {
		uri, fixed := tt.id.Presents(acc)
		if uri != tt.uri || fixed != tt.wantFixed {
			t.Errorf("%+v.Presents = %q, %v; want %q, %v", tt.id, uri, fixed, tt.uri, tt.wantFixed)
		}
	}
}
