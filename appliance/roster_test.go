package appliance

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"partyline/appliance/legs"
	"partyline/appliance/web"
	"partyline/sip"
	"partyline/sip/peertest/focus"
)

// runAgent runs a SIP agent on 127.0.0.1 until the test ends.
func runAgent(t *testing.T) *sip.Agent {
	t.Helper()
	agent, err := sip.NewAgent(sip.Config{ListenAddr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := agent.Run(ctx); err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return agent
}

// startRosters runs rosters on agent until the test ends (before the agent stops).
func startRosters(t *testing.T, agent *sip.Agent) *rosters {
	t.Helper()
	r := newRosters(agent, slog.New(slog.NewTextHandler(t.Output(), nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return r
}

// joinRoom joins room on f as uri (impersonated through the trunk account) and hangs up
// at the end of the test.
func joinRoom(t *testing.T, agent *sip.Agent, f *focus.Focus, uri, display string) *sip.Call {
	t.Helper()
	l, err := legs.Dial(t.Context(), agent, legs.Plan{
		Target:      "sip:room@" + bridgeDomain,
		DisplayName: display,
		Account:     trunk(f),
		Identity:    sip.Identity{Mode: sip.IdentityImpersonate, URI: uri},
	}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("join as %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = l.Hangup(context.Background()) })
	return l.Call()
}

func trunk(f *focus.Focus) sip.Account {
	return sip.Account{User: "trunk", Domain: bridgeDomain, Proxy: f.Addr().String()}
}

// awaitRoster polls the rosters (every 20 ms, for at most failsafe) until cond holds for
// the room's, and returns it.
func awaitRoster(t *testing.T, r *rosters, what string, cond func(web.RosterStatus) bool) web.RosterStatus {
	t.Helper()
	var last []web.RosterStatus
	for deadline := time.Now().Add(failsafe); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		last = r.status()
		if len(last) == 1 && cond(last[0]) {
			return last[0]
		}
	}
	t.Fatalf("%s: rosters %+v", what, last)
	return web.RosterStatus{}
}

func entries(st web.RosterStatus) map[string]web.RosterEntry {
	m := map[string]web.RosterEntry{}
	for _, e := range st.Participants {
		m[e.URI] = e
	}
	return m
}

func TestRosterMarksOurLegs(t *testing.T) {
	f := focus.Start(t, focus.Config{Events: true})
	agent := runAgent(t)
	r := startRosters(t, agent)
	uri := "sip:room@" + bridgeDomain
	one := joinRoom(t, agent, f, "sip:desk1@"+bridgeDomain, "Desk One")
	defer r.add(uri, trunk(f), one.Identity(), "Handset 1")()
	two := joinRoom(t, agent, f, "sip:desk2@"+bridgeDomain, "Desk Two")
	defer r.add(uri, trunk(f), two.Identity(), "Handset 2")()
	joinRoom(t, runAgent(t), f, "sip:stranger@"+bridgeDomain, "Stranger")

	// A participant may show up dialing in before the focus says it is connected.
	st := awaitRoster(t, r, "three participants connected", func(st web.RosterStatus) bool {
		for _, p := range st.Participants {
			if p.Status != "connected" {
				return false
			}
		}
		return len(st.Participants) == 3
	})
	if st.Note != "" || st.Conference != uri {
		t.Errorf("conference %q note %q", st.Conference, st.Note)
	}
	got := entries(st)
	for u, want := range map[string]web.RosterEntry{
		"sip:desk1@" + bridgeDomain:    {DisplayName: "Desk One", Ours: true},
		"sip:desk2@" + bridgeDomain:    {DisplayName: "Desk Two", Ours: true},
		"sip:stranger@" + bridgeDomain: {DisplayName: "Stranger"},
	} {
		e := got[u]
		if e.DisplayName != want.DisplayName || e.Ours != want.Ours || e.Status != "connected" {
			t.Errorf("%s: %+v, want display name %q, ours %v, connected", u, e, want.DisplayName, want.Ours)
		}
	}
	if err := two.Hangup(t.Context()); err != nil {
		t.Fatal(err)
	}
	awaitRoster(t, r, "desk 2 gone", func(st web.RosterStatus) bool {
		_, there := entries(st)["sip:desk2@"+bridgeDomain]
		return len(st.Participants) == 2 && !there
	})
}

func TestRosterWithoutEvents(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	agent := runAgent(t)
	r := startRosters(t, agent)
	uri := "sip:room@" + bridgeDomain
	one := joinRoom(t, agent, f, "sip:desk1@"+bridgeDomain, "Desk One")
	defer r.add(uri, trunk(f), one.Identity(), "Handset 1")()
	two := joinRoom(t, agent, f, "sip:desk2@"+bridgeDomain, "Desk Two")
	release := r.add(uri, trunk(f), two.Identity(), "Handset 2")
	joinRoom(t, runAgent(t), f, "sip:stranger@"+bridgeDomain, "Stranger")

	st := awaitRoster(t, r, "the note", func(st web.RosterStatus) bool { return st.Note == noteNoEvents })
	want := []web.RosterEntry{
		{URI: "sip:desk1@" + bridgeDomain, DisplayName: "Handset 1", Status: "connected", Ours: true},
		{URI: "sip:desk2@" + bridgeDomain, DisplayName: "Handset 2", Status: "connected", Ours: true},
	}
	if len(st.Participants) != 2 || st.Participants[0] != want[0] || st.Participants[1] != want[1] {
		t.Errorf("participants %+v, want our two legs %+v", st.Participants, want)
	}
	release()
	if st := r.status(); len(st) != 1 || len(st[0].Participants) != 1 {
		t.Errorf("after one leg left: %+v", st)
	}
}
