package web

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

// TestBridgeSettings adds a bridge on the settings page, edits it, has
// invalid changes refused next to their inputs, and deletes it.
func TestBridgeSettings(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	bridges := func() []settings.Bridge {
		t.Helper()
		set, err := f.Settings()
		if err != nil {
			t.Fatal(err)
		}
		return set.Bridges
	}
	saved := func(path string, form url.Values, location string) {
		t.Helper()
		rec := c.post(path, form)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != location {
			t.Fatalf("POST %s: got %d to %q, want 303 to %q; body:\n%s", path, rec.Code, rec.Header().Get("Location"), location, rec.Body)
		}
	}
	refused := func(path string, form url.Values, input, msg string) {
		t.Helper()
		before := bridges()
		rec := c.post(path, form)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("POST %s: got %d, want 400 (Location %q)", path, rec.Code, rec.Header().Get("Location"))
		}
		body := rec.Body.String()
		if input == "" {
			if text, _ := elementText(body, `class="error" role="alert"`); !strings.Contains(text, msg) {
				t.Errorf("POST %s: error %q, want it to say %q", path, text, msg)
			}
		} else {
			checkFieldError(t, body, input, msg)
		}
		if after := bridges(); !reflect.DeepEqual(after, before) {
			t.Errorf("POST %s: a refused form changed the bridges from %+v to %+v", path, before, after)
		}
	}

	if body := c.get("/settings").Body.String(); !strings.Contains(body, "No bridges yet.") ||
		!strings.Contains(body, "<details><summary>Add a bridge</summary>") || !strings.Contains(body, `action="/settings/bridges"`) {
		t.Errorf("settings page without bridges lacks the empty list or the add form")
	}

	refused("/settings/bridges", url.Values{"id": {"desk"}, "user": {"7000"}, "conference": {"nope"}, "account": {"alice"}},
		"new-bridge-conference", `no conference "nope"`)
	refused("/settings/bridges", url.Values{"id": {"desk"}, "user": {"70 00"}, "conference": {"main"}, "account": {"alice"}},
		"new-bridge-user", "not a SIP user name")
	refused("/settings/bridges", url.Values{"id": {"desk"}, "user": {"7000"}, "conference": {"main"}},
		"new-bridge-account", `no account ""`)
	refused("/settings/bridges", url.Values{"user": {"7000"}, "conference": {"main"}, "account": {"alice"}},
		"new-bridge-id", "must not be empty")

	saved("/settings/bridges", url.Values{"id": {"desk"}, "user": {" 7000 "}, "conference": {"main"}, "identity": {"caller"}, "account": {"alice"}},
		"/settings?at=bridge-desk&saved=bridge-live#bridge-desk")
	if got, want := bridges(), []settings.Bridge{{ID: "desk", User: "7000", Conference: "main", Identity: "caller", Account: "alice"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after adding: %+v, want %+v", got, want)
	}
	body := c.get("/settings").Body.String()
	for _, want := range []string{
		`action="/settings/bridges/desk"`, `formaction="/settings/bridges/desk/delete"`, `data-confirm="Delete bridge desk?"`,
		`<input id="bridge-desk-user" name="user" type="text" value="7000"`,
		`<option value="caller" selected>`, `name="assert_identity" type="checkbox"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	for _, id := range []string{"bridge-desk-conference", "bridge-desk-account"} {
		if tag, _ := inputTag(body, id); !strings.HasPrefix(tag, "<select") {
			t.Errorf("%s is not a select: %q", id, tag)
		}
	}

	edit := url.Values{"user": {"7001"}, "conference": {"main"}, "identity": {"generated"}, "identity_prefix": {"br"},
		"assert_identity": {"on"}, "account": {"alice"}}
	saved("/settings/bridges/desk", edit, "/settings?at=bridge-desk&saved=bridge-live#bridge-desk")
	if got, want := bridges(), []settings.Bridge{{ID: "desk", User: "7001", Conference: "main", Identity: "generated", IdentityPrefix: "br",
		AssertIdentity: true, Account: "alice"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after editing: %+v, want %+v", got, want)
	}

	bad := url.Values{"user": {"7001"}, "conference": {"side"}, "account": {"alice"}}
	refused("/settings/bridges/desk", bad, "bridge-desk-conference", `no conference "side"`)
	bad = url.Values{"user": {"7001"}, "conference": {"main"}, "identity": {"generated"}, "identity_prefix": {"b/r"}, "account": {"alice"}}
	refused("/settings/bridges/desk", bad, "bridge-desk-identity_prefix", "may contain only")
	refused("/settings/bridges", url.Values{"id": {"desk2"}, "user": {"7001"}, "conference": {"main"}, "account": {"alice"}},
		"new-bridge-user", `also dialled for bridge "desk"`)
	refused("/settings/bridges/zed", edit, "", `bridges: there is no "zed"`)
	saved("/settings/bridges/desk/delete", nil, "/settings?at=bridge-desk&saved=bridge-live#bridge-desk")
	if got := bridges(); len(got) != 0 {
		t.Errorf("after deleting: %+v, want none", got)
	}
}

// TestBridgeCallersSettings sets who may call a bridge on the settings page: the
// networks, the proxy, the digest credentials (whose password is never shown and is kept
// when the form leaves it empty), what becomes of untrusted callers and the limit; a bad
// network is refused next to its input.
func TestBridgeCallersSettings(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	form := url.Values{"id": {"door"}, "user": {"7000"}, "conference": {"main"}, "identity": {"caller"}, "account": {"alice"},
		"allow_networks": {"192.0.2.0/24, 2001:db8::5"}, "allow_proxy": {"on"}, "auth_user": {"gate"},
		"auth_password": {"door-s3cret"}, "untrusted": {"refuse"}, "max_calls": {"3"}}
	if rec := c.post("/settings/bridges", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("add: got %d; body:\n%s", rec.Code, rec.Body)
	}
	want := settings.Bridge{ID: "door", User: "7000", Conference: "main", Identity: "caller", Account: "alice",
		AllowNetworks: []string{"192.0.2.0/24", "2001:db8::5"}, AllowProxy: true, AuthUser: "gate", AuthPassword: "door-s3cret",
		Untrusted: "refuse", MaxCalls: 3}
	stored := func() settings.Bridge {
		t.Helper()
		set, err := f.Settings()
		if err != nil || len(set.Bridges) != 1 {
			t.Fatalf("settings: %v, %+v", err, set.Bridges)
		}
		return set.Bridges[0]
	}
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Errorf("after adding: %+v, want %+v", got, want)
	}
	body := c.get("/settings").Body.String()
	if strings.Contains(body, "door-s3cret") {
		t.Error("the settings page shows the bridge's password")
	}
	for _, s := range []string{`value="192.0.2.0/24, 2001:db8::5"`, `<option value="refuse" selected>`, `id="bridge-door-max_calls" name="max_calls" type="text" value="3"`} {
		if !strings.Contains(body, s) {
			t.Errorf("settings page lacks %q", s)
		}
	}
	exported := c.get("/settings/export").Body.String()
	if !strings.Contains(exported, `"auth_user": "gate"`) || strings.Contains(exported, "door-s3cret") {
		t.Errorf("the export without passwords should name the bridge's user, not its password:\n%s", exported)
	}
	if withPasswords := c.get("/settings/export?include_passwords=1").Body.String(); !strings.Contains(withPasswords, "door-s3cret") {
		t.Error("the export with passwords lacks the bridge's password")
	}

	form.Del("id")
	form.Set("auth_password", "")
	form.Set("max_calls", "")
	if rec := c.post("/settings/bridges/door", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("edit: got %d; body:\n%s", rec.Code, rec.Body)
	}
	want.MaxCalls = 0
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Errorf("after saving with an empty password: %+v, want %+v (the password kept)", got, want)
	}

	form.Set("allow_networks", "192.0.2.0/24 192.0.2.300")
	rec := c.post("/settings/bridges/door", form)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("bad network: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "bridge-door-allow_networks", `"192.0.2.300" is not a network`)
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Errorf("a refused form changed the bridge to %+v", got)
	}
}

// TestSIPLimitsSettings sets the RTP timeout and the limit of bridged callers on the SIP
// form: stored, shown, and a value that is not a number refused next to its input.
func TestSIPLimitsSettings(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	form := url.Values{"listen_addr": {"0.0.0.0:5060"}, "rtp_timeout_seconds": {"10"}, "max_bridged_calls": {"3"}}
	if rec := c.post("/settings/sip", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("save: got %d; body:\n%s", rec.Code, rec.Body)
	}
	set, err := f.Settings()
	if err != nil || set.SIP.RTPTimeoutSeconds != 10 || set.SIP.MaxBridgedCalls != 3 {
		t.Fatalf("stored %+v, %v; want a 10 s RTP timeout and 3 bridged callers", set.SIP, err)
	}
	if body := c.get("/settings").Body.String(); !strings.Contains(body, `id="sip-rtp_timeout_seconds" name="rtp_timeout_seconds" type="text" value="10"`) {
		t.Error("the SIP form does not show the RTP timeout")
	}
	form.Set("rtp_timeout_seconds", "soon")
	rec := c.post("/settings/sip", form)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("a timeout that is not a number: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "sip-rtp_timeout_seconds", "not a whole number")
	form.Set("rtp_timeout_seconds", "1")
	checkFieldError(t, c.post("/settings/sip", form).Body.String(), "sip-rtp_timeout_seconds", "2 to 3600")
}
