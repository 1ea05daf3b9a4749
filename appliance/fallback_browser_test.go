package appliance

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"partyline/appliance/settings"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// TestBrowserShowsLocalOnly lifts handset 1 while its conference (the focus behind
// Kamailio) is gone and checks in chromium what the dashboard shows, live: the state local
// only, the LED's triple blink and the line "local only: server unreachable since …";
// once the conference is back, the line goes and the card says the handset moved into it.
// Then the conference's local fallback switch is turned off on the Settings page (it is
// on by default), and the same lift shows failed with the SIP answer, and no line.
func TestBrowserShowsLocalOnly(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	addr := f.Addr()
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:       "partyline.test",
		Realm:        "partyline.test",
		Users:        map[string]string{"desk1": "pw-desk1"},
		Routes:       map[string]netip.AddrPort{"room": addr},
		RelayTimeout: time.Second,
	})
	a := newSimAppliance(t, nil)
	const password = "local-only-password"
	if err := a.store.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Update(func(set *settings.Settings) error {
		set.Accounts = []settings.Account{{ID: "desk1", User: "desk1", Password: "pw-desk1", Domain: "partyline.test", Proxy: k.Addr().String()}}
		set.Handsets[0].Account = "desk1"
		set.Conferences[0].URI = "sip:room@partyline.test"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	base := a.adminURL()
	b := newBrowser(t)
	b.login(base, password)

	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	if got := b.eval(`String(document.getElementById("conference-main-local_fallback").checked)`); got != "true" {
		t.Errorf("the conference's local fallback checkbox: checked %s, want on by default", got)
	}
	b.do("open the dashboard", chromedp.Navigate(base+"/"))

	card := `section.handset[data-index="0"] `
	line := card + `[data-field="local-only"]`
	hidden := `String(document.querySelector('section.handset[data-index="0"] [data-field="local-only"]').hidden)`
	if got := b.eval(hidden); got != "true" {
		t.Errorf("the local-only line of an idle handset: hidden %s, want hidden", got)
	}
	f.Close()
	if err := (backend{a}).SetHook(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 with the conference gone", card+`[data-field="state"]`, "local only")
	b.waitText("handset 1 with the conference gone", line, "local only: server unreachable since ")
	if got := b.eval(hidden); got != "false" {
		t.Errorf("the local-only line while local only: hidden %s, want shown", got)
	}
	if got := b.text(card + `[data-field="led"]`); got != "triple blink" {
		t.Errorf("LED while local only: %q, want triple blink", got)
	}
	if got := b.eval(`getComputedStyle(document.querySelector('section.handset[data-index="0"] [data-field="local-only"]')).display`); got == "none" {
		t.Error("the local-only line is not displayed")
	}

	// Leave on the dashboard ends it; put down and lifted again, the handset is back in the
	// local mix.
	b.waitText("the call button while local only", card+`form.call button`, "Leave")
	b.do("leave", chromedp.Click(chromedp.CSS(card+`form.call button`)))
	b.waitText("handset 1 after Leave", card+`[data-field="state"]`, "idle")
	if got := b.eval(hidden); got != "true" {
		t.Errorf("the local-only line after Leave: hidden %s, want hidden", got)
	}
	if err := (backend{a}).SetHook(0, false); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 put down", card+`[data-field="hook"]`, "on hook")
	if err := (backend{a}).SetHook(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 lifted again", line, "local only: server unreachable since ")

	f2 := focus.Start(t, focus.Config{Addr: addr})
	b.waitText("handset 1 back in the conference", card+`[data-field="state"]`, "in call")
	b.waitText("handset 1 back in the conference", card+`[data-field="detail"]`, "moved from local only")
	if got := b.eval(hidden); got != "true" {
		t.Errorf("the local-only line in the call: hidden %s, want hidden", got)
	}

	// The switch off: lifted while the conference is gone, the handset fails as before.
	if err := (backend{a}).SetHook(0, false); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 replaced", card+`[data-field="state"]`, "idle")
	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	b.do("turn local fallback off", chromedp.Click(chromedp.ID("conference-main-local_fallback")))
	b.submit("save the conference", "conference-main")
	if cur := a.store.Current().Settings.Conferences[0]; !cur.LocalFallbackOff {
		t.Fatalf("saved conference %+v, want local fallback off", cur)
	}
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	f2.Close()
	if err := (backend{a}).SetHook(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 lifted with the switch off", card+`[data-field="state"]`, "failed")
	if got := b.text(card + `[data-field="detail"]`); !strings.Contains(got, "408") {
		t.Errorf("detail with the switch off: %q, want the 408", got)
	}
	if got := b.eval(hidden); got != "true" {
		t.Errorf("the local-only line with the switch off: hidden %s, want hidden", got)
	}
}
