package mcp23017

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// chip is a register model of an MCP23017 (BANK 0, sequential addressing) with
// interrupt-on-change against the previous level, for tests that run a while. Its INT
// output drives intr.
type chip struct {
	mu   sync.Mutex
	regs [0x16]byte
	pins uint16 // the levels outside, on inputs
	fail error  // when set, every transaction fails with it
	intr *level
}

func newChip() *chip {
	c := &chip{pins: 0xFFFF, intr: newLevel()}
	c.regs[regIODIR], c.regs[regIODIR+1] = 0xFF, 0xFF
	return c
}

func (c *chip) String() string                  { return "chip" }
func (c *chip) SetSpeed(physic.Frequency) error { return nil }

func (c *chip) reg16(r byte) uint16 { return uint16(c.regs[r]) | uint16(c.regs[r+1])<<8 }

func (c *chip) Tx(a uint16, w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	if a != addr || len(w) == 0 {
		return errors.New("chip: bad transaction")
	}
	p := w[0]
	for _, b := range w[1:] {
		switch p {
		case regINTF, regINTF + 1, regINTCAP, regINTCAP + 1: // read-only
		case regGPIO, regGPIO + 1:
			c.regs[p+regOLAT-regGPIO] = b
		default:
			c.regs[p] = b
		}
		p = (p + 1) % byte(len(c.regs))
	}
	for i := range r {
		switch p {
		case regGPIO, regGPIO + 1:
			port := uint(p - regGPIO)
			in := byte(c.pins>>(8*port)) & c.regs[regIODIR+port]
			out := c.regs[regOLAT+port] &^ c.regs[regIODIR+port]
			r[i] = (in ^ c.regs[regIPOL+port]&c.regs[regIODIR+port]) | out
			c.regs[regINTF+port] = 0
		case regINTCAP, regINTCAP + 1:
			r[i] = c.regs[p]
			c.regs[regINTF+p-regINTCAP] = 0
		default:
			r[i] = c.regs[p]
		}
		p = (p + 1) % byte(len(c.regs))
	}
	c.intr.set(c.reg16(regINTF) != 0)
	return nil
}

// set moves input pin p outside, raising the interrupt if it is enabled and not pending.
func (c *chip) set(p Pin, high bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.pins
	c.pins = c.pins&^p.mask() | map[bool]uint16{true: p.mask()}[high]
	if old != c.pins && c.reg16(regGPINTEN)&p.mask() != 0 {
		port := uint(p / 8)
		if c.regs[regINTF+port] == 0 {
			c.regs[regINTCAP+port] = byte(c.pins >> (8 * port))
		}
		c.regs[regINTF+port] |= byte(p.mask() >> (8 * port))
	}
	c.intr.set(c.reg16(regINTF) != 0)
}

// level is a hw.Switch that follows a level set by the test (here: INT asserted), for one
// waiting goroutine.
type level struct {
	mu       sync.Mutex
	now      bool
	reported bool
	changed  chan struct{}
}

func newLevel() *level { return &level{changed: make(chan struct{})} }

