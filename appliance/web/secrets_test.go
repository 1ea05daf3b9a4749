package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"partyline/appliance/settings"
)

// syncBuffer is a log destination the handler's goroutines can share.
type syncBuffer struct {
	mu  sync.Mutex // guards following
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretsNeverSent draws every page, the API, the event stream, the
// metrics, the export without its box ticked and the forms refused and
// accepted, and checks that no response and no log line has the account
// password, an account password just typed, or the admin password.
func TestSecretsNeverSent(t *testing.T) {
	const typed = "typed-secret-123"
	const typedToken = "typed-metrics-token-456"
	secrets := []string{accountSecret, typed, adminPassword, metricsSecret, typedToken}
	var logs syncBuffer
	f := newFakeRecorder(t)
	setMetrics(t, f.fakeBackend, settings.MetricsSettings{Access: settings.MetricsLoopback, Token: metricsSecret})
	c := &client{t: t, h: Handler(f, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}
	responses := map[string]*httptest.ResponseRecorder{
		"wrong login": c.login("wrong " + adminPassword),
		"login":       c.login(adminPassword),
	}
	oneEvent, cancel := context.WithCancel(t.Context())
	cancel() // the stream sends its first event, then sees the client gone
	events := httptest.NewRequestWithContext(oneEvent, "GET", "/events", nil)

	for _, path := range []string{"/", "/settings", "/settings?saved=account-live", "/api/status", "/settings/export", "/login", "/setup", "/history", "/api/history", "/recordings", "/api/recordings"} {
		responses["GET "+path] = c.get(path)
	}
	responses["GET /events"] = c.do(events)
	c.remote = "127.0.0.1:9999"
	responses["GET /metrics"] = c.get("/metrics")
	c.remote = ""
	responses["refused metrics form"] = c.post("/settings/metrics", url.Values{"access": {"everyone"}, "token": {typedToken}})
	responses["refused metrics token"] = c.post("/settings/metrics", url.Values{"access": {"token"}, "token": {typedToken + " with a space"}})
	responses["saved metrics form"] = c.post("/settings/metrics", url.Values{"access": {"token"}, "token": {""}})
	responses["GET /settings with token access"] = c.get("/settings")
	responses["GET /settings/export with token access"] = c.get("/settings/export")
	responses["GET /metrics with the token"] = c.do(func() *http.Request {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+metricsSecret)
		return req
	}())
	responses["GET /metrics with a wrong token"] = c.do(func() *http.Request {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+typedToken)
		return req
	}())
	responses["refused account form"] = c.post("/settings/accounts/alice",
		url.Values{"user": {"alice"}, "password": {typed}, "domain": {"bad domain"}})
	responses["refused new account"] = c.post("/settings/accounts",
		url.Values{"id": {"bob"}, "user": {"bob"}, "password": {typed}, "domain": {"bad domain"}})
	responses["refused import"] = c.upload([]byte(`{"sip":{},"accounts":[{"id":"x","password":"` + typed + `"}],"handsets":[],"conferences":[]}`))
	responses["saved account form"] = c.post("/settings/accounts/alice",
		url.Values{"user": {"alice"}, "password": {""}, "domain": {"example.org"}})
	responses["GET /settings after saving"] = c.get("/settings")
	handsetPassword := c.post("/settings/handsets/h1", url.Values{"name": {"Kitchen"}, "calls_in.auth_user": {"door"}, "calls_in.auth_password": {typed}})
	if handsetPassword.Code != http.StatusSeeOther {
		t.Errorf("saving a handset's callers' password: got %d, want 303", handsetPassword.Code)
	}
	responses["saved handset form with a callers' password"] = handsetPassword
	responses["refused handset form with a callers' password"] = c.post("/settings/handsets/h1",
		url.Values{"name": {""}, "calls_in.auth_user": {"door"}, "calls_in.auth_password": {typed}})
	responses["GET /settings with a handset's callers' password"] = c.get("/settings")
	responses["GET /settings/export with a handset's callers' password"] = c.get("/settings/export")
	responses["refused recording"] = c.post("/conferences/nowhere/recording", url.Values{"action": {"pause"}})
	responses["GET a recording"] = c.get("/recordings/main-20260302T140500Z.wav?download=1")

	for name, rec := range responses {
		if rec.Code >= 500 {
			t.Errorf("%s: got %d", name, rec.Code)
		}
		if rec.Body.Len() == 0 && rec.Code == http.StatusOK {
			t.Errorf("%s: empty response", name)
		}
		var head strings.Builder
		rec.Header().Write(&head)
		for _, secret := range secrets {
			if strings.Contains(rec.Body.String(), secret) || strings.Contains(head.String(), secret) {
				t.Errorf("%s: the response has %q:\n%s\n%s", name, secret, head.String(), rec.Body)
			}
		}
	}
	for _, want := range []string{"data: ", "partyline_handset_state", `"accounts"`} {
		found := false
		for _, rec := range responses {
			found = found || strings.Contains(rec.Body.String(), want)
		}
		if !found {
			t.Errorf("no response has %q: the check above did not see what it should", want)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log has %q:\n%s", secret, logs.String())
		}
	}
	if set, _ := f.Settings(); set.Accounts[0].Password != accountSecret {
		t.Errorf("saving the account with an empty password changed it to %q", set.Accounts[0].Password)
	}
	if set, _ := f.Settings(); set.Metrics != (settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret}) {
		t.Errorf("saving token access with an empty token: %+v, want the stored token kept", set.Metrics)
	}
}
