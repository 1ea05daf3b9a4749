package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"partyline/appliance/audiohub"
	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/hw"
	"partyline/sip"
)

// TestLocalFallbackGroupsByConference checks who the local mix puts together: the handsets
// of one conference in one group, those of another conference in another, none of a
// conference whose local fallback is off; and that leaving frees the group.
func TestLocalFallbackGroupsByConference(t *testing.T) {
	st := newTestStore(t)
	if err := st.Update(func(set *settings.Settings) error {
		set.Conferences = append(set.Conferences,
			settings.Conference{ID: "side", Name: "Side room"},
			settings.Conference{ID: "quiet", Name: "Quiet room", LocalFallbackOff: true})
		set.Handsets = append(set.Handsets,
			settings.Handset{ID: "handset-3", Name: "Handset 3", Channel: 2, Conference: "side"},
			settings.Handset{ID: "handset-4", Name: "Handset 4", Channel: 3, Conference: "quiet"})
		for i := range 2 {
			set.Handsets[i].Conference = "main"
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hub := audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 4, PeriodFrames: 240})
	c := &conferencing{store: st, hub: hub, saves: newHandsetSaves(st, slog.New(slog.DiscardHandler))}
	var events []string
	m := &localFallback{conf: c, log: slog.New(slog.DiscardHandler), event: func(label, text string) { events = append(events, label+": "+text) }}

	var leaves []func()
	for i := range 3 {
		leave, err := m.EnterLocal(i)
		if err != nil {
			t.Fatalf("handset %d: %v", i+1, err)
		}
		leaves = append(leaves, leave)
	}
	if got := fmt.Sprint(hub.Local(0), hub.Local(1), hub.Local(2)); got != "1 1 2" {
		t.Errorf("groups of handsets 1 and 2 (main) and 3 (side room): %s, want 1 1 2", got)
	}
	if _, err := m.EnterLocal(3); err == nil || !strings.Contains(err.Error(), "local fallback is off for conference Quiet room") {
		t.Errorf("handset 4, whose conference has local fallback off: %v, want refused", err)
	}
	if hub.Local(3) != 0 {
		t.Errorf("handset 4 is in local group %d, want none", hub.Local(3))
	}
	if len(events) != 3 || !strings.Contains(events[0], "local only") {
		t.Errorf("events: %q, want one local-only event per handset that entered", events)
	}

	leaves[0]()
	leaves[0]() // once only
	leaves[1]()
	if hub.Local(0) != 0 || hub.Local(1) != 0 {
		t.Errorf("handsets 1 and 2 still in groups %d and %d after leaving", hub.Local(0), hub.Local(1))
	}
	// Group 1 is free again; the side room keeps its group.
	if _, err := m.EnterLocal(0); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(hub.Local(0), hub.Local(2)); got != "1 2" {
		t.Errorf("handset 1 back, handset 3 still there: groups %s, want 1 2", got)
	}
}

// TestMarkUnreachable checks which failed dials make a lifted handset fall back to the
// local mix.
func TestMarkUnreachable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("join: %w", &sip.JoinError{Status: 503, Reason: "Service Unavailable"}), true},
		{fmt.Errorf("join: %w", &sip.JoinError{Status: 408, Reason: "Request Timeout"}), true},
		{fmt.Errorf("join: %w", &sip.JoinError{Status: 404, Reason: "Not Found"}), false},
		{fmt.Errorf("join: %w", &sip.JoinError{Status: 488, Reason: "Not Acceptable Here"}), false},
		{errors.New("handset 1 has no account"), false},
	} {
		got := markUnreachable(tt.err)
		if errors.Is(got, handset.ErrUnreachable) != tt.want || got.Error() != tt.err.Error() {
			t.Errorf("markUnreachable(%v) = %v (unreachable %v), want unreachable %v and the same text", tt.err, got, errors.Is(got, handset.ErrUnreachable), tt.want)
		}
		var je *sip.JoinError
		if errors.As(tt.err, &je) && !errors.As(got, &je) {
			t.Errorf("markUnreachable(%v) hides the *sip.JoinError the call history reads", tt.err)
		}
	}
}

// TestLocalFallbackKnowsAFailedRegistration checks when a handset's conference counts as
// out of reach before any join: while the registration of the account it joins through
// failed for want of an answer, whatever identity the handset presents; not while it was
// refused (403 after authentication), is still under way, or succeeded.
func TestLocalFallbackKnowsAFailedRegistration(t *testing.T) {
	st := newTestStore(t)
	if err := st.Update(func(set *settings.Settings) error {
		set.Accounts = nil
		for _, id := range []string{"desk1", "trunk", "desk3", "desk4"} {
			set.Accounts = append(set.Accounts, settings.Account{ID: id, User: id, Password: "pw", Domain: "example.org"})
		}
		set.Handsets = append(set.Handsets,
			settings.Handset{ID: "handset-3", Name: "Handset 3", Channel: 2},
			settings.Handset{ID: "handset-4", Name: "Handset 4", Channel: 3},
			settings.Handset{ID: "handset-5", Name: "Handset 5", Channel: 4})
		for i, acc := range []string{"desk1", "trunk", "trunk", "desk3", "desk4"} {
			set.Handsets[i].Account = acc
			set.Handsets[i].Conference = "main"
		}
		set.Handsets[1].Identity, set.Handsets[1].IdentityURI = settings.IdentityImpersonate, "sip:desk2@example.org"
		set.Handsets[2].Identity, set.Handsets[2].IdentityPrefix = settings.IdentityGenerated, "guest"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	regs := newRegistrations(nil, slog.New(slog.DiscardHandler))
	for id, reg := range map[string]sip.Registration{
		"desk1": {State: sip.Failed, Detail: "no answer from 192.0.2.1:5060 within 10s", Unreachable: true},
		"trunk": {State: sip.Failed, Detail: "503 Service Unavailable", Unreachable: true},
		"desk3": {State: sip.Failed, Detail: "403 Forbidden"},
		"desk4": {State: sip.Registering},
	} {
		owner := make(chan struct{})
		regs.begin(id, id+"@example.org", owner)
		regs.update(id, owner, reg)
	}
	hub := audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 5, PeriodFrames: 240})
	c := &conferencing{store: st, hub: hub, saves: newHandsetSaves(st, slog.New(slog.DiscardHandler))}
	m := &localFallback{conf: c, regs: regs, log: slog.New(slog.DiscardHandler)}
	for i, want := range []string{
		"the registration of desk1 failed: no answer from 192.0.2.1:5060 within 10s",
		"the registration of trunk failed: 503 Service Unavailable", // impersonating through the trunk
		"the registration of trunk failed: 503 Service Unavailable", // generated, through the trunk
		"", // refused: the server is there
		"", // still registering
	} {
		got := ""
		if err := m.Unreachable(i); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("handset %d: out of reach %q, want %q", i+1, got, want)
		}
	}
	if err := m.Unreachable(9); err != nil {
		t.Errorf("handset 10, not configured: %v, want nil", err)
	}
}
