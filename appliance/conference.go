package appliance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"partyline/appliance/audiohub"
	"partyline/appliance/config"
	"partyline/appliance/handset"
	"partyline/appliance/legs"
	"partyline/appliance/settings"
	"partyline/sip"
)

// conferencing joins handsets to their conferences: it looks up the handset's settings,
// dials its leg, and binds the negotiated call to a media session pumped by the handset's
// audio port. It is the handset.Conference of every Line.
//
// The handset loops call it, and they must never wait for the settings file: it reads the
// settings from memory, and what the buttons change (the earpiece gain, the conference)
// applies at once, in memory, while saves writes it to the file behind them.
type conferencing struct {
	agent   *sip.Agent
	store   settingsStore
	hub     *audiohub.Hub
	claims  *identityClaims // no two of our legs present one identity in a conference
	rosters *rosters        // our legs are marked in the rosters of their conferences
	saves   *handsetSaves
	log     *slog.Logger
	// problem tells the admin page of a failure in the call of the handset labelled label
	// (handsetLabel) that does not end it (see legs.Leg.OnProblem); nil for none.
	problem func(label, text string)

	mu sync.Mutex // guards following
	// unplanned is, by handset, the error of its last join that failed for want of
	// settings (planJoin), so that the admin page can tell it from other failures.
	unplanned map[int]string
}

// settingsStore is what conferencing needs of the settings: those in memory, and a way to
// change them in the file (config.Store).
type settingsStore interface {
	Current() *config.Snapshot
	Update(change func(*settings.Settings) error) error
}

// current returns the settings in memory with the handsets' changes not yet saved: shared,
// read only, but for the Handsets slice, which is the caller's own when it differs.
func (c *conferencing) current() settings.Settings {
	return c.saves.overlay(c.store.Current().Settings)
}

// Join implements handset.Conference.
func (c *conferencing) Join(ctx context.Context, i int) (handset.Leg, error) {
	set := c.current()
	plan, err := planJoin(set, i)
	if err != nil {
		c.mu.Lock()
		if c.unplanned == nil {
			c.unplanned = map[int]string{}
		}
		c.unplanned[i] = err.Error()
		c.mu.Unlock()
		return nil, err
	}
	h := set.Handsets[i] // planJoin checked i
	conf, _ := findConference(set, h.Conference)
	port, err := c.hub.Port(h.Channel)
	if err != nil {
		return nil, err
	}
	if err := c.hub.SetLevels(h.Channel, h.MicGainDB, h.EarGainDB, audiohub.SidetoneDB(h.SidetonePercent)); err != nil {
		return nil, fmt.Errorf("%s levels: %w", h.Name, err)
	}
	if err := c.hub.SetAGC(h.Channel, h.MicAGC); err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	release := func() {}
	if uri, fixed := plan.Presents(); fixed {
		if release, err = c.claims.claim(plan.Target, uri, h.Name); err != nil {
			return nil, err
		}
	}
	l, err := c.place(ctx, plan, h.Name, handsetLabel(set, i), conf.PIN, port, release)
	if err != nil {
		release()
		return nil, err
	}
	return l, nil
}

// failedForSettings reports whether detail is the error of handset i's last join that
// failed for want of settings.
func (c *conferencing) failedForSettings(i int, detail string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return detail != "" && c.unplanned[i] == detail
}

// place dials the leg of plan for the handset called name (label in the events) and starts
// its media on port; the conference PIN, if any, follows once the conference answered. The
// leg gives the identity back through release when it ends or is hung up.
func (c *conferencing) place(ctx context.Context, plan legs.Plan, name, label, pin string, port *audiohub.Port, release func()) (*handsetLeg, error) {
	lg, err := legs.Dial(ctx, c.agent, plan, c.log)
	if err != nil {
		var refused *sip.JoinError
		if errors.As(err, &refused) && sip.IsRosterConflict(err) {
			return nil, fmt.Errorf("the conference refused %s: %w (a conference lists an identity once: is it in there already?)", refused.Identity, refused)
		}
		return nil, markUnreachable(err)
	}
	if c.problem != nil {
		lg.OnProblem(func(text string) { c.problem(label, text) })
	}
	leave := c.rosters.add(plan.Target, plan.Account, lg.Identity(), name)
	if err := c.startMedia(lg, port, label); err != nil {
		leave()
		return nil, errors.Join(err, lg.Hangup(ctx))
	}
	// Once the call has ended, from either side, the identity is free.
	lg.WhenEnded(func() { leave(); release() })
	if pin != "" {
		lg.SendPINLater(pin)
	}
	return &handsetLeg{Leg: lg, port: port, release: release}, nil
}

