package board

import (
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	pi4Model    = "Raspberry Pi 4 Model B Rev 1.4\x00"
	wm8960Cards = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n" +
		"                      bcm2835 Headphones\n" +
		" 1 [wm8960soundcard]: wm8960-soundcar - wm8960-soundcard\n" +
		"                      wm8960-soundcard\n"
	headphonesOnly = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n" +
		"                      bcm2835 Headphones\n"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantName string
		wantMsg  string
		wantDev  string
	}{
		{"pc", nil, "sim", "not a Raspberry Pi (no /proc/device-tree/model): using the sim board", ""},
		{"pi with wm8960", map[string]string{modelPath: pi4Model, cardsPath: wm8960Cards},
			"pi-wm8960", "Raspberry Pi 4 Model B Rev 1.4 with wm8960soundcard", "hw:CARD=wm8960soundcard,DEV=0"},
		{"pi without codec", map[string]string{modelPath: pi4Model, cardsPath: headphonesOnly},
			"sim", "Raspberry Pi 4 Model B Rev 1.4 without a WM8960 sound card (sound cards: Headphones): using the sim board", ""},
		{"pi without sound", map[string]string{modelPath: pi4Model},
			"sim", "Raspberry Pi 4 Model B Rev 1.4 without a WM8960 sound card (no sound cards): using the sim board", ""},
		{"other arm board", map[string]string{modelPath: "Pine64 RockPro64\x00", cardsPath: wm8960Cards},
			"sim", `not a Raspberry Pi (model "Pine64 RockPro64"): using the sim board`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fstest.MapFS{}
			for name, data := range tt.files {
				root[name] = &fstest.MapFile{Data: []byte(data)}
			}
			p, msg, err := DetectFrom(root)
			if err != nil {
				t.Fatalf("DetectFrom: %v", err)
			}
			if p.Name != tt.wantName || msg != tt.wantMsg || p.Audio.Device != tt.wantDev {
				t.Errorf("DetectFrom = %q (device %q), %q; want %q (device %q), %q",
					p.Name, p.Audio.Device, msg, tt.wantName, tt.wantDev, tt.wantMsg)
			}
		})
	}
}

// unreadable is a file system whose model file exists but cannot be read.
type unreadable struct{}

func (unreadable) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func TestDetectReadError(t *testing.T) {
	_, _, err := DetectFrom(unreadable{})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("DetectFrom error = %v, want %v", err, fs.ErrPermission)
	}
}

func TestByName(t *testing.T) {
	for _, name := range Names() {
		p, err := ByName(name)
		if err != nil || p.Name != name {
			t.Errorf("ByName(%q) = %q, %v; want %q, nil", name, p.Name, err, name)
		}
	}
	_, err := ByName("pi-octo")
	if err == nil || !strings.Contains(err.Error(), "sim, pi-wm8960") {
		t.Errorf("ByName(unknown) error = %v, want one listing sim, pi-wm8960", err)
	}
	p, _ := ByName("sim")
	p.Handsets[0].Hook = "GPIO99"
	if Sim.Handsets[0].Hook != "" {
		t.Errorf("changing a returned profile changed Sim")
	}
}

func TestProfilesAreConsistent(t *testing.T) {
	reserved := []string{"GPIO0", "GPIO1", "GPIO2", "GPIO3", "GPIO14", "GPIO15", "GPIO17",
		"GPIO18", "GPIO19", "GPIO20", "GPIO21"}
	for _, name := range Names() {
		p, _ := ByName(name)
		if p.Audio.Channels != len(p.Handsets) {
			t.Errorf("%s: %d audio channels for %d handsets, want equal", name, p.Audio.Channels, len(p.Handsets))
		}
		if p.Audio.SampleRate != 48000 || p.Audio.PeriodFrames != 240 {
			t.Errorf("%s: audio %+v, want 48000 Hz, 240 frames", name, p.Audio)
		}
		var used []string
		for _, h := range p.Handsets {
			for _, pin := range []string{h.Hook, h.Button, h.LED} {
				if pin == "" {
					continue
				}
				if slices.Contains(reserved, pin) || slices.Contains(used, pin) {
					t.Errorf("%s: pin %s reserved or used twice", name, pin)
				}
				used = append(used, pin)
			}
		}
	}
	if !reflect.DeepEqual(Names(), []string{"sim", "pi-wm8960"}) {
		t.Errorf("Names() = %q, want [sim pi-wm8960]", Names())
	}
}
