package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"partyline/appliance/config"
	"partyline/hw"
)

// Physical presence: someone at the device can do what someone on the network cannot.
const (
	// presenceWindow is how long holding a handset's call button, while no admin password
	// is set, lets the first password be set on the page without the setup code.
	presenceWindow = 5 * time.Minute
	// startProbe is how long the appliance looks at the call buttons when it starts, before
	// the admin page serves and the handsets' lines run (SIP and the registrations do not
	// wait): one held then (a switch reports a press at once, or after its debounce time)...
	startProbe = 500 * time.Millisecond
	// resetHold ...and held this long resets the admin password.
	resetHold = 2 * time.Second
)

// presence is the proof of presence that the handsets' call buttons give (see
// handset.Presence): while no admin password is set, holding one opens presenceWindow.
type presence struct {
	store *config.Store
	log   *slog.Logger

	mu    sync.Mutex // guards following
	until time.Time  // the end of the window the last proof opened
}

// PresenceWanted implements handset.Presence: a proof is wanted while no admin password
// is set.
func (p *presence) PresenceWanted() bool {
	set, err := p.store.AdminPasswordSet()
	return err == nil && !set
}

// ProvePresence implements handset.Presence.
func (p *presence) ProvePresence(handset int) string {
	until := time.Now().Add(presenceWindow)
	p.mu.Lock()
	p.until = until
	p.mu.Unlock()
	p.log.Warn("presence proven at the device: the first admin password can be set on the page without the setup code",
		"handset", handset+1, "until", until.Format(time.TimeOnly))
	return "presence proven: set the admin password on the page by " + until.Format("15:04")
}

// Until returns the end of the window a proof of presence opened, the zero Time if none
// did.
func (p *presence) Until() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.until
}

// open reports whether a proof of presence lets the first password be set now.
func (p *presence) open() bool { return time.Now().Before(p.Until()) }

// A replaySwitch is a handset's call button whose first positions may be read before its
// line runs, to see whether it is held as the appliance starts (heldAtStart): Wait
// reports those first, then the switch's own, so that the line sees the press too.
type replaySwitch struct {
	hw.Switch

	mu    sync.Mutex // guards first
	first []bool
}

// Wait implements hw.Switch.
func (s *replaySwitch) Wait(ctx context.Context) (bool, error) {
	s.mu.Lock()
	if len(s.first) > 0 {
		v := s.first[0]
		s.first = s.first[1:]
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()
	return s.Switch.Wait(ctx)
}

// heldAtStart reports whether the button is pressed within startProbe and stays pressed
// for resetHold. Call it once, before the line runs.
func (s *replaySwitch) heldAtStart(ctx context.Context) bool {
	probe, cancel := context.WithTimeout(ctx, startProbe)
	pressed, err := s.Switch.Wait(probe)
	cancel()
	if err != nil {
		return false // not pressed: nothing was reported
	}
	s.keep(pressed)
	if !pressed {
		return false
	}
	hold, cancel := context.WithTimeout(ctx, resetHold)
	defer cancel()
	released, err := s.Switch.Wait(hold)
	if err != nil {
		return ctx.Err() == nil // held all along
	}
	s.keep(released)
	return false
}

func (s *replaySwitch) keep(pos bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.first = append(s.first, pos)
}

// resetIfHeldAtStart clears the admin password when a handset's call button is held as
// the appliance starts, as `partyline reset-password` does: physical presence. The page
// then asks for a new password (the same hold, a long press, proves presence for it). It
// runs before the admin page serves and the lines run.
func (a *Appliance) resetIfHeldAtStart(ctx context.Context) error {
	held := make([]bool, len(a.startButtons))
	var wg sync.WaitGroup
	for i, b := range a.startButtons {
		if b != nil {
			wg.Go(func() { held[i] = b.heldAtStart(ctx) })
		}
	}
	wg.Wait()
	for i, h := range held {
		if !h {
			continue
		}
		set, err := a.store.AdminPasswordSet()
		if err != nil || !set {
			return err
		}
		if err := a.store.ClearAdminPassword(); err != nil {
			return fmt.Errorf("reset the admin password: %w", err)
		}
		a.log.Warn("admin password reset: a handset's call button was held as the appliance started", "handset", i+1)
		return nil
	}
	return nil
}
