package appliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"

	"partyline/board"
	"partyline/hw"
	"partyline/hw/codec"
	"partyline/hw/mcp23017"
)

// MCP23017 registers (IOCON.BANK = 0) the fake models.
const (
	mcpIODIR  = 0x00
	mcpGPPU   = 0x0C
	mcpINTF   = 0x0E
	mcpINTCAP = 0x10
	mcpGPIO   = 0x12
	mcpOLAT   = 0x14
	mcpRegs   = 0x16
)

// fakeBus is I2C bus 1 with MCP23017 register models (sequential addressing; interrupts
// are not modelled: the driver sees changes in the levels) and a WM8960 that records what
// is written to it.
type fakeBus struct {
	mu     sync.Mutex
	chips  map[uint16]*[mcpRegs]byte
	inputs map[uint16]uint16 // the levels outside the chips' pins
	wm8960 [][]byte
	fail   error // when set, every transaction fails with it
}

func newFakeBus(addrs ...uint16) *fakeBus {
	b := &fakeBus{chips: map[uint16]*[mcpRegs]byte{}, inputs: map[uint16]uint16{}}
	for _, a := range addrs {
		regs := &[mcpRegs]byte{}
		regs[mcpIODIR], regs[mcpIODIR+1] = 0xFF, 0xFF
		b.chips[a], b.inputs[a] = regs, 0xFFFF
	}
	return b
}

func (b *fakeBus) String() string                  { return "fake I2C bus 1" }
func (b *fakeBus) SetSpeed(physic.Frequency) error { return nil }
func (b *fakeBus) Close() error                    { return nil }

func (b *fakeBus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	if addr == codec.WM8960Addr {
		b.wm8960 = append(b.wm8960, slices.Clone(w))
		return nil
	}
	regs, ok := b.chips[addr]
	if !ok || len(w) == 0 {
		return fmt.Errorf("no device answers at %#x", addr)
	}
	p := w[0]
	for _, v := range w[1:] {
		switch p {
		case mcpINTF, mcpINTF + 1, mcpINTCAP, mcpINTCAP + 1:
		case mcpGPIO, mcpGPIO + 1:
			regs[p+mcpOLAT-mcpGPIO] = v
		default:
			regs[p] = v
		}
		p = (p + 1) % mcpRegs
	}
	for i := range r {
		switch p {
		case mcpGPIO, mcpGPIO + 1:
			port := p - mcpGPIO
			dir := regs[mcpIODIR+port]
			r[i] = byte(b.inputs[addr]>>(8*port))&dir | regs[mcpOLAT+port]&^dir
		case mcpINTF, mcpINTF + 1, mcpINTCAP, mcpINTCAP + 1:
			r[i] = 0
		default:
			r[i] = regs[p]
		}
		p = (p + 1) % mcpRegs
	}
	return nil
}

// set drives input pin p of the chip at addr high or low from outside.
func (b *fakeBus) set(addr uint16, p mcp23017.Pin, high bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inputs[addr] &^= 1 << p
	if high {
		b.inputs[addr] |= 1 << p
	}
}

// reg16 returns the register pair at reg of the chip at addr.
func (b *fakeBus) reg16(addr uint16, reg byte) uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint16(b.chips[addr][reg]) | uint16(b.chips[addr][reg+1])<<8
}

func (b *fakeBus) writes() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.wm8960)
}

// fakePeriph puts bus into periph's registry as I2C bus 1, and fake GPIO lines called
// names, for the test's duration; it returns the lines.
func fakePeriph(t *testing.T, bus *fakeBus, names ...string) map[string]*gpiotest.Pin {
	t.Helper()
	if _, err := driverreg.Init(); err != nil { // first, so that no driver registers over the fakes
		t.Fatal(err)
	}
	if err := i2creg.Register("fake-i2c-1", nil, 1, func() (i2c.BusCloser, error) { return bus, nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i2creg.Unregister("fake-i2c-1") })
	pins := map[string]*gpiotest.Pin{}
	for _, n := range names {
		p := &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level, 16)}
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(n) })
		pins[n] = p
	}
	return pins
}

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestHardware(sys fs.FS) (*hardware, *logBuffer) {
	var logs logBuffer
	return &hardware{sys: sys, log: slog.New(slog.NewTextHandler(&logs, nil))}, &logs
}

// waitFor starts sw.Wait and returns where its result arrives.
func waitFor(ctx context.Context, sw hw.Switch) <-chan bool {
	ch := make(chan bool, 1)
	go func() {
		if active, err := sw.Wait(ctx); err == nil {
			ch <- active
		}
	}()
	return ch
}

// settle lets a second pass in the test's bubble.
func settle() {
	time.Sleep(time.Second)
	synctest.Wait()
}

var octoHooks = []string{"GPIO4", "GPIO6", "GPIO12", "GPIO13", "GPIO16", "GPIO26"}

func TestHardwareOctoHandsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newFakeBus(0x20, 0x21)
		pins := fakePeriph(t, bus, append(octoHooks, "GPIO17")...)
		h, _ := newTestHardware(fstest.MapFS{})
		if err := h.openHandsets(board.PiOcto); err != nil {
			t.Fatal(err)
		}
		if len(h.handsets) != 6 {
			t.Fatalf("%d handsets, want 6", len(h.handsets))
		}
		for i, hs := range h.handsets {
			if hs.hook == nil || hs.button == nil || hs.led == nil || hs.mute == nil || hs.muteLED == nil {
				t.Errorf("handset %d: %+v, want every line open", i+1, hs)
			}
		}
		// Buttons on 0x20: inputs with pull-ups; lights on 0x21: outputs.
		if got := bus.reg16(0x20, mcpGPPU); got != 0x3F3F {
			t.Errorf("0x20 GPPU = %#04x, want 0x3f3f (A0-5, B0-5 pulled up)", got)
		}
		if got := bus.reg16(0x21, mcpIODIR); got != 0xC0C0 {
			t.Errorf("0x21 IODIR = %#04x, want 0xc0c0 (A0-5, B0-5 outputs)", got)
		}
		if len(h.runners) != 1 {
			t.Errorf("%d runners, want 1 (the button chip)", len(h.runners))
		}

		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan error, 1)
		go func() { ran <- h.run(ctx) }()

		// Handset 3's mute button (0x20 B2) is pressed; the chip's interrupt line asserts.
		mute3, button3 := waitFor(ctx, h.handsets[2].mute), waitFor(ctx, h.handsets[2].button)
		bus.set(0x20, mcp23017.B2, false)
		pins["GPIO17"].EdgesChan <- gpio.Low
		settle()
		select {
		case active := <-mute3:
			if !active {
				t.Error("handset 3 mute button reported released, want pressed")
			}
		default:
			t.Error("handset 3 mute button press not reported")
		}
		select {
		case <-button3:
			t.Error("handset 3 call button reported a change, want none")
		default:
		}

		// Handset 4 goes off-hook on its GPIO line.
		hook4 := waitFor(ctx, h.handsets[3].hook)
		pins["GPIO13"].EdgesChan <- gpio.Low
		settle()
		select {
		case active := <-hook4:
			if !active {
				t.Error("handset 4 reported on-hook, want off-hook")
			}
		default:
			t.Error("handset 4 off-hook not reported")
		}

		// Lights: handset 5's green (0x21 A4) and handset 6's red (0x21 B5).
		if err := h.handsets[4].led.Set(true); err != nil {
			t.Fatal(err)
		}
		if err := h.handsets[5].muteLED.Set(true); err != nil {
			t.Fatal(err)
		}
		if got := bus.reg16(0x21, mcpOLAT); got != 1<<mcp23017.A4|1<<mcp23017.B5 {
			t.Errorf("0x21 OLAT = %#04x, want A4 and B5 set", got)
		}

		cancel()
		if err := <-ran; err != nil {
			t.Errorf("run = %v after ctx ended, want nil", err)
		}
		if err := h.close(); err != nil {
			t.Fatal(err)
		}
		if got := bus.reg16(0x21, mcpOLAT); got != 0 {
			t.Errorf("0x21 OLAT = %#04x after close, want every light off", got)
		}
	})
}

func TestHardwareRunStopsOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newFakeBus(0x20, 0x21)
		fakePeriph(t, bus, append(octoHooks, "GPIO17")...)
		h, _ := newTestHardware(fstest.MapFS{})
		if err := h.openHandsets(board.PiOcto); err != nil {
			t.Fatal(err)
		}
		defer h.close()
		ran := make(chan error, 1)
		go func() { ran <- h.run(t.Context()) }()
		settle()
		bus.mu.Lock()
		bus.fail = errors.New("bus unplugged")
		bus.mu.Unlock()
		settle()
		select {
		case err := <-ran:
			if err == nil || !strings.Contains(err.Error(), "bus unplugged") {
				t.Errorf("run = %v, want the bus failure", err)
			}
		default:
			t.Error("run still running after the bus failed")
		}
	})
}

