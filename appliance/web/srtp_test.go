package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccountSRTPSetting chooses an account's SRTP mode on the settings page: it is
// stored, shown selected, and a mode the appliance does not know is refused next to the
// select.
func TestAccountSRTPSetting(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	form := url.Values{"user": {"alice"}, "domain": {"example.org"}, "transport": {"tls"}, "srtp": {"required"}}
	if rec := c.post("/settings/accounts/alice", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("save: got %d; body:\n%s", rec.Code, rec.Body)
	}
	set, err := f.Settings()
	if err != nil || set.Accounts[0].SRTP != "required" {
		t.Fatalf("stored SRTP %q (%v), want required", set.Accounts[0].SRTP, err)
	}
	body := c.get("/settings").Body.String()
	if tag, _ := inputTag(body, "account-alice-srtp"); !strings.HasPrefix(tag, "<select") ||
		!strings.Contains(body, `<option value="required" selected>required</option>`) {
		t.Errorf("the account form does not show SRTP required selected: %q", tag)
	}
	form.Set("srtp", "sometimes")
	rec := c.post("/settings/accounts/alice", form)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown mode: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "account-alice-srtp", "not off, offered or required")
}
