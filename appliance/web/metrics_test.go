package web

import (
	"cmp"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

func TestMetrics(t *testing.T) {
	f := newFake(t)
	local := &client{t: t, h: newHandler(f), remote: "127.0.0.1:40000"}
	rec := local.get("/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("from loopback without a session: got %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`partyline_build_info{board="sim",build="abcdef123456",version="0.1.0+git20261206000000.abc"} 1`,
		"# TYPE partyline_calls_total counter\n" +
			`partyline_calls_total{result="cancelled"} 0` + "\n" +
			`partyline_calls_total{result="failed"} 1` + "\n" +
			`partyline_calls_total{result="local"} 3` + "\n" +
			`partyline_calls_total{result="missed"} 0` + "\n" +
			`partyline_calls_total{result="remote"} 0` + "\n",
		`partyline_handset_info{handset="h1",name="Kitchen",number="1"} 1`,
		`partyline_handset_info{handset="h2",name="Garden",number="2"} 1`,
		// Every state of every handset, 1 or 0; one the page does not know is reported too.
		`partyline_handset_state{handset="h1",state="idle"} 0`,
		`partyline_handset_state{handset="h1",state="in_call"} 0`,
		`partyline_handset_state{handset="h1",state="on_hold"} 0`,
		`partyline_handset_state{handset="h1",state="on_hook"} 1`,
		`partyline_handset_state{handset="h2",state="failed"} 0`,
		`partyline_handset_off_hook{handset="h1"} 0`,
		`partyline_handset_off_hook{handset="h2"} 1`,
		`partyline_registration_info{account="alice",aor="sip:alice@example.org"} 1`,
		`partyline_registration_state{account="alice",state="registered"} 1`,
		`partyline_registration_state{account="alice",state="failed"} 0`,
		`partyline_registration_state{account="alice",state="registering"} 0`,
		`partyline_registration_state{account="alice",state="unregistered"} 0`,
		`partyline_registration_expiry_timestamp_seconds{account="alice"} 1.7955144e+09`,
		`partyline_handset_muted{handset="h1"} 0`,
		`partyline_handset_level_dbfs{direction="microphone",handset="h2"} -31`,
		`partyline_handset_level_dbfs{direction="earpiece",handset="h1"} -120`,
		"# TYPE partyline_sip_malformed_total counter\npartyline_sip_malformed_total 5000\n",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The editable name is in the info metric only; label values have no spaces.
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "partyline_") && !strings.HasPrefix(line, "partyline_handset_info") &&
			(strings.Contains(line, `name="`) || strings.Contains(line, `="in call"`)) {
			t.Errorf("a series names the handset by its name or has a space: %s", line)
		}
	}

	if strings.Contains(body, "partyline_audio_") {
		t.Errorf("metrics of virtual audio have the audio device's counters:\n%s", body)
	}

	// The audio device's health, and each earpiece's.
	f.setAudio(&AudioStatus{Overruns: 3, Underruns: 5, Restarts: 2, LastError: "device stopped unexpectedly"}, 0, 7)
	f.setDropped(0, 1234)
	body = local.get("/metrics").Body.String()
	for _, want := range []string{
		"# TYPE partyline_audio_overruns_total counter\npartyline_audio_overruns_total 3\n",
		"# TYPE partyline_audio_underruns_total counter\npartyline_audio_underruns_total 5\n",
		"# TYPE partyline_audio_restarts_total counter\npartyline_audio_restarts_total 2\n",
		"# TYPE partyline_earpiece_underruns_total counter\n" +
			`partyline_earpiece_underruns_total{handset="h1"} 0` + "\n" +
			`partyline_earpiece_underruns_total{handset="h2"} 7` + "\n",
		"# TYPE partyline_earpiece_dropped_samples_total counter\n" +
			`partyline_earpiece_dropped_samples_total{handset="h1"} 0` + "\n" +
			`partyline_earpiece_dropped_samples_total{handset="h2"} 1234` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics with an audio device lack %q", want)
		}
	}

	// Collected at scrape time.
	f.setState(0, "in call", "")
	body = local.get("/metrics").Body.String()
	if !strings.Contains(body, `partyline_handset_state{handset="h1",state="in_call"} 1`) {
		t.Errorf("metrics after a change lack the new state")
	}
	f.setState(1, "failed", "486 Busy Here")
	f.setState(1, "idle", "")
	if body := local.get("/metrics").Body.String(); !strings.Contains(body, `partyline_handset_state{handset="h2",state="failed"} 0`) {
		t.Errorf("a handset no longer failed has no failed series at 0:\n%s", body)
	}

	// A call's figures while it lasts.
	if err := f.Control(0, ActionJoin); err != nil {
		t.Fatal(err)
	}
	body = local.get("/metrics").Body.String()
	for _, want := range []string{
		`partyline_call_rtp_packets{handset="h1",kind="sent"} 10`,
		`partyline_call_rtp_packets{handset="h1",kind="lost"} 1`,
		`partyline_call_rtp_packets{handset="h1",kind="late"} 2`,
		"# TYPE partyline_call_concealed_packets_total counter\n" + `partyline_call_concealed_packets_total{handset="h1"} 5`,
		`partyline_call_jitter_seconds{handset="h1"} 0.0025`,
		`partyline_call_mos{handset="h1"} 4.1`,
		"# TYPE partyline_call_foreign_datagrams_total counter\n" + `partyline_call_foreign_datagrams_total{handset="h1"} 42`,
		`partyline_call_start_timestamp_seconds{handset="h1"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics in a call lack %q", want)
		}
	}
	for _, absent := range []string{"partyline_call_rtt_seconds", `partyline_call_mos{handset="h2"`} {
		if strings.Contains(body, absent) {
			t.Errorf("metrics have %q, which is not measured", absent)
		}
	}

	for _, remote := range []string{"[::1]:40000", "[::ffff:127.0.0.1]:40000"} {
		c := &client{t: t, h: local.h, remote: remote}
		if rec := c.get("/metrics"); rec.Code != http.StatusOK {
			t.Errorf("from %s: got %d, want 200", remote, rec.Code)
		}
	}
	remote := &client{t: t, h: local.h, remote: "192.0.2.9:40000"}
	if rec := remote.get("/metrics"); rec.Code != http.StatusUnauthorized {
		t.Errorf("from another host without a session: got %d, want 401", rec.Code)
	}
	remote.login(adminPassword)
	if rec := remote.get("/metrics"); rec.Code != http.StatusOK {
		t.Errorf("from another host with a session: got %d, want 200", rec.Code)
	}
}

// setMetrics stores the metrics settings m, as the settings page would.
func setMetrics(t *testing.T, f *fakeBackend, m settings.MetricsSettings) {
	t.Helper()
	if _, err := f.UpdateSettings(func(s *settings.Settings) error { s.Metrics = m; return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsAccess asks for /metrics in each access mode: from loopback and from another
// host, with and without a session, with the right token, a wrong one and none. Each mode
// applies to the next request, without a restart.
func TestMetricsAccess(t *testing.T) {
	f := newFake(t)
	h := newHandler(f)
	local := &client{t: t, h: h, remote: "127.0.0.1:40000"}
	remote := &client{t: t, h: h, remote: "192.0.2.9:40000"}
	session := &client{t: t, h: h, remote: "192.0.2.10:40000"}
	session.login(adminPassword)
	bearer := func(c *client, auth string) int {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return c.do(req).Code
	}
	const right = "Bearer " + metricsSecret
	wrongs := []string{"", "Bearer", "Bearer ", "Bearer wrong-token-0123456789", "Bearer " + metricsSecret + "x",
		"Bearer " + metricsSecret[:len(metricsSecret)-1], "Basic " + metricsSecret, metricsSecret}

	for _, tt := range []struct {
		mode    settings.MetricsSettings
		local   int // loopback, no session, no token
		remote  int // another host, no session, no token
		session int // another host with a session, no token
		token   int // another host with the right token
		wrong   int // loopback and another host, each wrong token
	}{
		{settings.MetricsSettings{}, 200, 401, 200, 401, 0},
		{settings.MetricsSettings{Access: settings.MetricsLoopback, Token: metricsSecret}, 200, 401, 200, 401, 0},
		{settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret}, 401, 401, 401, 200, 401},
		{settings.MetricsSettings{Access: settings.MetricsOff, Token: metricsSecret}, 404, 404, 404, 404, 404},
	} {
		setMetrics(t, f, tt.mode)
		name := cmp.Or(tt.mode.Access, "default")
		if got := bearer(local, ""); got != tt.local {
			t.Errorf("%s, from loopback: got %d, want %d", name, got, tt.local)
		}
		if got := bearer(remote, ""); got != tt.remote {
			t.Errorf("%s, from another host: got %d, want %d", name, got, tt.remote)
		}
		if got := bearer(session, ""); got != tt.session {
			t.Errorf("%s, with a session: got %d, want %d", name, got, tt.session)
		}
		if got := bearer(remote, right); got != tt.token {
			t.Errorf("%s, with the token: got %d, want %d", name, got, tt.token)
		}
		if tt.wrong == 0 {
			continue
		}
		for _, auth := range wrongs {
			for _, c := range []*client{local, remote} {
				if got := bearer(c, auth); got != tt.wrong {
					t.Errorf("%s, from %s with Authorization %q: got %d, want %d", name, c.remote, auth, got, tt.wrong)
				}
			}
		}
	}

	setMetrics(t, f, settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret})
	rec := remote.do(func() *http.Request {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", "bearer "+metricsSecret) // the scheme is case-insensitive
		return req
	}())
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "partyline_handset_state") {
		t.Errorf("with the token, scheme in lower case: got %d", rec.Code)
	}
	rec = remote.get("/metrics")
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("refused without a token: WWW-Authenticate %q, want a Bearer challenge", got)
	}
	if strings.Contains(rec.Body.String(), "partyline_") {
		t.Errorf("refused, yet the body has metrics:\n%s", rec.Body)
	}
}

// TestMetricsOverLoopback scrapes a real server on loopback, where the client's address is
// the socket's: the default mode answers, token mode wants the token.
func TestMetricsOverLoopback(t *testing.T) {
	f := newFake(t)
	srv := httptest.NewServer(newHandler(f))
	defer srv.Close()
	get := func(auth string) int {
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(""); got != http.StatusOK {
		t.Errorf("default mode: got %d, want 200", got)
	}
	setMetrics(t, f, settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret})
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("token mode without the token: got %d, want 401", got)
	}
	if got := get("Bearer " + metricsSecret); got != http.StatusOK {
		t.Errorf("token mode with the token: got %d, want 200", got)
	}
}
