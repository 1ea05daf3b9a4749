package appliance

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"partyline/appliance/handset"
	"partyline/sip"
)

// localFallback is the handsets' handset.LocalMix: while their conference cannot be
// reached, the lifted handsets of one conference talk to each other through the audio
// hub's local mix, one group per conference. Handsets of different conferences never hear
// each other there, and a conference whose local fallback is off (LocalFallbackOff) keeps
// its handsets out: they show failed.
type localFallback struct {
	conf  *conferencing  // the settings in memory (with the handsets' changes) and the hub
	regs  *registrations // whether an account's registrar answers; nil: nothing is known
	log   *slog.Logger
	event func(label, text string) // tells the dashboard's events; nil for none

	mu      sync.Mutex            // guards following
	members map[int]localMember   // by audio channel
	states  map[int]handset.State // by handset, the last state follow saw
}

// localMember is one handset in the local mix.
type localMember struct {
	conference string // the conference's ID
	group      int    // the hub's local mix group
}

// EnterLocal implements handset.LocalMix.
func (m *localFallback) EnterLocal(i int) (func(), error) {
	set := m.conf.current()
	if i < 0 || i >= len(set.Handsets) {
		return nil, fmt.Errorf("local fallback: handset %d is not configured", i+1)
	}
	h := set.Handsets[i]
	conf, ok := findConference(set, h.Conference)
	if !ok {
		return nil, fmt.Errorf("local fallback: handset %d has no conference", i+1)
	}
	name := cmp.Or(conf.Name, conf.ID)
	if conf.LocalFallbackOff {
		return nil, fmt.Errorf("local fallback is off for conference %s", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	group := m.groupOf(conf.ID)
	if err := m.conf.hub.SetLocal(h.Channel, group); err != nil {
		return nil, fmt.Errorf("local fallback: %w", err)
	}
	if m.members == nil {
		m.members = map[int]localMember{}
	}
	m.members[h.Channel] = localMember{conference: conf.ID, group: group}
	label := handsetLabel(set, i)
	m.log.Info("local only: the handset talks in the local mix of its conference", "handset", h.ID, "conference", conf.ID, "group", group)
	if m.event != nil {
		m.event(label, "local only: conference "+name+" cannot be reached; the handset talks to the other lifted handsets of it")
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.members, h.Channel)
			// The channel exists: SetLocal took it above.
			_ = m.conf.hub.SetLocal(h.Channel, 0)
			m.log.Info("the handset left the local mix", "handset", h.ID)
		})
	}, nil
}

// Unreachable implements handset.LocalMix: handset i's conference is out of reach while
// the registration of the account it joins through failed for want of an answer (no
// answer, 408 or a 5xx, a network that refused it). Whatever identity the handset presents
// (its account's own, impersonated or generated), its calls go through its account, the
// one the server trusts, so that account's registration is the one that tells. A
// registration refused (401 or 403 after authentication), still under way, or one that
// succeeded says nothing of the kind.
func (m *localFallback) Unreachable(i int) error {
	set := m.conf.current()
	if m.regs == nil || i < 0 || i >= len(set.Handsets) {
		return nil
	}
	return m.regs.unreachable(set.Handsets[i].Account)
}

// follow is told of every state handset i enters, and tells the events when the handset
// moves from local only into its conference.
func (m *localFallback) follow(i int, s handset.State) {
	m.mu.Lock()
	if m.states == nil {
		m.states = map[int]handset.State{}
	}
	prev := m.states[i]
	m.states[i] = s
	m.mu.Unlock()
	if prev != handset.LocalOnly || s != handset.InCall || m.event == nil {
		return
	}
	set := m.conf.current()
	where := "its conference"
	if i < len(set.Handsets) {
		if conf, ok := findConference(set, set.Handsets[i].Conference); ok {
			where = "conference " + cmp.Or(conf.Name, conf.ID)
		}
	}
	m.event(handsetLabel(set, i), "the conference answers again: moved from local only into "+where)
}

// groupOf returns the local mix group of the conference called id: the one its members
// are in, else the lowest group nobody uses. There are as many groups as channels, so
// one is always free. m.mu is held.
func (m *localFallback) groupOf(id string) int {
	used := map[int]bool{}
	for _, mb := range m.members {
		if mb.conference == id {
			return mb.group
		}
		used[mb.group] = true
	}
	g := 1
	for used[g] {
		g++
	}
	return g
}

// markUnreachable marks err, a handset's failed dial, with handset.ErrUnreachable when it
// says that the conference cannot be reached (sip.IsUnreachable), so that the handset's
// line falls back to the local mix.
func markUnreachable(err error) error {
	if err == nil || errors.Is(err, handset.ErrUnreachable) || !sip.IsUnreachable(err) {
		return err
	}
	return handset.Unreachable(err)
}
