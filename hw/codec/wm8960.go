package codec

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/i2c"
)

// WM8960Addr is the WM8960's I2C address.
const WM8960Addr = 0x1A

// WM8960 registers (7-bit addresses) and the bits this driver sets.
const (
	wmLINVOL  = 0x00 // left input PGA: [5:0] volume, b7 INMUTE, b8 IPVU
	wmRINVOL  = 0x01
	wmLOUT1   = 0x02 // left headphone: [6:0] volume, b8 OUT1VU
	wmROUT1   = 0x03
	wmCTRL1   = 0x05 // ADC and DAC control 1: b3 DACMU
	wmRESET   = 0x0F
	wmPOWER1  = 0x19
	wmPOWER2  = 0x1A
	wmLINPATH = 0x20 // left ADC signal path: b8 LMN1, [5:4] boost, b3 LMIC2B
	wmRINPATH = 0x21
	wmLOUTMIX = 0x22 // left output mixer: b8 LD2LO
	wmROUTMIX = 0x25
	wmPOWER3  = 0x2F
	wmLastReg = 0x37

	wmUpdate  = 0x100 // IPVU, OUT1VU: latch the pair's volumes
	wmInMute  = 0x080
	wmPGA     = 0x03F
	wmBoost   = 0x030
	wmOutVol  = 0x07F
	wmOutMute = 0x02F // headphone volumes up to this one are mute
)

// wmReset are the registers' values after a reset, for those this driver changes bit by bit.
var wmReset = map[uint8]uint16{
	wmLINVOL: 0x0A7, wmRINVOL: 0x0A7, // PGA +12 dB, muted
	wmLOUT1: 0x000, wmROUT1: 0x000, // headphone muted
	wmLINPATH: 0x100, wmRINPATH: 0x100, // INPUT1 to the PGA, boost 0 dB, PGA not to the boost mixer
}

// wmBoostDB are the microphone boost steps.
var wmBoostDB = [4]float64{0, 13, 20, 29}

// Start-up register values besides the levels. The clocks are the reset ones (SYSCLK =
// MCLK, sample rate = SYSCLK/256: 48 kHz from the HAT's 12.288 MHz), as is the audio
// interface (I2S, slave).
const (
	// VMID 2×50 kΩ, VREF, both input PGAs and ADCs, microphone bias.
	wmPower1 = 0x080 | 0x040 | 0x020 | 0x010 | 0x008 | 0x004 | 0x002
	// Both DACs and headphone outputs.
	wmPower2 = 0x100 | 0x080 | 0x040 | 0x020
	// Both microphone PGAs and output mixers.
	wmPower3 = 0x020 | 0x010 | 0x008 | 0x004
	// INPUT1 to the PGA's inverting input (LMN1), PGA to the boost mixer (LMIC2B).
	wmInPath = 0x100 | 0x008
	// DAC to the output mixer (LD2LO); the bypass volume keeps its reset value.
	wmOutMix = 0x100 | 0x050
	// DAC soft mute off, ADC high-pass filter on.
	wmCtrl1 = 0x000
)

// A WM8960 drives the registers of a WM8960 codec over I2C, for a board where no kernel
// driver is bound to it. Port 0 is the left channel (LINPUT1, HP_L), port 1 the right. The
// chip cannot be read, so the driver keeps a copy of what it wrote; it knows a register
// only after Init (or after writing all of it). Its methods may be called from several
// goroutines.
type WM8960 struct {
	dev i2c.Dev

	mu    sync.Mutex // guards following and bus transactions
	regs  map[uint8]uint16
	saved [2]int // per port: the headphone volume to restore on unmute; -1 when not muted
}

// KernelDriver returns the name of the kernel driver bound to the I2C device at addr on
// bus ("1", "I2C1" or "/dev/i2c-1"), or "" when none is, as
// /sys/bus/i2c/devices/<bus>-<addr>/driver tells in sys, the root file system.
func KernelDriver(sys fs.FS, bus string, addr uint16) (string, error) {
	n, err := busNumber(bus)
	if err != nil {
		return "", err
	}
	link := fmt.Sprintf("sys/bus/i2c/devices/%d-%04x/driver", n, addr)
	if _, err := fs.Lstat(sys, link); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("check kernel driver of I2C device %#02x on bus %s: %w", addr, bus, err)
	}
	if target, err := fs.ReadLink(sys, link); err == nil {
		return path.Base(target), nil
	}
	return "unknown", nil
}

