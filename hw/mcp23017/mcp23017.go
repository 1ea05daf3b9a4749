// Package mcp23017 drives the Microchip MCP23017, a 16-bit GPIO expander on I2C, and offers
// its pins as hw.Switch inputs and hw.LED outputs.
//
// The chip is used with IOCON.BANK = 0, so the A and B registers of each kind are neighbours
// (A at the even address) and one transaction reads or writes both; MIRROR = 1, so INTA and
// INTB both signal a change on either port and one interrupt line serves the chip; ODR = 1, so
// INT is open-drain and several chips can share one pulled-up line. Open assumes the chip
// is in BANK 0, as it is after power-up and after any earlier Open.
//
// Pins are numbered 0 to 15: A0 to A7 are GPA0 to GPA7, B0 to B7 are GPB0 to GPB7. In every
// 16-bit value, bit n is pin n.
package mcp23017

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/i2c"
)

// Register addresses with IOCON.BANK = 0; B is the address after A.
const (
	regIODIR   = 0x00 // direction: 1 = input
	regIPOL    = 0x02 // input polarity: 1 = GPIO reads the inverted level
	regGPINTEN = 0x04 // interrupt on change enabled
	regDEFVAL  = 0x06 // compare value for INTCON = 1
	regINTCON  = 0x08 // 1 = compare with DEFVAL, 0 = with the previous level
	regIOCON   = 0x0A // configuration (one register, mirrored at 0x0B)
	regGPPU    = 0x0C // 100 kΩ pull-up
	regINTF    = 0x0E // pins that caused the interrupt (read-only)
	regINTCAP  = 0x10 // levels when the interrupt happened (read-only; reading clears it)
	regGPIO    = 0x12 // levels (reading clears the interrupt; writing writes OLAT)
	regOLAT    = 0x14 // output latches
)

// IOCON bits Open sets. The others stay 0: BANK (0x80) for paired registers, SEQOP (0x20)
// for an address that increments within a transaction, INTPOL (0x02) unused with ODR.
const (
	ioconMIRROR = 0x40 // INTA and INTB internally connected
	ioconODR    = 0x04 // INT open-drain
)

// iocon is the configuration Open writes.
const iocon = ioconMIRROR | ioconODR

var regNames = map[byte]string{
	regIODIR: "IODIR", regIPOL: "IPOL", regGPINTEN: "GPINTEN", regDEFVAL: "DEFVAL",
	regINTCON: "INTCON", regIOCON: "IOCON", regGPPU: "GPPU", regINTF: "INTF",
	regINTCAP: "INTCAP", regGPIO: "GPIO", regOLAT: "OLAT",
}

// A Pin is one of the chip's 16 pins: A0 to A7 (GPA0-7) are 0 to 7, B0 to B7 (GPB0-7) are
// 8 to 15.
type Pin uint8

// The pins.
const (
	A0 Pin = iota
	A1
	A2
	A3
	A4
	A5
	A6
	A7
	B0
	B1
	B2
	B3
	B4
	B5
	B6
	B7
)

// String returns the pin's name, e.g. "B3".
func (p Pin) String() string {
	if p > B7 {
		return fmt.Sprintf("Pin(%d)", uint8(p))
	}
	return fmt.Sprintf("%c%d", "AB"[p/8], p%8)
}

// ParsePin returns the pin called s, "A0" to "B7" (or "GPA0" to "GPB7").
func ParsePin(s string) (Pin, error) {
	name := s
	if len(name) == 4 && name[:2] == "GP" {
		name = name[2:]
	}
	if len(name) != 2 || (name[0] != 'A' && name[0] != 'B') || name[1] < '0' || name[1] > '7' {
		return 0, fmt.Errorf("mcp23017: no pin %q (want A0 to B7)", s)
	}
	return Pin((name[0]-'A')*8 + name[1] - '0'), nil
}

func (p Pin) mask() uint16 { return 1 << p }

