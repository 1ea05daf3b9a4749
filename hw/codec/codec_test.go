package codec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// fakeControl is one side of a simple mixer control of fakeMixer.
type fakeControl struct {
	lo, hi   int64
	gain     func(int64) float64 // nil: no dB scale
	values   []int64             // per channel
	switches []bool              // per channel; nil: no switch
}

// fakeMixer is a card's mixer in memory. It logs every change as "set NAME side chN = v".
type fakeMixer struct {
	controls map[string]*fakeControl // by "Name/capture" or "Name/playback"
	log      []string
}

func key(c Control) string {
	if c.Capture {
		return c.Name + "/capture"
	}
	return c.Name + "/playback"
}

func (m *fakeMixer) control(c Control) (*fakeControl, error) {
	f, ok := m.controls[key(c)]
	if !ok {
		return nil, fmt.Errorf("fake card: mixer control %v: %w", c, ErrNoControl)
	}
	if c.Channel < 0 || c.Channel >= len(f.values) {
		return nil, fmt.Errorf("fake card: mixer control %v: no such channel", c)
	}
	return f, nil
}

func (m *fakeMixer) VolumeRange(c Control) (int64, int64, error) {
	f, err := m.control(c)
	if err != nil {
		return 0, 0, err
	}
	return f.lo, f.hi, nil
}

func (m *fakeMixer) VolumeDB(c Control, v int64) (float64, error) {
	f, err := m.control(c)
	if err != nil {
		return 0, err
	}
	if f.gain == nil {
		return 0, fmt.Errorf("fake card: mixer control %v: no dB scale", c)
	}
	return f.gain(v), nil
}

func (m *fakeMixer) Volume(c Control) (int64, error) {
	f, err := m.control(c)
	if err != nil {
		return 0, err
	}
	return f.values[c.Channel], nil
}

func (m *fakeMixer) SetVolume(c Control, v int64) error {
	f, err := m.control(c)
	if err != nil {
		return err
	}
	if v < f.lo || v > f.hi {
		return fmt.Errorf("fake card: mixer control %v: %d out of range", c, v)
	}
	f.values[c.Channel] = v
	m.log = append(m.log, fmt.Sprintf("set %s ch%d = %d", key(c), c.Channel, v))
	return nil
}

func (m *fakeMixer) SetSwitch(c Control, on bool) error {
	f, err := m.control(c)
	if err != nil {
		return err
	}
	if f.switches == nil {
		return fmt.Errorf("fake card: mixer control %v: no switch", c)
	}
	f.switches[c.Channel] = on
	m.log = append(m.log, fmt.Sprintf("set %s ch%d = %v", key(c), c.Channel, on))
	return nil
}

// The WM8960's controls, as the kernel driver makes them.
func wm8960Mixer() *fakeMixer {
	pga := func(v int64) float64 { return -17.25 + 0.75*float64(v) }
	boost := func(v int64) float64 { return []float64{0, 13, 20, 29}[v] }
	hp := func(v int64) float64 { // TLV -121 dB + 1 dB steps, the lowest is mute
		if v == 0 {
			return math.Inf(-1)
		}
		return float64(v - 121)
	}
	m := &fakeMixer{controls: map[string]*fakeControl{
		"Capture/capture":    {lo: 0, hi: 63, gain: pga, values: []int64{39, 39}, switches: []bool{false, false}},
		"Headphone/playback": {lo: 0, hi: 127, gain: hp, values: []int64{0, 0}},
	}}
	for _, side := range []string{"Left", "Right"} {
		in := side[:1] + "INPUT1"
		// Controls without sides answer on both, as alsa-lib's simple mixer does.
		bc := &fakeControl{lo: 0, hi: 3, gain: boost, values: []int64{0}}
		m.controls[side+" Input Boost Mixer "+in+"/capture"] = bc
		m.controls[side+" Input Boost Mixer "+in+"/playback"] = bc
		for _, sw := range []string{side + " Boost Mixer " + in, side + " Input Mixer Boost"} {
			sc := &fakeControl{values: []int64{0}, switches: []bool{false}}
			m.controls[sw+"/capture"], m.controls[sw+"/playback"] = sc, sc
		}
		m.controls[side+" Output Mixer PCM/playback"] = &fakeControl{values: []int64{0}, switches: []bool{false}}
	}
	return m
}

