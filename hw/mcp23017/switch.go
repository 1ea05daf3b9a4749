package mcp23017

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"partyline/hw"
	"partyline/hw/gesture"
)

var (
	_ hw.Switch = (*Switch)(nil)
	_ hw.LED    = (*LED)(nil)
)

// Sampling periods of Run.
const (
	DefaultPoll     = 10 * time.Millisecond  // between samples without an interrupt line
	DefaultBackstop = 250 * time.Millisecond // between samples with one, in case a wake-up is missed
)

// WatchConfig says how Run samples the inputs.
type WatchConfig struct {
	// Interrupt is the chip's INT line, active while asserted (e.g. gpio.OpenInterrupt on
	// the GPIO it is wired to); Run samples as soon as it asserts. nil: poll only.
	Interrupt hw.Switch
	// Poll is the time between samples; with Interrupt, a backstop. 0 means DefaultPoll,
	// or DefaultBackstop with Interrupt.
	Poll time.Duration
	// Clock times the samples; nil means gesture.System.
	Clock gesture.Clock
}

// inputs is what Run shares with the Switches: the latest sample, and per pin how many
// samples showed it had changed.
type inputs struct {
	mu      sync.Mutex // guards following
	seq     uint64     // samples taken; 0: none yet
	at      time.Time  // of the latest sample
	levels  uint16
	changes [16]uint64
	running bool
	stopped error         // why Run returned; nil while it runs or before it first ran
	next    chan struct{} // closed by the next sample, or when Run returns
	due     time.Time     // the earliest sample a Switch asked for; zero: none
	kick    chan struct{} // tells Run that due moved
}

func (in *inputs) init() {
	in.next = make(chan struct{})
	in.kick = make(chan struct{}, 1)
}

// snapshot is one Switch's view of the latest sample.
type snapshot struct {
	seq     uint64
	at      time.Time
	levels  uint16
	changes uint64
	stopped error
	next    <-chan struct{}
}

func (in *inputs) latest(p Pin) snapshot {
	in.mu.Lock()
	defer in.mu.Unlock()
	return snapshot{in.seq, in.at, in.levels, in.changes[p], in.stopped, in.next}
}

// request asks Run for a sample at or soon after at.
func (in *inputs) request(at time.Time) {
	in.mu.Lock()
	if in.due.IsZero() || at.Before(in.due) {
		in.due = at
	}
	in.mu.Unlock()
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// earliest returns the earlier of next and the sample requested.
func (in *inputs) earliest(next time.Time) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.due.IsZero() && in.due.Before(next) {
		return in.due
	}
	return next
}

// publish records a sample taken at now and returns when the next is due, at the latest
// next.
func (in *inputs) publish(now time.Time, changed, levels uint16, next time.Time) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.seq > 0 {
		changed |= levels ^ in.levels
	}
	for p := range in.changes {
		if changed&(1<<p) != 0 {
			in.changes[p]++
		}
	}
	in.seq++
	in.at, in.levels = now, levels
	close(in.next)
	in.next = make(chan struct{})
	if !in.due.After(now) {
		in.due = time.Time{}
	} else if in.due.Before(next) {
		next = in.due
	}
	return next
}

func (in *inputs) start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.running {
		return errors.New("inputs are watched already")
	}
	in.running, in.stopped = true, nil
	return nil
}

func (in *inputs) stop(why error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.running, in.stopped = false, why
	close(in.next)
	in.next = make(chan struct{})
}

// Run samples the inputs, one transaction reading INTF, INTCAP and GPIO, and feeds the
// Switches, until ctx is done or the bus fails. It samples every Poll, at once when the
// interrupt line asserts, and when a Switch needs a sample to confirm a settling level. The
// Switches report nothing while Run does not run, and fail once it has returned. Run owns
// one goroutine when there is an interrupt line; it has stopped when Run returns.
func (d *Dev) Run(ctx context.Context, c WatchConfig) error {
	if c.Poll < 0 {
		return fmt.Errorf("%v: watch inputs: poll period %v is negative", d, c.Poll)
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
		if c.Interrupt != nil {
			c.Poll = DefaultBackstop
		}
	}
	if c.Clock == nil {
		c.Clock = gesture.System
	}
	if err := d.in.start(); err != nil {
		return fmt.Errorf("%v: watch inputs: %w", d, err)
	}
	err := d.watch(ctx, c)
	d.in.stop(fmt.Errorf("%v: inputs not watched: %w", d, err))
	return err
}

func (d *Dev) watch(ctx context.Context, c WatchConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wake := make(chan struct{}, 1)
	failed := make(chan error, 1)
	if c.Interrupt != nil {
		wg.Go(func() {
			for {
				asserted, err := c.Interrupt.Wait(ctx)
				if err != nil {
					if ctx.Err() == nil {
						failed <- err
					}
					return
				}
				if asserted {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
		})
	}

	next := c.Clock.Now()
	for {
		if wait := next.Sub(c.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case err := <-failed:
				return fmt.Errorf("%v: interrupt line: %w", d, err)
			case <-d.in.kick:
				next = d.in.earliest(next)
				continue
			case <-wake:
			case <-c.Clock.After(wait):
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		now := c.Clock.Now()
		changed, levels, err := d.sample()
		if err != nil {
			return fmt.Errorf("sample inputs: %w", err)
		}
		next = d.in.publish(now, changed, levels, now.Add(c.Poll))
	}
}

// A Switch is an input pin read as a debounced two-position switch, from the samples Run
// takes. It implements hw.Switch.
type Switch struct {
	dev       *Dev
	pin       Pin
	activeLow bool

	mu      sync.Mutex // guards following, and makes one Wait at a time
	deb     *gesture.Debouncer
	seen    uint64 // the sample last looked at
	changes uint64 // the pin's change count at that sample
}

// Switch makes p an input with interrupt on change (pulled up when activeLow, where low
// means active: contact to ground) and returns it as a switch debounced for
// gesture.DefaultDebounce.
func (d *Dev) Switch(p Pin, activeLow bool) (*Switch, error) {
	if err := d.SetInput(p, activeLow); err != nil {
		return nil, fmt.Errorf("open switch: %w", err)
	}
	if err := d.SetInterrupt(p, OnChange); err != nil {
		return nil, fmt.Errorf("open switch: %w", err)
	}
	return &Switch{dev: d, pin: p, activeLow: activeLow, deb: gesture.NewDebouncer(gesture.DefaultDebounce)}, nil
}

// Wait blocks until the switch has been stable for the debounce time in a position other
// than the one it last reported (initially inactive), or until ctx is done or Run has
// returned. A level counts as stable once a sample the debounce time after it still shows
// it, and no sample in between showed a change.
func (s *Switch) Wait(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		snap := s.dev.in.latest(s.pin)
		if snap.seq != s.seen {
			s.seen = snap.seq
			active := (snap.levels&s.pin.mask() != 0) != s.activeLow
			if snap.changes != s.changes {
				s.changes = snap.changes
				s.deb.Edge(snap.at, active)
			} else {
				s.deb.Sample(snap.at, active)
			}
			if active, _, changed := s.deb.Update(snap.at); changed {
				return active, nil
			}
			if at, ok := s.deb.Deadline(); ok {
				s.dev.in.request(at)
			}
		}
		if snap.stopped != nil {
			return s.deb.Level(), snap.stopped
		}
		select {
		case <-snap.next:
		case <-ctx.Done():
			return s.deb.Level(), ctx.Err()
		}
	}
}
