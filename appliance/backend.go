package appliance

import (
	"fmt"
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
			LED:     ls.State.pattern().String(),
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