func (l *level) set(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v != l.now {
		l.now = v
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

func (l *level) Wait(ctx context.Context) (bool, error) {
	for {
		l.mu.Lock()
		if l.now != l.reported {
			l.reported = l.now
			l.mu.Unlock()
			return l.reported, nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

type report struct {
	active bool
	err    error
	at     time.Time
}

// waits calls s.Wait over and over and sends what it reports, until ctx is done.
func waits(ctx context.Context, s *Switch) <-chan report {
	ch := make(chan report, 16)
	go func() {
		for {
			a, err := s.Wait(ctx)
			ch <- report{a, err, time.Now()}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func nothing(t *testing.T, ch <-chan report) {
	t.Helper()
	select {
	case r := <-ch:
		t.Errorf("reported %+v, want nothing", r)
	default:
	}
}

// setup opens a Dev on a fresh chip model (recorded), with a switch on A0, and runs it,
// woken by the model's INT line if interrupt.
func setup(t *testing.T, interrupt bool) (*chip, *i2ctest.Record, *Dev, *Switch, context.CancelFunc, <-chan error) {
	t.Helper()
	model := newChip()
	rec := &i2ctest.Record{Bus: model}
	d, err := Open(rec, addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Switch(A0, true)
	if err != nil {
		t.Fatal(err)
	}
	var c WatchConfig
	if interrupt {
		c.Interrupt = model.intr
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, c) }()
	synctest.Wait()
	return model, rec, d, s, cancel, done
}

func TestSwitchPolled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model, rec, _, s, cancel, done := setup(t, false)
		got := waits(t.Context(), s)
		time.Sleep(time.Second + 5*time.Millisecond)
		synctest.Wait()
		nothing(t, got)
		samples := 0
		for _, op := range rec.Ops {
			if len(op.W) == 1 && op.W[0] == regINTF && len(op.R) == 6 {
				samples++
			}
		}
		if samples != 101 { // at 0, 10, ..., 1000 ms
			t.Errorf("%d samples in a second, want 101 (every %v)", samples, DefaultPoll)
		}

		press := time.Now()
		model.set(A0, false) // pressed: contact to ground
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		r := <-got
		// First seen by the sample at 1010 ms; stable 30 ms later.
		if !r.active || r.err != nil || r.at.Sub(press) != 35*time.Millisecond {
			t.Errorf("press reported %+v after %v, want active after 35ms", r, r.at.Sub(press))
		}

		// A bounce between two samples: back to pressed by the next one, but INTF shows it.
		model.set(A0, true)
		time.Sleep(time.Millisecond)
		model.set(A0, false)
		time.Sleep(time.Second)
		synctest.Wait()
		nothing(t, got)

		// Release, bouncing across samples: reported once, 30 ms after the last bounce was seen.
		model.set(A0, true)
		time.Sleep(12 * time.Millisecond)
		model.set(A0, false)
		time.Sleep(12 * time.Millisecond)
		model.set(A0, true)
		time.Sleep(time.Second)
		synctest.Wait()
		if r := <-got; r.active || r.err != nil {
			t.Errorf("release reported %+v, want inactive", r)
		}
		nothing(t, got)

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want %v", err, context.Canceled)
		}
		synctest.Wait()
		r = <-got
		if r.err == nil || r.err.Error() != "mcp23017@0x20: inputs not watched: context canceled" {
			t.Errorf("Wait after Run = %+v, want it to fail", r)
		}
	})
}

func TestSwitchWokenByInterrupt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model, rec, _, s, cancel, done := setup(t, true)
		got := waits(t.Context(), s)
		time.Sleep(time.Second)
		synctest.Wait()
		nothing(t, got)
		if n := len(rec.Ops); n != 4+2+5 { // Open, Switch (GPPU, GPINTEN), samples at 0, 250, ..., 1000 ms
			t.Errorf("%d transactions in a second, want 11", n)
		}

		press := time.Now()
		model.set(A0, false)
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		// Sampled at once on the interrupt, confirmed by a sample asked for 30 ms later.
		if r := <-got; !r.active || r.err != nil || r.at.Sub(press) != 30*time.Millisecond {
			t.Errorf("press reported %+v after %v, want active after exactly 30ms", r, r.at.Sub(press))
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want %v", err, context.Canceled)
		}
	})
}

func TestRunErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model, _, d, s, cancel, done := setup(t, false)
		defer cancel()
		if err := d.Run(t.Context(), WatchConfig{}); err == nil || !strings.Contains(err.Error(), "watched already") {
			t.Errorf("second Run = %v, want it refused", err)
		}
		got := waits(t.Context(), s)
		model.mu.Lock()
		model.fail = errors.New("nack")
		model.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		const want = "sample inputs: mcp23017@0x20: read INTF: nack"
		if err := <-done; err == nil || err.Error() != want {
			t.Errorf("Run = %v, want %q", err, want)
		}
		if r := <-got; r.err == nil || !strings.HasSuffix(r.err.Error(), "inputs not watched: "+want) {
			t.Errorf("Wait = %+v, want Run's error", r)
		}
		if err := d.Run(t.Context(), WatchConfig{Poll: -time.Second}); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Run(negative poll) = %v", err)
		}
	})
}

func TestInterruptLineError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err := Open(newChip(), addr)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Run(t.Context(), WatchConfig{Interrupt: brokenLine{}})
		if err == nil || err.Error() != "mcp23017@0x20: interrupt line: line gone" {
			t.Errorf("Run = %v, want the interrupt line's error", err)
		}
	})
}

type brokenLine struct{}

func (brokenLine) Wait(context.Context) (bool, error) { return false, errors.New("line gone") }
