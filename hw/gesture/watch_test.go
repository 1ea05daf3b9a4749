package gesture

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	return ch
}

// advance moves the clock on by d, firing the timers due, and lets the goroutines react.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool {
		if t.at.After(c.now) {
			return false
		}
		t.c <- t.at
		return true
	})
	c.mu.Unlock()
	synctest.Wait()
}

// fakeSwitch is a hw.Switch the test moves.
type fakeSwitch struct{ moves chan bool }

func (s *fakeSwitch) Wait(ctx context.Context) (bool, error) {
	select {
	case a := <-s.moves:
		return a, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &fakeClock{now: t0}
		sw := &fakeSwitch{moves: make(chan bool)}
		h, err := NewHook(HookConfig{Debounce: 0, FlashMin: 100 * time.Millisecond, FlashMax: 700 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var events []got
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- Watch(ctx, sw, h, clk, func(e Event) {
				events = append(events, got{e.Gesture, int(e.At.Sub(t0) / time.Millisecond)})
			})
		}()
		move := func(active bool) { sw.moves <- active; synctest.Wait() }

		move(true)
		clk.advance(time.Second)
		move(false)
		clk.advance(300 * time.Millisecond)
		move(true) // a flash
		clk.advance(700 * time.Millisecond)
		move(false)
		clk.advance(699 * time.Millisecond)
		if want := []got{{OffHook, 0}, {Flash, 1300}}; !slices.Equal(events, want) {
			t.Errorf("events before the hang-up = %v, want %v", events, want)
		}
		clk.advance(time.Millisecond)
		if want := []got{{OffHook, 0}, {Flash, 1300}, {OnHook, 2700}}; !slices.Equal(events, want) {
			t.Errorf("events = %v, want %v", events, want)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want %v", err, context.Canceled)
		}
	})
}

// failingSwitch fails at once.
type failingSwitch struct{}

func (failingSwitch) Wait(context.Context) (bool, error) { return false, errors.New("line gone") }

func TestWatchSwitchError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := NewButton(DefaultButton())
		if err != nil {
			t.Fatal(err)
		}
		err = Watch(t.Context(), failingSwitch{}, b, System, func(Event) {})
		if err == nil || err.Error() != "watch switch: line gone" {
			t.Errorf("Watch = %v, want the switch's error", err)
		}
	})
}
