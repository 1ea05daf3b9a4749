package appliance_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestSixHandsetsJoinOneConference lifts six handsets at once into one conference behind
// Kamailio, each under its own identity: three with accounts of their own, two
// impersonating their own URIs over a trusted trunk account, one generated. Kamailio acts
// like a conference with a unique roster. Each identity is checked on the wire, each
// earpiece hears its own tone back from SIPp's echo, and Kamailio is restarted in the call:
// every account registers again by itself and no call drops.
func TestSixHandsetsJoinOneConference(t *testing.T) {
	const n = 6
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true, Calls: n})
	users := map[string]string{"trunk": password}
	for i := 1; i <= 3; i++ {
		users[fmt.Sprintf("desk%d", i)] = password
	}
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm, Users: users, Trusted: []string{"trunk"},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()}, RefuseDuplicateFrom: true,
	})

	dir := t.TempDir()
	db := filepath.Join(dir, "partyline.db")
	st, err := config.Open(db, config.WithPasswordCost(bcrypt.MinCost)) // a quick login
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureDefaults(n); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(adminPassword); err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(set *settings.Settings) error {
		set.SIP.ListenAddr = "127.0.0.1:0"
		set.Conferences[0].URI = "sip:conf@" + domain
		set.Accounts = []settings.Account{{ID: "trunk", User: "trunk", Password: password, Domain: domain, Proxy: kam.Addr().String(), ExpiresSeconds: 60}}
		for i := 1; i <= 3; i++ {
			u := fmt.Sprintf("desk%d", i)
			set.Accounts = append(set.Accounts, settings.Account{ID: u, User: u, Password: password, Domain: domain, Proxy: kam.Addr().String(), ExpiresSeconds: 60})
			set.Handsets[i-1].Account = u
		}
		for i := 3; i < 5; i++ {
			h := &set.Handsets[i]
			h.Account, h.Identity, h.AssertIdentity = "trunk", settings.IdentityImpersonate, true
			h.IdentityURI = fmt.Sprintf("sip:desk%d@%s", i+1, domain)
		}
		h := &set.Handsets[5]
		h.Account, h.Identity, h.IdentityPrefix, h.Private = "trunk", settings.IdentityGenerated, "guest", true
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	board := sim.New(n)
	r := runAppliance(t, dir, board)
	r.sipp, r.kam = sipp, kam
	allRegistered := func(st web.Status) bool {
		if len(st.Registrations) != 4 {
			return false
		}
		for _, reg := range st.Registrations {
			if reg.State != "registered" {
				return false
			}
		}
		return true
	}
	r.waitFor("the four accounts to register", allRegistered)

	for i := range n {
		board.Hook(i).Set(true)
	}
	allInCall := func(st web.Status) bool {
		for i := range n {
			if !handsetState(i, "in call")(st) {
				return false
			}
		}
		return true
	}
	r.waitFor("all six handsets in the call", allInCall)

	invites := sipp.Received("INVITE ")
	if len(invites) != n {
		t.Fatalf("SIPp received %d INVITEs, want %d", len(invites), n)
	}
	want := []string{"sip:desk1@", "sip:desk2@", "sip:desk3@", "sip:desk4@", "sip:desk5@", "sip:guest-"}
	for _, w := range want {
		found := false
		for _, inv := range invites {
			from := header(inv, "From")
			if strings.Contains(from, "<"+w) {
				found = true
				if w == "sip:guest-" && header(inv, "Privacy") != "id" {
					t.Errorf("the generated leg has no Privacy: id:\n%s", inv)
				}
				if (w == "sip:desk4@" || w == "sip:desk5@") && !strings.Contains(header(inv, "P-Asserted-Identity"), w) {
					t.Errorf("impersonating leg %s without its P-Asserted-Identity:\n%s", w, inv)
				}
			}
		}
		if !found {
			t.Errorf("no INVITE from %s…", w)
		}
	}

	hearsOwnTone := func(i int) bool {
		heard := board.Audio().Earpiece(i, 500*time.Millisecond)
		return media.ToneLevel(heard, sim.SampleRate, sim.ToneHz(i)) > -3 && media.LevelDBFS(heard) > -30
	}
	checkTones := func(when string) {
		t.Helper()
		for i := range n {
			deadline := time.Now().Add(failsafe)
			for !hearsOwnTone(i) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: earpiece %d does not hear its own tone back", when, i+1)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	checkTones("in the call")

	kam.Restart(t)
	r.waitFor("the accounts to register again after Kamailio's restart", func(st web.Status) bool {
		return allRegistered(st) && kam.Registered("desk1") && kam.Registered("desk2") && kam.Registered("desk3") && kam.Registered("trunk")
	})
	if st := r.status(); !allInCall(st) {
		t.Fatalf("a call dropped when Kamailio restarted: %+v", st.Handsets)
	}
	checkTones("after Kamailio's restart")

	for i := range n {
		board.Hook(i).Set(false)
	}
	if err := sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// header returns the value of the first header called name in a SIP message.
func header(msg, name string) string {
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
