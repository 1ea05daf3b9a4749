package appliance_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/logs"
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
	f, _, dir := twoDesks(t)
	addr := f.Addr()
	board := sim.New(2)
	r := runAppliance(t, dir, board)
	r.waitFor("both accounts to register", registrations("registered"))

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
	movedIn(t, r, board, f2)
}

// twoDesks starts a mixing focus and Kamailio in front of it, which routes room to the
// focus, lets desk1 and desk2 register and call, and answers 408 after 1 s for a focus
// that is gone; and it seeds, in the directory it returns, the settings of an appliance
// whose handsets 1 and 2 join room through accounts desk1 and desk2 of their own.
func twoDesks(t *testing.T) (*focus.Focus, *peertest.Kamailio, string) {
	t.Helper()
	f := focus.Start(t, focus.Config{})
	users := map[string]string{"desk1": "pw-desk1", "desk2": "pw-desk2"}
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:       domain,
		Realm:        realm,
		Users:        users,
		Routes:       map[string]netip.AddrPort{"room": f.Addr()},
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
	return f, k, dir
}

// registrations says whether both accounts' registrations are in state.
func registrations(state string) func(web.Status) bool {
	return func(st web.Status) bool {
		return len(st.Registrations) == 2 && st.Registrations[0].State == state && st.Registrations[1].State == state
	}
}

// movedIn waits until handsets 1 and 2, local only, are in the conference of f, never
// hung up on the way, and checks what the dashboard says and what they hear there: the
// conference's tone (thirdHz) and each other, never themselves.
func movedIn(t *testing.T, r *rig, board *sim.Board, f *focus.Focus) {
	t.Helper()
	var st web.Status
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
	if calls := f.Calls(); len(calls) != 2 {
		t.Errorf("the conference took %d calls, want the 2 handsets': %+v", len(calls), calls)
	}
	for i := range 2 {
		earHears(t, board, i, "moved into the conference", sim.ToneHz(i), thirdHz, sim.ToneHz(1-i))
	}
}

// TestHandsetsTalkLocallyWhileTheRegistrarIsGone stops Kamailio, the registrar and proxy
// in front of the conference, before the appliance starts: both accounts' registrations
// fail for want of an answer. Two handsets lifted then go local only at once, without
// waiting for their joins, which get no answer for 30 s: the log has each line go from
// idle straight to local only, and each earpiece carries the other's tone, and not its
// own, before the first join has ended. Kamailio starts again: both handsets move into
// the conference without being hung up, and hear its tone and each other there.
func TestHandsetsTalkLocallyWhileTheRegistrarIsGone(t *testing.T) {
	f, k, dir := twoDesks(t)
	f.Tone("room", thirdHz, 0.2)
	k.Stop()
	h, err := logs.New(t.Output(), logs.Options{Lines: 100000})
	if err != nil {
		t.Fatal(err)
	}
	board := sim.New(2)
	r := runAppliance(t, dir, board, func(cfg *appliance.Config) { cfg.Logs = h })
	st := r.waitFor("both registrations to fail", registrations("failed"))
	for _, reg := range st.Registrations {
		if !strings.Contains(reg.Detail, "no answer from "+k.Addr().String()) {
			t.Errorf("registration of %s: %q, want no answer from %s", reg.Account, reg.Detail, k.Addr())
		}
	}

	for i := range 2 {
		board.Hook(i).Set(true)
	}
	st = r.waitFor("both handsets local only", func(st web.Status) bool {
		return handsetState(0, "local only")(st) && handsetState(1, "local only")(st)
	})
	for i, hs := range st.Handsets {
		if hs.LED != "triple blink" || !strings.HasPrefix(hs.LocalOnly, "local only: server unreachable since ") ||
			!strings.Contains(hs.Detail, fmt.Sprintf("the registration of desk%d failed: no answer from", i+1)) {
			t.Errorf("handset %d with the registrar gone: LED %q, local-only line %q, detail %q; want triple blink, the line, the registration's failure",
				i+1, hs.LED, hs.LocalOnly, hs.Detail)
		}
	}
	for i := range 2 {
		earHears(t, board, i, "local only", sim.ToneHz(i), sim.ToneHz(1-i))
	}
	// The order of events, in each handset's log: lifted, local only at once (never
	// joining), and the earpieces heard each other before the first join ended.
	lines := h.Lines(slog.LevelInfo)
	// What a line logs when a join ends unanswered or refused.
	joinEnds := []string{`msg="the conference cannot be reached`, `msg="the conference still cannot be reached"`, `msg="join failed"`}
	for i := range 2 {
		handset := fmt.Sprintf("handset=handset-%d", i+1)
		var states []string
		for _, l := range lines {
			switch {
			case !strings.Contains(l.Text, handset):
			case strings.Contains(l.Text, "msg=state "):
				_, move, _ := strings.Cut(l.Text, " from=")
				move, _, _ = strings.Cut(move, " detail=")
				states = append(states, move)
			case slices.ContainsFunc(joinEnds, func(msg string) bool { return strings.Contains(l.Text, msg) }):
				t.Errorf("handset %d: its first join ended before the earpieces heard each other: %s", i+1, l.Text)
			}
		}
		if want := []string{`idle to="local only"`}; !slices.Equal(states, want) {
			t.Errorf("handset %d went through %q, want %q: local only at once, not after a join", i+1, states, want)
		}
	}

	k.Start(t)
	movedIn(t, r, board, f)
}