// wm8960Layout is the board profile's WM8960 layout.
func wm8960Layout() Layout {
	var l Layout
	for ch, side := range []string{"Left", "Right"} {
		in := side[:1] + "INPUT1"
		l.Ports = append(l.Ports, Port{
			MicGain:   Control{Name: "Capture", Capture: true, Channel: ch},
			MicBoost:  Control{Name: side + " Input Boost Mixer " + in, Capture: true},
			MicSwitch: Control{Name: "Capture", Capture: true, Channel: ch},
			Earpiece:  Control{Name: "Headphone", Channel: ch},
		})
		l.Routing = append(l.Routing,
			Control{Name: side + " Boost Mixer " + in, Capture: true},
			Control{Name: side + " Input Mixer Boost", Capture: true},
			Control{Name: side + " Output Mixer PCM"})
	}
	return l
}

func TestInitWM8960(t *testing.T) {
	m := wm8960Mixer()
	c := New(m, wm8960Layout())
	if err := c.Init(Levels{MicGain: DB(12), MicBoost: DB(20), Earpiece: DB(-6)}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"set Left Boost Mixer LINPUT1/capture ch0 = true",
		"set Left Input Mixer Boost/capture ch0 = true",
		"set Left Output Mixer PCM/playback ch0 = true",
		"set Right Boost Mixer RINPUT1/capture ch0 = true",
		"set Right Input Mixer Boost/capture ch0 = true",
		"set Right Output Mixer PCM/playback ch0 = true",
		"set Capture/capture ch0 = 39",
		"set Left Input Boost Mixer LINPUT1/capture ch0 = 2",
		"set Capture/capture ch0 = true",
		"set Headphone/playback ch0 = 115",
		"set Capture/capture ch1 = 39",
		"set Right Input Boost Mixer RINPUT1/capture ch0 = 2",
		"set Capture/capture ch1 = true",
		"set Headphone/playback ch1 = 115",
	}
	if !slices.Equal(m.log, want) {
		t.Errorf("mixer writes:\n%s\nwant:\n%s", strings.Join(m.log, "\n"), strings.Join(want, "\n"))
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Codec) (float64, error)
		control string
		ch      int
		want    int64
		wantDB  float64
	}{
		{"gain in range", func(c *Codec) (float64, error) { return c.SetMicGain(1, DB(0)) }, "Capture/capture", 1, 23, 0},
		{"gain rounded down", func(c *Codec) (float64, error) { return c.SetMicGain(0, DB(0.7)) }, "Capture/capture", 0, 23, 0},
		{"gain clamped high", func(c *Codec) (float64, error) { return c.SetMicGain(0, DB(100)) }, "Capture/capture", 0, 63, 30},
		{"gain clamped low", func(c *Codec) (float64, error) { return c.SetMicGain(0, DB(-100)) }, "Capture/capture", 0, 0, -17.25},
		{"gain percent", func(c *Codec) (float64, error) { return c.SetMicGain(0, Percent(50)) }, "Capture/capture", 0, 32, 6.75},
		{"gain percent clamped", func(c *Codec) (float64, error) { return c.SetMicGain(0, Percent(150)) }, "Capture/capture", 0, 63, 30},
		{"gain negative percent", func(c *Codec) (float64, error) { return c.SetMicGain(0, Percent(-5)) }, "Capture/capture", 0, 0, -17.25},
		{"boost between steps", func(c *Codec) (float64, error) { return c.SetMicBoost(1, DB(15)) }, "Right Input Boost Mixer RINPUT1/capture", 0, 1, 13},
		{"boost below steps", func(c *Codec) (float64, error) { return c.SetMicBoost(0, DB(-3)) }, "Left Input Boost Mixer LINPUT1/capture", 0, 0, 0},
		{"boost top", func(c *Codec) (float64, error) { return c.SetMicBoost(0, DB(29)) }, "Left Input Boost Mixer LINPUT1/capture", 0, 3, 29},
		{"earpiece", func(c *Codec) (float64, error) { return c.SetEarpieceVolume(1, DB(-20)) }, "Headphone/playback", 1, 101, -20},
		{"earpiece to mute", func(c *Codec) (float64, error) { return c.SetEarpieceVolume(0, DB(-500)) }, "Headphone/playback", 0, 0, math.Inf(-1)},
		{"earpiece infinite", func(c *Codec) (float64, error) { return c.SetEarpieceVolume(0, DB(math.Inf(1))) }, "Headphone/playback", 0, 127, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := wm8960Mixer()
			got, err := tt.set(New(m, wm8960Layout()))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantDB {
				t.Errorf("applied %v dB, want %v dB", got, tt.wantDB)
			}
			if v := m.controls[tt.control].values[tt.ch]; v != tt.want {
				t.Errorf("%s ch%d = %d, want %d", tt.control, tt.ch, v, tt.want)
			}
		})
	}
}