// startMedia starts the leg's media session and the pump between it and port, and follows
// the conference's re-INVITEs, which move the media, hold it or change its codec. label
// names the handset in the events.
func (c *conferencing) startMedia(lg *legs.Leg, port *audiohub.Port, label string) error {
	session, err := lg.StartMedia(0)
	if err != nil {
		return err
	}
	pu, err := audiohub.NewPump(port, session, c.hub.Format().SampleRate, session.Codec().ClockRate())
	if err != nil {
		return err
	}
	port.SetMuted(false)
	lg.Go(func(ctx context.Context) {
		if err := pu.Run(ctx); err != nil {
			c.log.Warn("audio pump stopped", "call", lg.Call().ID(), "err", err)
			if c.problem != nil {
				c.problem(label, "the handset's audio stopped: "+err.Error())
			}
		}
	})
	lg.FollowMedia()
	return nil
}

// A handsetLeg is a handset's leg; the microphone it mutes is the handset's audio port.
type handsetLeg struct {
	*legs.Leg
	port    *audiohub.Port
	release func() // gives the leg's identity back; it may be called more than once
}

// Hangup implements handset.Leg. It gives the identity back at once, not when the BYE is
// answered: the handset shows idle from now on, and lifting it again must not be refused
// as though another handset were in the conference under its identity, however long the
// BYE takes (legs.HangupTimeout when the network is down).
func (l *handsetLeg) Hangup(ctx context.Context) error {
	l.release()
	return l.Leg.Hangup(ctx)
}

// Mute implements handset.Leg.
func (l *handsetLeg) Mute(on bool) { l.port.SetMuted(on) }

// Louder implements handset.Conference: the gain changes within its limits, in the audio
// hub at once, so that a call in progress hears it, and in the settings behind it.
func (c *conferencing) Louder(i int, deltaDB float64) (float64, error) {
	set := c.current()
	if i < 0 || i >= len(set.Handsets) {
		return 0, fmt.Errorf("change the volume: handset %d is not configured", i+1)
	}
	h := set.Handsets[i]
	h.EarGainDB = max(settings.MinGainDB, min(settings.MaxGainDB, h.EarGainDB+deltaDB))
	if err := c.hub.SetLevels(h.Channel, h.MicGainDB, h.EarGainDB, audiohub.SidetoneDB(h.SidetonePercent)); err != nil {
		return 0, fmt.Errorf("change the volume: %w", err)
	}
	c.saves.save(h.ID, handsetChange{earGainDB: &h.EarGainDB})
	return h.EarGainDB, nil
}

// PIN implements handset.Conference.
func (c *conferencing) PIN(i int) (string, error) {
	set := c.current()
	if i < 0 || i >= len(set.Handsets) {
		return "", fmt.Errorf("handset %d is not configured", i+1)
	}
	conf, _ := findConference(set, set.Handsets[i].Conference)
	return conf.PIN, nil
}

// NextConference implements handset.Conference: it moves the handset's conference on to
// the next conference in the list, round, at once and in the settings behind it, and
// returns the new one's name.
func (c *conferencing) NextConference(i int) (string, error) {
	set := c.current()
	switch {
	case i < 0 || i >= len(set.Handsets):
		return "", fmt.Errorf("choose the next conference: handset %d is not configured", i+1)
	case len(set.Conferences) == 0:
		return "", errors.New("choose the next conference: no conference is configured")
	}
	h := set.Handsets[i]
	next := 0
	for n, conf := range set.Conferences {
		if conf.ID == h.Conference {
			next = (n + 1) % len(set.Conferences)
		}
	}
	conf := set.Conferences[next]
	c.saves.save(h.ID, handsetChange{conference: &conf.ID})
	return cmp.Or(conf.Name, conf.ID), nil
}
