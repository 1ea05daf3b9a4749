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
		"/settings?saved=bridge-live#new-bridge")
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
	saved("/settings/bridges/desk", edit, "/settings?saved=bridge-live#bridge-desk")
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
	saved("/settings/bridges/desk/delete", nil, "/settings?saved=bridge-live#bridge-desk")
	if got := bridges(); len(got) != 0 {
		t.Errorf("after deleting: %+v, want none", got)
	}
}
