package appliance_test

import (
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// steppedClock is a wall clock that a test steps, as NTP steps the system's: the real
// wall clock moved by an offset, without the monotonic reading that time.Now carries, so
// that whatever subtracts two of its readings sees the step.
type steppedClock struct{ offset atomic.Int64 }

func (c *steppedClock) now() time.Time {
	return time.Now().Round(0).Add(time.Duration(c.offset.Load()))
}

func (c *steppedClock) set(offset time.Duration) { c.offset.Store(int64(offset)) }

// TestClockStepsMidCall steps the wall clock the appliance reads by +1 h in the middle of
// one call and by -1 h in the middle of the next, with the account refreshing its
// registration every second meanwhile. Each call's duration in the history is what the
// test saw of it, not an hour more or nothing; its start, and the call start and the
// registration's expiry on the dashboard, are on the clock as it reads after the step;
// the registration keeps refreshing at its pace, with no storm and no lapse.
func TestClockStepsMidCall(t *testing.T) {
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true, Calls: 2})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain,
		Realm:  realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String(), func(set *settings.Settings) {
		set.Accounts[0].ExpiresSeconds = 2 // a refresh every second
	})
	clock := &steppedClock{}
	r := runAppliance(t, dir, sim.New(2), func(cfg *appliance.Config) { cfg.Clock = clock.now })
	r.waitFor("the account to register", registered)

	for i, step := range []time.Duration{time.Hour, -time.Hour} {
		clock.set(0)
		lifted := time.Now()
		r.board.Hook(0).Set(true)
		r.waitFor("handset 1 in the call", handsetState(0, "in call"))
		answered := time.Now() // the call was answered by now
		clock.set(step)
		stepped := time.Now()
		refreshes := kam.Registrations("alice")

		st := r.status()
		if got := st.Handsets[0].CallStart; got.Before(lifted.Add(step-time.Second)) || got.After(answered.Add(step+time.Second)) {
			t.Errorf("call %d, clock stepped %v: the dashboard's call start %v, want between %v and %v", i+1, step, got, lifted.Add(step), answered.Add(step))
		}
		// The binding lasts 2 s from its last refresh: the minute either way is room for a
		// busy machine, and far from the hour of the step.
		if got := st.Registrations[0].Expires; got.Before(stepped.Add(step-time.Minute)) || got.After(time.Now().Add(step+time.Minute)) {
			t.Errorf("call %d, clock stepped %v: the registration expires %v, want within a minute of %v", i+1, step, got, stepped.Add(step))
		}

		// Two refreshes and two seconds in the call after the step: a duration read from
		// the wall clock would be an hour longer, or nothing.
		r.waitFor("two refreshes after the step", func(web.Status) bool {
			return kam.Registrations("alice") >= refreshes+2 && time.Since(answered) >= 2*time.Second
		})
		hungUp := time.Now()
		r.board.Hook(0).Set(false)
		r.waitFor("handset 1 idle", handsetState(0, "idle"))
		idle := time.Now()
		if n, most := kam.Registrations("alice")-refreshes, int(idle.Sub(stepped)/(500*time.Millisecond))+2; n > most {
			t.Errorf("call %d, clock stepped %v: %d refreshes in %v, want at most %d: a storm", i+1, step, n, idle.Sub(stepped), most)
		}

		calls := r.history()
		if len(calls) != i+1 {
			t.Fatalf("call history: %+v, want %d calls", calls, i+1)
		}
		c := calls[0] // newest first
		if least, most := hungUp.Sub(answered)-time.Second, idle.Sub(lifted)+time.Second; c.Duration < least || c.Duration > most {
			t.Errorf("call %d, clock stepped %v: duration %v in the history, want between %v and %v", i+1, step, c.Duration, least, most)
		}
		if c.Start.Before(lifted.Add(step-time.Second)) || c.Start.After(answered.Add(step+time.Second)) {
			t.Errorf("call %d, clock stepped %v: start %v in the history, want between %v and %v", i+1, step, c.Start, lifted.Add(step), answered.Add(step))
		}
	}
	if err := sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
}
