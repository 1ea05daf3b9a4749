package codec

import (
	"io/fs"
	"math"
	"strings"
	"testing"
	"testing/fstest"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// noDriver is a root file system where the codec's I2C device exists and no driver is
// bound to it.
var noDriver = fstest.MapFS{"sys/bus/i2c/devices/1-001a/name": {Data: []byte("wm8960\n")}}

// wr is the two-byte frame that writes val to reg.
func wr(reg uint8, val uint16) i2ctest.IO {
	return i2ctest.IO{Addr: WM8960Addr, W: []byte{reg<<1 | byte(val>>8), byte(val)}}
}

// initOps is what Init(Levels{DB(12), DB(20), DB(-6)}) writes.
var initOps = []i2ctest.IO{
	{Addr: WM8960Addr, W: []byte{0x1E, 0x00}}, // R15 reset
	{Addr: WM8960Addr, W: []byte{0x32, 0xFE}}, // R25 power 1: VMID 50k, VREF, AINL/R, ADCL/R, MICB
	{Addr: WM8960Addr, W: []byte{0x35, 0xE0}}, // R26 power 2: DACL/R, LOUT1, ROUT1
	{Addr: WM8960Addr, W: []byte{0x5E, 0x3C}}, // R47 power 3: LMIC, RMIC, LOMIX, ROMIX
	{Addr: WM8960Addr, W: []byte{0x41, 0x08}}, // R32 LINPATH: LMN1, LMIC2B
	{Addr: WM8960Addr, W: []byte{0x43, 0x08}}, // R33 RINPATH
	{Addr: WM8960Addr, W: []byte{0x45, 0x50}}, // R34 LOUTMIX: LD2LO
	{Addr: WM8960Addr, W: []byte{0x4B, 0x50}}, // R37 ROUTMIX: RD2RO
	{Addr: WM8960Addr, W: []byte{0x0A, 0x00}}, // R5: DAC soft mute off
	{Addr: WM8960Addr, W: []byte{0x01, 0xA7}}, // R0 LINVOL +12 dB, still muted, IPVU
	{Addr: WM8960Addr, W: []byte{0x41, 0x28}}, // R32 boost +20 dB
	{Addr: WM8960Addr, W: []byte{0x01, 0x27}}, // R0 unmuted
	{Addr: WM8960Addr, W: []byte{0x05, 0x73}}, // R2 LOUT1 -6 dB, OUT1VU
	{Addr: WM8960Addr, W: []byte{0x03, 0xA7}}, // R1 RINVOL
	{Addr: WM8960Addr, W: []byte{0x43, 0x28}}, // R33
	{Addr: WM8960Addr, W: []byte{0x03, 0x27}}, // R1
	{Addr: WM8960Addr, W: []byte{0x07, 0x73}}, // R3 ROUT1
}

// openWM8960 returns a driver on a bus that expects ops, checked when the test ends.
func openWM8960(t *testing.T, ops ...i2ctest.IO) *WM8960 {
	t.Helper()
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Error(err)
		}
	})
	w, err := OpenWM8960(bus, "1", WM8960Addr, noDriver)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWM8960Init(t *testing.T) {
	w := openWM8960(t, initOps...)
	if err := w.Init(Levels{MicGain: DB(12), MicBoost: DB(20), Earpiece: DB(-6)}); err != nil {
		t.Fatal(err)
	}
}

