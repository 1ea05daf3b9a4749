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
	pi5Model    = "Raspberry Pi 5 Model B Rev 1.0\x00"
	wm8960Cards = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n" +
		"                      bcm2835 Headphones\n" +
		" 1 [wm8960soundcard]: wm8960-soundcar - wm8960-soundcard\n" +
		"                      wm8960-soundcard\n"
	pi5WM8960Cards = " 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n" +
		"                      vc4-hdmi-0\n" +
		" 1 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1\n" +
		"                      vc4-hdmi-1\n" +
		" 2 [wm8960soundcard]: wm8960-soundcar - wm8960-soundcard\n" +
		"                      wm8960-soundcard\n"
	octoCards = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n" +
		"                      bcm2835 Headphones\n" +
		" 1 [audioinjectoroc]: audioinjector- - audioinjector-octo-soundcard\n" +
		"                      audioinjector-octo-soundcard\n"
	usbCards = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n" +
		"                      bcm2835 Headphones\n" +
		" 1 [Device         ]: USB-Audio - USB Audio Device\n" +
		"                      C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.3, full speed\n"
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
		{"pi 4 with wm8960", map[string]string{modelPath: pi4Model, cardsPath: wm8960Cards}, "pi-wm8960",
			"Raspberry Pi 4 Model B Rev 1.4 with sound card wm8960soundcard (wm8960-soundcard): board pi-wm8960",
			"hw:CARD=wm8960soundcard,DEV=0"},
		{"pi 5 with wm8960", map[string]string{modelPath: pi5Model, cardsPath: pi5WM8960Cards}, "pi-wm8960",
			"Raspberry Pi 5 Model B Rev 1.0 with sound card wm8960soundcard (wm8960-soundcard): board pi-wm8960",
			"hw:CARD=wm8960soundcard,DEV=0"},
		{"pi 4 with octo", map[string]string{modelPath: pi4Model, cardsPath: octoCards}, "pi-octo",
			"Raspberry Pi 4 Model B Rev 1.4 with sound card audioinjectoroc (audioinjector-octo-soundcard): board pi-octo",
			"plughw:CARD=audioinjectoroc,DEV=0"},
		{"pi 5 with octo", map[string]string{modelPath: pi5Model, cardsPath: octoCards}, "pi-octo",
			"Raspberry Pi 5 Model B Rev 1.0 with sound card audioinjectoroc (audioinjector-octo-soundcard): board pi-octo; " +
				"the Octo is not verified on a Pi 5",
			"plughw:CARD=audioinjectoroc,DEV=0"},
		{"pi with usb audio", map[string]string{modelPath: pi4Model, cardsPath: usbCards}, "usb",
			"Raspberry Pi 4 Model B Rev 1.4 with sound card Device (USB Audio Device): board usb",
			"plughw:CARD=Device,DEV=0"},
		{"hat preferred to usb", map[string]string{modelPath: pi4Model, cardsPath: usbCards + strings.ReplaceAll(octoCards, " 1 [", " 2 [")},
			"pi-octo",
			"Raspberry Pi 4 Model B Rev 1.4 with sound card audioinjectoroc (audioinjector-octo-soundcard): board pi-octo",
			"plughw:CARD=audioinjectoroc,DEV=0"},
		{"pi without codec", map[string]string{modelPath: pi4Model, cardsPath: headphonesOnly}, "sim",
			"Raspberry Pi 4 Model B Rev 1.4 without a known sound card (sound cards: Headphones; known: WM8960 HAT, " +
				"Audio Injector Octo, USB audio): using the sim board", ""},
		{"pi without sound", map[string]string{modelPath: pi4Model}, "sim",
			"Raspberry Pi 4 Model B Rev 1.4 without a known sound card (no sound cards; known: WM8960 HAT, " +
				"Audio Injector Octo, USB audio): using the sim board", ""},
		{"pi with garbage cards", map[string]string{modelPath: pi5Model, cardsPath: "]]\n[\n[ ]\n\x00\x01 [x"}, "sim",
			"Raspberry Pi 5 Model B Rev 1.0 without a known sound card (no sound cards; known: WM8960 HAT, " +
				"Audio Injector Octo, USB audio): using the sim board", ""},
		{"other arm board", map[string]string{modelPath: "Pine64 RockPro64\x00", cardsPath: wm8960Cards}, "sim",
			`not a Raspberry Pi (model "Pine64 RockPro64"): using the sim board`, ""},
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
			if p.Codec.Chip != "" && !strings.Contains(p.Audio.Device, "CARD="+p.Codec.Card+",") {
				t.Errorf("codec card %q, want the card of the device %q", p.Codec.Card, p.Audio.Device)
			}
		})
	}
}

