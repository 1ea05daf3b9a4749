package appliance

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"partyline/appliance/settings"
	"partyline/sip"
)

// registrations keeps every configured account registered and remembers how each is doing.
type registrations struct {
	agent *sip.Agent
	log   *slog.Logger

	mu    sync.Mutex // guards following
	state map[string]accountState
}

// accountState is one account's registration as the admin page shows it.
type accountState struct {
	account string
	aor     string
	reg     sip.Registration
}

func newRegistrations(agent *sip.Agent, log *slog.Logger) *registrations {
	return &registrations{agent: agent, log: log, state: make(map[string]accountState)}
}

// run registers every account until ctx is done, then unregisters them all and returns.
func (r *registrations) run(ctx context.Context, accounts []settings.Account) {
	var wg sync.WaitGroup
	for _, a := range accounts {
		acc := sipAccount(a)
		r.update(a.ID, acc.AOR(), sip.Registration{State: sip.Unregistered})
		log := r.log.With("account", a.ID)
		wg.Go(func() {
			err := r.agent.KeepRegistered(ctx, acc, func(reg sip.Registration) {
				log.Info("registration", "state", reg.State, "detail", reg.Detail)
				r.update(a.ID, acc.AOR(), reg)
			})
			if err != nil && ctx.Err() == nil {
				log.Error("registration stopped", "err", err)
			}
		})
	}
	wg.Wait()
}

func (r *registrations) update(id, aor string, reg sip.Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[id] = accountState{account: id, aor: aor, reg: reg}
}

// snapshot returns every account's state, ordered by account ID.
func (r *registrations) snapshot() []accountState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]accountState, 0, len(r.state))
	for _, s := range r.state {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b accountState) int { return strings.Compare(a.account, b.account) })
	return out
}
