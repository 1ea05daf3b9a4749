package appliance_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// TestSavedButtonMappingAppliesWhileRunning saves a new mapping on the Settings page while
// the appliance runs: the mute button held, which sent the PIN, now chooses the next
// conference, and the call button held, which chose the next conference, now turns the
// earpiece up instead, all without a restart.
func TestSavedButtonMappingAppliesWhileRunning(t *testing.T) {
	dir := t.TempDir()
	// No account, so no peers: choosing a conference and the volume need no call.
	seedSettings(t, filepath.Join(dir, "partyline.db"), "", func(set *settings.Settings) {
		set.Accounts, set.Handsets[0].Account = nil, ""
		set.Conferences = append(set.Conferences, settings.Conference{ID: "side", Name: "Side", URI: "sip:side@" + domain})
	})
	r := runAppliance(t, dir, sim.New(2))
	detail := func(want string) func() bool {
		return func() bool { return r.status().Handsets[0].Detail == want }
	}

	r.holdUntil(r.board.Button(0), "the call button held, as by default, to choose the next conference", detail("next call joins Side"))

	r.saveButtons(url.Values{
		"hook:flash":         {"mute"},
		"button:short-press": {"join-leave"},
		"button:long-press":  {"volume-up"},
		"mute:short-press":   {"mute"},
		"mute:long-press":    {"next-conference"},
	})
	r.holdUntil(r.board.MuteButton(0), "the mute button held, now mapped to next-conference, to choose the next conference",
		detail("next call joins Main"))
	r.holdUntil(r.board.Button(0), "the call button held, now mapped to volume-up, to turn the earpiece up",
		func() bool { return r.settings().Handsets[0].EarGainDB == 3 })
	if got := r.settings().Handsets[0].Conference; got != config.DefaultConference {
		t.Errorf("after the call button's new long press handset 1 joins %q, want %q: it still chose the next conference", got, config.DefaultConference)
	}
	if h := r.status().Handsets[0]; h.State != "idle" || h.Detail != "next call joins Main" {
		t.Errorf("handset 1 is %s (%q), want idle with the mute button's choice shown", h.State, h.Detail)
	}
}

// TestCallKeepsGoingAcrossAButtonSave saves a new mapping while handset 1 is in a call: the
// call goes on (no BYE, no new INVITE, the same call start, its own tone still heard), and
// the mute button's short press, mapped to volume-up now, turns the earpiece up and leaves
// the microphone live.
func TestCallKeepsGoingAcrossAButtonSave(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	start := r.waitFor("handset 1 in the call", handsetState(0, "in call")).Handsets[0].CallStart
	r.hearsItsOwnTone("in the call")

	r.saveButtons(url.Values{
		"hook:flash":         {"mute"},
		"button:short-press": {"join-leave"},
		"button:long-press":  {"next-conference"},
		"mute:short-press":   {"volume-up"},
		"mute:long-press":    {"send-pin"},
	})
	if h := r.status().Handsets[0]; h.State != "in call" || !h.CallStart.Equal(start) {
		t.Fatalf("after the save handset 1 is %s since %v, want the call since %v", h.State, h.CallStart, start)
	}
	r.hearsItsOwnTone("after the save")
	if n, byes := len(r.sipp.Received("INVITE ")), len(r.sipp.Received("BYE ")); n != 1 || byes != 0 {
		t.Fatalf("after the save SIPp received %d INVITEs and %d BYEs, want the call's INVITE only", n, byes)
	}

	sw := r.board.MuteButton(0)
	sw.Set(true)
	time.Sleep(100 * time.Millisecond) // a short press: released well before the long-press time
	sw.Set(false)
	r.waitUntil("the mute button, now mapped to volume-up, to turn the earpiece up", func() bool {
		return r.settings().Handsets[0].EarGainDB == 3
	})
	if h := r.status().Handsets[0]; h.State != "in call" || h.Muted || h.LED != "on" || !h.CallStart.Equal(start) {
		t.Errorf("after the press handset 1 is %s, muted %v, LED %q, since %v; want the same call, live, LED on",
			h.State, h.Muted, h.LED, h.CallStart)
	}
	r.hearsItsOwnTone("after the press")

	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference (expects one call and its BYE): %v", err)
	}
}

// saveButtons saves the button mapping form with the given choices, as a browser would,
// and checks that the page says it applies at once.
func (r *rig) saveButtons(choices url.Values) {
	r.t.Helper()
	res, err := r.http.PostForm(r.admin+"/settings/buttons", choices)
	if err != nil {
		r.t.Fatalf("save the button mapping: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("saved") != "buttons-live" {
		r.t.Fatalf("save the button mapping: %s at %s, want 200 at /settings?saved=buttons-live", res.Status, res.Request.URL)
	}
}

// settings reads the stored settings as the Settings page exports them.
func (r *rig) settings() settings.Settings {
	r.t.Helper()
	res, err := r.http.Get(r.admin + "/settings/export")
	if err != nil {
		r.t.Fatalf("export the settings: %v", err)
	}
	defer res.Body.Close()
	var set settings.Settings
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		r.t.Fatalf("decode the exported settings: %v", err)
	}
	return set
}

// holdUntil holds the button sw down until cond holds (a long press, however long the
// machine takes), then releases it.
func (r *rig) holdUntil(sw *sim.Switch, what string, cond func() bool) {
	r.t.Helper()
	sw.Set(true)
	defer sw.Set(false)
	r.waitUntil(what, cond)
}

// waitUntil polls cond every 100 ms, for at most failsafe.
func (r *rig) waitUntil(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(failsafe)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("waited %v for %s", failsafe, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
