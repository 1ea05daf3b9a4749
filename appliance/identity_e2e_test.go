package appliance_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest/focus"
)

// startFocusRig runs an appliance whose account alice reaches a mixing conference focus
// directly, with each handset's settings changed by edit.
func startFocusRig(t *testing.T, f *focus.Focus, edit func(*settings.Settings)) *rig {
	t.Helper()
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), f.Addr().String(), edit)
	return runAppliance(t, dir, sim.New(2))
}

// TestTwoHandsetsInOneConferenceUnderTheirOwnIdentities puts both handsets into the same
// conference over one trusted account: handset 1 impersonates its own URI with
// P-Asserted-Identity, handset 2 has a generated identity with Privacy: id. The focus,
// which refuses a second call from a From URI already in the conference, takes both; each
// identity is checked on the wire, and each handset hears the other's tone, not its own.
func TestTwoHandsetsInOneConferenceUnderTheirOwnIdentities(t *testing.T) {
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	r := startFocusRig(t, f, func(set *settings.Settings) {
		set.Conferences[0].URI = "sip:room@" + domain
		h1, h2 := &set.Handsets[0], &set.Handsets[1]
		h1.Identity, h1.IdentityURI, h1.AssertIdentity = settings.IdentityImpersonate, "sip:desk1@"+domain, true
		h2.Account, h2.DisplayName = "alice", "Recorder Desk"
		h2.Identity, h2.IdentityPrefix, h2.Private, h2.AssertIdentity = settings.IdentityGenerated, "desk", true, true
	})
	r.board.Hook(0).Set(true)
	r.board.Hook(1).Set(true)
	r.waitFor("both handsets in the call", func(st web.Status) bool {
		return handsetState(0, "in call")(st) && handsetState(1, "in call")(st)
	})

	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("the focus took %d calls, want 2: %+v", len(calls), calls)
	}
	var one, two focus.CallInfo
	for _, c := range calls {
		if c.Conference != "room" || c.State != focus.Up {
			t.Errorf("call %s: conference %q, state %s; want room, up", c.CallID, c.Conference, c.State)
		}
		if c.DisplayName == "Recorder Desk" {
			two = c
		} else {
			one = c
		}
	}
	// The focus reports the quoted-string as it came, escapes and all.
	if want := `Desk \"One\" \\ Reception`; one.DisplayName != want {
		t.Errorf("handset 1's display name on the wire %s, want %s", one.DisplayName, want)
	}
	if one.From != "sip:desk1@"+domain || !strings.Contains(one.PAI, "sip:desk1@"+domain) || one.Privacy != "" {
		t.Errorf("handset 1 on the wire: From %q, PAI %q, Privacy %q; want its own URI, asserted, no privacy", one.From, one.PAI, one.Privacy)
	}
	if !strings.HasPrefix(two.From, "sip:desk-") || !strings.HasSuffix(two.From, "@"+domain) || two.Privacy != "id" {
		t.Errorf("handset 2 on the wire: From %q, Privacy %q; want a generated sip:desk-…@%s with Privacy: id", two.From, two.Privacy, domain)
	}
	if !strings.Contains(two.PAI, "sip:alice@"+domain) {
		t.Errorf("handset 2's P-Asserted-Identity %q, want the account that vouches for it", two.PAI)
	}

	// The focus mixes: each earpiece carries the other handset's tone and not its own.
	for i := range 2 {
		own, other := sim.ToneHz(i), sim.ToneHz(1-i)
		deadline := time.Now().Add(failsafe)
		for {
			heard := r.board.Audio().Earpiece(i, 500*time.Millisecond)
			o, x := media.ToneLevel(heard, sim.SampleRate, other), media.ToneLevel(heard, sim.SampleRate, own)
			if o > -3 && x < -30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("earpiece %d: %.1f dB of the other handset's tone, %.1f dB of its own", i+1, o, x)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	r.board.Hook(0).Set(false)
	r.board.Hook(1).Set(false)
	r.waitFor("both handsets idle", func(st web.Status) bool {
		return handsetState(0, "idle")(st) && handsetState(1, "idle")(st)
	})
	if err := f.Await(t.Context(), func(cs []focus.CallInfo) bool {
		return len(cs) == 2 && cs[0].State == focus.Ended && cs[1].State == focus.Ended
	}); err != nil {
		t.Errorf("the focus still has calls up: %v", err)
	}
}

// TestServerRefusalOfAnIdentityIsReported has the conference refuse handset 2 as a
// conference with a unique roster does: the handset says who was refused and why.
func TestServerRefusalOfAnIdentityIsReported(t *testing.T) {
	f := focus.Start(t, focus.Config{Refuse: func(c focus.CallInfo) (int, string) {
		if strings.HasPrefix(c.From, "sip:desk2@") {
			return 486, "Already In Conference"
		}
		return 0, ""
	}})
	r := startFocusRig(t, f, func(set *settings.Settings) {
		set.Conferences[0].URI = "sip:room@" + domain
		h2 := &set.Handsets[1]
		h2.Account, h2.Identity, h2.IdentityURI = "alice", settings.IdentityImpersonate, "sip:desk2@"+domain
	})
	r.board.Hook(1).Set(true)
	st := r.waitFor("handset 2 refused", handsetState(1, "failed"))
	want := "the conference refused sip:desk2@" + domain + ": 486 Already In Conference"
	if got := st.Handsets[1].Detail; !strings.Contains(got, want) {
		t.Errorf("detail = %q, want it to contain %q", got, want)
	}
}
