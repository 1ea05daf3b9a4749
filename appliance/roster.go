package appliance

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"partyline/appliance/web"
	"partyline/sip"
	"partyline/sip/confinfo"
)

// The notes a roster shows when it lists only our own legs.
const (
	noteNoEvents   = "The conference does not publish its roster (no conference event package): only the appliance's own legs are shown."
	noteWaiting    = "Waiting for the conference's roster: only the appliance's own legs are shown."
	noteUnfollowed = "The roster could not be followed: only the appliance's own legs are shown."
)

// rosters keeps the roster of every conference the appliance's legs are in: while a
// conference has a leg of ours, it subscribes to the conference's event package (RFC
// 4575) through the account of the first leg, and marks the participants that are our own
// legs by the identities they presented. Where the conference does not serve the package,
// the roster lists our own legs only, and says so.
type rosters struct {
	agent *sip.Agent
	log   *slog.Logger
	wg    sync.WaitGroup

	mu    sync.Mutex             // guards following
	base  context.Context        // run's, while it runs; nil otherwise
	confs map[string]*confRoster // by conference URI, lower case
	next  int                    // the ID of the next leg added
	order []string               // the conference keys in the order they were first joined
}

// confRoster is one conference's roster.
type confRoster struct {
	uri     string
	account sip.Account
	legs    map[int]ownLeg
	stop    context.CancelFunc // ends the subscription; nil while there is none
	roster  []confinfo.Participant
	known   bool   // roster holds what the conference published
	note    string // why roster is not known
}

// ownLeg is one of our legs in a conference.
type ownLeg struct {
	identity string // the From URI it presented
	label    string // e.g. "Handset 1", "Bridged caller"
}

func newRosters(agent *sip.Agent, log *slog.Logger) *rosters {
	return &rosters{agent: agent, log: log, confs: make(map[string]*confRoster)}
}

// run follows the rosters of the conferences with legs of ours until ctx ends.
func (r *rosters) run(ctx context.Context) {
	r.mu.Lock()
	r.base = ctx
	for _, c := range r.confs {
		r.followLocked(c)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.base = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// add records our leg in conference (its URI), which presented identity and joined
// through account; label names it for the page. The returned release removes it again,
// and may be called more than once.
func (r *rosters) add(conference string, account sip.Account, identity, label string) (release func()) {
	key := strings.ToLower(conference)
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.confs[key]
	if !ok {
		c = &confRoster{uri: conference, account: account, legs: make(map[int]ownLeg), note: noteWaiting}
		r.confs[key] = c
		r.order = append(r.order, key)
	}
	id := r.next
	r.next++
	c.legs[id] = ownLeg{identity: identity, label: label}
	r.followLocked(c)
	var once sync.Once
	return func() { once.Do(func() { r.remove(key, id) }) }
}

func (r *rosters) remove(key string, id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.confs[key]
	if !ok {
		return
	}
	delete(c.legs, id)
	if len(c.legs) > 0 {
		return
	}
	if c.stop != nil {
		c.stop()
	}
	delete(r.confs, key)
	r.order = slices.DeleteFunc(r.order, func(k string) bool { return k == key })
}

// followLocked starts the subscription of c if run runs and there is none. Call with
// r.mu held.
func (r *rosters) followLocked(c *confRoster) {
	if r.base == nil || c.stop != nil {
		return
	}
	ctx, stop := context.WithCancel(r.base)
	c.stop = stop
	r.wg.Go(func() {
		err := r.agent.Subscribe(ctx, sip.SubscribeRequest{
			Target:   c.uri,
			Account:  c.account,
			OnRoster: func(ps []confinfo.Participant) { r.update(c, ps) },
		})
		if err == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		c.known, c.roster = false, nil
		c.note = noteUnfollowed
		if errors.Is(err, sip.ErrNoConferenceEvents) {
			c.note = noteNoEvents
		}
		r.log.Info("conference roster", "conference", c.uri, "err", err)
	})
}

func (r *rosters) update(c *confRoster, ps []confinfo.Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.roster, c.known, c.note = ps, true, ""
}

// status returns the rosters for the admin page, in the order the conferences were
// first joined.
func (r *rosters) status() []web.RosterStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]web.RosterStatus, 0, len(r.order))
	for _, key := range r.order {
		c := r.confs[key]
		ours := make(map[string]ownLeg, len(c.legs))
		ids := make([]int, 0, len(c.legs))
		for id, l := range c.legs {
			ours[strings.ToLower(l.identity)] = l
			ids = append(ids, id)
		}
		st := web.RosterStatus{Conference: c.uri, Note: c.note}
		if c.known {
			for _, p := range c.roster {
				_, mine := ours[strings.ToLower(p.URI)]
				st.Participants = append(st.Participants, web.RosterEntry{
					URI: p.URI, DisplayName: p.DisplayName, Status: p.Status, Muted: p.Muted, Ours: mine,
				})
			}
		} else {
			slices.Sort(ids)
			for _, id := range ids {
				l := c.legs[id]
				st.Participants = append(st.Participants, web.RosterEntry{URI: l.identity, DisplayName: l.label, Status: "connected", Ours: true})
			}
		}
		out = append(out, st)
	}
	return out
}
