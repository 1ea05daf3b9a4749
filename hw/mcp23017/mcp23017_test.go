package mcp23017

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

const addr = 0x20

// openOps is the register traffic of Open.
var openOps = []i2ctest.IO{
	{Addr: addr, W: []byte{0x0A, 0x44}},                               // IOCON: MIRROR | ODR, BANK 0, SEQOP 0
	{Addr: addr, W: []byte{0x14, 0x00, 0x00}},                         // OLATA/B low
	{Addr: addr, W: []byte{0x00, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}}, // IODIR inputs; IPOL, GPINTEN, DEFVAL, INTCON 0
	{Addr: addr, W: []byte{0x0C, 0x00, 0x00}},                         // GPPUA/B off
}

func playback(ops ...i2ctest.IO) *i2ctest.Playback {
	return &i2ctest.Playback{Ops: append(append([]i2ctest.IO(nil), openOps...), ops...), DontPanic: true}
}

func TestOpen(t *testing.T) {
	bus := playback()
	d, err := Open(bus, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
	if d.String() != "mcp23017@0x20" {
		t.Errorf("String = %q", d)
	}
	for _, a := range []uint16{0x1F, 0x28, 0x48} {
		if _, err := Open(&i2ctest.Playback{DontPanic: true}, a); err == nil || !strings.Contains(err.Error(), "outside 0x20 to 0x27") {
			t.Errorf("Open(%#x) error = %v, want the address refused", a, err)
		}
	}
}

func TestPinConfiguration(t *testing.T) {
	bus := playback(
		// SetInput(A0, pull-up): GPPU; IODIR is all inputs already, so not written.
		i2ctest.IO{Addr: addr, W: []byte{0x0C, 0x01, 0x00}},
		// SetInput(B7, pull-up).
		i2ctest.IO{Addr: addr, W: []byte{0x0C, 0x01, 0x80}},
		// SetOutput(A3, high): OLAT first, then IODIR.
		i2ctest.IO{Addr: addr, W: []byte{0x14, 0x08, 0x00}},
		i2ctest.IO{Addr: addr, W: []byte{0x00, 0xF7, 0xFF}},
		// SetInverted(B1).
		i2ctest.IO{Addr: addr, W: []byte{0x02, 0x00, 0x02}},
		// SetInterrupt(A0, OnChange): INTCON is 0 already; GPINTEN.
		i2ctest.IO{Addr: addr, W: []byte{0x04, 0x01, 0x00}},
		// SetInterrupt(B0, WhileLow): DEFVAL, INTCON, then GPINTEN.
		i2ctest.IO{Addr: addr, W: []byte{0x06, 0x00, 0x01}},
		i2ctest.IO{Addr: addr, W: []byte{0x08, 0x00, 0x01}},
		i2ctest.IO{Addr: addr, W: []byte{0x04, 0x01, 0x01}},
		// SetInterrupt(A0, NoInterrupt).
		i2ctest.IO{Addr: addr, W: []byte{0x04, 0x00, 0x01}},
		// Out(A3, low); Out(A3, low) again writes nothing.
		i2ctest.IO{Addr: addr, W: []byte{0x14, 0x00, 0x00}},
		// Read: GPIOA, GPIOB.
		i2ctest.IO{Addr: addr, W: []byte{0x12}, R: []byte{0x81, 0x7E}},
		// Interrupts: INTFA/B, INTCAPA/B.
		i2ctest.IO{Addr: addr, W: []byte{0x0E}, R: []byte{0x00, 0x01, 0xFF, 0xFE}},
	)
	d, err := Open(bus, addr)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		err  error
	}{
		{"SetInput(A0)", d.SetInput(A0, true)},
		{"SetInput(B7)", d.SetInput(B7, true)},
		{"SetInput(B7) again", d.SetInput(B7, true)},
		{"SetOutput(A3)", d.SetOutput(A3, true)},
		{"SetInverted(B1)", d.SetInverted(B1, true)},
		{"SetInterrupt(A0)", d.SetInterrupt(A0, OnChange)},
		{"SetInterrupt(B0)", d.SetInterrupt(B0, WhileLow)},
		{"SetInterrupt(A0, none)", d.SetInterrupt(A0, NoInterrupt)},
		{"Out(A3)", d.Out(A3, false)},
		{"Out(A3) again", d.Out(A3, false)},
	}
	for _, s := range steps {
		if s.err != nil {
			t.Errorf("%s: %v", s.name, s.err)
		}
	}
	if v, err := d.Read(); err != nil || v != 0x7E81 {
		t.Errorf("Read = %#04x, %v; want 0x7e81", v, err)
	}
	if flags, captured, err := d.Interrupts(); err != nil || flags != 0x0100 || captured != 0xFEFF {
		t.Errorf("Interrupts = %#04x, %#04x, %v; want 0x0100, 0xfeff", flags, captured, err)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
	if err := d.SetInput(Pin(16), false); err == nil {
		t.Error("SetInput(Pin(16)) succeeded")
	}
	if err := d.SetInterrupt(A1, Interrupt(9)); err == nil || !strings.Contains(err.Error(), "unknown interrupt mode 9") {
		t.Errorf("SetInterrupt(mode 9) error = %v", err)
	}
}

func TestLED(t *testing.T) {
	bus := &i2ctest.Record{} // no bus behind it: writes only
	d, err := Open(bus, 0x21)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.LED(B2)
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{true, true, false, true} {
		if err := l.Set(on); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0a44", "140000", "00ffff0000000000000000", "0c0000", // Open
		"00fffb",                     // LED(B2): OLAT low already; IODIR B2 output
		"140004", "140000", "140004", // on (on again: nothing), off, on
		"140000", // Halt
	}
	var got []string
	for _, op := range bus.Ops {
		if op.Addr != 0x21 {
			t.Errorf("write to %#x, want 0x21", op.Addr)
		}
		got = append(got, hex(op.W))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("writes\n%s\nwant\n%s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

func hex(b []byte) string {
	const digits = "0123456789abcdef"
	var s []byte
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// failingBus fails every transaction.
type failingBus struct{ i2ctest.Playback }

func (*failingBus) Tx(uint16, []byte, []byte) error { return errors.New("nack") }

func TestBusErrorsNameTheRegister(t *testing.T) {
	_, err := Open(&failingBus{}, addr)
	if err == nil || err.Error() != "open mcp23017@0x20: write IOCON: nack" {
		t.Errorf("Open error = %v", err)
	}

	bus := playback(i2ctest.IO{Addr: addr, W: []byte{0x0C, 0x02, 0x00}})
	d, err := Open(bus, addr)
	if err != nil {
		t.Fatal(err)
	}
	bus.Ops = bus.Ops[:len(bus.Ops)-1] // the GPPU write will be unexpected
	err = d.SetInput(A1, true)
	if err == nil || !strings.HasPrefix(err.Error(), "set A1 input: mcp23017@0x20: write GPPU: i2ctest: unexpected Tx()") {
		t.Errorf("SetInput error = %v", err)
	}
	// The copy of GPPU was not changed by the failed write: the next try writes again.
	bus.Ops = append(bus.Ops, i2ctest.IO{Addr: addr, W: []byte{0x0C, 0x02, 0x00}})
	if err := d.SetInput(A1, true); err != nil {
		t.Errorf("SetInput retry: %v", err)
	}
	if _, err := d.Read(); err == nil || !strings.HasPrefix(err.Error(), "mcp23017@0x20: read GPIO:") {
		t.Errorf("Read error = %v", err)
	}
	if _, _, err := d.Interrupts(); err == nil || !strings.HasPrefix(err.Error(), "mcp23017@0x20: read INTF:") {
		t.Errorf("Interrupts error = %v", err)
	}
}

func TestPinNames(t *testing.T) {
	for p := A0; p <= B7; p++ {
		back, err := ParsePin(p.String())
		if err != nil || back != p {
			t.Errorf("ParsePin(%q) = %v, %v", p, back, err)
		}
	}
	for s, want := range map[string]Pin{"A0": A0, "A7": A7, "B0": B0, "GPB5": B5, "GPA2": A2} {
		if p, err := ParsePin(s); err != nil || p != want {
			t.Errorf("ParsePin(%q) = %v, %v; want %v", s, p, err, want)
		}
	}
	for _, s := range []string{"", "A8", "C0", "a0", "B", "GPC1", "A01"} {
		if _, err := ParsePin(s); err == nil {
			t.Errorf("ParsePin(%q) succeeded", s)
		}
	}
	if s := Pin(16).String(); s != "Pin(16)" {
		t.Errorf("Pin(16).String() = %q", s)
	}
}
