package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestSaveAdminHosts(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	hosts := func() []string {
		t.Helper()
		set, err := f.Settings()
		if err != nil {
			t.Fatal(err)
		}
		return set.AdminPage.Hosts
	}
	rec := c.post("/settings/admin-hosts", url.Values{"hosts": {"example.com, Partyline.Example.org. 192.0.2.7"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings?at=admin-hosts&saved=admin-live#admin-hosts" {
		t.Fatalf("save: got %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if got, want := hosts(), []string{"example.com", "partyline.example.org", "192.0.2.7"}; !slices.Equal(got, want) {
		t.Errorf("saved hosts %q, want %q", got, want)
	}
	if rec := c.get("/settings"); !strings.Contains(rec.Body.String(), `value="example.com partyline.example.org 192.0.2.7"`) {
		t.Errorf("the settings page does not show the names")
	}

	// A name that is not one is refused next to the field, and nothing changes.
	rec = c.post("/settings/admin-hosts", url.Values{"hosts": {"example.com *.example.org"}})
	if rec.Code != http.StatusBadRequest {
		t.Errorf("a wildcard: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "admin-hosts-hosts", "not a host name")

	// This browser reaches the page as example.com, which only the list allows: the list
	// cannot drop it, or the next page would be refused.
	rec = c.post("/settings/admin-hosts", url.Values{"hosts": {"partyline.example.org"}})
	if rec.Code != http.StatusBadRequest {
		t.Errorf("dropping the name in use: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "admin-hosts-hosts", "reaches the page as example.com")
	if got := hosts(); !slices.Contains(got, "example.com") {
		t.Fatalf("the name in use was dropped: %q", got)
	}
	// Reached as localhost, it can.
	req := newFormRequest("/settings/admin-hosts", url.Values{"hosts": {""}})
	req.Host = "localhost:8080"
	if rec := c.do(req); rec.Code != http.StatusSeeOther {
		t.Errorf("emptying the list from localhost: got %d, want 303", rec.Code)
	}
	if got := hosts(); len(got) != 0 {
		t.Errorf("hosts after emptying: %q", got)
	}
	// Now example.com is refused.
	if rec := c.get("/settings"); rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("GET /settings as a name no longer listed: got %d, want 421", rec.Code)
	}
}

func TestChangePassword(t *testing.T) {
	f := newFake(t)
	h := newHandler(f)
	c := &client{t: t, h: h}
	if rec := c.login(adminPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	other := &client{t: t, h: h, remote: "198.51.100.9:4000"}
	if rec := other.login(adminPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("second login: %d", rec.Code)
	}
	const next = "the next admin password"
	change := func(current, password, confirm string) *http.Response {
		t.Helper()
		return c.post("/settings/password", url.Values{"current": {current}, "password": {password}, "confirm": {confirm}}).Result()
	}
	for _, tt := range []struct {
		name, current, password, confirm, field, msg string
		code                                         int
	}{
		{"wrong current", "not it", next, next, "password-current", "Wrong password.", http.StatusForbidden},
		{"too short", adminPassword, "short", "short", "password-password", "at least 10 needed", http.StatusBadRequest},
		{"confirmation differs", adminPassword, next, next + "!", "password-confirm", "Does not match", http.StatusBadRequest},
	} {
		rec := c.post("/settings/password", url.Values{"current": {tt.current}, "password": {tt.password}, "confirm": {tt.confirm}})
		if rec.Code != tt.code {
			t.Errorf("%s: got %d, want %d", tt.name, rec.Code, tt.code)
		}
		checkFieldError(t, rec.Body.String(), tt.field, tt.msg)
		if ok, _ := f.CheckAdminPassword(adminPassword); !ok {
			t.Fatalf("%s: the password changed", tt.name)
		}
	}
	res := change(adminPassword, next, next)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings?at=password&saved=password-live#password" {
		t.Fatalf("change: got %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ok, _ := f.CheckAdminPassword(next); !ok {
		t.Fatal("the new password does not log in")
	}
	if rec := c.get("/settings?saved=password-live"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "admin password is changed") {
		t.Errorf("this browser after the change: got %d, want 200 with the notice", rec.Code)
	}
	if rec := other.get("/"); rec.Header().Get("Location") != "/login" {
		t.Errorf("the other browser after the change: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}

	// Wrong current passwords count as failed logins.
	for range MaxLoginFailures {
		change("guess", next+"2", next+"2")
	}
	if res := change(next, next+"2", next+"2"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after %d wrong current passwords: got %d, want 429", MaxLoginFailures, res.StatusCode)
	}
}

// newFormRequest is a POST of form to path, as a browser sends it.
func newFormRequest(path string, form url.Values) *http.Request {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
