package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"partyline/appliance/config"
)

// chromium is Debian's chromium, which `make test` installs.
const chromium = "/usr/bin/chromium"

// device is the admin page over a real settings file, restartable like the
// appliance: a restart closes the file and opens it again under a new
// handler, so that only what is in the file survives (sessions do not).
type device struct {
	t       *testing.T
	dir     string
	handler atomic.Pointer[http.Handler]
	store   *config.Store // of the current handler
	backend *fakeBackend  // of the current handler
}

func (d *device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*d.handler.Load()).ServeHTTP(w, r)
}

func (d *device) start() {
	d.store = openStore(d.t, d.dir)
	d.backend = &fakeBackend{store: d.store, storePassword: true, status: testStatus()}
	h := Handler(d.backend, slog.New(slog.NewTextHandler(d.t.Output(), nil)))
	d.handler.Store(&h)
}

func (d *device) restart() {
	if err := d.store.Close(); err != nil {
		d.t.Fatalf("close settings: %v", err)
	}
	d.start()
}

// TestBrowser drives the admin page in headless chromium as a user would:
// first start, login, settings that survive a restart, a refused value, a
// hook lifted live, and a backup restored. It saves screenshots to
// $PARTYLINE_ARTIFACTS (or a temporary directory).
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run `make test`, which installs it", chromium, err)
	}
	artifacts := os.Getenv("PARTYLINE_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	dev := &device{t: t, dir: t.TempDir()}
	dev.start()
	srv := httptest.NewServer(dev)
	defer srv.Close() // after the browser has gone, with its event streams

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
	var console sync.WaitGroup
	defer console.Wait()
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}

	// The page must run without script errors or refusals by its own
	// security policy; failed requests (a refused form is a 400) are fine.
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	console.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	})

	// do runs steps with a time limit; the browser outlives it.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// submit clicks a submit button and waits for the page it leads to.
	submit := func(what, button string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(button)))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	location := func() string { return eval("location.pathname + location.search") }
	screenshot := func(name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(artifacts, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	login := func() {
		t.Helper()
		do("log in", chromedp.SendKeys(chromedp.ID("login-password"), adminPassword))
		submit("log in", "#login button[type=submit]")
		if got := location(); got != "/" {
			t.Fatalf("after logging in: at %s, want /", got)
		}
	}

	// First start: every page leads to setting the password.
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	if got := location(); got != "/setup" {
		t.Fatalf("first start: at %s, want /setup", got)
	}
	do("choose a password",
		chromedp.SendKeys(chromedp.ID("setup-password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), adminPassword))
	submit("set the password", "#setup button[type=submit]")
	if got := location(); got != "/login?set=1" {
		t.Fatalf("after setting the password: at %s, want /login?set=1", got)
	}
	login()

	// A handset's conference changes, and the change survives a restart.
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	do("choose a conference for handset 2", chromedp.SetValue(chromedp.ID("handset-h2-conference"), "main"))
	submit("save handset 2", "#handset-h2 button[type=submit]")
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "Saved") {
		t.Errorf("after saving: notice %q, want it to say Saved", got)
	}
	dev.restart()
	if got, _ := dev.backend.Settings(); got.Handsets[1].Conference != "main" {
		t.Fatalf("after a restart the file has handset 2 in conference %q, want main", got.Handsets[1].Conference)
	}
	do("reopen the settings", chromedp.Navigate(srv.URL+"/settings"))
	if got := location(); got != "/login" {
		t.Fatalf("after a restart: at %s, want /login (sessions end with the appliance)", got)
	}
	login()
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	if got := eval(`document.getElementById("handset-h2-conference").value`); got != "main" {
		t.Errorf("after a restart the page shows handset 2 in conference %q, want main", got)
	}

	// An invalid URI is refused, with its error next to the field.
	do("type an invalid URI", chromedp.SetValue(chromedp.ID("conference-main-uri"), "http://example.org/conf"))
	submit("save the conference", "#conference-main .actions button")
	if got := eval(`document.getElementById("conference-main-uri-error").textContent`); !strings.Contains(got, "not a sip: or sips: URI") {
		t.Errorf("error next to the URI: got %q", got)
	}
	if got := eval(`document.getElementById("conference-main-uri").getAttribute("aria-describedby")`); !strings.Contains(got, "conference-main-uri-error") {
		t.Errorf("the URI input is described by %q, want its error", got)
	}
	if got := eval(`document.activeElement.id`); got != "conference-main-uri" {
		t.Errorf("focus is on %q, want the invalid input", got)
	}
	if got := eval(`document.getElementById("conference-main-uri").value`); got != "http://example.org/conf" {
		t.Errorf("the refused URI input shows %q, want what was typed", got)
	}
	screenshot("settings.png")
	if got, _ := dev.backend.Settings(); got.Conferences[0].URI != "sip:conf@example.org" {
		t.Errorf("a refused URI was saved: %q", got.Conferences[0].URI)
	}

	// A virtual hook is lifted; the state changes live, without a reload.
	do("open the dashboard", chromedp.Navigate(srv.URL+"/"))
	state := `document.querySelector('#handsets tr[data-index="0"] [data-field=state]').textContent`
	if got := eval(state); got != "on hook" {
		t.Fatalf("handset 1 before lifting: %q, want on hook", got)
	}
	eval(`window.partylineMark = "the same page"`)
	do("lift handset 1", chromedp.Click(chromedp.CSS(`#handsets tr[data-index="0"] form.hook button`)))
	do("wait for the state", chromedp.Poll[chromedp.Void](state+` === "dialing"`, chromedp.WithPollingTimeout(10*time.Second)))
	if got := eval(`window.partylineMark || "reloaded"`); got != "the same page" {
		t.Errorf("the page was %s to show the new state", got)
	}
	if got := eval(`document.querySelector('#handsets tr[data-index="0"] form.hook button').textContent`); got != "Replace" {
		t.Errorf("hook button after lifting: %q, want Replace", got)
	}
	screenshot("dashboard.png")

	// A settings export, imported again, gives the same settings.
	want, err := dev.backend.Settings()
	if err != nil {
		t.Fatal(err)
	}
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	downloads := t.TempDir()
	dctx, cancelDownload := context.WithTimeout(ctx, 20*time.Second)
	defer cancelDownload()
	progress := chromedp.Events(dctx, browser.DownloadProgress)
	do("export", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
			DownloadPath:  downloads,
			EventsEnabled: new(true),
		})
		return err
	}), chromedp.Click(chromedp.CSS("#export button[type=submit]")))
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download the export: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(exported), accountSecret) {
		t.Errorf("the export without passwords has the password")
	}
	do("change the listen address", chromedp.SetValue(chromedp.ID("sip-listen_addr"), "127.0.0.1:5999"))
	submit("save the listen address", "#sip button[type=submit]")
	if got, _ := dev.backend.Settings(); got.SIP.ListenAddr != "127.0.0.1:5999" {
		t.Fatalf("listen address after saving: %q", got.SIP.ListenAddr)
	}
	do("choose the export", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}))
	submit("import", "#import button[type=submit]")
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "imported") {
		t.Errorf("after importing: notice %q, want it to say imported", got)
	}
	if got, _ := dev.backend.Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("settings after export and import:\n got %+v\nwant %+v", got, want)
	}

	cancel()
	console.Wait()
	if len(problems) > 0 {
		t.Errorf("the browser console reported:\n%s", strings.Join(problems, "\n"))
	}
}
