package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sync"

	"periph.io/x/conn/v3/i2c"

	"partyline/appliance/audiohub"
	"partyline/appliance/handset"
	"partyline/board"
	"partyline/hw"
	"partyline/hw/alert"
	"partyline/hw/audio"
	"partyline/hw/codec"
	"partyline/hw/gpio"
	"partyline/hw/mcp23017"
	"partyline/hw/sim"
)

// hardware is what the appliance drives on its board.
type hardware struct {
	handsets []handsetHW
	audio    hw.AudioDevice
	hub      *audiohub.Hub
	speaker  hw.AlertSpeaker // nil when the board has none
	sim      *sim.Board      // the virtual hardware, on the sim board only
	// runners are the loops the hardware needs while it is used: the expanders' input
	// sampling. run runs them.
	runners []func(context.Context) error
	closers []func() error
	sys     fs.FS // the root file system, where the codec's kernel driver is looked up
	log     *slog.Logger
}

// handsetHW is the hardware of one handset.
type handsetHW struct {
	hook    hw.Switch
	button  hw.Switch // nil when the handset has no join button
	led     hw.LED
	mute    hw.Switch // nil when the handset has no mute button
	muteLED hw.LED    // nil when the handset has no "muted" light
}

// openHardware opens the hardware of profile, or uses simBoard on the sim board.
func openHardware(p board.Profile, simBoard *sim.Board, log *slog.Logger) (*hardware, error) {
	if p.Name == board.Sim.Name || p.Audio.Device == "" {
		return openSim(p, simBoard, log)
	}
	h := &hardware{sys: os.DirFS("/"), log: log}
	if err := h.openHandsets(p); err != nil {
		return nil, errors.Join(err, h.close())
	}
	h.setUpCodec(p.Codec)
	dev, err := h.openAudio(p.Audio)
	if err != nil {
		return nil, errors.Join(err, h.close())
	}
	if spk, err := alert.Open(dev.Format().SampleRate); err != nil {
		log.Warn("no alert speaker", "err", err)
	} else {
		h.closers = append(h.closers, spk.Close)
		h.speaker = spk
	}
	return h, nil
}

