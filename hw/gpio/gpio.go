// Package gpio drives hook switches, buttons and LEDs on the board's GPIO lines through
// periph.io. Lines are addressed by their kernel name ("GPIO17"). It knows nothing of
// handsets or calls: it reports debounced switch positions and lights LEDs.
package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// DefaultDebounce is how long a level must stay stable before a Switch reports it.
const DefaultDebounce = 30 * time.Millisecond

// pollInterval bounds every WaitForEdge, so ctx is checked and a missed edge is caught.
const pollInterval = 100 * time.Millisecond

var (
	initOnce sync.Once
	initErr  error
)

// lookup initialises periph once and resolves a line by name.
func lookup(name string) (gpio.PinIO, error) {
	initOnce.Do(func() { _, initErr = host.Init() })
	if initErr != nil {
		return nil, fmt.Errorf("%s: init periph: %w", name, initErr)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("%s: no such line", name)
	}
	return p, nil
}

// A Switch is a debounced two-position input on one GPIO line. It implements hw.Switch.
type Switch struct {
	pin       gpio.PinIn
	activeLow bool
	debounce  time.Duration

	mu       sync.Mutex // guards following
	reported bool
}

// OpenSwitch opens the line called name as a switch input with both edges enabled. With
// activeLow the line is pulled up and a low level means active (contact to ground).
func OpenSwitch(name string, activeLow bool) (*Switch, error) {
	p, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("open switch %w", err)
	}
	s, err := NewSwitch(p, activeLow)
	if err != nil {
		return nil, fmt.Errorf("open switch %s: %w", name, err)
	}
	return s, nil
}

// NewSwitch configures p as an input (pull-up when activeLow, else pull-down, both edges)
// and returns a Switch reading it with DefaultDebounce.
func NewSwitch(p gpio.PinIn, activeLow bool) (*Switch, error) {
	pull := gpio.PullDown
	if activeLow {
		pull = gpio.PullUp
	}
	if err := p.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("configure input: %w", err)
	}
	return &Switch{pin: p, activeLow: activeLow, debounce: DefaultDebounce}, nil
}

func (s *Switch) active() bool {
	return (s.pin.Read() == gpio.High) != s.activeLow
}

// Wait blocks until the switch has been stable for the debounce time in a position other
// than the one it last reported (initially inactive), or until ctx is done.
func (s *Switch) Wait(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		pending bool // a change is being debounced
		since   time.Time
	)
	for {
		if err := ctx.Err(); err != nil {
			return s.reported, err
		}
		now := time.Now()
		if s.active() == s.reported {
			pending = false
		} else if !pending {
			pending, since = true, now
		}
		timeout := pollInterval
		if pending {
			left := s.debounce - now.Sub(since)
			if left <= 0 {
				s.reported = !s.reported
				return s.reported, nil
			}
			timeout = min(timeout, left)
		}
		if s.pin.WaitForEdge(timeout) && pending {
			// Any edge during the window restarts it: the level was not stable.
			pending = false
		}
	}
}

// An LED is one indicator light on a GPIO line, lit when the line is high. It implements
// hw.LED.
type LED struct {
	pin gpio.PinOut
}

// OpenLED opens the line called name as an output, initially off.
func OpenLED(name string) (*LED, error) {
	p, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("open LED %w", err)
	}
	l := NewLED(p)
	if err := l.Set(false); err != nil {
		return nil, fmt.Errorf("open LED %s: %w", name, err)
	}
	return l, nil
}

// NewLED returns an LED driving p.
func NewLED(p gpio.PinOut) *LED { return &LED{pin: p} }

// Set switches the light on or off.
func (l *LED) Set(on bool) error {
	if err := l.pin.Out(gpio.Level(on)); err != nil {
		return fmt.Errorf("set LED: %w", err)
	}
	return nil
}

// Halt switches the light off and releases the line.
func (l *LED) Halt() error {
	if err := l.Set(false); err != nil {
		return err
	}
	if h, ok := l.pin.(interface{ Halt() error }); ok {
		if err := h.Halt(); err != nil {
			return fmt.Errorf("halt LED: %w", err)
		}
	}
	return nil
}