func TestLevelErrors(t *testing.T) {
	c := New(wm8960Mixer(), wm8960Layout())
	if _, err := c.SetMicGain(0, DB(math.NaN())); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("NaN gain: error %v, want one saying it is not a number", err)
	}
	if _, err := c.SetMicGain(2, DB(0)); err == nil || !strings.Contains(err.Error(), "no port 2") {
		t.Errorf("port 2: error %v, want no port 2", err)
	}
	if err := c.SetEarpieceMute(-1, true); err == nil || !strings.Contains(err.Error(), "no port -1") {
		t.Errorf("port -1: error %v, want no port -1", err)
	}
}

func TestMissingControl(t *testing.T) {
	m := wm8960Mixer()
	delete(m.controls, "Right Output Mixer PCM/playback")
	delete(m.controls, "Capture/capture")
	err := New(m, wm8960Layout()).Init(Levels{MicGain: DB(0), MicBoost: DB(0), Earpiece: DB(0)})
	if !errors.Is(err, ErrNoControl) {
		t.Fatalf("Init error %v, want ErrNoControl", err)
	}
	for _, want := range []string{`"Right Output Mixer PCM" playback channel 0`, `port 0 mic gain`,
		`port 1 mic mute: fake card: mixer control "Capture" capture channel 1`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Init error %q does not name %s", err, want)
		}
	}
	// Init carried on: the earpieces are set all the same.
	if hp := m.controls["Headphone/playback"].values; hp[0] != 121 || hp[1] != 121 {
		t.Errorf("Headphone = %v after a failed Init, want [121 121]", hp)
	}
}

