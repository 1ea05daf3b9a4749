package appliance

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"partyline/appliance/settings"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestBrowserAnswersACallIn has baresip call handset 1 straight from an allowed network
// and checks in chromium what the user sees and does: the card shows the ringing state and
// the caller, the Answer button answers (baresip's call is established), and Leave ends it.
func TestBrowserAnswersACallIn(t *testing.T) {
	a := newSimAppliance(t, nil)
	const password = "ring-test-password"
	if err := a.store.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Update(func(s *settings.Settings) error {
		// The account's registrar is nowhere: the call comes straight from baresip.
		s.Accounts = []settings.Account{{ID: "alice", User: "alice", Password: "x", Domain: "127.0.0.1", Proxy: "127.0.0.1:9"}}
		s.Handsets[0].Account = "alice"
		s.Handsets[0].CallsIn = settings.HandsetCallsIn{AllowNetworks: "127.0.0.1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	source := make([]int16, 30*8000)
	media.NewTone(8000, 700, -17).Generate(source)
	bob := peertest.StartBaresip(t, peertest.BaresipConfig{User: "bob", DisplayName: "Bob Caller", Source: source})
	run(t, a)
	base := a.adminURL()
	b := newBrowser(t)
	b.login(base, password)

	card := `section.handset[data-index="0"] `
	if !strings.Contains(b.eval(`String(document.querySelector('section.handset[data-index="0"] form.answer').hidden)`), "true") {
		t.Error("the Answer button shows while nothing rings")
	}
	if err := bob.Dial("sip:alice@" + a.SIPAddr()); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 rings", card+`[data-field="state"]`, "ringing")
	b.waitText("the caller on the card", card+`[data-field="caller"]`, `Ringing: call from "Bob Caller" <sip:bob@127.0.0.1>`)
	b.waitText("the ringing LED", card+`[data-field="led"]`, "ringing")
	b.do("answer", chromedp.Click(chromedp.CSS(card+`form.answer button`)))
	b.waitText("handset 1 in the call", card+`[data-field="state"]`, "in call")
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if _, err := bob.Await(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("baresip's call: %v", err)
	}
	b.waitText("the caller of the call in", card+`[data-field="caller"]`, `Call from "Bob Caller"`)
	if got := b.eval(`String(document.querySelector('section.handset[data-index="0"] form.answer').hidden)`); got != "true" {
		t.Errorf("the Answer button shows during the call (hidden = %s)", got)
	}
	b.do("leave", chromedp.Click(chromedp.CSS(card+`form.call button`)))
	if _, err := bob.Await(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("baresip's call after Leave: %v", err)
	}
	b.waitText("handset 1 idle", card+`[data-field="state"]`, "idle")
}
