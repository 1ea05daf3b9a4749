package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRefusedAccountShowsEveryError: a new account with three bad fields comes back with
// all three errors at once, each next to its field, in the form's order, the focus on
// the first, what was typed kept and the password not sent back; nothing is saved.
func TestRefusedAccountShowsEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	before, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	rec := c.post("/settings/accounts", url.Values{"id": {"bob"}, "user": {"bad user"}, "password": {"s3cret-typed"},
		"domain": {"not a host!"}, "codecs": {"nonsense"}, "transport": {"udp"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("got %d, want 400", rec.Code)
	}
	body := rec.Body.String()
	checkFieldError(t, body, "new-account-user", "not allowed in a SIP user")
	checkFieldError(t, body, "new-account-domain", "not a host name")
	checkFieldError(t, body, "new-account-codecs", "nonsense")
	user, domain, codecs := strings.Index(body, `id="new-account-user-error"`), strings.Index(body, `id="new-account-domain-error"`), strings.Index(body, `id="new-account-codecs-error"`)
	if !(user < domain && domain < codecs) {
		t.Errorf("the errors are not in the form's order: user at %d, domain at %d, codecs at %d", user, domain, codecs)
	}
	if n := strings.Count(body, " autofocus"); n != 1 {
		t.Errorf("%d inputs have the focus, want 1", n)
	} else if tag, _ := inputTag(body, "new-account-user"); !strings.Contains(tag, "autofocus") {
		t.Errorf("the focus is not on the first invalid input: %s", tag)
	}
	for _, typed := range []string{`value="bad user"`, `value="not a host!"`, `value="nonsense"`} {
		if !strings.Contains(body, typed) {
			t.Errorf("the refused form lost what was typed: no %s", typed)
		}
	}
	if strings.Contains(body, "s3cret-typed") {
		t.Error("the refused form sent the password back")
	}
	if after, _ := f.Settings(); len(after.Accounts) != len(before.Accounts) {
		t.Errorf("a refused account was saved: %d accounts, were %d", len(after.Accounts), len(before.Accounts))
	}
}

// TestRefusedConferenceShowsEveryError: the same for a conference, a handset and the SIP form.
func TestRefusedConferenceShowsEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	rec := c.post("/settings/conferences/main", url.Values{"name": {"Main"}, "uri": {"http://example.org/conf"}, "pin": {"12a"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("conference: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "conference-main-uri", "not a sip: or sips: URI")
	checkFieldError(t, rec.Body.String(), "conference-main-pin", "only digits")

	rec = c.post("/settings/handsets/h1", url.Values{"name": {"Kitchen"}, "mic_gain_db": {"99"}, "sidetone_percent": {"90"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("handset: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "handset-h1-mic_gain_db", "99 dB is not in")
	checkFieldError(t, rec.Body.String(), "handset-h1-sidetone_percent", "90% is not in")

	rec = c.post("/settings/sip", url.Values{"listen_addr": {"nowhere"}, "rtp_timeout_seconds": {"1"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("SIP: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "sip-listen_addr", "nowhere")
	checkFieldError(t, rec.Body.String(), "sip-rtp_timeout_seconds", "is not 0")
}
