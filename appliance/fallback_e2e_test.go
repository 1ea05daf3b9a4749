package appliance_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// thirdHz is the tone the conference's third participant plays (the focus's own).
const thirdHz = 1000

// earHears waits until earpiece i of board carries every tone of want above -15 dB (as a
// share of a 500 ms window), failing the test after failsafe; a tone of own, which it must
// never carry, fails the test as soon as it rises above -25 dB while the audio flows. It
// returns how long it waited.
func earHears(t *testing.T, board *sim.Board, i int, what string, own float64, want ...float64) time.Duration {
	t.Helper()
	start := time.Now()
	heard := make([]bool, len(want))
	for {
		window := board.Audio().Earpiece(i, 500*time.Millisecond)
		flowing, missing := 0, 0
		for k, hz := range want {
			if media.ToneLevel(window, sim.SampleRate, hz) > -15 {
				heard[k] = true
				flowing++
			}
			if !heard[k] {
				missing++
			}
		}
		if lvl := media.ToneLevel(window, sim.SampleRate, own); flowing > 0 && lvl > -25 {
			t.Fatalf("%s: earpiece %d carries its own tone at %.1f dB", what, i+1, lvl)
		}
		if missing == 0 {
			return time.Since(start)
		}
		if time.Since(start) > failsafe {
			t.Fatalf("%s: earpiece %d never heard all of %v Hz above -15 dB (heard %v)", what, i+1, want, heard)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHandsetsTalkLocallyWhileTheConferenceIsGone stops the conference (the mixing focus
// behind Kamailio, which then answers the handsets' INVITEs 408 after 1 s), lifts two
// handsets on accounts of their own, and checks that they talk through the appliance's
// own mix: local only on the dashboard with the time, the LED's triple blink, each
// earpiece with the other's tone and not its own. Then the focus comes back where it was,
// with a third participant (its tone): both handsets move into it without being hung up,
// the dashboard says so, and each hears the third participant and the other handset, and
// still not itself.
func TestHandsetsTalkLocallyWhileTheConferenceIsGone(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	addr := f.Addr()
	users := map[string]string{"desk1": "pw-desk1", "desk2": "pw-desk2"}
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:       domain,
		Realm:        realm,
		Users:        users,
		Routes:       map[string]netip.AddrPort{"room": addr},
		RelayTimeout: time.Second,
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), k.Addr().String(), func(set *settings.Settings) {
		set.Accounts = nil
		for n := range 2 {
			user := fmt.Sprintf("desk%d", n+1)
			set.Accounts = append(set.Accounts, settings.Account{ID: user, User: user, Password: users[user], Domain: domain, Proxy: k.Addr().String()})
			set.Handsets[n].Account, set.Handsets[n].Identity = user, settings.IdentityAccount
			set.Handsets[n].DisplayName = fmt.Sprintf("Desk %d", n+1)
		}
		set.Conferences[0].URI = "sip:room@" + domain
	})
	board := sim.New(2)
	r := runAppliance(t, dir, board)
	r.waitFor("both accounts to register", func(st web.Status) bool {
		return len(st.Registrations) == 2 && st.Registrations[0].State == "registered" && st.Registrations[1].State == "registered"
	})

	f.Close() // the conference is gone
	for i := range 2 {
		board.Hook(i).Set(true)
	}
	st := r.waitFor("both handsets local only", func(st web.Status) bool {
		return handsetState(0, "local only")(st) && handsetState(1, "local only")(st)
	})
	for i, h := range st.Handsets {
		if h.LED != "triple blink" || !strings.HasPrefix(h.LocalOnly, "local only: server unreachable since ") || h.UnreachableSince.IsZero() ||
			!strings.Contains(h.Detail, "408") {
			t.Errorf("handset %d with the conference gone: LED %q, local-only line %q, since %v, detail %q; want triple blink, the line with the time, the 408",
				i+1, h.LED, h.LocalOnly, h.UnreachableSince, h.Detail)
		}
	}
	if page := r.page(); !strings.Contains(page, "local only: server unreachable since") {
		t.Error("the dashboard page lacks the local-only line")
	}
	for i := range 2 {
		took := earHears(t, board, i, "local only", sim.ToneHz(i), sim.ToneHz(1-i))
		t.Logf("earpiece %d heard handset %d's tone %v after both showed local only", i+1, 2-i, took)
	}
	// The appliance keeps trying (every join answered 408) while the handsets stay local
	// only: a few seconds, so that some retries fail.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if st := r.status(); !handsetState(0, "local only")(st) || !handsetState(1, "local only")(st) {
			t.Fatalf("while the conference is still gone: %+v, want both local only", st.Handsets)
		}
	}

	// The conference comes back, with a third participant in it.
	f2 := focus.Start(t, focus.Config{Addr: addr})
	f2.Tone("room", thirdHz, 0.2)
	deadline := time.Now().Add(failsafe)
	for {
		st = r.status()
		for i, h := range st.Handsets {
			if h.State != "local only" && h.State != "in call" {
				t.Fatalf("handset %d on the way back into the conference: %q (%s), want local only until in call, never hung up", i+1, h.State, h.Detail)
			}
		}
		if handsetState(0, "in call")(st) && handsetState(1, "in call")(st) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for both handsets to move into the conference: %+v", failsafe, st.Handsets)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, h := range st.Handsets {
		if !strings.Contains(h.Detail, "moved from local only") || h.LocalOnly != "" || h.LED != "on" || !h.OffHook {
			t.Errorf("handset %d in the conference again: detail %q, local-only line %q, LED %q, off hook %v; want moved, no line, on, lifted",
				i+1, h.Detail, h.LocalOnly, h.LED, h.OffHook)
		}
	}
	if page := r.page(); strings.Count(page, "the conference answers again: moved from local only into conference") != 2 {
		t.Error("the dashboard's events do not say that both handsets moved from local only into the conference")
	}
	if calls := f2.Calls(); len(calls) != 2 {
		t.Errorf("the conference took %d calls, want the 2 handsets': %+v", len(calls), calls)
	}
	for i := range 2 {
		earHears(t, board, i, "moved into the conference", sim.ToneHz(i), thirdHz, sim.ToneHz(1-i))
	}
}
