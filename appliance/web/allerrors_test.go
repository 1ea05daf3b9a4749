package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// checkAllErrors checks that a refused form came back with each of the errors, next to the
// inputs with the ids in the form's order and in that order on the page, and that what
// was typed (typed, as the page writes it) is there again.
func checkAllErrors(t *testing.T, rec *httptest.ResponseRecorder, ids, msgs, typed []string) {
	t.Helper()
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("got %d, want 400", rec.Code)
	}
	body := rec.Body.String()
	last := -1
	for i, id := range ids {
		checkFieldError(t, body, id, msgs[i])
		at := strings.Index(body, `id="`+id+`-error"`)
		if at <= last {
			t.Errorf("the error of %s is not after the one before it, in the form's order", id)
		}
		last = at
	}
	for _, v := range typed {
		if !strings.Contains(body, v) {
			t.Errorf("the refused form lost what was typed: no %s", v)
		}
	}
}

// TestRefusedBridgeShowsEveryError: a new bridge, and a changed one, with bad fields, a
// number holding letters among them, get every error at once, what was typed kept and
// the password not sent back; nothing is saved.
func TestRefusedBridgeShowsEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	form := url.Values{"id": {"door"}, "user": {"bad user"}, "conference": {"main"}, "identity": {"caller"}, "account": {"alice"},
		"allow_networks": {"192.0.2.0/24"}, "auth_user": {"door"}, "auth_password": {"typed-secret"}, "untrusted": {"generated"}, "max_calls": {"many"}}
	rec := c.post("/settings/bridges", form)
	checkAllErrors(t, rec, []string{"new-bridge-user", "new-bridge-max_calls"}, []string{"not a SIP user name", `"many" is not a whole number`},
		[]string{`value="bad user"`, `value="many"`, `value="192.0.2.0/24"`})
	if strings.Contains(rec.Body.String(), "typed-secret") {
		t.Error("the refused form sent the password back")
	}
	if set, _ := f.Settings(); len(set.Bridges) != 0 {
		t.Fatalf("a refused bridge was saved: %+v", set.Bridges)
	}

	form.Set("user", "door")
	form.Set("max_calls", "")
	if rec := c.post("/settings/bridges", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("adding a good bridge: got %d\n%s", rec.Code, rec.Body)
	}
	form.Set("allow_networks", "0.0.0.0/0")
	form.Set("untrusted", "maybe")
	form.Set("max_calls", "999")
	checkAllErrors(t, c.post("/settings/bridges/door", form), []string{"bridge-door-allow_networks", "bridge-door-untrusted", "bridge-door-max_calls"},
		[]string{"admits every address", "not generated or refuse", "999 is not 0"}, []string{`value="0.0.0.0/0"`, `value="999"`})
}

// TestRefusedPinsShowEveryError: pin overrides with two bad lines get both errors.
func TestRefusedPinsShowEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	rec := c.post("/settings/pins/0", url.Values{"hook": {"GPIO5"}, "button": {"pin7"}, "led": {"GPIO6"}, "mute_led": {"mcp23017:0x20:C9"}})
	checkAllErrors(t, rec, []string{"pins-0-button", "pins-0-mute_led"}, []string{`"pin7" is not a GPIO line`, `"mcp23017:0x20:C9" is not a GPIO line`},
		[]string{`value="GPIO5"`, `value="pin7"`, `value="GPIO6"`, `value="mcp23017:0x20:C9"`})
	if set, _ := f.Settings(); len(set.Pins) != 0 {
		t.Errorf("refused pins were saved: %+v", set.Pins)
	}
}

// TestRefusedMetricsShowEveryError: a bad access mode and a bad token get both errors; the
// token is not sent back.
func TestRefusedMetricsShowEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	rec := c.post("/settings/metrics", url.Values{"access": {"everyone"}, "token": {"short"}})
	checkAllErrors(t, rec, []string{"metrics-access", "metrics-token"}, []string{`"everyone" is not loopback`, "must have 16 to"}, nil)
	if strings.Contains(rec.Body.String(), `value="short"`) {
		t.Error("the refused form sent the token back")
	}
}

// TestRefusedNumberShowsWithTheOthers: a number input holding letters is reported together
// with the form's other errors, in the account, handset and SIP forms too.
func TestRefusedNumberShowsWithTheOthers(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	checkAllErrors(t, c.post("/settings/accounts/alice", url.Values{"user": {"alice"}, "domain": {"not a host!"}, "expires_seconds": {"soon"}}),
		[]string{"account-alice-domain", "account-alice-expires_seconds"}, []string{"not a host name", `"soon" is not a whole number`},
		[]string{`value="not a host!"`, `value="soon"`})
	checkAllErrors(t, c.post("/settings/handsets/h1", url.Values{"name": {"Kitchen"}, "mic_gain_db": {"loud"}, "sidetone_percent": {"90"}}),
		[]string{"handset-h1-mic_gain_db", "handset-h1-sidetone_percent"}, []string{`"loud" is not a number`, "90% is not in"},
		[]string{`value="loud"`, `value="90"`})
	checkAllErrors(t, c.post("/settings/sip", url.Values{"listen_addr": {"nowhere"}, "rtp_timeout_seconds": {"ten"}, "max_bridged_calls": {"lots"}}),
		[]string{"sip-listen_addr", "sip-rtp_timeout_seconds", "sip-max_bridged_calls"}, []string{"nowhere", `"ten" is not a whole number`, `"lots" is not a whole number`},
		[]string{`value="nowhere"`, `value="ten"`, `value="lots"`})
}

// TestRefusedButtonsShowEveryError: a mapping with two unknown actions (a post the page's
// choices cannot make) gets both errors next to their gestures; the mapping stays.
func TestRefusedButtonsShowEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	rec := c.post("/settings/buttons", url.Values{"hook:flash": {"dance"}, "button:short-press": {"join-leave"}, "mute:long-press": {"sing"}})
	checkAllErrors(t, rec, []string{"buttons-hook-flash", "buttons-mute-long-press"}, []string{`unknown action "dance"`, `unknown action "sing"`}, nil)
	if set, _ := f.Settings(); len(set.Buttons) != 0 {
		t.Errorf("a refused mapping was saved: %+v", set.Buttons)
	}
}

// TestRefusedLogSettingsShowEveryError: an unknown level and a bad syslog target get both
// errors on the Logs page, the focus on the first, the target typed kept; nothing is saved.
func TestRefusedLogSettingsShowEveryError(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, fakeWithLogs{f})
	rec := c.post("/settings/log", url.Values{"level": {"loud"}, "syslog": {"ftp://logs.example.org"}})
	checkAllErrors(t, rec, []string{"log-level-level", "log-level-syslog"}, []string{`"loud" is not one of`, "ftp://logs.example.org"},
		[]string{`value="ftp://logs.example.org"`})
	if n := strings.Count(rec.Body.String(), " autofocus"); n != 1 {
		t.Errorf("%d inputs have the focus, want 1", n)
	} else if tag, _ := inputTag(rec.Body.String(), "log-level-level"); !strings.Contains(tag, "autofocus") {
		t.Errorf("the focus is not on the first invalid input: %s", tag)
	}
	if set, _ := f.Settings(); set.Log.Level != "" || set.Log.Syslog != "" {
		t.Errorf("refused log settings were saved: %+v", set.Log)
	}
}

// fakeWithLogs is a fake backend that keeps log lines (none), as the appliance does.
type fakeWithLogs struct{ *fakeBackend }

func (fakeWithLogs) LogLines(slog.Level) []LogLine { return nil }