func TestSoundCards(t *testing.T) {
	cards, err := soundCards(fstest.MapFS{cardsPath: &fstest.MapFile{Data: []byte(usbCards)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []card{
		{"Headphones", "bcm2835_headpho", "bcm2835 Headphones", "bcm2835 Headphones"},
		{"Device", "USB-Audio", "USB Audio Device", "C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.3, full speed"},
	}
	if !reflect.DeepEqual(cards, want) {
		t.Errorf("soundCards = %+v, want %+v", cards, want)
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
	_, err := ByName("pi-zero")
	if err == nil || !strings.Contains(err.Error(), "sim, pi-wm8960, pi-octo, usb") {
		t.Errorf("ByName(unknown) error = %v, want one listing sim, pi-wm8960, pi-octo, usb", err)
	}
	p, _ := ByName("sim")
	p.Handsets[0].Hook = "GPIO99"
	if Sim.Handsets[0].Hook != "" {
		t.Errorf("changing a returned profile changed Sim")
	}
	p, _ = ByName("pi-octo")
	p.Expanders[0].Addr = 0x27
	p.Reserved[0] = "GPIO99"
	p.Codec.Handsets[0].MicGain.Name = "x"
	p.Codec.Routing = append(p.Codec.Routing[:0], MixerControl{Name: "x"})
	if PiOcto.Expanders[0].Addr != 0x20 || PiOcto.Reserved[0] != "GPIO0" || PiOcto.Codec.Handsets[0].MicGain.Name != "ADC1" {
		t.Errorf("changing a returned profile changed PiOcto")
	}
}

func TestProfilesAreConsistent(t *testing.T) {
	for _, name := range Names() {
		p, _ := ByName(name)
		if p.Audio.Channels != len(p.Handsets) {
			t.Errorf("%s: %d audio channels for %d handsets, want equal", name, p.Audio.Channels, len(p.Handsets))
		}
		if p.Audio.SampleRate != 48000 || p.Audio.PeriodFrames != 240 {
			t.Errorf("%s: audio %+v, want 48000 Hz, 240 frames", name, p.Audio)
		}
		if name != "sim" {
			for _, l := range hatLines {
				if !slices.Contains(p.Reserved, l) {
					t.Errorf("%s: %s is not reserved", name, l)
				}
			}
		}
		var interrupts []string
		for _, e := range p.Expanders {
			if e.Chip != "mcp23017" || e.Addr < 0x20 || e.Addr > 0x27 || e.Bus == "" {
				t.Errorf("%s: bad expander %+v", name, e)
			}
			if e.Interrupt != "" {
				interrupts = append(interrupts, e.Interrupt)
			}
		}
		used := slices.Clone(interrupts)
		for i, h := range p.Handsets {
			if name != "sim" && (h.Hook == "" || h.LED == "") {
				t.Errorf("%s handset %d: no hook or LED", name, i+1)
			}
			for _, line := range h.Lines() {
				if slices.Contains(used, line) {
					t.Errorf("%s handset %d: line %s used twice", name, i+1, line)
				}
				used = append(used, line)
				el, isExp, err := ParseExpanderLine(line)
				switch {
				case err != nil:
					t.Errorf("%s handset %d: %v", name, i+1, err)
				case isExp:
					if !slices.ContainsFunc(p.Expanders, func(e Expander) bool { return e.Chip == el.Chip && e.Addr == el.Addr }) {
						t.Errorf("%s handset %d: %s is on no expander of the board", name, i+1, line)
					}
				case !strings.HasPrefix(line, "GPIO"):
					t.Errorf("%s handset %d: %q is not a GPIO line name", name, i+1, line)
				case !p.HasGPIO(line):
					t.Errorf("%s handset %d: the board has no line %s", name, i+1, line)
				case slices.Contains(p.Reserved, line):
					t.Errorf("%s handset %d: line %s is reserved", name, i+1, line)
				}
			}
		}
		if len(p.GPIO) == 0 {
			t.Errorf("%s: no GPIO lines", name)
		}
		for _, l := range interrupts {
			if !p.HasGPIO(l) {
				t.Errorf("%s: the board has no interrupt line %s", name, l)
			}
			if slices.Contains(p.Reserved, l) {
				t.Errorf("%s: interrupt line %s is reserved", name, l)
			}
		}
		if c := p.Codec; c.Chip != "" {
			if len(c.Handsets) != len(p.Handsets) {
				t.Errorf("%s: codec controls for %d handsets, want %d", name, len(c.Handsets), len(p.Handsets))
			}
			if !strings.Contains(p.Audio.Device, "CARD="+c.Card+",") {
				t.Errorf("%s: codec card %q is not the audio device's %q", name, c.Card, p.Audio.Device)
			}
			for i, h := range c.Handsets {
				if h.MicGain.Name == "" || h.Earpiece.Name == "" || !h.MicGain.Capture || h.Earpiece.Capture {
					t.Errorf("%s handset %d: codec controls %+v, want a capture mic gain and a playback earpiece", name, i+1, h)
				}
			}
		}
	}
	if !reflect.DeepEqual(Names(), []string{"sim", "pi-wm8960", "pi-octo", "usb"}) {
		t.Errorf("Names() = %q, want [sim pi-wm8960 pi-octo usb]", Names())
	}
}

func TestOctoMap(t *testing.T) {
	// hardware.md 4.2: hooks on GPIO4, 6, 12, 13, 16, 26; buttons on 0x20, lights on 0x21.
	h := PiOcto.Handsets[5]
	want := HandsetPins{Hook: "GPIO26", Button: "mcp23017:0x20:A5", LED: "mcp23017:0x21:A5",
		Mute: "mcp23017:0x20:B5", MuteLED: "mcp23017:0x21:B5"}
	if h != want {
		t.Errorf("Octo handset 6 = %+v, want %+v", h, want)
	}
}

func TestCodecMaps(t *testing.T) {
	// hardware.md 2.2: handset B is the WM8960's right channel and right input.
	b := PiWM8960.Codec.Handsets[1]
	want := CodecChannel{
		MicGain:   MixerControl{Name: "Capture", Capture: true, Channel: 1},
		MicBoost:  MixerControl{Name: "Right Input Boost Mixer RINPUT1", Capture: true},
		MicSwitch: MixerControl{Name: "Capture", Capture: true, Channel: 1},
		Earpiece:  MixerControl{Name: "Headphone", Channel: 1},
	}
	if b != want {
		t.Errorf("WM8960 handset B = %+v, want %+v", b, want)
	}
	var routing []string
	for _, r := range PiWM8960.Codec.Routing {
		routing = append(routing, r.Name)
	}
	if want := []string{"Left Boost Mixer LINPUT1", "Left Input Mixer Boost", "Left Output Mixer PCM",
		"Right Boost Mixer RINPUT1", "Right Input Mixer Boost", "Right Output Mixer PCM"}; !slices.Equal(routing, want) {
		t.Errorf("WM8960 routing %q, want %q", routing, want)
	}
	// hardware.md 2.3: handset k on AINk and AOUTk, pairs ADCn/DACn with n = ⌈k/2⌉.
	h4 := PiOcto.Codec.Handsets[3]
	if want := (CodecChannel{MicGain: MixerControl{Name: "ADC2", Capture: true, Channel: 1},
		Earpiece: MixerControl{Name: "DAC2", Channel: 1}}); h4 != want {
		t.Errorf("Octo handset 4 = %+v, want %+v", h4, want)
	}
	if USB.Codec.Chip != "" || Sim.Codec.Chip != "" {
		t.Errorf("usb and sim boards name a codec: %+v, %+v", USB.Codec, Sim.Codec)
	}
}

func TestParseExpanderLine(t *testing.T) {
	l, ok, err := ParseExpanderLine("mcp23017:0x21:B7")
	if err != nil || !ok || l != (ExpanderLine{"mcp23017", 0x21, "B7"}) || l.String() != "mcp23017:0x21:B7" {
		t.Errorf("ParseExpanderLine = %+v, %v, %v", l, ok, err)
	}
	if _, ok, err := ParseExpanderLine("GPIO5"); ok || err != nil {
		t.Errorf("ParseExpanderLine(GPIO5) = %v, %v; want not an expander line", ok, err)
	}
	for line, want := range map[string]string{
		"mcp23017:0x20":      "want chip:address:pin",
		"pcf8574:0x20:P0":    `unknown chip "pcf8574"`,
		"mcp23017:32:A0":     `address "32" is not a 7-bit hex number`,
		"mcp23017:0x80:A0":   `address "0x80"`,
		"mcp23017:0x20:A8":   `pin "A8" is not A0 to B7`,
		"mcp23017:0x20:GPA0": `pin "GPA0"`,
	} {
		if _, ok, err := ParseExpanderLine(line); !ok || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExpanderLine(%q) = %v, %v; want an error with %q", line, ok, err, want)
		}
	}
}

func TestSimWithHandsetCount(t *testing.T) {
	p, err := ByName("sim:6")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "sim" || len(p.Handsets) != 6 || p.Audio.Channels != 6 || !strings.Contains(p.Description, "6 simulated handsets") {
		t.Errorf("sim:6 = %q with %d handsets on %d channels (%q); want sim, 6, 6", p.Name, len(p.Handsets), p.Audio.Channels, p.Description)
	}
	if len(Sim.Handsets) != 2 || Sim.Audio.Channels != 2 {
		t.Errorf("sim:6 changed Sim: %d handsets, %d channels", len(Sim.Handsets), Sim.Audio.Channels)
	}
	for _, bad := range []string{"sim:0", "sim:13", "sim:x", "sim:", "sim:-1", "sim:6x"} {
		if _, err := ByName(bad); err == nil || !strings.Contains(err.Error(), "N from 1 to 12") {
			t.Errorf("ByName(%q) error = %v, want one giving the range", bad, err)
		}
	}
}