// run runs the hardware's loops until ctx is done, and returns nil then; or until one
// fails, and returns its error after stopping the others. Without loops (the sim board,
// boards without expander inputs) it returns nil at once.
func (h *hardware) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(h.runners))
	var wg sync.WaitGroup
	for _, r := range h.runners {
		wg.Go(func() {
			if err := r(ctx); err != nil && ctx.Err() == nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// expander is an open I/O expander chip.
type expander struct {
	dev       *mcp23017.Dev
	interrupt hw.Switch // nil: polled
	inputs    bool      // some handset line is an input on it: Run must sample it
}

// openHandsets opens the expanders of p, then every handset's lines, and adds a runner for
// each expander with inputs.
func (h *hardware) openHandsets(p board.Profile) error {
	chips, err := h.openExpanders(p.Expanders)
	if err != nil {
		return err
	}
	for i, pins := range p.Handsets {
		hs, err := h.openHandset(pins, chips)
		if err != nil {
			return fmt.Errorf("handset %d: %w", i+1, err)
		}
		h.handsets = append(h.handsets, hs)
	}
	for _, e := range p.Expanders {
		chip := chips[e.Addr]
		if !chip.inputs {
			continue
		}
		cfg := mcp23017.WatchConfig{Interrupt: chip.interrupt}
		h.runners = append(h.runners, func(ctx context.Context) error { return chip.dev.Run(ctx, cfg) })
	}
	return nil
}

// openExpanders opens each expander's I2C bus (once per bus), sets up the chip and opens
// its interrupt line. Expanders are told apart by address, as handset lines name them.
func (h *hardware) openExpanders(exps []board.Expander) (map[uint16]*expander, error) {
	chips := map[uint16]*expander{}
	buses := map[string]i2c.Bus{}
	for _, e := range exps {
		if e.Chip != "mcp23017" {
			return nil, fmt.Errorf("expander %s at %#02x: unknown chip (known: mcp23017)", e.Chip, e.Addr)
		}
		if _, dup := chips[e.Addr]; dup {
			return nil, fmt.Errorf("two expanders at %#02x: handset lines could not tell them apart", e.Addr)
		}
		bus, ok := buses[e.Bus]
		if !ok {
			b, err := gpio.OpenI2C(e.Bus)
			if err != nil {
				return nil, fmt.Errorf("expander at %#02x: %w", e.Addr, err)
			}
			h.closers = append(h.closers, b.Close)
			buses[e.Bus], bus = b, b
		}
		dev, err := mcp23017.Open(bus, e.Addr)
		if err != nil {
			return nil, fmt.Errorf("expander on I2C bus %s: %w", e.Bus, err)
		}
		chip := &expander{dev: dev}
		if e.Interrupt != "" {
			intr, err := gpio.OpenInterrupt(e.Interrupt)
			if err != nil {
				return nil, fmt.Errorf("interrupt line of %v: %w", dev, err)
			}
			chip.interrupt = intr
		}
		chips[e.Addr] = chip
	}
	return chips, nil
}

// openHandset opens the lines of one handset, on GPIO or on chips.
func (h *hardware) openHandset(pins board.HandsetPins, chips map[uint16]*expander) (handsetHW, error) {
	var hs handsetHW
	var err error
	if hs.hook, err = h.openSwitch(pins.Hook, chips); err != nil {
		return hs, fmt.Errorf("hook switch: %w", err)
	}
	if pins.Button != "" {
		if hs.button, err = h.openSwitch(pins.Button, chips); err != nil {
			return hs, fmt.Errorf("join button: %w", err)
		}
	}
	if hs.led, err = h.openLED(pins.LED, chips); err != nil {
		return hs, fmt.Errorf("LED: %w", err)
	}
	if pins.Mute != "" {
		if hs.mute, err = h.openSwitch(pins.Mute, chips); err != nil {
			return hs, fmt.Errorf("mute button: %w", err)
		}
	}
	if pins.MuteLED != "" {
		if hs.muteLED, err = h.openLED(pins.MuteLED, chips); err != nil {
			return hs, fmt.Errorf("mute LED: %w", err)
		}
	}
	return hs, nil
}

// expanderPin resolves line to a pin of one of chips; ok is false for a GPIO line.
func expanderPin(line string, chips map[uint16]*expander) (chip *expander, pin mcp23017.Pin, ok bool, err error) {
	l, ok, err := board.ParseExpanderLine(line)
	if !ok || err != nil {
		return nil, 0, ok, err
	}
	chip, found := chips[l.Addr]
	if !found {
		return nil, 0, true, fmt.Errorf("line %s: the board has no expander at %#02x", line, l.Addr)
	}
	if pin, err = mcp23017.ParsePin(l.Pin); err != nil {
		return nil, 0, true, fmt.Errorf("line %s: %w", line, err)
	}
	return chip, pin, true, nil
}

// openSwitch opens line as an active-low switch input: a GPIO line, or an expander pin.
func (h *hardware) openSwitch(line string, chips map[uint16]*expander) (hw.Switch, error) {
	chip, pin, onExpander, err := expanderPin(line, chips)
	if err != nil {
		return nil, err
	}
	if !onExpander {
		return gpio.OpenSwitch(line, true)
	}
	sw, err := chip.dev.Switch(pin, true)
	if err != nil {
		return nil, fmt.Errorf("line %s: %w", line, err)
	}
	chip.inputs = true
	return sw, nil
}

// openLED opens line as a light, off: a GPIO line, or an expander pin. It goes off again
// when the hardware is closed.
func (h *hardware) openLED(line string, chips map[uint16]*expander) (hw.LED, error) {
	chip, pin, onExpander, err := expanderPin(line, chips)
	if err != nil {
		return nil, err
	}
	if !onExpander {
		light, err := gpio.OpenLED(line)
		if err != nil {
			return nil, err
		}
		h.closers = append(h.closers, light.Halt)
		return light, nil
	}
	light, err := chip.dev.LED(pin)
	if err != nil {
		return nil, fmt.Errorf("line %s: %w", line, err)
	}
	h.closers = append(h.closers, light.Halt)
	return light, nil
}

// setUpCodec sets codec c to its start-up routing and levels: through the ALSA mixer of its
// card, where the kernel driver owns it; or, for a WM8960 whose card has no mixer, over I2C
// if no kernel driver is bound to the chip. It only logs a failure: the handsets work
// without it, at the levels the codec has.
func (h *hardware) setUpCodec(c board.CodecProfile) {
	if c.Chip == "" {
		return
	}
	levels := codec.Levels{MicGain: codec.DB(c.MicGainDB), MicBoost: codec.DB(c.MicBoostDB), Earpiece: codec.DB(c.EarpieceDB)}
	log := h.log.With("codec", c.Chip, "card", c.Card)
	err := setUpMixer(c, levels)
	if err == nil {
		log.Info("codec set up through the ALSA mixer", "mic_gain_db", c.MicGainDB, "mic_boost_db", c.MicBoostDB,
			"earpiece_db", c.EarpieceDB)
		return
	}
	if errors.Is(err, codec.ErrNoCard) && c.Chip == "wm8960" && c.Bus != "" {
		rawErr := h.setUpWM8960(c, levels)
		if rawErr == nil {
			log.Info("codec set up over I2C: no kernel driver is bound to it", "bus", c.Bus,
				"addr", fmt.Sprintf("%#02x", c.Addr))
			return
		}
		err = errors.Join(err, rawErr)
	}
	log.Warn("codec not set up: its routing and levels stay as they are", "err", err)
}

// setUpMixer sets up codec c through its card's ALSA mixer.
func setUpMixer(c board.CodecProfile, levels codec.Levels) error {
	m, err := codec.OpenMixer(c.Card)
	if err != nil {
		return err
	}
	return errors.Join(codec.New(m, codecLayout(c)).Init(levels), m.Close())
}

// setUpWM8960 sets up the WM8960 of c over I2C.
func (h *hardware) setUpWM8960(c board.CodecProfile, levels codec.Levels) error {
	bus, err := gpio.OpenI2C(c.Bus)
	if err != nil {
		return err
	}
	chip, err := codec.OpenWM8960(bus, c.Bus, c.Addr, h.sys)
	if err == nil {
		err = chip.Init(levels)
	}
	return errors.Join(err, bus.Close())
}

// codecLayout is the codec package's view of c's controls.
func codecLayout(c board.CodecProfile) codec.Layout {
	var l codec.Layout
	for _, ch := range c.Handsets {
		l.Ports = append(l.Ports, codec.Port{
			MicGain:        codec.Control(ch.MicGain),
			MicBoost:       codec.Control(ch.MicBoost),
			MicSwitch:      codec.Control(ch.MicSwitch),
			Earpiece:       codec.Control(ch.Earpiece),
			EarpieceSwitch: codec.Control(ch.EarpieceSwitch),
		})
	}
	for _, r := range c.Routing {
		l.Routing = append(l.Routing, codec.Control(r))
	}
	return l
}

// openAudio opens the ALSA device of a board's handsets and the hub on it.
func (h *hardware) openAudio(a board.AudioProfile) (*audio.Device, error) {
	dev, err := audio.Open(audio.Config{
		Device:       a.Device,
		SampleRate:   a.SampleRate,
		Channels:     a.Channels,
		PeriodFrames: a.PeriodFrames,
		Periods:      2,
	})
	if err != nil {
		return nil, fmt.Errorf("handset audio: %w", err)
	}
	h.closers = append(h.closers, dev.Close)
	h.audio = dev
	h.hub = audiohub.New(dev.Format())
	return dev, nil
}

// openSim uses b (or a new sim board) for the switches and lights, and for the audio too
// unless p names an ALSA device.
func openSim(p board.Profile, b *sim.Board, log *slog.Logger) (*hardware, error) {
	if b == nil {
		b = sim.New(len(p.Handsets))
	}
	h := &hardware{sim: b, audio: b.Audio(), speaker: b.Speaker(), log: log}
	for i := range p.Handsets {
		h.handsets = append(h.handsets, handsetHW{hook: b.Hook(i), button: b.Button(i), led: b.LED(i), mute: b.MuteButton(i)})
	}
	if p.Audio.Device != "" {
		if _, err := h.openAudio(p.Audio); err != nil {
			return nil, err
		}
		return h, nil
	}
	h.hub = audiohub.New(b.Audio().Format())
	b.Audio().PaceIdle(h.hub.Idle) // no call, no need to wake every 5 ms
	h.hub.OnBusy(b.Audio().Wake)
	return h, nil
}

// close releases the hardware in the reverse order of opening.
func (h *hardware) close() error {
	var errs []error
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i]())
	}
	h.closers = nil
	return errors.Join(errs...)
}

// statusTone tells the handset's user by ear that a join worked or failed: two short high
// beeps for "in the conference", three low ones for "failed".
func (h *hardware) statusTone(s handset.State) {
	if h.speaker == nil {
		return
	}
	var samples []int16
	switch s {
	case handset.InCall:
		samples = beeps(h.audio.Format().SampleRate, 880, 2)
	case handset.Failed:
		samples = beeps(h.audio.Format().SampleRate, 440, 3)
	default:
		return
	}
	if err := h.speaker.Play(h.audio.Format().SampleRate, samples); err != nil {
		h.log.Warn("alert speaker", "err", err)
	}
}

// beeps makes n beeps of freq Hz, 100 ms each with 100 ms of silence after each, with
// 5 ms ramps so that they do not click.
func beeps(rate int, freq float64, n int) []int16 {
	const amplitude = 0.25 * math.MaxInt16
	beep, gap, ramp := rate/10, rate/10, rate/200
	out := make([]int16, 0, n*(beep+gap))
	for range n {
		for i := range beep {
			g := min(1, float64(i)/float64(ramp), float64(beep-1-i)/float64(ramp))
			out = append(out, int16(amplitude*g*math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
		}
		out = append(out, make([]int16, gap)...)
	}
	return out
}
