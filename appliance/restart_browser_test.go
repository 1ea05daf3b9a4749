package appliance

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"partyline/appliance/settings"
)

// TestBrowserRestartPending saves a setting that applies at the next restart, and checks in
// chromium that every page then shows the restart pending banner, that its Restart button
// asks first and does nothing when the user says no, and that once confirmed the appliance
// stops with ErrRestart, which cmd/partyline turns into a new start.
func TestBrowserRestartPending(t *testing.T) {
	// No -board flag (it would override the board setting): detection finds no Pi here.
	a, err := New(Config{DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const password = "restart-test-password"
	if err := a.store.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(failsafe):
			t.Errorf("the appliance did not stop within %v", failsafe)
		}
	}()
	base := a.adminURL()
	b := newBrowser(t)
	b.login(base, password)
	if got := b.eval(`String(document.getElementById("restart-pending") !== null)`); got != "false" {
		t.Fatalf("a restart pending banner before anything changed: %q", b.text("#restart-pending"))
	}

	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	b.do("choose another board", chromedp.SetValue(chromedp.ID("board-board"), "pi-octo"))
	b.submit("save the board", "board")
	for _, path := range []string{"/", "/settings", "/history", "/recordings"} {
		b.do("open "+path, chromedp.Navigate(base+path))
		if got := b.text("#restart-pending"); !strings.Contains(got, "Restart pending") || !strings.Contains(got, "the board") {
			t.Errorf("%s: restart pending banner %q, want it to say the board waits for a restart", path, got)
		}
	}

	// The button asks first; no means no.
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	b.eval(`window.confirm = function (m) { window.asked = m; return false; }; ""`)
	b.eval(`document.querySelector("#restart-pending button").click(); ""`)
	if got := b.eval(`String(window.asked)`); !strings.Contains(got, "Restart partyline now?") {
		t.Errorf("the Restart button asked %q, want it to ask before restarting", got)
	}
	if got := b.eval(`location.pathname + String(document.getElementById("restarting") !== null)`); got != "/false" {
		t.Errorf("after saying no: %s, want the dashboard still", got)
	}
	select {
	case err := <-stopped:
		t.Fatalf("the appliance stopped (%v) though the restart was not confirmed", err)
	default:
	}

	b.eval(`window.confirm = function () { return true; }; ""`)
	b.submit("restart", "restart")
	if got := b.text("#restarting"); !strings.Contains(got, "restarting") {
		t.Errorf("after Restart the page says %q, want it to say partyline is restarting", got)
	}
	select {
	case err := <-stopped:
		stopped <- err // for the deferred wait
		if !errors.Is(err, ErrRestart) {
			t.Errorf("Run after Restart: %v, want ErrRestart", err)
		}
	case <-time.After(failsafe):
		t.Fatal("the appliance did not stop for the restart")
	}
}

// TestPendingRestartLeavesOutFlags changes the board and the SIP listen address while the
// -board and -sip flags override them: no restart would apply them, and none is pending.
func TestPendingRestartLeavesOutFlags(t *testing.T) {
	a := newSimAppliance(t, nil) // with -board sim and -sip
	run(t, a)
	if _, err := (backend{a}).UpdateSettings(func(s *settings.Settings) error {
		s.Board, s.SIP.ListenAddr = "pi-octo", "127.0.0.1:5999"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := a.pendingRestart(); len(got) != 0 {
		t.Errorf("pending restart with the flags overriding the change: %q", got)
	}
	a.sipFlag, a.boardFlag = false, false
	if got := a.pendingRestart(); len(got) != 2 {
		t.Errorf("pending restart without the flags: %q, want the board and the SIP listen address", got)
	}
}
