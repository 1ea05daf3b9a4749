package gesture

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// A Gesture is something the user did with a hook switch or a button.
type Gesture int

// The gestures. A hook switch makes the first three, a button the last two.
const (
	OffHook    Gesture = iota + 1 // the handset was lifted
	OnHook                        // the handset was hung up: on-hook for longer than the flash maximum
	Flash                         // the hook was pressed briefly: on-hook between flash minimum and maximum
	ShortPress                    // a button was pressed and released before the long-press time
	LongPress                     // a button has been held for the long-press time (still held)
)

var gestureNames = map[Gesture]string{
	OffHook:    "off-hook",
	OnHook:     "on-hook",
	Flash:      "flash",
	ShortPress: "short-press",
	LongPress:  "long-press",
}

// String returns the gesture's name as ParseGesture reads it, e.g. "long-press".
func (g Gesture) String() string {
	if s, ok := gestureNames[g]; ok {
		return s
	}
	return "gesture(" + strconv.Itoa(int(g)) + ")"
}

// Gestures returns every gesture, in the order of their values.
func Gestures() []Gesture { return slices.Sorted(maps.Keys(gestureNames)) }

// ParseGesture returns the gesture called s, as String writes it.
func ParseGesture(s string) (Gesture, error) {
	for g, name := range gestureNames {
		if name == s {
			return g, nil
		}
	}
	return 0, fmt.Errorf("unknown gesture %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (g Gesture) MarshalText() ([]byte, error) {
	if _, ok := gestureNames[g]; !ok {
		return nil, fmt.Errorf("marshal %v: not a gesture", g)
	}
	return []byte(g.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *Gesture) UnmarshalText(text []byte) error {
	v, err := ParseGesture(string(text))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// hook reports whether the gesture is one a hook switch makes.
func (g Gesture) hook() bool { return g == OffHook || g == OnHook || g == Flash }

// An Event is a gesture and the time it became certain: for OnHook the flash maximum after
// the handset went down, for LongPress the long-press time after the button went down, for
// the others the debounce time after the line's last change.
type Event struct {
	Gesture Gesture
	At      time.Time
}

// Limits of the configurable times.
const (
	MaxDebounce  = 200 * time.Millisecond
	MinFlash     = 25 * time.Millisecond   // shortest flash minimum or maximum
	MaxFlash     = 1600 * time.Millisecond // longest flash minimum or maximum
	MinLongPress = 200 * time.Millisecond
	MaxLongPress = 10 * time.Second
)

// HookConfig are the times of a hook switch.
type HookConfig struct {
	Debounce time.Duration // a level counts once stable this long; 0 for a line debounced already
	FlashMin time.Duration // an on-hook shorter than this is a glitch and ignored
	FlashMax time.Duration // an on-hook this long is a hang-up; a shorter one is a flash
}

// DefaultHook is the usual hook timing: 30 ms debounce, flashes from 100 to 700 ms.
func DefaultHook() HookConfig {
	return HookConfig{Debounce: DefaultDebounce, FlashMin: 100 * time.Millisecond, FlashMax: 700 * time.Millisecond}
}

// Validate reports every time that is out of range or inconsistent with another.
func (c HookConfig) Validate() error {
	var errs []error
	errs = append(errs, checkDebounce(c.Debounce))
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"flash minimum", c.FlashMin}, {"flash maximum", c.FlashMax}} {
		if f.d < MinFlash || f.d > MaxFlash {
			errs = append(errs, fmt.Errorf("%s %v is outside %v to %v", f.name, f.d, MinFlash, MaxFlash))
		}
	}
	if c.FlashMin >= c.FlashMax {
		errs = append(errs, fmt.Errorf("flash minimum %v is not shorter than flash maximum %v", c.FlashMin, c.FlashMax))
	}
	if c.Debounce >= c.FlashMin {
		errs = append(errs, fmt.Errorf("debounce %v is not shorter than flash minimum %v", c.Debounce, c.FlashMin))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hook config: %w", err)
	}
	return nil
}

// ButtonConfig are the times of a push button.
type ButtonConfig struct {
	Debounce  time.Duration // a level counts once stable this long; 0 for a line debounced already
	LongPress time.Duration // held this long, a press is a long press
}

// DefaultButton is the usual button timing: 30 ms debounce, long press from 800 ms.
func DefaultButton() ButtonConfig {
	return ButtonConfig{Debounce: DefaultDebounce, LongPress: 800 * time.Millisecond}
}

// Validate reports every time that is out of range or inconsistent with another.
func (c ButtonConfig) Validate() error {
	var errs []error
	errs = append(errs, checkDebounce(c.Debounce))
	if c.LongPress < MinLongPress || c.LongPress > MaxLongPress {
		errs = append(errs, fmt.Errorf("long press %v is outside %v to %v", c.LongPress, MinLongPress, MaxLongPress))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("button config: %w", err)
	}
	return nil
}

func checkDebounce(d time.Duration) error {
	if d < 0 || d > MaxDebounce {
		return fmt.Errorf("debounce %v is outside 0 to %v", d, MaxDebounce)
	}
	return nil
}

// A Machine turns the level changes of one line into gestures. *Hook and *Button are
// machines. The times given to a machine must not go backwards. A Machine is not safe for
// concurrent use.
type Machine interface {
	// Input records that the line changed (at least once) at time at and is now active or
	// not (active: off-hook, pressed). It returns the gestures that became certain up to at.
	Input(at time.Time, active bool) []Event
	// Advance returns the gestures that became certain by now without further input.
	Advance(now time.Time) []Event
	// Deadline reports the next time Advance may return a gesture if nothing is input.
	Deadline() (time.Time, bool)
}

// machine is the engine of Hook and Button: a debouncer and one timeout (the flash maximum
// or the long-press time), processed in time order. A timeout waits while a level change
// that began before it is settling, so that a gesture is decided by when the line changed,
// not by when the change was confirmed.
type machine struct {
	deb     Debouncer
	last    time.Time // of the last input
	timer   time.Time // when the timeout expires
	armed   bool      // timer is running
	settled func(active bool, began, at time.Time) []Event
	expired func(at time.Time) []Event
}

func (m *machine) Input(at time.Time, active bool) []Event {
	evs := m.Advance(at)
	m.last = at
	m.deb.Edge(at, active)
	return append(evs, m.Advance(at)...)
}

func (m *machine) Advance(now time.Time) []Event {
	var evs []Event
	for {
		if m.armed && !m.held() && !m.timer.After(now) {
			m.armed = false
			at := m.timer
			if m.last.After(at) {
				at = m.last // a settling change held it: certain only since the change was undone
			}
			evs = append(evs, m.expired(at)...)
			continue
		}
		if at, ok := m.deb.Deadline(); ok && !at.After(now) {
			active, began, _ := m.deb.Update(at)
			evs = append(evs, m.settled(active, began, at)...)
			continue
		}
		return evs
	}
}

func (m *machine) Deadline() (time.Time, bool) {
	next, ok := m.deb.Deadline()
	if m.armed && !m.held() && (!ok || m.timer.Before(next)) {
		return m.timer, true
	}
	return next, ok
}

// held reports whether the timeout waits for a change that began before it to settle.
func (m *machine) held() bool {
	since, ok := m.deb.pending()
	return ok && since.Before(m.timer)
}

func (m *machine) arm(at time.Time) { m.timer, m.armed = at, true }

// A Hook classifies a hook switch: OffHook when the handset is lifted, Flash for an on-hook
// of at least FlashMin and less than FlashMax (reported when the handset is back off-hook),
// nothing for an on-hook shorter than FlashMin, and OnHook for one of FlashMax or longer.
// Because a hang-up is only certain once FlashMax has passed, OnHook comes FlashMax after
// the handset went down (700 ms by default): that is the hang-up latency. The times are
// those of the line's changes, so the debounce delays reports but does not shift the
// windows. A Hook starts on-hook and implements Machine.
type Hook struct {
	m    machine
	cfg  HookConfig
	down time.Time // when the current on-hook began
}

// NewHook returns a Hook with the times of c.
func NewHook(c HookConfig) (*Hook, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h := &Hook{cfg: c}
	h.m = machine{deb: Debouncer{wait: c.Debounce}, settled: h.settled, expired: h.expired}
	return h, nil
}

// Input implements Machine.
func (h *Hook) Input(at time.Time, active bool) []Event { return h.m.Input(at, active) }

// Advance implements Machine.
func (h *Hook) Advance(now time.Time) []Event { return h.m.Advance(now) }

// Deadline implements Machine.
func (h *Hook) Deadline() (time.Time, bool) { return h.m.Deadline() }

func (h *Hook) settled(offHook bool, began, at time.Time) []Event {
	if !offHook {
		h.down = began
		h.m.arm(began.Add(h.cfg.FlashMax))
		return nil
	}
	if !h.m.armed {
		return []Event{{OffHook, at}}
	}
	h.m.armed = false
	if began.Sub(h.down) < h.cfg.FlashMin {
		return nil // a glitch
	}
	return []Event{{Flash, at}}
}

func (h *Hook) expired(at time.Time) []Event { return []Event{{OnHook, at}} }

// A Button classifies a push button: LongPress as soon as it has been held for the
// long-press time, ShortPress when it is released before that; so a short press is reported
// on release, the debounce time after it. A Button starts released and implements Machine.
type Button struct {
	m   machine
	cfg ButtonConfig
}

// NewButton returns a Button with the times of c.
func NewButton(c ButtonConfig) (*Button, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := &Button{cfg: c}
	b.m = machine{deb: Debouncer{wait: c.Debounce}, settled: b.settled, expired: b.expired}
	return b, nil
}

// Input implements Machine.
func (b *Button) Input(at time.Time, active bool) []Event { return b.m.Input(at, active) }

// Advance implements Machine.
func (b *Button) Advance(now time.Time) []Event { return b.m.Advance(now) }

// Deadline implements Machine.
func (b *Button) Deadline() (time.Time, bool) { return b.m.Deadline() }

func (b *Button) settled(pressed bool, began, at time.Time) []Event {
	if pressed {
		b.m.arm(began.Add(b.cfg.LongPress))
		return nil
	}
	if !b.m.armed {
		return nil // released after a long press
	}
	b.m.armed = false
	return []Event{{ShortPress, at}}
}

func (b *Button) expired(at time.Time) []Event { return []Event{{LongPress, at}} }
