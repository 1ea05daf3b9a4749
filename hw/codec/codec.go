// Package codec sets the analog side of the audio codec: per handset port the microphone
// gain, the microphone boost, the earpiece volume and their mutes, and the routing the chip
// needs before a handset can be heard at all.
//
// When a kernel ASoC driver owns the codec (the usual case) everything goes through the
// card's ALSA mixer controls by name: Codec maps each port to its controls (a Layout, from
// the board profile) and converts levels in dB or percent to control values, over a Mixer
// such as the alsa-lib one OpenMixer opens. Raw register access over I2C (WM8960) is only
// for a chip no kernel driver is bound to, and is refused otherwise: the kernel keeps its
// own copy of the registers and would overwrite ours.
//
// Ports are numbered from 0 like the audio channels: port i is handset i.
package codec

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// Errors callers branch on.
var (
	// ErrNoCard is returned (wrapped) when the sound card has no mixer to open: there is no
	// such card, or no kernel driver made one.
	ErrNoCard = errors.New("no such sound card")
	// ErrNoControl is returned (wrapped) for a control the codec does not have.
	ErrNoControl = errors.New("no such control")
)

// A Level is a gain or volume to set: in dB, or in percent of the control's range.
type Level struct {
	value   float64
	percent bool
}

// DB is the level of dB decibels. It is rounded down to the control's step, so that the
// result is never louder than asked, and clamped to the control's range.
func DB(dB float64) Level { return Level{value: dB} }

// Percent is the level p percent of the way from the control's lowest to its highest
// value, as amixer counts, rounded to the nearest step; it is clamped to 0 to 100.
func Percent(p float64) Level { return Level{value: p, percent: true} }

// String returns the level as "-6 dB" or "50%".
func (l Level) String() string {
	if l.percent {
		return fmt.Sprintf("%g%%", l.value)
	}
	return fmt.Sprintf("%g dB", l.value)
}

// resolve returns the value in [lo, hi] that l asks for, given the gain gain(v) of every
// value v, which must not decrease as v grows (a muted lowest value has -Inf dB).
func resolve(l Level, lo, hi int64, gain func(int64) (float64, error)) (int64, error) {
	if math.IsNaN(l.value) {
		return 0, fmt.Errorf("level %v is not a number", l)
	}
	if lo > hi {
		return 0, fmt.Errorf("control range %d to %d is empty", lo, hi)
	}
	if l.percent {
		p := min(max(l.value, 0), 100)
		return lo + int64(math.Round(p/100*float64(hi-lo))), nil
	}
	// The loudest value whose gain is at most l (allowing for rounding in the dB tables),
	// or lo when even lo is louder.
	const slack = 1e-6
	a, b := lo, hi
	for a < b {
		m := a + (b-a+1)/2
		g, err := gain(m)
		if err != nil {
			return 0, err
		}
		if g <= l.value+slack {
			a = m
		} else {
			b = m - 1
		}
	}
	return a, nil
}

// Levels are the start-up levels Init gives every port that has the control.
type Levels struct {
	MicGain  Level // the input amplifier (PGA)
	MicBoost Level // the boost stage ahead of it
	Earpiece Level
}

// A Control is one side of one channel of an ALSA simple mixer control, as amixer lists
// them ("Simple mixer control 'Capture',0").
type Control struct {
	Name string // e.g. "Capture", "Headphone", "Left Input Boost Mixer LINPUT1"
	// Capture selects the control's capture side; otherwise its playback side. A control
	// without sides (a plain "X Volume" or "X Switch") answers on both.
	Capture bool
	Channel int // 0 is front left (or mono), 1 front right
}

// String names the control for errors, e.g. `"Capture" capture channel 1`.
func (c Control) String() string {
	side := "playback"
	if c.Capture {
		side = "capture"
	}
	return fmt.Sprintf("%q %s channel %d", c.Name, side, c.Channel)
}

