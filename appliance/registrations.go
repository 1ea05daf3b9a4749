package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/sip"
)

// registrations keeps every configured account registered and remembers how each is doing.
// It follows the settings in memory: an account added starts registering at once, one
// removed unregisters, and one whose registration details changed unregisters and
// registers again as it now says.
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
	keeper  <-chan struct{} // the done channel of the keeper that reports it
}

func newRegistrations(agent *sip.Agent, log *slog.Logger) *registrations {
	return &registrations{agent: agent, log: log, state: make(map[string]accountState)}
}

// A keeper is the goroutine that keeps one account registered.
type keeper struct {
	acc    sip.Account
	cancel context.CancelFunc
	done   chan struct{} // closed once it has unregistered and returned
}

// run keeps the accounts of the settings in memory (store.Current) registered until ctx
// is done, then unregisters them all and returns once they have.
func (r *registrations) run(ctx context.Context, store *config.Store) {
	var wg sync.WaitGroup
	defer wg.Wait()
	keepers := map[string]*keeper{}
	for {
		snap := store.Current()
		r.follow(ctx, &wg, keepers, snap.Settings.Accounts)
		select {
		case <-ctx.Done():
			return
		case <-snap.Changed():
		}
	}
}

// follow starts, stops and restarts keepers so that there is one for each of accounts, as
// it is now.
func (r *registrations) follow(ctx context.Context, wg *sync.WaitGroup, keepers map[string]*keeper, accounts []settings.Account) {
	want := map[string]sip.Account{}
	for _, a := range accounts {
		acc := sipAccount(a)
		// What only the account's calls use does not make it register again.
		acc.Codecs, acc.DTMF = nil, ""
		want[a.ID] = acc
	}
	for id, k := range keepers {
		if acc, ok := want[id]; ok && reflect.DeepEqual(acc, k.acc) {
			continue
		}
		k.cancel()
		delete(keepers, id)
		if _, ok := want[id]; !ok {
			r.forget(id, k.done)
		}
	}
	for _, a := range accounts {
		id, acc := a.ID, want[a.ID]
		if keepers[id] != nil {
			continue
		}
		// The one it replaces, if any, unregisters first: its un-REGISTER must not remove
		// the binding the new one makes.
		var prev <-chan struct{}
		if old, ok := r.running(id); ok {
			prev = old
		}
		kctx, cancel := context.WithCancel(ctx)
		k := &keeper{acc: acc, cancel: cancel, done: make(chan struct{})}
		keepers[id] = k
		r.begin(id, acc.AOR(), k.done)
		wg.Go(func() { r.keep(kctx, id, k, prev) })
	}
}

// keep runs one account's registration; see registrations.
func (r *registrations) keep(ctx context.Context, id string, k *keeper, prev <-chan struct{}) {
	defer close(k.done)
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	log := r.log.With("account", id)
	last := sip.Registration{State: -1} // so that the first is logged
	err := r.agent.KeepRegistered(ctx, k.acc, func(reg sip.Registration) {
		logRegistration(log, last, reg)
		last = reg
		r.update(id, k.done, reg)
	})
	if err != nil && ctx.Err() == nil {
		log.Error("registration stopped", "err", err)
	}
}

// logRegistration logs an account's registration reg, which follows last, once per change
// of its state or of its reason: not at every refresh or retry. Failures are warnings.
func logRegistration(log *slog.Logger, last, reg sip.Registration) {
	if reg.State == last.State && reg.Detail == last.Detail {
		return
	}
	level := slog.LevelInfo
	if reg.State == sip.Failed {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "registration", "state", reg.State, "detail", reg.Detail)
}

// running returns the done channel of the keeper that last owned account id's entry.
func (r *registrations) running(id string) (<-chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.state[id]
	return s.keeper, ok && s.keeper != nil
}

// begin gives account id's entry to the keeper whose done channel is owner, unregistered.
func (r *registrations) begin(id, aor string, owner <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[id] = accountState{account: id, aor: aor, reg: sip.Registration{State: sip.Unregistered}, keeper: owner}
}

// update notes reg for account id, if the keeper whose done channel is owner still owns it.
func (r *registrations) update(id string, owner <-chan struct{}, reg sip.Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.state[id]; ok && s.keeper == owner {
		s.reg = reg
		r.state[id] = s
	}
}

// forget drops account id's entry, if the keeper whose done channel is owner still owns it.
func (r *registrations) forget(id string, owner <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.state[id]; ok && s.keeper == owner {
		delete(r.state, id)
	}
}

// unreachable returns why account id's registrar cannot be reached, as the registration's
// last failure says (sip.Registration.Unreachable), or nil: while it is registered or
// registering, failed for another reason, or id names no account.
func (r *registrations) unreachable(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.state[id]
	if !ok || s.reg.State != sip.Failed || !s.reg.Unreachable {
		return nil
	}
	return fmt.Errorf("the registration of %s failed: %s", id, s.reg.Detail)
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