func TestHardwareRunWithoutRunners(t *testing.T) {
	h, err := openSim(board.Sim, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.run(t.Context()); err != nil {
		t.Errorf("run on the sim board = %v, want nil at once", err)
	}
}

func TestHardwareLineErrors(t *testing.T) {
	octo := func(change func(*board.Profile)) board.Profile {
		p, _ := board.ByName("pi-octo")
		change(&p)
		return p
	}
	for _, tt := range []struct {
		name    string
		profile board.Profile
		want    string
	}{
		{"line on a missing expander", octo(func(p *board.Profile) { p.Handsets[1].Mute = "mcp23017:0x24:B1" }),
			"handset 2: mute button: line mcp23017:0x24:B1: the board has no expander at 0x24"},
		{"two expanders at one address", octo(func(p *board.Profile) { p.Expanders[1].Addr = 0x20 }),
			"two expanders at 0x20"},
		{"missing bus", octo(func(p *board.Profile) { p.Expanders[1].Bus = "7" }),
			`expander at 0x21: open I2C bus "7"`},
		{"bad expander line", octo(func(p *board.Profile) { p.Handsets[0].LED = "mcp23017:0x21" }),
			"handset 1: LED: expander line \"mcp23017:0x21\": want chip:address:pin"},
		{"missing GPIO line", octo(func(p *board.Profile) { p.Handsets[5].Hook = "GPIO27" }),
			"handset 6: hook switch: open switch GPIO27: no such line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fakePeriph(t, newFakeBus(0x20, 0x21), append(octoHooks, "GPIO17")...)
			h, _ := newTestHardware(fstest.MapFS{})
			err := h.openHandsets(tt.profile)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("openHandsets error %v, want %q", err, tt.want)
			}
			if err := h.close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// wm8960NoCard is the WM8960 profile on a card that does not exist, as when no kernel
// driver made one.
func wm8960NoCard() board.CodecProfile {
	c := board.PiWM8960.Codec
	c.Card = "partylineNoSuchCard"
	return c
}

func TestHardwareCodecOverI2C(t *testing.T) {
	bus := newFakeBus()
	fakePeriph(t, bus)
	h, logs := newTestHardware(fstest.MapFS{})
	h.setUpCodec(wm8960NoCard())
	w := bus.writes()
	// Reset first; then power, routing, DAC unmute, and per port gain, boost, PGA unmute
	// and headphone volume (the exact bytes are hw/codec's test).
	if len(w) != 17 || !bytes.Equal(w[0], []byte{0x1E, 0x00}) || !bytes.Equal(w[16], []byte{0x07, 0x73}) {
		t.Errorf("WM8960 writes %x, want 17 from reset [1e 00] to ROUT1 -6 dB [07 73]", w)
	}
	if !strings.Contains(logs.String(), "codec set up over I2C") {
		t.Errorf("log %q does not say the codec was set up over I2C", logs)
	}
}

func TestHardwareCodecKernelOwned(t *testing.T) {
	bus := newFakeBus()
	fakePeriph(t, bus)
	sys := fstest.MapFS{"sys/bus/i2c/devices/1-001a/driver": {Data: []byte("../../../../bus/i2c/drivers/wm8960"), Mode: fs.ModeSymlink}}
	h, logs := newTestHardware(sys)
	h.setUpCodec(wm8960NoCard())
	if w := bus.writes(); len(w) != 0 {
		t.Errorf("WM8960 writes %x behind the kernel driver's back, want none", w)
	}
	for _, want := range []string{"level=WARN", "codec not set up", `no such sound card`, `kernel driver \"wm8960\" owns it`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs, want)
		}
	}
}

func TestHardwareCodecNoMixer(t *testing.T) {
	bus := newFakeBus()
	fakePeriph(t, bus)
	h, logs := newTestHardware(fstest.MapFS{})
	c := board.PiOcto.Codec
	c.Card = "partylineNoSuchCard"
	h.setUpCodec(c) // the CS42448 has no register driver: nothing on I2C
	if w := bus.writes(); len(w) != 0 {
		t.Errorf("I2C writes %x, want none", w)
	}
	for _, want := range []string{"level=WARN", "codec=cs42448", "partylineNoSuchCard", "no such sound card"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs, want)
		}
	}
	h.setUpCodec(board.Sim.Codec) // no codec: nothing to do, nothing to say
	if strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("log %q, want one line", logs)
	}
}

func TestHardwareCodecLayout(t *testing.T) {
	l := codecLayout(board.PiOcto.Codec)
	if len(l.Ports) != 6 || len(l.Routing) != 0 {
		t.Fatalf("Octo layout %+v, want 6 ports and no routing", l)
	}
	if want := (codec.Port{MicGain: codec.Control{Name: "ADC3", Capture: true}, Earpiece: codec.Control{Name: "DAC3"}}); l.Ports[4] != want {
		t.Errorf("Octo port 4 = %+v, want %+v", l.Ports[4], want)
	}
	l = codecLayout(board.PiWM8960.Codec)
	if want := (codec.Control{Name: "Right Input Boost Mixer RINPUT1", Capture: true}); l.Ports[1].MicBoost != want {
		t.Errorf("WM8960 port 1 boost = %+v, want %+v", l.Ports[1].MicBoost, want)
	}
	if len(l.Routing) != 6 || l.Routing[5] != (codec.Control{Name: "Right Output Mixer PCM"}) {
		t.Errorf("WM8960 routing %+v, want 6 switches ending with the right output mixer's", l.Routing)
	}
}