// An Interrupt is when a pin's change raises the chip's interrupt output.
type Interrupt uint8

// The interrupt modes.
const (
	NoInterrupt Interrupt = iota // never
	OnChange                     // when the level differs from the one last read
	WhileLow                     // while the level is low (DEFVAL 1)
	WhileHigh                    // while the level is high (DEFVAL 0)
)

// A Dev is one MCP23017. Its methods may be called from several goroutines. It keeps a
// copy of the registers it writes, so that changing one pin writes only that register
// pair, and only when the value changes.
type Dev struct {
	bus  i2c.Bus
	addr uint16

	mu                                         sync.Mutex // guards following and bus transactions
	iodir, ipol, gpinten, defval, intcon, gppu uint16
	olat                                       uint16

	in inputs
}

// Open sets up the chip at addr (0x20 to 0x27) on bus: IOCON (see the package comment),
// every output latch low, every pin an input without pull-up, inversion or interrupt.
func Open(bus i2c.Bus, addr uint16) (*Dev, error) {
	if addr < 0x20 || addr > 0x27 {
		return nil, fmt.Errorf("mcp23017: address %#x is outside 0x20 to 0x27", addr)
	}
	d := &Dev{bus: bus, addr: addr, iodir: 0xFFFF}
	d.in.init()
	writes := []struct {
		reg  byte
		data []byte
	}{
		{regIOCON, []byte{iocon}},
		{regOLAT, []byte{0, 0}}, // before any pin can be an output
		// IODIR (all inputs), IPOL, GPINTEN, DEFVAL, INTCON in one sequential write.
		{regIODIR, []byte{0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}},
		{regGPPU, []byte{0, 0}},
	}
	for _, w := range writes {
		if err := d.tx(w.reg, w.data, nil); err != nil {
			return nil, fmt.Errorf("open %w", err)
		}
	}
	return d, nil
}

// String names the chip, e.g. "mcp23017@0x20".
func (d *Dev) String() string { return fmt.Sprintf("mcp23017@%#x", d.addr) }

// tx writes data to, or reads r from, the registers from reg on.
func (d *Dev) tx(reg byte, data, r []byte) error {
	if err := d.bus.Tx(d.addr, append([]byte{reg}, data...), r); err != nil {
		op := "write"
		if len(r) > 0 {
			op = "read"
		}
		return fmt.Errorf("%v: %s %s: %w", d, op, regNames[reg], err)
	}
	return nil
}

// set sets or clears the bit of p in the register pair at reg, through its copy *shadow; it
// writes only if that changes the value. d.mu must be held.
func (d *Dev) set(reg byte, shadow *uint16, p Pin, on bool) error {
	next := *shadow &^ p.mask()
	if on {
		next |= p.mask()
	}
	if next == *shadow {
		return nil
	}
	if err := d.tx(reg, []byte{byte(next), byte(next >> 8)}, nil); err != nil {
		return err
	}
	*shadow = next
	return nil
}

func checkPin(p Pin) error {
	if p > B7 {
		return fmt.Errorf("mcp23017: no %v", p)
	}
	return nil
}

