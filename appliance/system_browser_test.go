package appliance_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"partyline/appliance"
	"partyline/appliance/config"
	"partyline/hw/sim"
)

// chromium is Debian's chromium, which `make test` installs.
const chromium = "/usr/bin/chromium"

// browserPage is a headless chromium on one admin page, with the steps the tests take.
type browserPage struct {
	t    *testing.T
	ctx  context.Context
	base string // the admin page's URL
}

// openBrowser starts headless chromium for the admin page at base; it goes with the test.
func openBrowser(t *testing.T, base string) *browserPage {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run `make test`, which installs it", chromium, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browserPage{t: t, ctx: ctx, base: base}
}

// do runs steps, for at most failsafe.
func (b *browserPage) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks the button and waits for the page it leads to.
func (b *browserPage) submit(what, button string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(button)))); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates js in the page.
func (b *browserPage) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// text is the text of the element of id, "" if there is none.
func (b *browserPage) text(id string) string {
	return b.eval(`(document.getElementById("` + id + `") || {textContent: ""}).textContent`)
}

// login logs in with the admin password.
func (b *browserPage) login() {
	b.t.Helper()
	b.do("open the login", chromedp.Navigate(b.base+"/login"))
	b.do("type the password", chromedp.SendKeys(chromedp.ID("login-password"), adminPassword))
	b.submit("log in", "#login button[type=submit]")
}

// screenshot saves the page as name in the test's artifacts (go test -artifacts keeps them).
func (b *browserPage) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.t.ArtifactDir(), name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestSystemSectionInTheBrowser opens the System page of an appliance started by hand (not
// by systemd), as a user would: the firmware, uptime, host name, addresses, the time and
// whether it is synchronised, the note that the network and time are the OS's; restart
// and reboot are off, saying why; a packet capture starts and stops and can be
// downloaded; a factory reset that keeps the password puts the first-start settings back,
// forgets the calls and stops the appliance for a restart.
func TestSystemSectionInTheBrowser(t *testing.T) {
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9")
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) { c.Version, c.Build = "1.2.3+git20261206.abc", "abcdef123456" })
	b := openBrowser(t, r.admin)
	b.login()
	b.do("open the System page", chromedp.Navigate(r.admin+"/"))
	b.submit("follow the navigation", `nav a[href="/system"]`)

	host, _ := os.Hostname()
	for id, want := range map[string]string{
		"system-version":   "partyline 1.2.3+git20261206.abc (build abcdef123456)",
		"system-uptime":    " s, since ",
		"system-hostname":  host,
		"system-addresses": "",
		"system-time":      "synchronis",
		"system-os-note":   "NTP",
		"reboot-off":       "not run by systemd",
		"capture-status":   "No capture yet.",
	} {
		if got := b.text(id); !strings.Contains(got, want) || got == "" {
			t.Errorf("#%s says %q, want %q in it", id, got, want)
		}
	}
	if got := b.eval(`String(document.getElementById("reboot-submit").disabled)`); got != "true" {
		t.Error("#reboot-submit is not disabled outside systemd")
	}
	if got := b.eval(`String(document.getElementById("restart-submit").disabled)`); got != "false" {
		t.Error("#restart-submit is disabled outside systemd, where partyline restarts itself")
	}
	b.screenshot("system.png")

	b.submit("start a capture", "#capture-start")
	if got := b.text("capture-status"); !strings.Contains(got, "Capturing since") {
		t.Errorf("after Start capture the status says %q", got)
	}
	b.submit("stop the capture", "#capture-stop")
	if got := b.text("capture-status"); !strings.Contains(got, "Last capture") || !strings.Contains(got, "stopped") {
		t.Errorf("after Stop capture the status says %q", got)
	}
	if got := b.eval(`document.getElementById("capture-download").getAttribute("href")`); got != "/system/capture.pcap" {
		t.Errorf("download link %q", got)
	}

	// The factory reset needs its confirmation: without it the browser does not send it.
	b.do("keep the password", chromedp.Click(chromedp.ID("factory-reset-keep")))
	b.do("press Factory reset unconfirmed", chromedp.Click(chromedp.ID("factory-reset-submit")))
	if s := r.settings(); len(s.Accounts) != 1 {
		t.Fatalf("an unconfirmed factory reset changed the accounts: %+v", s.Accounts)
	}
	b.do("confirm", chromedp.Click(chromedp.ID("factory-reset-confirm")))
	b.submit("factory reset", "#factory-reset-submit")
	if got := b.eval(`document.querySelector(".notice[role=status]").textContent`); !strings.Contains(got, "Factory reset done") {
		t.Errorf("after the factory reset the page says %q", got)
	}
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Errorf("after a factory reset Run returned %v, want ErrRestart", err)
	}
	st, err := config.Open(r.db, config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Accounts) != 0 || set.Conferences[0].URI != "" || set.Handsets[0].DisplayName != "" || set.SIP.ListenAddr != config.DefaultListenAddr {
		t.Errorf("settings after the factory reset: %+v, want the first-start ones", set)
	}
	if ok, err := st.CheckAdminPassword(adminPassword); err != nil || !ok {
		t.Errorf("the admin password after a reset that keeps it: %v, %v", ok, err)
	}
}

