// Package gpio drives hook switches, buttons and LEDs on the board's GPIO lines through
// periph.io, and opens the I2C bus for chips on it. Lines are addressed by their kernel name
// ("GPIO17"). It knows nothing of handsets or calls: it reports debounced switch positions
// and lights LEDs.
//
// Only the kernel-arbitrated drivers are initialised (GPIO character device and /dev/i2c-N),
// on every board: one code path for Pi 4 and Pi 5, nothing written through /dev/gpiomem or
// /dev/mem, and a line another driver or process holds is refused rather than taken over.
package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	_ "periph.io/x/host/v3/gpioioctl" // GPIO lines through /dev/gpiochipN
	_ "periph.io/x/host/v3/sysfs"     // I2C buses through /dev/i2c-N

	"partyline/hw/gesture"
)

// DefaultDebounce is how long a level must stay stable before a Switch reports it.
const DefaultDebounce = gesture.DefaultDebounce

// pollInterval bounds every WaitForEdge, so ctx is checked and a missed edge is caught.
const pollInterval = 100 * time.Millisecond

// minWait is the shortest WaitForEdge. periph's drivers disagree on 0 and negative timeouts
// (the character-device line waits forever on 0 and not at all on -1, gpiotest the other
// way round), so every wait is positive.
const minWait = time.Millisecond

var (
	initOnce  sync.Once
	initErr   error
	initState *driverreg.State

	ownMu sync.Mutex
	own   = map[gpio.PinIO]bool{} // lines this process has opened: their consumer is us
)

// initPeriph initialises periph's drivers once.
func initPeriph() error {
	initOnce.Do(func() {
		initState, initErr = driverreg.Init()
		if initErr != nil {
			initErr = fmt.Errorf("init periph: %w", initErr)
		}
	})
	return initErr
}

// lookup resolves a line by name and refuses one another consumer holds.
func lookup(name string) (gpio.PinIO, error) {
	if err := initPeriph(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("%s: no such line%s", name, whyNot("ioctl-gpio"))
	}
	line := innermost(p)
	ownMu.Lock()
	defer ownMu.Unlock()
	if !own[line] {
		if err := checkFree(name, line); err != nil {
			return nil, err
		}
		own[line] = true
	}
	return p, nil
}

// whyNot explains, after a lookup failed, why the periph driver called driver did not load,
// if it did not.
func whyNot(driver string) string {
	if initState == nil {
		return ""
	}
	for _, f := range append(initState.Failed, initState.Skipped...) {
		if f.D.String() == driver {
			return " (" + f.String() + ")"
		}
	}
	return ""
}

// A consumed line tells who has requested it from the kernel, as gpioioctl's lines do.
type consumed interface {
	Consumer() string
}

// checkFree returns an error naming the line and its consumer when another driver or
// process has requested it. periph's GPIO character-device lines report the consumer the
// kernel knew when periph started, and this process once it has requested the line, which
// is why lookup does not ask again about a line it has returned. A line another process
// requests later is refused by the kernel with EBUSY when it is configured.
func checkFree(name string, p gpio.PinIO) error {
	if c, ok := p.(consumed); ok {
		if who := c.Consumer(); who != "" {
			return fmt.Errorf("%s: line is in use by %q", name, who)
		}
	}
	return nil
}

// innermost returns the pin behind any aliases of p.
func innermost(p gpio.PinIO) gpio.PinIO {
	for {
		r, ok := p.(gpio.RealPin)
		if !ok {
			return p
		}
		inner := r.Real()
		if inner == p {
			return p
		}
		p = inner
	}
}

// OpenI2C opens the I2C bus called name, as periph names buses: "1", "I2C1" or
// "/dev/i2c-1" ("" is the first bus).
func OpenI2C(name string) (i2c.BusCloser, error) {
	if err := initPeriph(); err != nil {
		return nil, fmt.Errorf("open I2C bus %q: %w", name, err)
	}
	b, err := i2creg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open I2C bus %q: %w%s", name, err, whyNot("sysfs-i2c"))
	}
	return b, nil
}

// A Switch is a debounced two-position input on one GPIO line. It implements hw.Switch.
type Switch struct {
	pin       gpio.PinIn
	activeLow bool

	mu  sync.Mutex // guards deb, and makes one Wait at a time
	deb *gesture.Debouncer
}

// OpenSwitch opens the line called name as a switch input with both edges enabled. With
// activeLow the line is pulled up and a low level means active (contact to ground).
func OpenSwitch(name string, activeLow bool) (*Switch, error) {
	return openSwitch(name, activeLow, DefaultDebounce)
}

// OpenInterrupt opens the line called name as the interrupt input from a chip with an
// open-drain, active-low interrupt output (such as an MCP23017's INT): pulled up, active
// when low, and not debounced, so that every assertion is reported at once.
func OpenInterrupt(name string) (*Switch, error) {
	return openSwitch(name, true, 0)
}

func openSwitch(name string, activeLow bool, debounce time.Duration) (*Switch, error) {
	p, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("open switch %w", err)
	}
	s, err := newSwitch(p, activeLow, debounce)
	if err != nil {
		return nil, fmt.Errorf("open switch %s: %w", name, err)
	}
	return s, nil
}

// NewSwitch configures p as an input (pull-up when activeLow, else pull-down, both edges)
// and returns a Switch reading it with DefaultDebounce.
func NewSwitch(p gpio.PinIn, activeLow bool) (*Switch, error) {
	return newSwitch(p, activeLow, DefaultDebounce)
}

func newSwitch(p gpio.PinIn, activeLow bool, debounce time.Duration) (*Switch, error) {
	pull := gpio.PullDown
	if activeLow {
		pull = gpio.PullUp
	}
	if err := p.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("configure input: %w", err)
	}
	return &Switch{pin: p, activeLow: activeLow, deb: gesture.NewDebouncer(debounce)}, nil
}

func (s *Switch) active() bool {
	return (s.pin.Read() == gpio.High) != s.activeLow
}

// Wait blocks until the switch has been stable for the debounce time in a position other
// than the one it last reported (initially inactive), or until ctx is done. Any edge while
// a position settles starts the debounce time again.
func (s *Switch) Wait(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return s.deb.Level(), err
		}
		now := time.Now()
		s.deb.Sample(now, s.active())
		if active, _, changed := s.deb.Update(now); changed {
			return active, nil
		}
		timeout := pollInterval
		if at, ok := s.deb.Deadline(); ok {
			timeout = min(timeout, at.Sub(now))
		}
		if s.pin.WaitForEdge(max(timeout, minWait)) {
			// Read again after every edge: edges queue up, the level is what counts.
			s.deb.Edge(time.Now(), s.active())
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
