package web

import (
	"net/http"
	"strings"
	"testing"
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
		`partyline_handset_state{handset="0",name="Kitchen",state="on hook"} 1`,
		`partyline_handset_state{handset="1",name="Garden",state="ended"} 1`,
		`partyline_handset_off_hook{handset="0",name="Kitchen"} 0`,
		`partyline_handset_off_hook{handset="1",name="Garden"} 1`,
		`partyline_registration_state{account="alice",aor="sip:alice@example.org",state="registered"} 1`,
		`partyline_registration_expiry_timestamp_seconds{account="alice"} 1.7955144e+09`,
		`partyline_handset_muted{handset="0",name="Kitchen"} 0`,
		`partyline_handset_level_dbfs{direction="microphone",handset="1",name="Garden"} -31`,
		`partyline_handset_level_dbfs{direction="earpiece",handset="0",name="Kitchen"} -120`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Collected at scrape time.
	f.setState(0, "in call", "")
	if body := local.get("/metrics").Body.String(); !strings.Contains(body, `partyline_handset_state{handset="0",name="Kitchen",state="in call"} 1`) {
		t.Errorf("metrics after a change lack the new state")
	}

	// A call's figures while it lasts.
	if err := f.Control(0, ActionJoin); err != nil {
		t.Fatal(err)
	}
	body = local.get("/metrics").Body.String()
	for _, want := range []string{
		`partyline_call_rtp_packets{handset="0",kind="sent",name="Kitchen"} 10`,
		`partyline_call_rtp_packets{handset="0",kind="lost",name="Kitchen"} 1`,
		`partyline_call_jitter_seconds{handset="0",name="Kitchen"} 0.0025`,
		`partyline_call_mos{handset="0",name="Kitchen"} 4.1`,
		`partyline_call_start_timestamp_seconds{handset="0",name="Kitchen"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics in a call lack %q", want)
		}
	}
	for _, absent := range []string{"partyline_call_rtt_seconds", `partyline_call_mos{handset="1"`} {
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