// busNumber returns the number of the I2C bus called name.
func busNumber(name string) (int, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(name, "/dev/i2c-"), "I2C")
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("I2C bus %q: want a number, I2Cn or /dev/i2c-n", name)
	}
	return n, nil
}

// OpenWM8960 returns a driver for the WM8960 at addr on bus, which is called busName ("1",
// "I2C1" or "/dev/i2c-1"), after checking in sys (the root file system) that no kernel
// driver is bound to it: it refuses one that is, since the kernel keeps its own copy of the
// registers and would overwrite any write of ours. It writes nothing.
func OpenWM8960(bus i2c.Bus, busName string, addr uint16, sys fs.FS) (*WM8960, error) {
	driver, err := KernelDriver(sys, busName, addr)
	if err != nil {
		return nil, fmt.Errorf("wm8960: %w", err)
	}
	if driver != "" {
		return nil, fmt.Errorf("wm8960 at %#02x on I2C bus %s: the kernel driver %q owns it: "+
			"set it through the ALSA mixer instead", addr, busName, driver)
	}
	return &WM8960{dev: i2c.Dev{Bus: bus, Addr: addr}, regs: map[uint8]uint16{}, saved: [2]int{-1, -1}}, nil
}

// Ports returns the number of ports: 2.
func (w *WM8960) Ports() int { return 2 }

// write writes the 9-bit val to reg: two bytes, the address above bit 8 of the value, then
// its low byte. w.mu must be held.
func (w *WM8960) write(reg uint8, val uint16) error {
	if reg > wmLastReg || val > 0x1FF {
		return fmt.Errorf("wm8960: no register R%d or value %#x is over 9 bits", reg, val)
	}
	if _, err := w.dev.Write([]byte{reg<<1 | byte(val>>8), byte(val)}); err != nil {
		return fmt.Errorf("wm8960: write register R%d: %w", reg, err)
	}
	w.regs[reg] = val
	return nil
}

// update writes reg with the bits of mask set to those of val and the others as they were.
// w.mu must be held.
func (w *WM8960) update(reg uint8, mask, val uint16) error {
	old, ok := w.regs[reg]
	if !ok {
		return fmt.Errorf("wm8960: register R%d is not known yet: Init first", reg)
	}
	return w.write(reg, old&^mask|val&mask)
}

// Init resets the chip and sets it up for two handsets: powers the inputs, ADCs, DACs,
// headphone outputs and the microphone bias; routes INPUT1 through the PGA to the boost
// mixer and the DAC to the headphone mixer; turns the DAC's soft mute off; then sets both
// ports to lv and unmutes their PGAs. After a reset the PGAs are muted and the headphone
// outputs are muted and not fed by the DAC.
func (w *WM8960) Init(lv Levels) error {
	w.mu.Lock()
	if err := w.write(wmRESET, 0); err != nil {
		w.mu.Unlock()
		return err
	}
	clear(w.regs)
	for r, v := range wmReset {
		w.regs[r] = v
	}
	w.saved = [2]int{-1, -1}
	for _, r := range []struct {
		reg uint8
		val uint16
	}{
		{wmPOWER1, wmPower1}, {wmPOWER2, wmPower2}, {wmPOWER3, wmPower3},
		{wmLINPATH, wmInPath}, {wmRINPATH, wmInPath},
		{wmLOUTMIX, wmOutMix}, {wmROUTMIX, wmOutMix},
		{wmCTRL1, wmCtrl1},
	} {
		if err := w.write(r.reg, r.val); err != nil {
			w.mu.Unlock()
			return err
		}
	}
	w.mu.Unlock()
	for port := range w.Ports() {
		if _, err := w.SetMicGain(port, lv.MicGain); err != nil {
			return err
		}
		if _, err := w.SetMicBoost(port, lv.MicBoost); err != nil {
			return err
		}
		if err := w.SetMicMute(port, false); err != nil {
			return err
		}
		if _, err := w.SetEarpieceVolume(port, lv.Earpiece); err != nil {
			return err
		}
	}
	return nil
}