// SetInput makes p an input, with the internal 100 kΩ pull-up if pullUp.
func (d *Dev) SetInput(p Pin, pullUp bool) error {
	if err := checkPin(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.set(regGPPU, &d.gppu, p, pullUp); err != nil {
		return fmt.Errorf("set %v input: %w", p, err)
	}
	if err := d.set(regIODIR, &d.iodir, p, true); err != nil {
		return fmt.Errorf("set %v input: %w", p, err)
	}
	return nil
}

// SetOutput makes p an output driving high or low: the latch is set before the direction,
// so that the pin never shows the old latch.
func (d *Dev) SetOutput(p Pin, high bool) error {
	if err := checkPin(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.set(regOLAT, &d.olat, p, high); err != nil {
		return fmt.Errorf("set %v output: %w", p, err)
	}
	if err := d.set(regIODIR, &d.iodir, p, false); err != nil {
		return fmt.Errorf("set %v output: %w", p, err)
	}
	return nil
}

// SetInverted makes GPIO and INTCAP report p's level inverted, or not.
func (d *Dev) SetInverted(p Pin, inverted bool) error {
	if err := checkPin(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.set(regIPOL, &d.ipol, p, inverted); err != nil {
		return fmt.Errorf("set %v polarity: %w", p, err)
	}
	return nil
}

// SetInterrupt sets when p raises the interrupt output. For WhileLow and WhileHigh, DEFVAL
// and INTCON are set before GPINTEN enables it, so no interrupt comes from a half-set pin.
func (d *Dev) SetInterrupt(p Pin, mode Interrupt) error {
	if err := checkPin(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.setInterrupt(p, mode); err != nil {
		return fmt.Errorf("set %v interrupt: %w", p, err)
	}
	return nil
}

func (d *Dev) setInterrupt(p Pin, mode Interrupt) error {
	switch mode {
	case NoInterrupt:
		return d.set(regGPINTEN, &d.gpinten, p, false)
	case OnChange:
		if err := d.set(regINTCON, &d.intcon, p, false); err != nil {
			return err
		}
	case WhileLow, WhileHigh:
		if err := d.set(regDEFVAL, &d.defval, p, mode == WhileLow); err != nil {
			return err
		}
		if err := d.set(regINTCON, &d.intcon, p, true); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown interrupt mode %d", mode)
	}
	return d.set(regGPINTEN, &d.gpinten, p, true)
}

// Read returns the levels of all pins (GPIOA, GPIOB), inverted where SetInverted says.
// Reading clears a pending interrupt.
func (d *Dev) Read() (uint16, error) {
	var r [2]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tx(regGPIO, nil, r[:]); err != nil {
		return 0, err
	}
	return uint16(r[0]) | uint16(r[1])<<8, nil
}

// Out drives output p high or low (OLAT).
func (d *Dev) Out(p Pin, high bool) error {
	if err := checkPin(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.set(regOLAT, &d.olat, p, high); err != nil {
		return fmt.Errorf("set %v: %w", p, err)
	}
	return nil
}

// Interrupts returns the pins that caused the pending interrupt (INTF) and the levels
// captured when it happened (INTCAP), and clears it.
func (d *Dev) Interrupts() (flags, captured uint16, err error) {
	var r [4]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tx(regINTF, nil, r[:]); err != nil {
		return 0, 0, err
	}
	return uint16(r[0]) | uint16(r[1])<<8, uint16(r[2]) | uint16(r[3])<<8, nil
}

// sample reads INTF, INTCAP and GPIO in one transaction: the pins that changed since the
// last sample (those with interrupts enabled) and the levels now. It clears the interrupt.
func (d *Dev) sample() (changed, levels uint16, err error) {
	var r [6]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tx(regINTF, nil, r[:]); err != nil {
		return 0, 0, err
	}
	return uint16(r[0]) | uint16(r[1])<<8, uint16(r[4]) | uint16(r[5])<<8, nil
}

// An LED is an output pin lit when high. It implements hw.LED.
type LED struct {
	dev *Dev
	pin Pin
}

// LED makes p an output, low, and returns it as a light.
func (d *Dev) LED(p Pin) (*LED, error) {
	if err := d.SetOutput(p, false); err != nil {
		return nil, fmt.Errorf("open LED: %w", err)
	}
	return &LED{dev: d, pin: p}, nil
}

// Set switches the light on or off.
func (l *LED) Set(on bool) error {
	if err := l.dev.Out(l.pin, on); err != nil {
		return fmt.Errorf("set LED: %w", err)
	}
	return nil
}

// Halt switches the light off.
func (l *LED) Halt() error { return l.Set(false) }
