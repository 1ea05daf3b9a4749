package sip

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"partyline/sip/confinfo"
	"partyline/sip/peertest/focus"
)

// rosterWatch collects the rosters a subscription reports.
type rosterWatch struct {
	mu      sync.Mutex // guards following
	last    []confinfo.Participant
	changed chan struct{}
}

func newRosterWatch() *rosterWatch { return &rosterWatch{changed: make(chan struct{})} }

func (w *rosterWatch) report(ps []confinfo.Participant) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = ps
	close(w.changed)
	w.changed = make(chan struct{})
}

// await waits until the roster lists exactly uris.
func (w *rosterWatch) await(t *testing.T, uris ...string) []confinfo.Participant {
	t.Helper()
	deadline := time.After(failsafe)
	for {
		w.mu.Lock()
		last, changed := w.last, w.changed
		w.mu.Unlock()
		var got []string
		for _, p := range last {
			got = append(got, p.URI)
		}
		if slices.Equal(got, uris) {
			return last
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("roster %v, want %v", got, uris)
		}
	}
}

func TestSubscribeFollowsRoster(t *testing.T) {
	f := focus.Start(t, focus.Config{Events: true})
	a := startAgent(t)
	acc := Account{User: "trunk", Domain: "partyline.test", Proxy: f.Addr().String()}
	w := newRosterWatch()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- a.Subscribe(ctx, SubscribeRequest{Target: "sip:room@partyline.test", Account: acc, OnRoster: w.report})
	}()
	join := func(uri, display string, port uint16) *Call {
		c, err := a.Join(t.Context(), JoinRequest{
			Target: "sip:room@partyline.test", DisplayName: display, Account: acc,
			Identity:   Identity{Mode: IdentityImpersonate, URI: uri},
			LocalMedia: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
		})
		if err != nil {
			t.Fatalf("Join %s: %v", uri, err)
		}
		return c
	}
	one := join("sip:one@partyline.test", "Desk One", 40010)
	two := join("sip:two@partyline.test", "Desk Two", 40012)
	got := w.await(t, "sip:one@partyline.test", "sip:two@partyline.test")
	if got[0].DisplayName != "Desk One" || got[1].DisplayName != "Desk Two" {
		t.Errorf("display names %q, %q", got[0].DisplayName, got[1].DisplayName)
	}
	if err := one.Hangup(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.await(t, "sip:two@partyline.test")
	if err := two.Hangup(t.Context()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Subscribe: %v", err)
	}
}

func TestSubscribeWithoutEvents(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	a := startAgent(t)
	acc := Account{User: "trunk", Domain: "partyline.test", Proxy: f.Addr().String()}
	err := a.Subscribe(t.Context(), SubscribeRequest{Target: "sip:room@partyline.test", Account: acc})
	if !errors.Is(err, ErrNoConferenceEvents) {
		t.Errorf("Subscribe: %v, want ErrNoConferenceEvents", err)
	}
}
