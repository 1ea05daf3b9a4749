// Package led drives an indicator light in a pattern (on, off, slow, fast, double or triple
// blink, wink, slow flash) on any hw.LED. It knows nothing of what the patterns mean.
package led

import (
	"context"
	"strconv"
	"sync"
	"time"

	"partyline/hw"
)

// A Pattern is a way of lighting an LED.
type Pattern int

// The patterns an Indicator shows.
const (
	Off         Pattern = iota // dark
	On                         // lit
	SlowBlink                  // 1 Hz: 500 ms on, 500 ms off
	FastBlink                  // 4 Hz: 125 ms on, 125 ms off
	DoubleBlink                // two 100 ms flashes per second
	Wink                       // lit, dark for 150 ms every second
	SlowFlash                  // dark, lit for 200 ms every 1.5 s
	TripleBlink                // three 100 ms flashes every 1.6 s
	Ringing                    // a fast double flash twice a second: 60 ms on, 60 off, 60 on, 320 off
)

// String returns the pattern's name, e.g. "slow blink".
func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case On:
		return "on"
	case SlowBlink:
		return "slow blink"
	case FastBlink:
		return "fast blink"
	case DoubleBlink:
		return "double blink"
	case Wink:
		return "wink"
	case SlowFlash:
		return "slow flash"
	case TripleBlink:
		return "triple blink"
	case Ringing:
		return "ringing"
	}
	return "pattern(" + strconv.Itoa(int(p)) + ")"
}

// step is one part of a pattern: the light on or off for d.
type step struct {
	on bool
	d  time.Duration
}

// steps returns the pattern's repeating cycle; a single step with d = 0 is a steady state.
func (p Pattern) steps() []step {
	switch p {
	case On:
		return []step{{true, 0}}
	case SlowBlink:
		return []step{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}
	case FastBlink:
		return []step{{true, 125 * time.Millisecond}, {false, 125 * time.Millisecond}}
	case DoubleBlink:
		return []step{
			{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond},
			{true, 100 * time.Millisecond}, {false, 700 * time.Millisecond},
		}
	case Wink:
		return []step{{true, 850 * time.Millisecond}, {false, 150 * time.Millisecond}}
	case SlowFlash:
		return []step{{true, 200 * time.Millisecond}, {false, 1300 * time.Millisecond}}
	case TripleBlink:
		return []step{
			{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond},
			{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond},
			{true, 100 * time.Millisecond}, {false, 1100 * time.Millisecond},
		}
	case Ringing:
		return []step{
			{true, 60 * time.Millisecond}, {false, 60 * time.Millisecond},
			{true, 60 * time.Millisecond}, {false, 320 * time.Millisecond},
		}
	}
	return []step{{false, 0}}
}

// An Indicator shows a Pattern on an LED. Its zero value is not usable; call New.
type Indicator struct {
	led hw.LED

	mu      sync.Mutex // guards following
	pattern Pattern
	changed chan struct{} // closed and replaced by Set
}

// New returns an Indicator for l showing Off. Nothing is lit until Run.
func New(l hw.LED) *Indicator {
	return &Indicator{led: l, changed: make(chan struct{})}
}

// Set changes the pattern; a running Indicator starts the new pattern at once from its
// beginning. Setting the pattern already shown does not restart it. Safe from any goroutine.
func (ind *Indicator) Set(p Pattern) {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	if p == ind.pattern {
		return
	}
	ind.pattern = p
	close(ind.changed)
	ind.changed = make(chan struct{})
}

// Pattern returns the pattern last set.
func (ind *Indicator) Pattern() Pattern {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	return ind.pattern
}

func (ind *Indicator) current() (Pattern, <-chan struct{}) {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	return ind.pattern, ind.changed
}

// Run drives the LED until ctx is done, then switches it off and returns nil. Errors from
// the LED are not fatal: the next step tries again; the last one is returned only if
// switching off fails.
func (ind *Indicator) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		p, changed := ind.current()
		steps := p.steps()
	cycle:
		for i := 0; ; i = (i + 1) % len(steps) {
			s := steps[i]
			_ = ind.led.Set(s.on) // a failed step is retried by the next one
			var tick <-chan time.Time
			if s.d > 0 {
				timer.Reset(s.d)
				tick = timer.C
			}
			select {
			case <-ctx.Done():
				return ind.led.Set(false)
			case <-changed:
				timer.Stop()
				break cycle
			case <-tick:
			}
		}
	}
}