// A Port is the mixer controls of one handset port. A Control without a Name means the
// codec has none.
type Port struct {
	MicGain   Control // volume: the input amplifier (PGA)
	MicBoost  Control // volume: the boost stage ahead of it
	MicSwitch Control // switch, on = the microphone is live
	Earpiece  Control // volume
	// EarpieceSwitch is a switch, on = the earpiece sounds. Without one, muting turns
	// Earpiece down to its lowest value (a mute step on the chips that have one).
	EarpieceSwitch Control
}

// A Layout says which mixer controls belong to which port, and which switches route the
// codec's signals.
type Layout struct {
	Ports []Port
	// Routing are the switches Init turns on, e.g. the WM8960's paths from the microphone
	// to the boost mixer and from the DAC to the headphone mixer.
	Routing []Control
}

// A Mixer is what Codec needs of a sound card's mixer. Values are the controls' own
// integers; errors name the card and the control.
type Mixer interface {
	// VolumeRange returns the lowest and highest value of volume control c.
	VolumeRange(c Control) (lo, hi int64, err error)
	// VolumeDB returns the gain of value v of volume control c in dB, -Inf for a mute step.
	VolumeDB(c Control, v int64) (float64, error)
	// Volume returns the value of volume control c.
	Volume(c Control) (int64, error)
	// SetVolume sets volume control c to v, which is within its range.
	SetVolume(c Control, v int64) error
	// SetSwitch turns switch c on or off.
	SetSwitch(c Control, on bool) error
}

// A Codec sets the levels of a codec's ports through mixer controls. Its methods may be
// called from several goroutines.
type Codec struct {
	mixer  Mixer
	layout Layout

	mu sync.Mutex // guards following and makes each change one sequence of mixer calls
	// saved is, per port muted by turning Earpiece down, the value to restore; -1 for the
	// other ports.
	saved []int64
}

// New returns the codec whose controls layout names, on mixer.
func New(mixer Mixer, layout Layout) *Codec {
	saved := make([]int64, len(layout.Ports))
	for i := range saved {
		saved[i] = -1
	}
	return &Codec{mixer: mixer, layout: layout, saved: saved}
}

// Ports returns the number of ports.
func (c *Codec) Ports() int { return len(c.layout.Ports) }

// Init turns the routing switches on, sets every port's levels to lv where it has the
// control, and unmutes its microphone and earpiece. It carries on past a control that fails
// and returns every failure.
func (c *Codec) Init(lv Levels) error {
	var errs []error
	for _, r := range c.layout.Routing {
		if err := c.mixer.SetSwitch(r, true); err != nil {
			errs = append(errs, fmt.Errorf("routing: %w", err))
		}
	}
	for port, p := range c.layout.Ports {
		if p.MicGain.Name != "" {
			_, err := c.SetMicGain(port, lv.MicGain)
			errs = append(errs, err)
		}
		if p.MicBoost.Name != "" {
			_, err := c.SetMicBoost(port, lv.MicBoost)
			errs = append(errs, err)
		}
		if p.MicSwitch.Name != "" {
			errs = append(errs, c.SetMicMute(port, false))
		}
		if p.Earpiece.Name != "" {
			_, err := c.SetEarpieceVolume(port, lv.Earpiece)
			errs = append(errs, err)
			errs = append(errs, c.SetEarpieceMute(port, false))
		}
	}
	return errors.Join(errs...)
}

// port returns port i's controls.
func (c *Codec) port(i int) (Port, error) {
	if i < 0 || i >= len(c.layout.Ports) {
		return Port{}, fmt.Errorf("codec: no port %d (it has %d)", i, len(c.layout.Ports))
	}
	return c.layout.Ports[i], nil
}

// SetMicGain sets port's input amplifier to l and returns the gain set, in dB.
func (c *Codec) SetMicGain(port int, l Level) (float64, error) {
	p, err := c.port(port)
	if err != nil {
		return 0, err
	}
	return c.setVolume(port, "mic gain", p.MicGain, l, false)
}

// SetMicBoost sets port's microphone boost to l and returns the gain set, in dB.
func (c *Codec) SetMicBoost(port int, l Level) (float64, error) {
	p, err := c.port(port)
	if err != nil {
		return 0, err
	}
	return c.setVolume(port, "mic boost", p.MicBoost, l, false)
}

