package appliance

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's chromium, which `make test` installs.
const chromium = "/usr/bin/chromium"

// browser is headless chromium driven as a user drives the admin page; the test fails on
// script errors of the page.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts chromium for the rest of the test.
func newBrowser(t *testing.T) *browser {
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
	var console sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		console.Wait()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	console.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				t.Errorf("the page's console: %s", m.String())
			}
		}
	})
	return &browser{t: t, ctx: ctx}
}

// do runs steps within failsafe.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit submits the form of ID form, as its submit button does, and waits for the page
// it leads to.
func (b *browser) submit(what, form string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	js := fmt.Sprintf(`document.getElementById(%s).requestSubmit()`, strconv.Quote(form))
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Evaluate[chromedp.Void](js))); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval returns the value of the script js.
func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// fetch returns what the page's script gets from fetch(js), where js is the script of a
// URL: the Content-Disposition header, a newline and the body.
func (b *browser) fetch(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, failsafe)
	defer cancel()
	script := fmt.Sprintf(`fetch(%s).then(r => r.text().then(t => r.headers.get("Content-Disposition") + "\n" + t))`, js)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("fetch %s: %v", js, err)
	}
	return v
}

// text returns the text of the element that selector finds, "" without one.
func (b *browser) text(selector string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(document.querySelector(%s) || {textContent: ""}).textContent`, strconv.Quote(selector)))
}

// waitText waits, within failsafe, for the text of the element that selector finds to
// contain want (or, with want starting with "!", not to contain the rest), as the page's
// event stream updates it. A look that fails (the page was between documents) is retried.
func (b *browser) waitText(what, selector, want string) {
	b.t.Helper()
	not := strings.HasPrefix(want, "!")
	want = strings.TrimPrefix(want, "!")
	js := fmt.Sprintf(`(document.querySelector(%s) || {textContent: ""}).textContent`, strconv.Quote(selector))
	var got string
	var err error
	for deadline := time.Now().Add(failsafe); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(b.ctx, failsafe)
		got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js))
		cancel()
		if err == nil && strings.Contains(got, want) != not {
			return
		}
	}
	b.t.Fatalf("%s: %s says %q (%v), want it to say %s%q", what, selector, got, err, map[bool]string{true: "not ", false: ""}[not], want)
}

// login logs in with password on the admin page at base.
func (b *browser) login(base, password string) {
	b.t.Helper()
	b.do("open the login page", chromedp.Navigate(base+"/login"))
	b.do("type the password", chromedp.SendKeys(chromedp.ID("login-password"), password))
	b.submit("log in", "login")
	if got := b.eval("location.pathname"); got != "/" {
		b.t.Fatalf("after logging in: at %s, want /", got)
	}
}
