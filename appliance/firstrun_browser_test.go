package appliance

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserFirstRun goes through a first start in chromium: setting the first password
// with the setup code logs the browser in at once, and the dashboard shows the checklist of
// what the device needs, each step a link to its form, until the handsets can join.
func TestBrowserFirstRun(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, a)
	base := a.adminURL()
	b := newBrowser(t)
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	if got := b.eval("location.pathname"); got != "/setup" {
		t.Fatalf("first start: at %s, want /setup", got)
	}
	code, err := SetupCode(dir) // made before the page answered
	if err != nil {
		t.Fatal(err)
	}
	const password = "first-run-password"
	b.do("choose the password",
		chromedp.SetValue(chromedp.ID("setup-code"), code),
		chromedp.SendKeys(chromedp.ID("setup-password"), password),
		chromedp.SendKeys(chromedp.ID("setup-confirm"), password))
	b.submit("set the password", "setup")
	if got := b.eval("location.pathname"); got != "/" {
		t.Fatalf("after setting the password: at %s, want the dashboard, logged in", got)
	}

	steps := func() string { return b.text("#first-steps") }
	link := func(text string) string {
		t.Helper()
		return b.eval(`(Array.from(document.querySelectorAll("#first-steps a")).find(a => a.textContent.includes(` + strconv.Quote(text) + `)) || {}).getAttribute?.("href") || ""`)
	}
	for _, want := range []string{"Add a SIP account", "Set the URI of the conference Main", "Choose the account of each handset (2 have none)"} {
		if !strings.Contains(steps(), want) {
			t.Errorf("the checklist lacks %q:\n%s", want, steps())
		}
	}
	if got := link("Add a SIP account"); got != "/settings#new-account" {
		t.Errorf("the account step links to %q", got)
	}

	// Each step's link leads to its form; done, the step says so.
	b.do("follow the account step", chromedp.Navigate(base+link("Add a SIP account")))
	b.do("fill in the account",
		chromedp.SetValue(chromedp.ID("new-account-id"), "alice"),
		chromedp.SetValue(chromedp.ID("new-account-user"), "alice"),
		chromedp.SetValue(chromedp.ID("new-account-domain"), "127.0.0.1"))
	b.submit("add the account", "new-account")
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	if got := steps(); !strings.Contains(got, "Add a SIP account: done") {
		t.Errorf("after adding an account:\n%s", got)
	}
	b.do("follow the conference step", chromedp.Navigate(base+link("Set the URI")))
	if got := b.eval("location.hash"); got != "#conference-main" {
		t.Errorf("the conference step leads to %q", got)
	}
	b.do("type the URI", chromedp.SetValue(chromedp.ID("conference-main-uri"), "sip:conf@127.0.0.1"))
	b.submit("save the conference", "conference-main")
	for _, h := range []string{"handset-1", "handset-2"} {
		b.do("open the dashboard", chromedp.Navigate(base+"/"))
		if got := link("Choose the account"); got != "/settings#handset-"+h {
			t.Errorf("the handsets' step links to %q, want handset %s's form", got, h)
		}
		b.do("follow the handsets' step", chromedp.Navigate(base+link("Choose the account")))
		b.do("choose the account", chromedp.SetValue(chromedp.ID("handset-"+h+"-account"), "alice"))
		b.submit("save the handset", "handset-"+h)
	}
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	if got := b.eval(`String(document.getElementById("first-steps") !== null)`); got != "false" {
		t.Errorf("the checklist is still shown with the device usable:\n%s", steps())
	}
}
