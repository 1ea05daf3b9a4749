// Package board describes the boards the appliance runs on: the audio device and the GPIO
// lines of each handset, and which board this is. It opens no hardware itself.
package board

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// A Profile is what the appliance needs to know about one board. Profiles are values: the
// package's own are never changed, ByName and Detect return copies.
type Profile struct {
	Name        string // for ByName and the log, e.g. "pi-wm8960"
	Description string
	Audio       AudioProfile
	Handsets    []HandsetPins // one per handset; the audio channel of handset i is i
	// Expanders are the I/O expanders that some of the handsets' lines are on.
	Expanders []Expander
	// Codec is the codec chip whose gains the appliance sets at start; the zero value
	// means there is none to set (the sim board, USB adapters).
	Codec CodecProfile
	// Reserved are the GPIO lines the board's HAT, buses or console use: no handset line
	// may be one of them.
	Reserved []string
	// GPIO are the GPIO lines the board has, by kernel line name: a handset line that is
	// not an expander pin must be one of them.
	GPIO []string
}

// HasGPIO reports whether the board has the GPIO line named line.
func (p Profile) HasGPIO(line string) bool { return slices.Contains(p.GPIO, line) }

// piHeader are the GPIO lines of the Raspberry Pi's 40-pin header, GPIO0 to GPIO27.
var piHeader = func() []string {
	lines := make([]string, 28)
	for i := range lines {
		lines[i] = "GPIO" + strconv.Itoa(i)
	}
	return lines
}()

// An AudioProfile is the duplex audio device of a board.
type AudioProfile struct {
	Device       string // ALSA PCM name; "" means the sim board's virtual device
	SampleRate   int
	Channels     int
	PeriodFrames int
}

// HandsetPins are the input and output lines of one handset. A line is either a GPIO line
// by kernel line name ("GPIO5") or a pin of one of the profile's Expanders, written
// "chip:address:pin" ("mcp23017:0x20:A0", see ParseExpanderLine). "" means the handset has
// no such line. On the sim board they are all empty: its switches and lights are virtual.
type HandsetPins struct {
	Hook    string // input, pull-up, low = off-hook
	Button  string // call/leave button: input, pull-up, low = pressed
	LED     string // "in call" light (green): output, high = lit
	Mute    string // mute button: input, pull-up, low = pressed
	MuteLED string // "muted" light (red): output, high = lit
}

