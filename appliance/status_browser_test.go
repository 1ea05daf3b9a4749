package appliance

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStatusFollowsSettings runs a sim appliance that starts with no account and no
// conference URI, and checks in chromium that the dashboard tells the truth of the
// settings as they are now, without a restart: the handset card says what is missing and
// stops saying it once the conference URI is set and an account assigned; the Events list
// follows; an account added shows in the Registrations table at once, its REGISTER goes out
// and its registration series is in the metrics.
func TestBrowserStatusFollowsSettings(t *testing.T) {
	registrar, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer registrar.Close()
	registers := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := registrar.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg := string(buf[:n]); strings.HasPrefix(msg, "REGISTER ") {
				select {
				case registers <- msg:
				default:
				}
			}
		}
	}()

	a := newSimAppliance(t, nil)
	const password = "status-test-password"
	if err := a.store.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	base := a.adminURL()
	b := newBrowser(t)
	b.login(base, password)

	// Nothing set yet: the card says what the handset lacks, before anyone lifts it.
	card := `section.handset[data-index="0"] [data-field="detail"]`
	b.waitText("the card before any setting", card, "Handset 1 has no conference to join")
	b.waitText("the events before any setting", "#events", "Handset 1 has no conference to join")
	// Lifted, it fails for that reason.
	if err := (backend{a}).SetHook(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitText("handset 1 lifted", `section.handset[data-index="0"] [data-field="state"]`, "failed")

	// The conference URI set: the card says what is still missing, the account.
	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	b.do("type the conference URI", chromedp.SetValue(chromedp.ID("conference-main-uri"), "sip:conf@127.0.0.1"))
	b.submit("save the conference", "conference-main")
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	b.waitText("the card once the URI is set", card, "Handset 1 has no SIP account")
	b.waitText("the card once the URI is set", card, "!no conference to join")
	if got := b.text("#registrations"); !strings.Contains(got, "No accounts.") {
		t.Errorf("registrations without an account: %q", got)
	}

	// An account added: its registration starts at once, on the page, on the wire and in
	// the metrics.
	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	b.do("fill in a new account",
		chromedp.SetValue(chromedp.ID("new-account-id"), "alice"),
		chromedp.SetValue(chromedp.ID("new-account-user"), "alice"),
		chromedp.SetValue(chromedp.ID("new-account-domain"), "127.0.0.1"),
		chromedp.SetValue(chromedp.ID("new-account-proxy"), registrar.LocalAddr().String()))
	b.submit("add the account", "new-account")
	select {
	case <-registers:
	case <-time.After(failsafe):
		t.Fatal("no REGISTER for the account added")
	}
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	b.waitText("the registrations once the account is added", "#registrations", "sip:alice@127.0.0.1")
	if got := b.text("#registrations"); strings.Contains(got, "No accounts.") {
		t.Errorf("registrations with an account: %q", got)
	}
	if m := metrics(t, base); !strings.Contains(m, `partyline_registration_state{account="alice"`) {
		t.Errorf("the metrics lack the registration of the account added:\n%s", m)
	}

	// The account assigned to handset 1: the card no longer says it has none, and says how
	// to join now; the events say it is ready.
	b.do("open the settings", chromedp.Navigate(base+"/settings"))
	b.do("choose the account of handset 1", chromedp.SetValue(chromedp.ID("handset-handset-1-account"), "alice"))
	b.submit("save handset 1", "handset-handset-1")
	b.do("open the dashboard", chromedp.Navigate(base+"/"))
	b.waitText("the card once the account is assigned", card, "!has no SIP account")
	b.waitText("the card once the account is assigned", card, "lift it again")
	if got := b.text(`section.handset[data-index="0"] [data-field="identity"]`); !strings.Contains(got, "sip:alice@127.0.0.1") {
		t.Errorf("handset 1's identity: %q, want alice's", got)
	}
	b.waitText("the events once the account is assigned", "#events", "ready to join sip:conf@127.0.0.1")
	// Handset 2 still lacks its account, and its card still says so.
	if got := b.text(`section.handset[data-index="1"] [data-field="detail"]`); !strings.Contains(got, "Handset 2 has no SIP account") {
		t.Errorf("handset 2's card: %q, want it to say it has no account", got)
	}
}

// metrics returns the admin page's /metrics, which loopback clients read without logging in.
func metrics(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", res.Status, err)
	}
	return string(b)
}
