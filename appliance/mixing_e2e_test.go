package appliance_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// TestSixHandsetsHearTheOtherFive runs the appliance on the board "sim:6" and lifts all six
// handsets into one conference behind Kamailio, under six identities of three kinds:
// handsets 1 and 2 on accounts of their own, 3 and 4 impersonating their own URIs over one
// trusted account, 5 and 6 with generated identities over it. Kamailio refuses a second
// call from a From already in the conference, and the focus mixes N-1: every earpiece must
// carry the five other handsets' tones (each sim microphone plays its own) and not its own.
func TestSixHandsetsHearTheOtherFive(t *testing.T) {
	const n = 6
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	users := map[string]string{"desk1": "pw-desk1", "desk2": "pw-desk2", "trunk": "pw-trunk"}
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:              domain,
		Realm:               realm,
		Users:               users,
		Trusted:             []string{"trunk"},
		Routes:              map[string]netip.AddrPort{"room": f.Addr()},
		RefuseDuplicateFrom: true,
	})

	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), k.Addr().String(), func(set *settings.Settings) {
		set.Accounts = nil
		for _, user := range []string{"desk1", "desk2", "trunk"} {
			set.Accounts = append(set.Accounts, settings.Account{ID: user, User: user, Password: users[user], Domain: domain, Proxy: k.Addr().String()})
		}
		set.Conferences[0].URI = "sip:room@" + domain
		for i := len(set.Handsets); i < n; i++ {
			set.Handsets = append(set.Handsets, settings.Handset{ID: fmt.Sprintf("handset-%d", i+1), Name: fmt.Sprintf("Handset %d", i+1), Channel: i, Conference: set.Conferences[0].ID})
		}
		for i := range set.Handsets {
			h := &set.Handsets[i]
			h.DisplayName = fmt.Sprintf("Desk %d", i+1)
			switch i {
			case 0, 1:
				h.Account, h.Identity = fmt.Sprintf("desk%d", i+1), settings.IdentityAccount
			case 2, 3:
				h.Account, h.Identity, h.IdentityURI, h.AssertIdentity = "trunk", settings.IdentityImpersonate, fmt.Sprintf("sip:desk%d@%s", i+1, domain), true
			default:
				h.Account, h.Identity, h.IdentityPrefix, h.AssertIdentity = "trunk", settings.IdentityGenerated, "desk", true
			}
		}
	})
	board := sim.New(n)
	r := runAppliance(t, dir, board, func(cfg *appliance.Config) { cfg.Board = "sim:6" })

	for i := range n {
		board.Hook(i).Set(true)
	}
	r.waitFor("all six handsets in the call", func(st web.Status) bool {
		for i := range n {
			if !handsetState(i, "in call")(st) {
				return false
			}
		}
		return true
	})

	// The identities on the wire, as the focus saw them behind Kamailio.
	calls := f.Calls()
	if len(calls) != n {
		t.Fatalf("the focus took %d calls, want %d: %+v", len(calls), n, calls)
	}
	froms := map[string]bool{}
	byName := map[string]focus.CallInfo{}
	for _, c := range calls {
		if c.Conference != "room" || c.State != focus.Up {
			t.Errorf("call %s: conference %q, state %s; want room, up", c.CallID, c.Conference, c.State)
		}
		if froms[c.From] {
			t.Errorf("two calls from %s in one conference", c.From)
		}
		froms[c.From] = true
		byName[c.DisplayName] = c
	}
	for i := range n {
		c, ok := byName[fmt.Sprintf("Desk %d", i+1)]
		if !ok {
			t.Errorf("no call from Desk %d: %+v", i+1, calls)
			continue
		}
		own := fmt.Sprintf("sip:desk%d@%s", i+1, domain)
		switch i {
		case 0, 1:
			if c.From != own {
				t.Errorf("Desk %d (own account): From %q, want %q", i+1, c.From, own)
			}
		case 2, 3:
			if c.From != own || !strings.Contains(c.PAI, own) {
				t.Errorf("Desk %d (impersonated): From %q, PAI %q; want %s in both", i+1, c.From, c.PAI, own)
			}
		default:
			if !strings.HasPrefix(c.From, "sip:desk-") || !strings.HasSuffix(c.From, "@"+domain) || !strings.Contains(c.PAI, "sip:trunk@"+domain) {
				t.Errorf("Desk %d (generated): From %q, PAI %q; want a generated sip:desk-…@%s vouched for by trunk", i+1, c.From, c.PAI, domain)
			}
		}
	}

	// Every earpiece carries the five other tones and not its own. With all five in the
	// mix each reads about -7 dB (a fifth of the power); a machine too busy to keep the
	// stream steady leaves holes in the mix that blur single windows, so each other tone
	// must clear -15 dB in some window of half a second, while the earpiece's own tone,
	// which the focus leaves out, stays below -25 dB in every window where the mix flows.
	for i := range n {
		heardAbove := make([]bool, n)
		heardAbove[i] = true
		deadline := time.Now().Add(failsafe)
		for {
			heard := board.Audio().Earpiece(i, 500*time.Millisecond)
			missing, flowing := 0, 0
			for j := range n {
				if j != i && media.ToneLevel(heard, sim.SampleRate, sim.ToneHz(j)) > -15 {
					heardAbove[j] = true
					flowing++
				}
				if !heardAbove[j] {
					missing++
				}
			}
			// Levels are shares of what the window holds: judged only while the mix flows,
			// not on the faint noise of a window before it starts.
			if own := media.ToneLevel(heard, sim.SampleRate, sim.ToneHz(i)); flowing >= 2 && own > -25 {
				t.Fatalf("earpiece %d carries its own tone at %.1f dB", i+1, own)
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("earpiece %d: of the five other handsets' tones, %d never rose above -15 dB (heard: %v)", i+1, missing, heardAbove)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	for i := range n {
		board.Hook(i).Set(false)
	}
	r.waitFor("all six handsets idle", func(st web.Status) bool {
		for i := range n {
			if !handsetState(i, "idle")(st) {
				return false
			}
		}
		return true
	})
}