func TestWM8960Levels(t *testing.T) {
	w := openWM8960(t, append(initOps,
		wr(0x01, 0x100|0x3F),              // RINVOL +30 dB (clamped), IPVU
		wr(0x21, 0x108|0x10),              // RINPATH boost 13 dB (15 rounded down)
		wr(0x01, 0x100|0x80|0x3F),         // RINVOL muted
		wr(0x02, 0x100|0x7F),              // LOUT1 +6 dB (100%)
		wr(0x02, 0x100|0x2F),              // LOUT1 muted
		wr(0x02, 0x100|(121-20)),          // LOUT1 unmuted at -20 dB, set while muted
		wr(0x03, 0x100|0x2F),              // ROUT1 to mute by volume
		wr(0x00, 0x100|uint16(0x27+4)),    // LINVOL +15 dB
		wr(0x20, 0x108),                   // LINPATH boost 0 dB
		wr(0x00, 0x100|0x80|uint16(0x2B)), // LINVOL muted
	)...)
	if err := w.Init(Levels{MicGain: DB(12), MicBoost: DB(20), Earpiece: DB(-6)}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got float64, err error, want float64) {
		t.Helper()
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v dB", what, got, err, want)
		}
	}
	db, err := w.SetMicGain(1, DB(40))
	check("mic gain 40 dB", db, err, 30)
	db, err = w.SetMicBoost(1, DB(15))
	check("boost 15 dB", db, err, 13)
	if err := w.SetMicMute(1, true); err != nil {
		t.Fatal(err)
	}
	db, err = w.SetEarpieceVolume(0, Percent(100))
	check("earpiece 100%", db, err, 6)
	if err := w.SetEarpieceMute(0, true); err != nil {
		t.Fatal(err)
	}
	db, err = w.SetEarpieceVolume(0, DB(-20))
	check("earpiece while muted", db, err, -20)
	if err := w.SetEarpieceMute(0, false); err != nil {
		t.Fatal(err)
	}
	db, err = w.SetEarpieceVolume(1, DB(-80))
	check("earpiece below -73 dB", db, err, math.Inf(-1))
	db, err = w.SetMicGain(0, DB(15))
	check("mic gain 15 dB", db, err, 15)
	db, err = w.SetMicBoost(0, Percent(0))
	check("boost 0%", db, err, 0)
	if err := w.SetMicMute(0, true); err != nil {
		t.Fatal(err)
	}
}

func TestWM8960Errors(t *testing.T) {
	w := openWM8960(t)
	if _, err := w.SetMicGain(0, DB(0)); err == nil || !strings.Contains(err.Error(), "Init first") {
		t.Errorf("SetMicGain before Init: error %v, want Init first", err)
	}
	if err := w.SetEarpieceMute(1, true); err == nil || !strings.Contains(err.Error(), "Init first") {
		t.Errorf("SetEarpieceMute before Init: error %v, want Init first", err)
	}
	if _, err := w.SetEarpieceVolume(2, DB(0)); err == nil || !strings.Contains(err.Error(), "no port 2") {
		t.Errorf("port 2: error %v, want no port 2", err)
	}
	if _, err := w.SetMicBoost(0, DB(math.NaN())); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("NaN boost: error %v, want not a number", err)
	}
}

func TestWM8960BusFailure(t *testing.T) {
	bus := &i2ctest.Playback{DontPanic: true} // expects nothing: every write fails
	w, err := OpenWM8960(bus, "1", WM8960Addr, noDriver)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Init(Levels{}); err == nil || !strings.Contains(err.Error(), "write register R15") {
		t.Errorf("Init on a failing bus: error %v, want one naming register R15", err)
	}
}

func TestWM8960RefusedWhenKernelOwnsIt(t *testing.T) {
	sys := fstest.MapFS{
		"sys/bus/i2c/devices/1-001a/driver": {Data: []byte("../../../../bus/i2c/drivers/wm8960"), Mode: fs.ModeSymlink},
	}
	bus := &i2ctest.Playback{DontPanic: true}
	_, err := OpenWM8960(bus, "I2C1", WM8960Addr, sys)
	if err == nil || !strings.Contains(err.Error(), `kernel driver "wm8960" owns it`) {
		t.Errorf("OpenWM8960 with a bound driver: error %v, want the kernel driver owns it", err)
	}
	if bus.Count != 0 {
		t.Errorf("OpenWM8960 made %d bus transactions, want none", bus.Count)
	}
}

func TestKernelDriver(t *testing.T) {
	sys := fstest.MapFS{"sys/bus/i2c/devices/3-0048/driver": {Data: []byte("/sys/bus/i2c/drivers/cs42xx8"), Mode: fs.ModeSymlink}}
	for _, tt := range []struct {
		bus  string
		addr uint16
		want string
	}{
		{"3", 0x48, "cs42xx8"},
		{"/dev/i2c-3", 0x48, "cs42xx8"},
		{"I2C3", 0x48, "cs42xx8"},
		{"1", 0x48, ""},
		{"3", 0x1a, ""},
	} {
		got, err := KernelDriver(sys, tt.bus, tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("KernelDriver(%s, %#x) = %q, %v; want %q", tt.bus, tt.addr, got, err, tt.want)
		}
	}
	if _, err := KernelDriver(sys, "i2c", 0x1a); err == nil {
		t.Error("KernelDriver on bus \"i2c\": no error, want one")
	}
}
