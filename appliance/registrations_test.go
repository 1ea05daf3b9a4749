package appliance

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"partyline/sip"
)

// TestRegistrationLoggedOncePerChange feeds the reports of a registration that fails, is
// retried and fails again the same way, then succeeds and is refreshed: the log has one line
// per change of state or reason, the failures as warnings.
func TestRegistrationLoggedOncePerChange(t *testing.T) {
	var out strings.Builder
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	now := time.Now()
	noAnswer := "no answer from 192.0.2.1:5060 within 10s"
	reports := []sip.Registration{
		{State: sip.Registering},
		{State: sip.Failed, Detail: noAnswer, NextAttempt: now.Add(time.Second)},
		{State: sip.Failed, Detail: noAnswer, NextAttempt: now.Add(3 * time.Second)},
		{State: sip.Failed, Detail: noAnswer, NextAttempt: now.Add(7 * time.Second)},
		{State: sip.Failed, Detail: "403 Forbidden", NextAttempt: now.Add(15 * time.Second)},
		{State: sip.Registered, Expires: now.Add(time.Hour), NextAttempt: now.Add(30 * time.Minute)},
		{State: sip.Registered, Expires: now.Add(2 * time.Hour), NextAttempt: now.Add(90 * time.Minute)},
	}
	last := sip.Registration{State: -1}
	for _, reg := range reports {
		logRegistration(log, last, reg)
		last = reg
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"level=INFO msg=registration state=registering",
		"level=WARN msg=registration state=failed detail=\"" + noAnswer + "\"",
		"level=WARN msg=registration state=failed detail=\"403 Forbidden\"",
		"level=INFO msg=registration state=registered",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
}