func TestEarpieceMuteByVolume(t *testing.T) {
	m := wm8960Mixer()
	c := New(m, wm8960Layout())
	hp := m.controls["Headphone/playback"]
	if _, err := c.SetEarpieceVolume(1, DB(-6)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetEarpieceMute(1, true); err != nil {
		t.Fatal(err)
	}
	if hp.values[1] != 0 {
		t.Errorf("muted Headphone ch1 = %d, want 0 (mute)", hp.values[1])
	}
	if err := c.SetEarpieceMute(1, true); err != nil { // again: still muted, the volume kept
		t.Fatal(err)
	}
	// Changing the volume while muted changes what unmuting restores.
	if db, err := c.SetEarpieceVolume(1, DB(-10)); err != nil || db != -10 {
		t.Fatalf("SetEarpieceVolume while muted = %v, %v; want -10 dB", db, err)
	}
	if hp.values[1] != 0 {
		t.Errorf("Headphone ch1 = %d after a change while muted, want 0 still", hp.values[1])
	}
	if err := c.SetEarpieceMute(1, false); err != nil {
		t.Fatal(err)
	}
	if hp.values[1] != 111 {
		t.Errorf("unmuted Headphone ch1 = %d, want 111 (-10 dB)", hp.values[1])
	}
	if hp.values[0] != 0 {
		t.Errorf("Headphone ch0 = %d, want it untouched", hp.values[0])
	}
}

// The CS42448 (Audio Injector Octo): six ports on ADC1-3 and DAC1-3, two channels each,
// with no switches and no boost.
func TestCS42448(t *testing.T) {
	m := &fakeMixer{controls: map[string]*fakeControl{}}
	var l Layout
	for k := range 6 {
		adc, dac := fmt.Sprintf("ADC%d", k/2+1), fmt.Sprintf("DAC%d", k/2+1)
		l.Ports = append(l.Ports, Port{
			MicGain:  Control{Name: adc, Capture: true, Channel: k % 2},
			Earpiece: Control{Name: dac, Channel: k % 2},
		})
		m.controls[adc+"/capture"] = &fakeControl{lo: 0, hi: 176, values: []int64{0, 0},
			gain: func(v int64) float64 { return -64 + 0.5*float64(v) }}
		m.controls[dac+"/playback"] = &fakeControl{lo: 0, hi: 255, values: []int64{0, 0},
			gain: func(v int64) float64 {
				if v == 0 {
					return math.Inf(-1)
				}
				return -127.5 + 0.5*float64(v)
			}}
	}
	c := New(m, l)
	if err := c.Init(Levels{MicGain: DB(6), MicBoost: DB(20), Earpiece: DB(-3)}); err != nil {
		t.Fatal(err)
	}
	if got := m.controls["ADC2/capture"].values; !slices.Equal(got, []int64{140, 140}) {
		t.Errorf("ADC2 = %v, want [140 140] (+6 dB)", got)
	}
	if got := m.controls["DAC3/playback"].values; !slices.Equal(got, []int64{249, 249}) {
		t.Errorf("DAC3 = %v, want [249 249] (-3 dB)", got)
	}
	if _, err := c.SetEarpieceVolume(3, Percent(100)); err != nil {
		t.Fatal(err)
	}
	if got := m.controls["DAC2/playback"].values; !slices.Equal(got, []int64{249, 255}) {
		t.Errorf("DAC2 = %v after port 3 to 100%%, want [249 255]", got)
	}
	if err := c.SetMicMute(4, true); !errors.Is(err, ErrNoControl) {
		t.Errorf("SetMicMute on the CS42448: error %v, want ErrNoControl", err)
	}
	if _, err := c.SetMicBoost(0, DB(0)); !errors.Is(err, ErrNoControl) {
		t.Errorf("SetMicBoost on the CS42448: error %v, want ErrNoControl", err)
	}
	if err := c.SetEarpieceMute(5, true); err != nil {
		t.Fatal(err)
	}
	if got := m.controls["DAC3/playback"].values; !slices.Equal(got, []int64{249, 0}) {
		t.Errorf("DAC3 = %v after muting port 5, want [249 0]", got)
	}
}

func TestPercentWithoutDBScale(t *testing.T) {
	m := &fakeMixer{controls: map[string]*fakeControl{
		"Speaker/playback": {lo: 0, hi: 37, values: []int64{0}},
	}}
	c := New(m, Layout{Ports: []Port{{Earpiece: Control{Name: "Speaker"}}}})
	db, err := c.SetEarpieceVolume(0, Percent(50))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.controls["Speaker/playback"].values[0]; v != 19 || !math.IsNaN(db) {
		t.Errorf("Speaker = %d (%v dB), want 19 (NaN dB: no scale)", v, db)
	}
	if _, err := c.SetEarpieceVolume(0, DB(-6)); err == nil || !strings.Contains(err.Error(), "no dB scale") {
		t.Errorf("dB on a control without a scale: error %v, want no dB scale", err)
	}
}

func TestLevelString(t *testing.T) {
	if got := DB(-6).String(); got != "-6 dB" {
		t.Errorf("DB(-6) = %q", got)
	}
	if got := Percent(50).String(); got != "50%" {
		t.Errorf("Percent(50) = %q", got)
	}
}