// TestSystemActionsUnderSystemd runs the appliance as systemd would (INVOCATION_ID set):
// restart and reboot are on; a reboot asks the device, a restart makes Run return
// ErrRestart for systemd to start it again; a factory reset that does not keep the
// password clears it.
func TestSystemActionsUnderSystemd(t *testing.T) {
	t.Setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
	var rebooted atomic.Int32
	start := func() *rig {
		dir := t.TempDir()
		seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9")
		return runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
			c.Reboot = func() error { rebooted.Add(1); return nil }
		})
	}
	r := start()
	b := openBrowser(t, r.admin)
	b.login()
	b.do("open the System page", chromedp.Navigate(r.admin+"/system"))
	for _, id := range []string{"restart-off", "reboot-off"} {
		if got := b.text(id); got != "" {
			t.Errorf("under systemd #%s says %q", id, got)
		}
	}
	b.do("confirm the reboot", chromedp.Click(chromedp.ID("reboot-confirm")))
	b.submit("reboot", "#reboot-submit")
	if got := b.eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "rebooting") || rebooted.Load() != 1 {
		t.Errorf("after Reboot device: notice %q, %d reboots; want the device rebooting", got, rebooted.Load())
	}
	b.do("confirm the restart", chromedp.Click(chromedp.ID("restart-confirm")))
	b.submit("restart", "#restart-submit")
	if got := b.eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "restarting") {
		t.Errorf("after Restart service the page says %q", got)
	}
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Errorf("after Restart service Run returned %v, want ErrRestart", err)
	}

	r = start()
	b.base = r.admin
	b.login()
	b.do("open the System page", chromedp.Navigate(r.admin+"/system"))
	b.do("confirm", chromedp.Click(chromedp.ID("factory-reset-confirm")))
	b.submit("factory reset", "#factory-reset-submit")
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Errorf("after a factory reset Run returned %v, want ErrRestart", err)
	}
	st, err := config.Open(r.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if set, err := st.AdminPasswordSet(); err != nil || set {
		t.Errorf("the admin password after a reset that does not keep it: set %v, %v", set, err)
	}
}

// TestSystemActionsNeedConfirmation posts the restart, reboot and factory reset forms
// without their confirmation, as a stray request or a page without the box would: each is
// refused with the reason, and nothing happens.
func TestSystemActionsNeedConfirmation(t *testing.T) {
	t.Setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9")
	var rebooted atomic.Int32
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
		c.Reboot = func() error { rebooted.Add(1); return nil }
	})
	for path, want := range map[string]string{
		"/system/restart":       "Not restarted: confirm the restart.",
		"/system/reboot":        "Not rebooted: confirm the reboot.",
		"/system/factory-reset": "Not reset: confirm the factory reset.",
	} {
		res, err := r.http.PostForm(r.admin+path, url.Values{"keep_password": {"on"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("POST %s unconfirmed: %s, want 400 saying %q", path, res.Status, want)
		}
	}
	if s := r.settings(); len(s.Accounts) != 1 || rebooted.Load() != 0 {
		t.Errorf("after unconfirmed actions: %d accounts, %d reboots; want nothing changed", len(s.Accounts), rebooted.Load())
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run returned %v after unconfirmed actions, want nil", err)
	}
}
