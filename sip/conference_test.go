package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/sip/peertest"
)

// A leg is one handset's (or service's) call in the conference test.
type leg struct {
	name    string
	req     JoinRequest
	rtp     *net.UDPConn
	call    *Call
	from    string // the From header SIPp must see, up to the tag
	pai     string // the P-Asserted-Identity it must see; "" for none
	private bool   // whether it must see Privacy: id
}

// echoRTP sends a packet marked with the leg's name to its call's media
// address and checks that the echo comes back to the leg's own socket.
func (l *leg) echoRTP(t *testing.T, round int) {
	t.Helper()
	mark := fmt.Sprintf("%s/%d", l.name, round)
	pkt := append([]byte{0x80, 0x00, 0x00, byte(round), 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef}, mark...)
	if _, err := l.rtp.WriteToUDP(pkt, net.UDPAddrFromAddrPort(l.call.Media().Remote)); err != nil {
		t.Fatalf("%s: send RTP: %v", l.name, err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(failsafe)
	for {
		_ = l.rtp.SetReadDeadline(deadline)
		n, _, err := l.rtp.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("%s: no RTP echo of %s: %v", l.name, mark, err)
		}
		if bytes.HasSuffix(buf[:n], []byte(mark)) {
			return
		}
		if !bytes.Contains(buf[:n], []byte(l.name+"/")) {
			t.Fatalf("%s: got another leg's RTP: %q", l.name, buf[12:n])
		}
	}
}

// TestConferenceSixIdentities joins six legs into one conference at once,
// each under its own identity (three accounts of their own, two
// impersonated handsets over one trusted account, one generated service
// leg), behind a Kamailio that registers six accounts and refuses an
// identity already in the conference. Kamailio restarts in the middle:
// every account registers again by itself and no call drops.
func TestConferenceSixIdentities(t *testing.T) {
	t.Parallel()
	const nLegs = 6
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true, Calls: nLegs})
	users := map[string]string{"desk1": "pw-desk1", "desk2": "pw-desk2", "desk3": "pw-desk3", "trunk": "pw-trunk", "svc": "pw-svc", "lobby": "pw-lobby"}
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:              testDomain,
		Realm:               testRealm,
		Users:               users,
		Trusted:             []string{"trunk", "svc"},
		Routes:              map[string]netip.AddrPort{"conf": s.Addr()},
		RefuseDuplicateFrom: true,
	})
	a := startAgent(t)
	account := func(user string) Account {
		return Account{User: user, Password: users[user], Domain: testDomain, Proxy: k.Addr().String(), Expires: 4 * time.Second, KeepAlive: 300 * time.Millisecond}
	}
	recs := map[string]*recorder{}
	for user := range users {
		recs[user] = &recorder{}
		keepRegistered(t, a, account(user), recs[user])
	}
	allRegistered := func() bool {
		for user := range users {
			if !k.Registered(user) {
				return false
			}
		}
		return true
	}
	waitFor(t, "all six accounts registered", failsafe, allRegistered)

	trunk := func(uri string) Identity { return Identity{Mode: IdentityImpersonate, URI: uri, Assert: true} }
	legs := []*leg{
		{name: "desk1", req: JoinRequest{DisplayName: "Desk 1", Account: account("desk1")}, from: `"Desk 1" <sip:desk1@partyline.test>`},
		{name: "desk2", req: JoinRequest{DisplayName: `Desk "2"`, Account: account("desk2")}, from: `"Desk \"2\"" <sip:desk2@partyline.test>`},
		{name: "desk3", req: JoinRequest{DisplayName: "Desk 3", Account: account("desk3")}, from: `"Desk 3" <sip:desk3@partyline.test>`},
		{name: "desk4", req: JoinRequest{DisplayName: "Desk 4", Account: account("trunk"), Identity: trunk("sip:desk4@partyline.test")},
			from: `"Desk 4" <sip:desk4@partyline.test>`, pai: `"Desk 4" <sip:desk4@partyline.test>`},
		{name: "desk5", req: JoinRequest{DisplayName: "Desk 5", Account: account("trunk"), Identity: trunk("sip:desk5@partyline.test")},
			from: `"Desk 5" <sip:desk5@partyline.test>`, pai: `"Desk 5" <sip:desk5@partyline.test>`},
		{name: "rec", req: JoinRequest{DisplayName: "Recorder", Account: account("svc"), Identity: Identity{Mode: IdentityGenerated, Prefix: "rec", Assert: true, Private: true}},
			pai: `<sip:svc@partyline.test>`, private: true},
	}
	for _, l := range legs {
		rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rtp.Close() })
		l.rtp = rtp
		l.req.Target = testConference
		l.req.LocalMedia = rtp.LocalAddr().(*net.UDPAddr).AddrPort()
	}

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range legs {
		wg.Go(func() {
			call, err := a.Join(ctx, l.req)
			if err != nil {
				t.Errorf("%s: Join: %v", l.name, err)
				return
			}
			l.call = call
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Each identity, as it arrived in the conference.
	invites := map[string]string{} // Call-ID -> INVITE
	for _, inv := range s.Received("INVITE ") {
		invites[header(inv, "Call-ID")] = inv
	}
	contacts := map[string]string{}
	for _, l := range legs {
		inv, ok := invites[l.call.ID()]
		if !ok {
			t.Errorf("%s: SIPp got no INVITE with Call-ID %s", l.name, l.call.ID())
			continue
		}
		from := header(inv, "From")
		if l.from == "" {
			// Generated: rec-<12 random>@the account's domain.
			if !strings.HasPrefix(from, `"Recorder" <sip:rec-`) || !strings.Contains(from, "@partyline.test>;tag=") || l.call.Identity() == "" || !strings.Contains(from, l.call.Identity()) {
				t.Errorf("%s: From %s, want a generated rec-...@partyline.test (%s)", l.name, from, l.call.Identity())
			}
		} else if !strings.HasPrefix(from, l.from+";tag=") {
			t.Errorf("%s: From %s, want %s", l.name, from, l.from)
		}
		if got := header(inv, "P-Asserted-Identity"); got != l.pai {
			t.Errorf("%s: P-Asserted-Identity %q, want %q", l.name, got, l.pai)
		}
		if got, want := header(inv, "Privacy"), map[bool]string{true: "id"}[l.private]; got != want {
			t.Errorf("%s: Privacy %q, want %q", l.name, got, want)
		}
		c := header(inv, "Contact")
		if other, dup := contacts[c]; dup {
			t.Errorf("%s and %s share the Contact %s", l.name, other, c)
		}
		contacts[c] = l.name
	}
	for _, l := range legs {
		l.echoRTP(t, 1)
	}

	// A seventh join presenting an identity in the conference already:
	// the trunk claiming desk1. The Kamailio front refuses it.
	rtp7 := legs[0].req.LocalMedia
	_, err := a.Join(ctx, JoinRequest{Target: testConference, DisplayName: "Desk 1 again", Account: account("trunk"), Identity: trunk("sip:desk1@partyline.test"), LocalMedia: netip.AddrPortFrom(rtp7.Addr(), rtp7.Port()+1)})
	if !IsRosterConflict(err) {
		t.Fatalf("seventh join = %v, want a roster conflict", err)
	}
	var je *JoinError
	if !errors.As(err, &je) || je.Status != 486 || je.Reason != "Already In Conference" || je.Identity != "sip:desk1@partyline.test" {
		t.Errorf("seventh join refused with %+v, want 486 Already In Conference for sip:desk1@partyline.test", je)
	}

	// Kamailio restarts and forgets every binding; each account notices
	// (a keep-alive unanswered, or the next refresh) and registers again.
	k.Restart(t)
	waitFor(t, "all six accounts registered again after the restart", failsafe, func() bool {
		for user := range users {
			if k.Registrations(user) == 0 {
				return false
			}
		}
		return allRegistered()
	})
	for _, l := range legs {
		select {
		case <-l.call.Done():
			t.Errorf("%s: call ended (%v) across the restart", l.name, l.call.Err())
		default:
		}
		l.echoRTP(t, 2)
	}
	for _, l := range legs {
		wg.Go(func() {
			if err := l.call.Hangup(ctx); err != nil {
				t.Errorf("%s: Hangup: %v", l.name, err)
			}
		})
	}
	wg.Wait()
	if err := s.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
}