// SetEarpieceVolume sets port's earpiece volume to l and returns the gain set, in dB. On a
// port muted by turning the volume down, it is the volume unmuting restores.
func (c *Codec) SetEarpieceVolume(port int, l Level) (float64, error) {
	p, err := c.port(port)
	if err != nil {
		return 0, err
	}
	return c.setVolume(port, "earpiece volume", p.Earpiece, l, true)
}

// setVolume sets volume control ctl of port to l. For the earpiece of a port muted by
// volume, it only saves the value for unmuting.
func (c *Codec) setVolume(port int, what string, ctl Control, l Level, earpiece bool) (float64, error) {
	if ctl.Name == "" {
		return 0, fmt.Errorf("port %d %s: %w", port, what, ErrNoControl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, gain, err := c.value(ctl, l)
	if err != nil {
		return 0, fmt.Errorf("port %d %s %v: %w", port, what, l, err)
	}
	if earpiece && c.saved[port] >= 0 {
		c.saved[port] = v
		return gain, nil
	}
	if err := c.mixer.SetVolume(ctl, v); err != nil {
		return 0, fmt.Errorf("port %d %s %v: %w", port, what, l, err)
	}
	return gain, nil
}

// value returns the value of volume control ctl that l asks for, and its gain in dB (NaN
// for a control without a dB scale, which only a percentage can set).
func (c *Codec) value(ctl Control, l Level) (int64, float64, error) {
	lo, hi, err := c.mixer.VolumeRange(ctl)
	if err != nil {
		return 0, 0, err
	}
	v, err := resolve(l, lo, hi, func(v int64) (float64, error) { return c.mixer.VolumeDB(ctl, v) })
	if err != nil {
		return 0, 0, err
	}
	gain, err := c.mixer.VolumeDB(ctl, v)
	if err != nil && !l.percent {
		return 0, 0, err
	}
	if err != nil {
		gain = math.NaN() // a control without a dB scale, set by percent
	}
	return v, gain, nil
}

// SetMicMute mutes or unmutes port's microphone with its switch. A codec without one
// (such as the CS42448) returns ErrNoControl: mute the microphone in the audio path then.
func (c *Codec) SetMicMute(port int, muted bool) error {
	p, err := c.port(port)
	if err != nil {
		return err
	}
	if p.MicSwitch.Name == "" {
		return fmt.Errorf("port %d mic mute: %w", port, ErrNoControl)
	}
	if err := c.mixer.SetSwitch(p.MicSwitch, !muted); err != nil {
		return fmt.Errorf("port %d mic mute: %w", port, err)
	}
	return nil
}

// SetEarpieceMute mutes or unmutes port's earpiece: with its switch, or else by turning
// its volume to the lowest value and back.
func (c *Codec) SetEarpieceMute(port int, muted bool) error {
	p, err := c.port(port)
	if err != nil {
		return err
	}
	if p.EarpieceSwitch.Name != "" {
		if err := c.mixer.SetSwitch(p.EarpieceSwitch, !muted); err != nil {
			return fmt.Errorf("port %d earpiece mute: %w", port, err)
		}
		return nil
	}
	if p.Earpiece.Name == "" {
		return fmt.Errorf("port %d earpiece mute: %w", port, ErrNoControl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.muteByVolume(port, p.Earpiece, muted); err != nil {
		return fmt.Errorf("port %d earpiece mute: %w", port, err)
	}
	return nil
}

// muteByVolume turns ctl to its lowest value, saving the one it had, or back to the saved
// one. c.mu must be held.
func (c *Codec) muteByVolume(port int, ctl Control, muted bool) error {
	if muted == (c.saved[port] >= 0) {
		return nil
	}
	if !muted {
		if err := c.mixer.SetVolume(ctl, c.saved[port]); err != nil {
			return err
		}
		c.saved[port] = -1
		return nil
	}
	v, err := c.mixer.Volume(ctl)
	if err != nil {
		return err
	}
	lo, _, err := c.mixer.VolumeRange(ctl)
	if err != nil {
		return err
	}
	if err := c.mixer.SetVolume(ctl, lo); err != nil {
		return err
	}
	c.saved[port] = v
	return nil
}
