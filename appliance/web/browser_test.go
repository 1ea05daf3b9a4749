package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"partyline/appliance/config"
	"partyline/appliance/settings"
)

// historySeed is the call history the browser test shows.
func historySeed() []settings.CallRecord {
	start := time.Date(2026, 3, 2, 14, 5, 0, 0, time.Local)
	return []settings.CallRecord{
		{Handset: "Kitchen", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org",
			Start: start, Duration: 12*time.Minute + 31*time.Second, End: settings.EndRemote, MOS: 4.28, LossPercent: 0.4},
		{Handset: "Garden", Conference: "sip:conf@example.org", Start: start.Add(20 * time.Minute), End: settings.EndFailed,
			Status: 486, Detail: "486 Busy Here"},
		{Handset: "Kitchen", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org",
			Start: start.Add(time.Hour), Duration: 47 * time.Second, End: settings.EndLocal, MOS: 4.39},
	}
}

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
	code    string        // the setup code the last start made, "" once a password is set
}

func (d *device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*d.handler.Load()).ServeHTTP(w, r)
}

func (d *device) start() {
	d.store = openStore(d.t, d.dir)
	code, _, err := d.store.PrepareSetupCode() // as the appliance does at start
	if err != nil {
		d.t.Fatalf("setup code: %v", err)
	}
	d.code = code
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
// button mapped to another action that survives a reload, a hook lifted, a call joined and muted live, the audio device's
// health updated live, the call history, and a
// backup restored. It saves screenshots, on a desktop and on a phone-sized
// screen, to t.ArtifactDir(): `go test -artifacts -outputdir DIR` keeps
// them.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run `make test`, which installs it", chromium, err)
	}
	artifacts := t.ArtifactDir()

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
		sctx, cancel := context.WithTimeout(ctx, failsafe)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// submit clicks a submit button and waits for the page it leads to.
	submit := func(what, button string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, failsafe)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(button)))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, failsafe)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	location := func() string { return eval("location.pathname + location.search") }
	var loginWith func(password string)
	screenshot := func(name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, failsafe)
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
		loginWith(adminPassword)
	}
	loginWith = func(password string) {
		t.Helper()
		do("log in", chromedp.SendKeys(chromedp.ID("login-password"), password))
		submit("log in", "#login button[type=submit]")
		if got := location(); got != "/" {
			t.Fatalf("after logging in: at %s, want /", got)
		}
	}

	// First start: every page leads to setting the password, which needs the setup code.
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	if got := location(); got != "/setup" {
		t.Fatalf("first start: at %s, want /setup", got)
	}
	do("choose a password with a wrong code",
		chromedp.SendKeys(chromedp.ID("setup-code"), "1111-2222-3333"),
		chromedp.SendKeys(chromedp.ID("setup-password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), adminPassword))
	submit("set the password with a wrong code", "#setup button[type=submit]")
	if got := eval(`document.getElementById("setup-code-error").textContent`); !strings.Contains(got, "Wrong setup code") {
		t.Errorf("error next to the setup code: got %q", got)
	}
	if set, _ := dev.backend.AdminPasswordSet(); set {
		t.Fatal("a wrong setup code set the password")
	}
	screenshot("setup-wrong-code.png")
	do("choose a password with the code",
		chromedp.SetValue(chromedp.ID("setup-code"), dev.code),
		chromedp.SendKeys(chromedp.ID("setup-password"), adminPassword),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), adminPassword))
	submit("set the password", "#setup button[type=submit]")
	if got := location(); got != "/?set" {
		t.Fatalf("after setting the password: at %s, want /?set, logged in", got)
	}
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "logged in") {
		t.Errorf("after setting the password: notice %q, want it to say the browser is logged in", got)
	}

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
	// Chromium applies autofocus when it next renders, a moment after the load.
	focused := chromedp.Poll[chromedp.Void](`document.activeElement.id === "conference-main-uri"`, chromedp.WithPollingTimeout(failsafe))
	if _, err := chromedp.Run(ctx, focused); err != nil {
		t.Errorf("focus is on %q, want the invalid input", eval(`document.activeElement.id`))
	}
	if got := eval(`document.getElementById("conference-main-uri").value`); got != "http://example.org/conf" {
		t.Errorf("the refused URI input shows %q, want what was typed", got)
	}
	screenshot("settings.png")
	if got, _ := dev.backend.Settings(); got.Conferences[0].URI != "sip:conf@example.org" {
		t.Errorf("a refused URI was saved: %q", got.Conferences[0].URI)
	}

	// The mute button's long press is mapped to recording: the page says that applies at
	// once, and the choice is still there after a reload.
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	if got := eval(`document.getElementById("buttons-mute-long-press").value`); got != "send-pin" {
		t.Errorf("the mute button's long press before the change: %q, want the default send-pin", got)
	}
	do("map the mute button's long press to record", chromedp.SetValue(chromedp.ID("buttons-mute-long-press"), "record"))
	submit("save the button mapping", "#buttons button[type=submit]")
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "uses the new button mapping from its next press") {
		t.Errorf("after saving the button mapping: notice %q, want it to say it applies at once", got)
	}
	do("reload the settings", chromedp.Reload())
	if got := eval(`document.getElementById("buttons-mute-long-press").value`); got != "record" {
		t.Errorf("after a reload the mute button's long press is %q, want record", got)
	}
	if got := eval(`document.getElementById("buttons-button-short-press").value`); got != "join-leave" {
		t.Errorf("after a reload the call button's short press is %q, want join-leave as before", got)
	}
	screenshot("settings-buttons.png")
	if got, _ := dev.backend.Settings(); !slices.Contains(got.Buttons, settings.ButtonMapping{Trigger: "mute:long-press", Action: "record"}) {
		t.Errorf("stored button mapping: %+v, want mute:long-press mapped to record", got.Buttons)
	}

	// A virtual hook is lifted, the handset joins and is muted from the
	// page: each change shows live, without a reload.
	dev.backend.setAudio(&AudioStatus{Overruns: 1, Underruns: 1})
	do("open the dashboard", chromedp.Navigate(srv.URL+"/"))
	const card = `#handsets .handset[data-index="0"] `
	field := func(name string) string {
		return `document.querySelector('` + card + `[data-field=` + name + `]').textContent`
	}
	waitFor := func(what, cond string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, failsafe)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(failsafe))); err != nil {
			t.Fatalf("%s: %v; the page says %q; the backend was asked for %q", what, err, eval(`document.getElementById("live-problem").textContent`), dev.backend.hookCalls())
		}
	}
	if got := eval(field("state")); got != "on hook" {
		t.Fatalf("handset 1 before lifting: %q, want on hook", got)
	}
	eval(`window.partylineMark = "the same page"`)
	do("lift handset 1", chromedp.Click(chromedp.CSS(card+`form.hook button`)))
	waitFor("the state after lifting", field("state")+` === "dialing"`)
	if got := eval(`document.querySelector('` + card + `form.hook button').textContent`); got != "Replace" {
		t.Errorf("hook button after lifting: %q, want Replace", got)
	}
	if got := eval(`String(document.querySelector('` + card + `form.mute button').disabled)`); got != "true" {
		t.Errorf("the Mute button outside a call: disabled is %s, want true", got)
	}
	do("join", chromedp.Click(chromedp.CSS(card+`form.call button`)))
	waitFor("the call", field("state")+` === "in call"`)
	do("mute", chromedp.Click(chromedp.CSS(card+`form.mute button`)))
	waitFor("the microphone muted", field("mute")+` === "muted"`)
	if got := eval(`document.querySelector('` + card + `form.mute button').getAttribute("aria-label")`); got != "Unmute Kitchen" {
		t.Errorf("mute button when muted: %q, want Unmute Kitchen", got)
	}
	if got := eval(`String(document.querySelector('` + card + `form.digits').hidden)`); got != "false" {
		t.Errorf("the digits form in a call: hidden is %s, want false", got)
	}
	do("type digits", chromedp.SendKeys(chromedp.ID("handset-0-digits"), "12#"))
	do("send digits", chromedp.Click(chromedp.CSS(card+`form.digits button`)))
	waitFor("the digits input emptied once sent", `document.getElementById("handset-0-digits").value === ""`)
	if got := dev.backend.hookCalls(); !slices.Contains(got, "digits 0 12#") {
		t.Errorf("after sending digits the backend was asked for %q", got)
	}
	dev.backend.setRosters([]RosterStatus{{Conference: "sip:conf@example.org", Participants: []RosterEntry{
		{URI: "sip:alice@example.org", DisplayName: "Kitchen", Status: "connected", Ours: true},
		{URI: "sip:zoe@example.org", DisplayName: "Zoë", Status: "on-hold", Muted: true},
	}}})
	waitFor("the roster", `document.querySelectorAll("#rosters tbody tr").length === 2`)
	if got := eval(`document.querySelector("#rosters tbody tr:nth-child(2)").textContent`); got != "sip:zoe@example.orgZoëon-holdmuted" {
		t.Errorf("the roster's second row says %q", got)
	}
	dev.backend.setLevels(0, -24, -14)
	waitFor("the levels", `document.querySelector('`+card+`[data-field=mic]').value === -24`)
	if got := eval(`document.querySelector('` + card + `[data-field=ear]').getAttribute("aria-valuetext")`); got != "-14 dBFS" {
		t.Errorf("earpiece meter says %q, want -14 dBFS", got)
	}
	dev.backend.setAudio(&AudioStatus{Overruns: 4, Underruns: 5, Restarts: 2, LastError: "device stopped unexpectedly"}, 3)
	dev.backend.setDropped(96)
	waitFor("the audio device's failure", `!document.querySelector('#audio [data-audio="error"]').hidden`)
	if got := eval(`document.querySelector('#audio [data-audio="error"]').textContent`); got != "Last error: device stopped unexpectedly" {
		t.Errorf("the audio device's error says %q", got)
	}
	if got := eval(`document.querySelector('#audio [data-audio="restarts"]').className + " " + document.querySelector('#audio [data-audio="restarts"]').textContent`); got != "alert 2 times" {
		t.Errorf("the audio device's reopens: %q, want highlighted 2 times", got)
	}
	if got := eval(`document.querySelector('#audio [data-audio="overruns"]').textContent + "/" + document.querySelector('` + card + `[data-q="earpiece-underruns"]').textContent + "/" + document.querySelector('` + card + `[data-q="earpiece-dropped"]').textContent`); got != "4/3/96" {
		t.Errorf("overruns/earpiece underruns/samples dropped shown: %s, want 4/3/96", got)
	}
	// The call time counts the seconds since the call started: at least one by now, and
	// no more than have passed, however long the machine took to get here.
	waitFor("the call time to count", `/^[0-9]+:[0-9][0-9]$/.test(`+field("calltime")+`) && `+field("calltime")+` !== "0:00"`)
	dev.backend.mu.Lock()
	started := dev.backend.status.Handsets[0].CallStart
	dev.backend.mu.Unlock()
	shown := eval(field("calltime"))
	var m, sec int
	if _, err := fmt.Sscanf(shown, "%d:%d", &m, &sec); err != nil || time.Duration(60*m+sec)*time.Second > time.Since(started) {
		t.Errorf("call time %q, %v after the call started", shown, time.Since(started))
	}
	waitFor("the events", `document.querySelectorAll("#events li").length === 2`)
	if got := eval(`document.querySelector("#events li").textContent`); !strings.Contains(got, "Kitchen mute") {
		t.Errorf("newest event: %q, want Kitchen's mute", got)
	}
	do("hold", chromedp.Click(chromedp.CSS(card+`form.hold button`)))
	waitFor("the call on hold", field("state")+` === "on hold"`)
	if got := eval(`document.querySelector('` + card + `form.hold button').getAttribute("aria-label")`); got != "Resume Kitchen" {
		t.Errorf("hold button when held: %q, want Resume Kitchen", got)
	}
	do("resume", chromedp.Click(chromedp.CSS(card+`form.hold button`)))
	waitFor("the call resumed", field("state")+` === "in call"`)
	if got := dev.backend.hookCalls(); !slices.Contains(got, "hold 0") || !slices.Contains(got, "resume 0") {
		t.Errorf("after hold and resume the backend was asked for %q", got)
	}
	if got := eval(`window.partylineMark || "reloaded"`); got != "the same page" {
		t.Errorf("the page was %s to show the changes", got)
	}
	screenshot("dashboard.png")

	// The call history, and the dashboard on a phone.
	for _, r := range historySeed() {
		if err := dev.store.AppendHistory(r); err != nil {
			t.Fatal(err)
		}
	}
	do("open the history", chromedp.Navigate(srv.URL+"/history"))
	if got := eval(`String(document.querySelectorAll("#history tbody tr").length)`); got != "3" {
		t.Errorf("history rows: got %s, want 3", got)
	}
	screenshot("history.png")
	do("use a phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	do("open the dashboard", chromedp.Navigate(srv.URL+"/"))
	if got := eval(`String(document.documentElement.scrollWidth)`); got != "390" {
		t.Errorf("on a 390 px wide screen the page is %s px wide, want no sideways scrolling", got)
	}
	screenshot("dashboard-phone.png")
	do("use a desktop screen again", chromedp.ResetViewport())

	// A settings export, imported again, gives the same settings.
	want, err := dev.backend.Settings()
	if err != nil {
		t.Fatal(err)
	}
	do("open the settings", chromedp.Navigate(srv.URL+"/settings"))
	downloads := t.TempDir()
	dctx, cancelDownload := context.WithTimeout(ctx, failsafe)
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
	// After a save the page shows the saved form's section alone: the user opens Backup.
	do("open the Backup section", chromedp.Click(chromedp.CSS(`nav.sections a[href="#backup-heading"]`)))
	do("choose the export", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}))
	submit("import", "#import button[type=submit]")
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "imported") {
		t.Errorf("after importing: notice %q, want it to say imported", got)
	}
	if got, _ := dev.backend.Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("settings after export and import:\n got %+v\nwant %+v", got, want)
	}

	// The password is changed on the settings page; a wrong current password is refused.
	const newPassword = "a new admin password"
	changePassword := func(what, current string) {
		t.Helper()
		do("open the settings", chromedp.Navigate(srv.URL+"/settings#password"))
		do(what,
			chromedp.SendKeys(chromedp.ID("password-current"), current),
			chromedp.SendKeys(chromedp.ID("password-password"), newPassword),
			chromedp.SendKeys(chromedp.ID("password-confirm"), newPassword))
		submit(what, "#password button[type=submit]")
	}
	changePassword("change the password with a wrong current one", "not the password")
	if got := eval(`document.getElementById("password-current-error").textContent`); !strings.Contains(got, "Wrong password") {
		t.Errorf("error next to the current password: got %q", got)
	}
	if ok, _ := dev.backend.CheckAdminPassword(adminPassword); !ok {
		t.Fatal("a wrong current password changed the password")
	}
	changePassword("change the password", adminPassword)
	if got := eval(`document.querySelector("[role=status]").textContent`); !strings.Contains(got, "admin password is changed") {
		t.Errorf("after changing the password: notice %q", got)
	}
	screenshot("settings-password.png")
	submit("log out", "form.logout button")
	loginWith(newPassword)

	cancel()
	console.Wait()
	if len(problems) > 0 {
		t.Errorf("the browser console reported:\n%s", strings.Join(problems, "\n"))
	}
}
