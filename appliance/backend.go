package appliance

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"partyline/appliance/config"
	"partyline/appliance/web"
)

// backend is the appliance as the admin page sees it.
type backend struct{ a *Appliance }

// Status implements web.Backend.
func (b backend) Status() web.Status {
	a := b.a
	set, err := a.store.Settings()
	if err != nil {
		a.log.Error("read settings", "err", err)
	}
	st := web.Status{Board: a.profile.Name}
	for i, l := range a.lines {
		ls := l.Status()
		hs := web.HandsetStatus{
			Index:   i,
			Name:    fmt.Sprintf("Handset %d", i+1),
			State:   ls.State.String(),
			Detail:  ls.Detail,
			OffHook: ls.OffHook,
			LED:     ls.LED.String(),
			Virtual: a.hw.sim != nil,
		}
		if i < len(set.Handsets) {
			h := set.Handsets[i]
			hs.Name = h.Name
			hs.Identity = identity(set, h)
			if c, ok := findConference(set, h.Conference); ok {
				hs.Conference = c.URI
			}
		}
		st.Handsets = append(st.Handsets, hs)
	}
	for _, r := range a.regs.snapshot() {
		st.Registrations = append(st.Registrations, web.RegistrationStatus{
			Account: r.account,
			AOR:     r.aor,
			State:   r.reg.State.String(),
			Detail:  r.reg.Detail,
			Expires: r.reg.Expires,
		})
	}
	return st
}

// SetHook implements web.Backend: it moves the virtual hook switch of a sim handset.
func (b backend) SetHook(handset int, offHook bool) error {
	sb := b.a.hw.sim
	if sb == nil {
		return fmt.Errorf("the %s board has no virtual hooks", b.a.profile.Name)
	}
	if handset < 0 || handset >= len(b.a.lines) {
		return fmt.Errorf("handset %d does not exist", handset+1)
	}
	sb.Hook(handset).Set(offHook)
	return nil
}

// Settings implements web.Backend.
func (b backend) Settings() (web.Settings, error) {
	set, err := b.a.store.Settings()
	if err != nil {
		return web.Settings{}, err
	}
	return toWeb(set), nil
}

// UpdateSettings implements web.Backend. Handsets and conferences are read
// from the store at each join, so changes to them apply from the next call.
// The SIP listener and the registrations are set up once, in New and Run,
// and the lines are bound to their channels in New: changes to the SIP
// settings, the accounts, or the handsets' IDs and channels need a restart.
func (b backend) UpdateSettings(change func(*web.Settings) error) (restart bool, err error) {
	err = b.a.store.Update(func(set *config.Settings) error {
		ws := toWeb(*set)
		if err := change(&ws); err != nil {
			return err
		}
		next := fromWeb(ws)
		restart = needsRestart(*set, next)
		*set = next
		return nil
	})
	return restart, toWebError(err)
}

// needsRestart reports whether going from old to next changes something the
// appliance reads only when it starts.
func needsRestart(old, next config.Settings) bool {
	channels := func(s config.Settings) []string {
		var c []string
		for _, h := range s.Handsets {
			c = append(c, fmt.Sprintf("%s@%d", h.ID, h.Channel))
		}
		return c
	}
	return old.SIP != next.SIP ||
		!slices.Equal(old.Accounts, next.Accounts) ||
		!slices.Equal(channels(old), channels(next))
}

// AdminPasswordSet implements web.Backend.
func (b backend) AdminPasswordSet() (bool, error) { return b.a.store.AdminPasswordSet() }

// InitAdminPassword implements web.Backend.
func (b backend) InitAdminPassword(password string) error {
	return toWebError(b.a.store.InitAdminPassword(password))
}

// CheckAdminPassword implements web.Backend.
func (b backend) CheckAdminPassword(password string) (bool, error) {
	return b.a.store.CheckAdminPassword(password)
}

// toWeb and fromWeb convert settings between the store and the admin page.
// The struct conversions stop compiling when the two packages' fields drift
// apart.
func toWeb(c config.Settings) web.Settings {
	w := web.Settings{SIP: web.SIPSettings(c.SIP)}
	for _, a := range c.Accounts {
		w.Accounts = append(w.Accounts, web.Account(a))
	}
	for _, h := range c.Handsets {
		w.Handsets = append(w.Handsets, web.Handset(h))
	}
	for _, cf := range c.Conferences {
		w.Conferences = append(w.Conferences, web.Conference(cf))
	}
	return w
}

func fromWeb(w web.Settings) config.Settings {
	c := config.Settings{SIP: config.SIPSettings(w.SIP)}
	for _, a := range w.Accounts {
		c.Accounts = append(c.Accounts, config.Account(a))
	}
	for _, h := range w.Handsets {
		c.Handsets = append(c.Handsets, config.Handset(h))
	}
	for _, cf := range w.Conferences {
		c.Conferences = append(c.Conferences, config.Conference(cf))
	}
	return c
}

// toWebError turns the store's errors into those the admin page knows.
func toWebError(err error) error {
	var fe *config.FieldError
	switch {
	case errors.As(err, &fe):
		return &web.FieldError{Field: fe.Field, Msg: fe.Msg}
	case errors.Is(err, config.ErrAdminPasswordSet):
		return fmt.Errorf("%w", web.ErrPasswordSet)
	}
	return err
}

// identity is how a handset appears in its conference: display name and SIP URI.
func identity(set config.Settings, h config.Handset) string {
	acc, ok := findAccount(set, h.Account)
	if !ok {
		return ""
	}
	display := h.DisplayName
	if display == "" {
		display = h.Name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q <%s>", display, sipAccount(acc).AOR())
	return b.String()
}
