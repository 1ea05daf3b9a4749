package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserSettingsNotice: the settings page's section navigation links every section
// (Board included), and after "Add account" the "Saved" notice is on screen, in the new
// account's form, not above the viewport over an empty "New account" form. A CA pasted
// into the Provisioning form is saved as it was pasted and shown in its field again.
func TestBrowserSettingsNotice(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run `make test`, which installs it", chromium, err)
	}
	dev := &device{t: t, dir: t.TempDir()}
	dev.start()
	defer dev.store.Close()
	srv := httptest.NewServer(dev)
	defer srv.Close()

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
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	sctx, cancelSteps := context.WithTimeout(ctx, 3*failsafe) // outlives the poll's failsafe below
	defer cancelSteps()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	submit := func(what, button string) {
		t.Helper()
		if _, err := chromedp.Run(sctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(button)))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}

	do("open the setup page", chromedp.Navigate(srv.URL+"/setup"),
		chromedp.SetValue(chromedp.ID("setup-code"), dev.code),
		chromedp.SendKeys(chromedp.ID("setup-password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), adminPassword))
	submit("set the password", "#setup button[type=submit]")
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))

	// Every section's heading has a link in the navigation, and every link leads to one.
	sections := eval(`[...document.querySelectorAll("main section > h2")].map(h => h.id).join(" ")`)
	links := eval(`[...document.querySelectorAll("nav.sections a")].map(a => a.getAttribute("href").slice(1)).filter(h => h != "main").join(" ")`)
	if sections == "" || sections != links {
		t.Errorf("the section navigation links %q, want every section %q", links, sections)
	}
	if !strings.Contains(links, "board-heading") {
		t.Errorf("the section navigation has no link to Board: %q", links)
	}

	// A link of the navigation shows its section alone; "All sections" shows them all again.
	visible := func() string {
		t.Helper()
		return eval(`[...document.querySelectorAll("main > section")].filter(s => s.offsetParent !== null).map(s => s.querySelector("h2").id).join(" ")`)
	}
	do("show the Board section", chromedp.Click(chromedp.CSS(`nav.sections a[href="#board-heading"]`)))
	if got := visible(); got != "board-heading" {
		t.Errorf("after the Board link the page shows %q, want the Board section alone", got)
	}
	do("show every section", chromedp.Click(chromedp.CSS(`nav.sections a[href="#main"]`)))
	if got := visible(); got != sections {
		t.Errorf("after All sections the page shows %q, want %q", got, sections)
	}

	do("fill in a new account",
		chromedp.Click(chromedp.CSS(`#accounts-heading ~ details summary`)),
		chromedp.SendKeys(chromedp.ID("new-account-id"), "bob"),
		chromedp.SendKeys(chromedp.ID("new-account-user"), "1002"),
		chromedp.SendKeys(chromedp.ID("new-account-domain"), "example.org"))
	submit("add the account", "#new-account button[type=submit]")
	if got, _ := dev.backend.Settings(); len(got.Accounts) == 0 || got.Accounts[len(got.Accounts)-1].ID != "bob" {
		t.Fatalf("the account was not added: %+v", got.Accounts)
	}
	// The browser scrolls to the anchor a moment after the load.
	inView := chromedp.Poll[chromedp.Void](`(() => {
		const n = [...document.querySelectorAll("[role=status]")].find(e => e.textContent.includes("Saved"));
		if (!n) return false;
		const r = n.getBoundingClientRect();
		return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
	})()`, chromedp.WithPollingTimeout(failsafe))
	if _, err := chromedp.Run(sctx, inView); err != nil {
		t.Errorf("after Add account the Saved notice is not in the viewport: %s (scrolled to %s of %s)",
			eval(`JSON.stringify([...document.querySelectorAll("[role=status]")].map(e => [e.textContent, e.getBoundingClientRect().top]))`),
			eval(`String(window.scrollY)`), eval(`String(document.documentElement.scrollHeight)`))
	}
	if got := eval(`document.querySelector("#account-bob [role=status]")?.textContent ?? ""`); !strings.Contains(got, "Saved") {
		t.Errorf("the new account's form says %q, want Saved", got)
	}
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "settings-saved.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	certPEM, _, err := NewCertificate([]string{"prov.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ca := strings.TrimSpace(string(certPEM))
	if eval(`String(document.getElementById("provisioning-ca")?.tagName)`) != "TEXTAREA" {
		t.Fatal("the Provisioning form has no CA field (a textarea, provisioning-ca)")
	}
	do("paste the provisioning CA", chromedp.Click(chromedp.CSS(`nav.sections a[href="#provisioning-heading"]`)),
		chromedp.SetValue(chromedp.ID("provisioning-ca"), string(certPEM)))
	submit("save the provisioning settings", "#provisioning button[type=submit]")
	if got, _ := dev.backend.Settings(); got.Provisioning.CA != ca {
		t.Errorf("the provisioning CA saved is %q, want the pasted %q", got.Provisioning.CA, ca)
	}
	if got := eval(`document.getElementById("provisioning-ca")?.value ?? ""`); got != ca {
		t.Errorf("after saving, the CA field shows %q, want %q", got, ca)
	}
}
