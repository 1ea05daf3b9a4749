package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserSetupByPresence: on first start, once a handset's call button was held, the
// setup page in chromium says that no code is needed and until when, its code field is no
// longer required, and the password is set with the field left empty.
func TestBrowserSetupByPresence(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run `make test`, which installs it", chromium, err)
	}
	dev := &device{t: t, dir: t.TempDir()}
	dev.start()
	defer dev.store.Close()
	srv := httptest.NewServer(dev)
	defer srv.Close()
	dev.backend.mu.Lock()
	dev.backend.presenceUntil = time.Now().Add(5 * time.Minute) // the button was held
	dev.backend.mu.Unlock()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.UserDataDir(t.TempDir()),
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
	sctx, cancelSteps := context.WithTimeout(ctx, failsafe)
	defer cancelSteps()
	if err := chromedp.Do(sctx, chromedp.Navigate(srv.URL+"/settings")); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	if got := eval("location.pathname"); got != "/setup" {
		t.Fatalf("first start: at %s, want /setup", got)
	}
	if got := eval(`document.getElementById("setup-code-hint").textContent`); !strings.Contains(got, "call button was held") {
		t.Errorf("the setup code's hint says %q, want that no code is needed", got)
	}
	if got := eval(`String(document.getElementById("setup-code").required)`); got != "false" {
		t.Errorf("the setup code field is required: %s", got)
	}
	if err := chromedp.Do(sctx,
		chromedp.SendKeys(chromedp.ID("setup-password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), adminPassword)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "setup-presence.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(sctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("#setup button[type=submit]")))); err != nil {
		t.Fatal(err)
	}
	if got := eval("location.pathname + location.search"); got != "/?set" {
		t.Fatalf("after setting the password without the code: at %s, want /?set, logged in", got)
	}
	if set, _ := dev.backend.AdminPasswordSet(); !set {
		t.Error("the password is not set")
	}
}
