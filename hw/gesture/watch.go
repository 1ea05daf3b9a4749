package gesture

import (
	"context"
	"fmt"
	"sync"
	"time"

	"partyline/hw"
)

// A Clock tells the time and makes timers. System is the real one; tests inject a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed (at once if d <= 0).
	After(d time.Duration) <-chan time.Time
}

// System is the real clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Watch feeds m every position sw reports, stamped with clk's time, and calls emit with each
// gesture, until ctx is done (it then returns ctx's error) or sw fails. sw is usually
// debounced already, so m is usually configured with a debounce of 0. Watch owns one
// goroutine, which waits on sw and has stopped when Watch returns.
func Watch(ctx context.Context, sw hw.Switch, m Machine, clk Clock, emit func(Event)) error {
	type move struct {
		active bool
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	moves := make(chan move)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			active, err := sw.Wait(ctx)
			select {
			case moves <- move{active, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	for {
		var timer <-chan time.Time
		if at, ok := m.Deadline(); ok {
			timer = clk.After(at.Sub(clk.Now()))
		}
		var evs []Event
		select {
		case <-ctx.Done():
			return ctx.Err()
		case mv := <-moves:
			if mv.err != nil {
				if err := ctx.Err(); err != nil {
					return err
				}
				return fmt.Errorf("watch switch: %w", mv.err)
			}
			evs = m.Input(clk.Now(), mv.active)
		case <-timer:
			evs = m.Advance(clk.Now())
		}
		for _, e := range evs {
			emit(e)
		}
	}
}