func checkWMPort(port int) error {
	if port < 0 || port > 1 {
		return fmt.Errorf("wm8960: no port %d (it has 2)", port)
	}
	return nil
}

// SetMicGain sets port's input PGA (-17.25 to +30 dB in 0.75 dB steps) to l and returns
// the gain set, in dB.
func (w *WM8960) SetMicGain(port int, l Level) (float64, error) {
	if err := checkWMPort(port); err != nil {
		return 0, err
	}
	gain := func(v int64) (float64, error) { return -17.25 + 0.75*float64(v), nil }
	v, err := resolve(l, 0, wmPGA, gain)
	if err != nil {
		return 0, fmt.Errorf("wm8960: port %d mic gain: %w", port, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.update(wmLINVOL+uint8(port), wmUpdate|wmPGA, wmUpdate|uint16(v)); err != nil {
		return 0, err
	}
	db, _ := gain(v)
	return db, nil
}

// SetMicBoost sets port's microphone boost (0, 13, 20 or 29 dB) to l and returns the gain
// set, in dB.
func (w *WM8960) SetMicBoost(port int, l Level) (float64, error) {
	if err := checkWMPort(port); err != nil {
		return 0, err
	}
	v, err := resolve(l, 0, 3, func(v int64) (float64, error) { return wmBoostDB[v], nil })
	if err != nil {
		return 0, fmt.Errorf("wm8960: port %d mic boost: %w", port, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.update(wmLINPATH+uint8(port), wmBoost, uint16(v)<<4); err != nil {
		return 0, err
	}
	return wmBoostDB[v], nil
}

// SetMicMute mutes or unmutes port's input PGA.
func (w *WM8960) SetMicMute(port int, muted bool) error {
	if err := checkWMPort(port); err != nil {
		return err
	}
	var bit uint16
	if muted {
		bit = wmInMute
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.update(wmLINVOL+uint8(port), wmUpdate|wmInMute, wmUpdate|bit)
}

// hpGain is the gain of headphone volume v: 1 dB steps, +6 dB at 127, mute up to 47.
func hpGain(v int64) (float64, error) {
	if v <= wmOutMute {
		return math.Inf(-1), nil
	}
	return float64(v - 121), nil
}

// SetEarpieceVolume sets port's headphone output (-73 to +6 dB in 1 dB steps, or mute) to
// l and returns the gain set, in dB (-Inf for mute). On a muted port it is the volume
// unmuting restores.
func (w *WM8960) SetEarpieceVolume(port int, l Level) (float64, error) {
	if err := checkWMPort(port); err != nil {
		return 0, err
	}
	v, err := resolve(l, wmOutMute, wmOutVol, hpGain)
	if err != nil {
		return 0, fmt.Errorf("wm8960: port %d earpiece volume: %w", port, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	db, _ := hpGain(v)
	if w.saved[port] >= 0 {
		w.saved[port] = int(v)
		return db, nil
	}
	if err := w.update(wmLOUT1+uint8(port), wmUpdate|wmOutVol, wmUpdate|uint16(v)); err != nil {
		return 0, err
	}
	return db, nil
}

// SetEarpieceMute mutes port's headphone output by turning it to a mute step, or restores
// the volume it had.
func (w *WM8960) SetEarpieceMute(port int, muted bool) error {
	if err := checkWMPort(port); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if muted == (w.saved[port] >= 0) {
		return nil
	}
	reg := wmLOUT1 + uint8(port)
	if !muted {
		if err := w.update(reg, wmUpdate|wmOutVol, wmUpdate|uint16(w.saved[port])); err != nil {
			return err
		}
		w.saved[port] = -1
		return nil
	}
	old, ok := w.regs[reg]
	if !ok {
		return fmt.Errorf("wm8960: register R%d is not known yet: Init first", reg)
	}
	if err := w.update(reg, wmUpdate|wmOutVol, wmUpdate|wmOutMute); err != nil {
		return err
	}
	w.saved[port] = int(old & wmOutVol)
	return nil
}