// Lines returns the handset's lines that are set, in the order of the fields.
func (h HandsetPins) Lines() []string {
	var lines []string
	for _, l := range []string{h.Hook, h.Button, h.LED, h.Mute, h.MuteLED} {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// A CodecProfile is a board's codec chip: which of the ALSA mixer controls its kernel driver
// makes belong to which handset, what routing they need, and the levels to start with.
// Control names are those of alsa-lib's simple mixer, as "amixer -c CARD scontrols" lists
// them (verify on hardware: they come from the kernel driver).
type CodecProfile struct {
	Chip string // "wm8960", "cs42448"; "" means none
	Card string // the ALSA card, as in "hw:CARD=": Detect puts in the card it found
	// Bus and Addr are the chip's control port on I2C, for register access when no kernel
	// driver is bound to it; Bus "" means the appliance never writes the chip itself
	// (only the WM8960 has a register driver).
	Bus  string
	Addr uint16
	// Handsets are the controls of each handset, in the order of Profile.Handsets.
	Handsets []CodecChannel
	// Routing are the switches to turn on at start.
	Routing []MixerControl
	// Start-up levels, set on every handset whose channel has the control.
	MicGainDB, MicBoostDB, EarpieceDB float64
}

// A MixerControl is one side of one channel of an ALSA simple mixer control. Name ""
// means the codec has no such control.
type MixerControl struct {
	Name    string // e.g. "Capture", "Headphone"
	Capture bool   // the capture side; otherwise the playback side (either for a control without sides)
	Channel int    // 0 is front left (or mono), 1 front right
}

// A CodecChannel is the mixer controls of one handset.
type CodecChannel struct {
	MicGain        MixerControl // volume of the input amplifier (PGA)
	MicBoost       MixerControl // volume of the boost stage ahead of it
	MicSwitch      MixerControl // switch, on = the microphone is live
	Earpiece       MixerControl // volume
	EarpieceSwitch MixerControl // switch, on = the earpiece sounds; none: mute by volume
}

// An Expander is an I/O expander chip on an I2C bus.
type Expander struct {
	Chip string // "mcp23017"
	Bus  string // I2C bus as periph names it: "1" is /dev/i2c-1
	Addr uint16 // 7-bit I2C address
	// Interrupt is the GPIO line the chip's interrupt output (open-drain, active low) is
	// wired to; "" means the chip is polled.
	Interrupt string
}

// An ExpanderLine is one pin of an Expander, written "mcp23017:0x20:A0".
type ExpanderLine struct {
	Chip string
	Addr uint16
	Pin  string // the chip's name for the pin; for the MCP23017 "A0" to "A7", "B0" to "B7"
}

// String returns the line as ParseExpanderLine reads it.
func (l ExpanderLine) String() string { return fmt.Sprintf("%s:%#02x:%s", l.Chip, l.Addr, l.Pin) }

// ParseExpanderLine reads a line written "chip:address:pin". It reports ok false, and no
// error, for a line without ':', which is a GPIO line name.
func ParseExpanderLine(line string) (l ExpanderLine, ok bool, err error) {
	if !strings.Contains(line, ":") {
		return ExpanderLine{}, false, nil
	}
	parts := strings.Split(line, ":")
	if len(parts) != 3 {
		return ExpanderLine{}, true, fmt.Errorf("expander line %q: want chip:address:pin", line)
	}
	if parts[0] != "mcp23017" {
		return ExpanderLine{}, true, fmt.Errorf("expander line %q: unknown chip %q (known: mcp23017)", line, parts[0])
	}
	addr, err := strconv.ParseUint(parts[1], 0, 7)
	if err != nil || !strings.HasPrefix(parts[1], "0x") {
		return ExpanderLine{}, true, fmt.Errorf("expander line %q: address %q is not a 7-bit hex number like 0x20", line, parts[1])
	}
	if p := parts[2]; len(p) != 2 || (p[0] != 'A' && p[0] != 'B') || p[1] < '0' || p[1] > '7' {
		return ExpanderLine{}, true, fmt.Errorf("expander line %q: pin %q is not A0 to B7", line, p)
	}
	return ExpanderLine{Chip: parts[0], Addr: uint16(addr), Pin: parts[2]}, true, nil
}

// hatLines are the GPIO lines every I2S codec HAT takes, or that are better left alone:
// the HAT ID EEPROM (0/1), I2C1 (2/3), the serial console (14/15) and I2S (18-21).
var hatLines = []string{"GPIO0", "GPIO1", "GPIO2", "GPIO3", "GPIO14", "GPIO15",
	"GPIO18", "GPIO19", "GPIO20", "GPIO21"}

func reserve(extra ...string) []string { return append(slices.Clone(hatLines), extra...) }

// Sim is the virtual board: two handsets with simulated switches, lights and audio, for
// running the appliance on a PC. It stands in for a Raspberry Pi: pin overrides are
// checked against the Pi's header (and the lines a codec HAT takes), as on the Pi boards,
// though its switches and lights stay virtual.
var Sim = Profile{
	Name:        "sim",
	Description: "virtual board with two simulated handsets",
	Audio:       AudioProfile{SampleRate: 48000, Channels: 2, PeriodFrames: 240},
	Handsets:    []HandsetPins{{}, {}},
	Reserved:    reserve(),
	GPIO:        piHeader,
}

// PiWM8960 is a Raspberry Pi with a WM8960 codec HAT (Waveshare WM8960 Audio HAT or
// ReSpeaker 2-Mics): handset A on the left channel (LINPUT1, HP_L), handset B on the right.
// The pins avoid the HAT's lines and the ReSpeaker's own button (GPIO17), LED chain
// (SPI0: GPIO10/11) and Grove lines (GPIO12/13), so one map serves both HATs. GPIO4 is
// also the default 1-Wire pin: keep w1-gpio disabled.
var PiWM8960 = Profile{
	Name:        "pi-wm8960",
	Description: "Raspberry Pi with a WM8960 audio HAT, two handsets",
	Audio: AudioProfile{
		Device:       "hw:CARD=wm8960soundcard,DEV=0",
		SampleRate:   48000,
		Channels:     2,
		PeriodFrames: 240,
	},
	Handsets: []HandsetPins{
		{Hook: "GPIO5", Button: "GPIO6", LED: "GPIO22", Mute: "GPIO16", MuteLED: "GPIO23"},
		{Hook: "GPIO4", Button: "GPIO26", LED: "GPIO24", Mute: "GPIO27", MuteLED: "GPIO25"},
	},
	Codec:    wm8960Codec(),
	Reserved: reserve("GPIO10", "GPIO11", "GPIO12", "GPIO13", "GPIO17"),
	GPIO:     piHeader,
}

// wm8960Codec is the WM8960 with the kernel's wm8960 driver (hardware.md 2.2): handset A on
// the left channel of "Capture" (input PGA, with its mute switch) and "Headphone", and on
// the left input's boost; handset B on the right. After a reset the PGAs and headphone
// outputs are muted and nothing is routed: the boost mixers must take INPUT1 and the PGA,
// the output mixers the DAC. The mic bias has no control: electret handset mics may need an
// overlay that routes MICB, or a bias of their own (verify on hardware).
func wm8960Codec() CodecProfile {
	c := CodecProfile{
		Chip: "wm8960", Card: "wm8960soundcard", Bus: "1", Addr: 0x1A,
		MicGainDB: 12, MicBoostDB: 20, EarpieceDB: -6,
	}
	for ch, side := range []string{"Left", "Right"} {
		input := side[:1] + "INPUT1"
		c.Handsets = append(c.Handsets, CodecChannel{
			MicGain:   MixerControl{Name: "Capture", Capture: true, Channel: ch},
			MicBoost:  MixerControl{Name: side + " Input Boost Mixer " + input, Capture: true},
			MicSwitch: MixerControl{Name: "Capture", Capture: true, Channel: ch},
			Earpiece:  MixerControl{Name: "Headphone", Channel: ch},
		})
		c.Routing = append(c.Routing,
			MixerControl{Name: side + " Boost Mixer " + input, Capture: true}, // INPUT1 to the boost mixer
			MixerControl{Name: side + " Input Mixer Boost", Capture: true},    // PGA to the boost mixer
			MixerControl{Name: side + " Output Mixer PCM"})                    // DAC to the headphone mixer
	}
	return c
}

// PiOcto is a Raspberry Pi with an Audio Injector Octo (CS42448): six handsets, handset k on
// input AINk and output AOUTk (AOUT7, about 11 dB weaker, stays unused). The Octo owns GPIO5
// (reset) and GPIO22/23/24/27 (rate clock mux), which leaves too few lines for 6 × 5, so the
// hooks stay on GPIO (edge detection for the mic-safety signal) and the buttons and lights go
// on two MCP23017 on I2C1: buttons at 0x20 (GPA0-5 call/leave, GPB0-5 mute, interrupt on
// GPIO17), lights at 0x21 (GPA0-5 green, GPB0-5 red). The CS42448 has no mic preamp or bias
// and line-level outputs: each handset needs an analog front end. The device is "plughw"
// so that ALSA adapts the channel count if the driver insists on another (verify on
// hardware).
var PiOcto = Profile{
	Name:        "pi-octo",
	Description: "Raspberry Pi with an Audio Injector Octo (CS42448), six handsets, buttons and lights on MCP23017",
	Audio: AudioProfile{
		Device:       "plughw:CARD=audioinjectoroc,DEV=0",
		SampleRate:   48000,
		Channels:     6,
		PeriodFrames: 240,
	},
	Handsets: octoHandsets(),
	Codec:    octoCodec(),
	Expanders: []Expander{
		{Chip: "mcp23017", Bus: "1", Addr: 0x20, Interrupt: "GPIO17"},
		{Chip: "mcp23017", Bus: "1", Addr: 0x21},
	},
	Reserved: reserve("GPIO5", "GPIO22", "GPIO23", "GPIO24", "GPIO27",
		"GPIO25"), // GPIO25: earpiece amplifier enable / global mute
	GPIO: piHeader,
}

func octoHandsets() []HandsetPins {
	hooks := []string{"GPIO4", "GPIO6", "GPIO12", "GPIO13", "GPIO16", "GPIO26"}
	hs := make([]HandsetPins, len(hooks))
	for k, hook := range hooks {
		hs[k] = HandsetPins{
			Hook:    hook,
			Button:  fmt.Sprintf("mcp23017:0x20:A%d", k),
			Mute:    fmt.Sprintf("mcp23017:0x20:B%d", k),
			LED:     fmt.Sprintf("mcp23017:0x21:A%d", k),
			MuteLED: fmt.Sprintf("mcp23017:0x21:B%d", k),
		}
	}
	return hs
}

// octoCodec is the CS42448 with the kernel's cs42xx8 driver (hardware.md 2.3): handset k
// (from 0) on channel k mod 2 of "ADCn" and "DACn", n = k/2+1. It has no mic boost and no
// mute switches (muting the earpiece turns its volume to the mute step); the analog front
// end supplies the mic gain, so both levels start at 0 dB.
func octoCodec() CodecProfile {
	c := CodecProfile{Chip: "cs42448", Card: "audioinjectoroc"}
	for k := range 6 {
		pair := fmt.Sprint(k/2 + 1)
		c.Handsets = append(c.Handsets, CodecChannel{
			MicGain:  MixerControl{Name: "ADC" + pair, Capture: true, Channel: k % 2},
			Earpiece: MixerControl{Name: "DAC" + pair, Channel: k % 2},
		})
	}
	return c
}

// USB is one USB headset adapter (snd-usb-audio, e.g. a C-Media CM108) as one handset, with
// hook, buttons and lights on the GPIO lines of the two-handset map's handset A. The device
// is "plughw" because such adapters capture mono and play stereo; Detect puts in the card
// it found.
var USB = Profile{
	Name:        "usb",
	Description: "one USB headset adapter as one handset",
	Audio: AudioProfile{
		Device:       "plughw:CARD=Device,DEV=0",
		SampleRate:   48000,
		Channels:     1,
		PeriodFrames: 240,
	},
	Handsets: []HandsetPins{{Hook: "GPIO5", Button: "GPIO6", LED: "GPIO22", Mute: "GPIO16", MuteLED: "GPIO23"}},
	Reserved: reserve(),
	GPIO:     piHeader,
}

// profiles are the known boards, in the order Names lists them.
var profiles = []*Profile{&Sim, &PiWM8960, &PiOcto, &USB}

// Names returns the names of the known boards.
func Names() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// MaxSimHandsets is the most handsets "sim:N" gives: as many as the sim board has distinct
// microphone tones, so that every handset is told apart by ear.
const MaxSimHandsets = 12

// ByName returns the board called name, or an error listing the known names. "sim:N" is the
// sim board with N handsets (1 to MaxSimHandsets), one audio channel each.
func ByName(name string) (Profile, error) {
	if count, ok := strings.CutPrefix(name, Sim.Name+":"); ok {
		return simWith(count)
	}
	for _, p := range profiles {
		if p.Name == name {
			return clone(*p), nil
		}
	}
	return Profile{}, fmt.Errorf("unknown board %q (known: %s)", name, strings.Join(Names(), ", "))
}

// simWith returns the sim board with count handsets.
func simWith(count string) (Profile, error) {
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > MaxSimHandsets {
		return Profile{}, fmt.Errorf("board %q: want %s:N with N from 1 to %d", Sim.Name+":"+count, Sim.Name, MaxSimHandsets)
	}
	p := clone(Sim)
	p.Description = fmt.Sprintf("virtual board with %d simulated handsets", n)
	p.Audio.Channels = n
	p.Handsets = make([]HandsetPins, n)
	return p, nil
}

// clone returns p with its own slices, so callers cannot change the package's profiles.
func clone(p Profile) Profile {
	p.Handsets = slices.Clone(p.Handsets)
	p.Expanders = slices.Clone(p.Expanders)
	p.Reserved = slices.Clone(p.Reserved)
	p.GPIO = slices.Clone(p.GPIO)
	p.Codec.Handsets = slices.Clone(p.Codec.Handsets)
	p.Codec.Routing = slices.Clone(p.Codec.Routing)
	return p
}

// Files Detect reads, relative to the root file system.
const (
	modelPath = "proc/device-tree/model"
	cardsPath = "proc/asound/cards"
)

// Detect finds out which board this is from /proc/device-tree/model and the ALSA cards in
// /proc/asound/cards. It returns the profile and what it found, for the log. A board it
// does not recognise is the sim board, with the reason in the message; the error is only
// for files that exist but cannot be read.
func Detect() (Profile, string, error) {
	return DetectFrom(os.DirFS("/"))
}

// codecs are the sound cards Detect knows, in order of preference: a HAT before a USB
// adapter that may be plugged in as well.
var codecs = []struct {
	profile *Profile
	match   func(card) bool
	caveat  func(model string) string // "" or a note for the log
}{
	{&PiOcto, func(c card) bool { return c.has("audioinjectoroc") || c.has("audioinjector-octo") },
		func(model string) string {
			if strings.HasPrefix(model, "Raspberry Pi 5") {
				return "; the Octo is not verified on a Pi 5"
			}
			return ""
		}},
	{&PiWM8960, func(c card) bool { return c.has("wm8960") }, nil},
	{&USB, func(c card) bool { return c.driver == "USB-Audio" }, nil},
}

// DetectFrom is Detect on the file system root (the files are read at proc/device-tree/model
// and proc/asound/cards).
func DetectFrom(root fs.FS) (Profile, string, error) {
	raw, err := fs.ReadFile(root, modelPath)
	if errors.Is(err, fs.ErrNotExist) {
		return clone(Sim), "not a Raspberry Pi (no /" + modelPath + "): using the sim board", nil
	}
	if err != nil {
		return Profile{}, "", fmt.Errorf("read board model: %w", err)
	}
	model := strings.TrimRight(string(raw), "\x00\n ")
	if !strings.HasPrefix(model, "Raspberry Pi") {
		return clone(Sim), fmt.Sprintf("not a Raspberry Pi (model %q): using the sim board", model), nil
	}
	cards, err := soundCards(root)
	if err != nil {
		return Profile{}, "", err
	}
	for _, k := range codecs {
		for _, c := range cards {
			if !k.match(c) {
				continue
			}
			p := clone(*k.profile)
			p.Audio.Device = withCard(p.Audio.Device, c.id)
			if p.Codec.Chip != "" {
				p.Codec.Card = c.id
			}
			msg := fmt.Sprintf("%s with sound card %s (%s): board %s", model, c.id, c.name, p.Name)
			if k.caveat != nil {
				msg += k.caveat(model)
			}
			return p, msg, nil
		}
	}
	found := "no sound cards"
	if len(cards) > 0 {
		var ids []string
		for _, c := range cards {
			ids = append(ids, c.id)
		}
		found = "sound cards: " + strings.Join(ids, ", ")
	}
	return clone(Sim), fmt.Sprintf("%s without a known sound card (%s; known: WM8960 HAT, Audio Injector Octo, "+
		"USB audio): using the sim board", model, found), nil
}

// withCard returns the ALSA device dev ("hw:CARD=x,DEV=0") on the card called id instead.
func withCard(dev, id string) string {
	prefix, rest, ok := strings.Cut(dev, "CARD=")
	if !ok {
		return dev
	}
	_, params, _ := strings.Cut(rest, ",")
	return prefix + "CARD=" + id + "," + params
}

// A card is one entry of /proc/asound/cards.
type card struct {
	id     string // the bracketed name: what "hw:CARD=" takes
	driver string // e.g. "USB-Audio"
	name   string
	long   string // the second line
}

// has reports whether any of the card's names contains s, ignoring case.
func (c card) has(s string) bool {
	s = strings.ToLower(s)
	for _, n := range []string{c.id, c.driver, c.name, c.long} {
		if strings.Contains(strings.ToLower(n), s) {
			return true
		}
	}
	return false
}

// soundCards returns the ALSA cards, whose entries in /proc/asound/cards read
//
//	1 [wm8960soundcard]: wm8960-soundcar - wm8960-soundcard
//	                     wm8960-soundcard
func soundCards(root fs.FS) ([]card, error) {
	raw, err := fs.ReadFile(root, cardsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sound cards: %w", err)
	}
	var cards []card
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		lb, rb := strings.Index(line, "["), strings.Index(line, "]")
		if lb < 0 || rb < lb {
			if n := len(cards); n > 0 && cards[n-1].long == "" {
				cards[n-1].long = line
			}
			continue
		}
		id := strings.TrimSpace(line[lb+1 : rb])
		if id == "" {
			continue
		}
		c := card{id: id}
		desc := strings.TrimSpace(strings.TrimPrefix(line[rb+1:], ":"))
		c.driver, c.name, _ = strings.Cut(desc, " - ")
		c.driver, c.name = strings.TrimSpace(c.driver), strings.TrimSpace(c.name)
		cards = append(cards, c)
	}
	return cards, nil
}
