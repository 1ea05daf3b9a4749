package appliance_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance"
	"partyline/appliance/config"
	"partyline/appliance/web"
	"partyline/hw/sim"
)

// Physical presence at the device: the sim board's call buttons stand for the handsets'.

// startOwnerless writes first-start settings into dir (with the admin password
// adminPassword if withPassword) and runs an appliance on board over them, without logging
// in. It returns the admin page's base URL; the appliance stops when the test ends.
func startOwnerless(t *testing.T, dir string, board *sim.Board, withPassword bool) string {
	t.Helper()
	st, err := config.Open(filepath.Join(dir, "partyline.db"), config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureDefaults(board.Handsets()); err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.SIP.ListenAddr = "127.0.0.1:0"
	if err := st.Save(set); err != nil {
		t.Fatal(err)
	}
	if withPassword {
		if err := st.SetAdminPassword(adminPassword); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(appliance.Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", Sim: board},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("appliance.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(failsafe):
			t.Errorf("appliance did not stop within %v", failsafe)
		}
	})
	return "http://" + a.AdminAddr().String()
}

// setupPage returns the setup page, or "" when GET /setup does not show it (a password
// is set: it leads to the login).
func setupPage(t *testing.T, base string) string {
	t.Helper()
	c := &http.Client{Timeout: failsafe, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/setup")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// waitForPage polls the setup page until cond holds, for at most failsafe.
func waitForPage(t *testing.T, base, what string, cond func(page string) bool) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for !cond(setupPage(t, base)) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", failsafe, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setUpWithoutCode posts the setup form with password and no code; it returns the
// status of the answer and a client that holds the session it gave, if any.
func setUpWithoutCode(t *testing.T, base, password string) (int, *http.Client) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: failsafe, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(base+"/setup", url.Values{"code": {""}, "password": {password}, "confirm": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, c
}

// statusOf reads the status API with c, logged in.
func statusOf(t *testing.T, c *http.Client, base string) web.Status {
	t.Helper()
	res, err := c.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st web.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	return st
}

// TestCallButtonHeldProvesPresence: on first start, setting the password without the
// setup code is refused until someone holds a handset's call button; then the page says
// that no code is needed, takes the password without one and logs the browser in, and
// the handset's status says what the hold did.
func TestCallButtonHeldProvesPresence(t *testing.T) {
	board := sim.New(2)
	base := startOwnerless(t, t.TempDir(), board, false)
	const password = "held-the-button"
	if code, _ := setUpWithoutCode(t, base, password); code != http.StatusForbidden {
		t.Fatalf("setup without the code before the button was held: %d, want 403", code)
	}

	board.Button(1).Set(true) // handset 2's call button, held
	waitForPage(t, base, "the setup page to say that the button was held", func(p string) bool {
		return strings.Contains(p, "call button was held at the device")
	})
	board.Button(1).Set(false)
	code, c := setUpWithoutCode(t, base, password)
	if code != http.StatusSeeOther {
		t.Fatalf("setup without the code after the button was held: %d, want 303", code)
	}
	st := statusOf(t, c, base)
	if got := st.Handsets[1].Detail; !strings.Contains(got, "presence proven") {
		t.Errorf("handset 2 says %q, want that presence was proven", got)
	}
	if st.Handsets[1].State == "joining" || st.Handsets[1].State == "in call" {
		t.Errorf("handset 2 is %s: the hold also did its mapped action", st.Handsets[1].State)
	}
	if setupPage(t, base) != "" {
		t.Error("the setup page is still shown once the password is set")
	}
}

// TestCallButtonHeldAtStartResetsPassword: a call button held while the appliance starts
// clears the admin password, as `partyline reset-password` does, and the same hold proves
// presence for the new one. A press at start that is let go at once changes nothing.
func TestCallButtonHeldAtStartResetsPassword(t *testing.T) {
	t.Run("held", func(t *testing.T) {
		board := sim.New(2)
		board.Button(0).Set(true)
		base := startOwnerless(t, t.TempDir(), board, true)
		waitForPage(t, base, "the setup page to say that the button was held", func(p string) bool {
			return strings.Contains(p, "call button was held at the device")
		})
		board.Button(0).Set(false)
		const password = "a-new-password"
		if code, _ := setUpWithoutCode(t, base, password); code != http.StatusSeeOther {
			t.Fatalf("setup without the code after the reset: %d, want 303", code)
		}
		res, err := http.PostForm(base+"/login", url.Values{"password": {adminPassword}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Request.URL.Path == "/" {
			t.Error("the old password still logs in")
		}
	})
	t.Run("let go at once", func(t *testing.T) {
		board := sim.New(2)
		board.Button(0).Set(true)
		board.Button(0).Set(false)
		base := startOwnerless(t, t.TempDir(), board, true)
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Jar: jar, Timeout: failsafe}
		res, err := c.PostForm(base+"/login", url.Values{"password": {adminPassword}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Request.URL.Path != "/" {
			t.Fatalf("log in with the password: ended at %s, want /", res.Request.URL)
		}
	})
}
