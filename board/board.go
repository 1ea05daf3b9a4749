// Package board describes the boards the appliance runs on: the audio device and the GPIO
// lines of each handset, and which board this is. It opens no hardware itself.
package board

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// A Profile is what the appliance needs to know about one board.
type Profile struct {
	Name        string // for ByName and the log, e.g. "pi-wm8960"
	Description string
	Audio       AudioProfile
	Handsets    []HandsetPins // one per handset; the audio channel of handset i is i
}

// An AudioProfile is the duplex audio device of a board.
type AudioProfile struct {
	Device       string // ALSA PCM name; "" means the sim board's virtual device
	SampleRate   int
	Channels     int
	PeriodFrames int
}

// HandsetPins are the GPIO lines of one handset, by kernel line name (e.g. "GPIO5"). On the
// sim board they are empty: its switches and lights are virtual.
type HandsetPins struct {
	Hook   string // input, pull-up, low = off-hook
	Button string // input, pull-up, low = pressed
	LED    string // output, high = lit
}

// Sim is the virtual board: two handsets with simulated switches, lights and audio, for
// running the appliance on a PC.
var Sim = Profile{
	Name:        "sim",
	Description: "virtual board with two simulated handsets",
	Audio:       AudioProfile{SampleRate: 48000, Channels: 2, PeriodFrames: 240},
	Handsets:    []HandsetPins{{}, {}},
}

// PiWM8960 is a Raspberry Pi with a WM8960 codec HAT (Waveshare WM8960 Audio HAT or
// ReSpeaker 2-Mics): handset A on the left channel, handset B on the right. The pins
// avoid I2C1 (GPIO2/3), I2S (GPIO18-21), the HAT ID EEPROM (GPIO0/1), the serial console
// (GPIO14/15), SPI0 and the ReSpeaker's own button (GPIO17) and Grove lines (GPIO12/13).
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
		{Hook: "GPIO5", Button: "GPIO6", LED: "GPIO22"},
		{Hook: "GPIO4", Button: "GPIO26", LED: "GPIO24"},
	},
}

// profiles are the known boards, in the order Names lists them.
var profiles = []*Profile{&Sim, &PiWM8960}

// Names returns the names of the known boards.
func Names() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// ByName returns the board called name, or an error listing the known names.
func ByName(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == name {
			return clone(*p), nil
		}
	}
	return Profile{}, fmt.Errorf("unknown board %q (known: %s)", name, strings.Join(Names(), ", "))
}

// clone returns p with its own Handsets, so callers cannot change the package's profiles.
func clone(p Profile) Profile {
	p.Handsets = slices.Clone(p.Handsets)
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
	for _, c := range cards {
		if strings.Contains(strings.ToLower(c), "wm8960") {
			p := clone(PiWM8960)
			p.Audio.Device = "hw:CARD=" + c + ",DEV=0"
			return p, model + " with " + c, nil
		}
	}
	found := "no sound cards"
	if len(cards) > 0 {
		found = "sound cards: " + strings.Join(cards, ", ")
	}
	return clone(Sim), fmt.Sprintf("%s without a WM8960 sound card (%s): using the sim board", model, found), nil
}

// soundCards returns the ids of the ALSA cards, the bracketed names in /proc/asound/cards:
//
//	0 [wm8960soundcard]: wm8960-soundcard - wm8960-soundcard
//	                     wm8960-soundcard
func soundCards(root fs.FS) ([]string, error) {
	raw, err := fs.ReadFile(root, cardsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sound cards: %w", err)
	}
	var cards []string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		lb, rb := strings.Index(line, "["), strings.Index(line, "]")
		if lb < 0 || rb < lb {
			continue
		}
		if id := strings.TrimSpace(line[lb+1 : rb]); id != "" {
			cards = append(cards, id)
		}
	}
	return cards, nil
}
