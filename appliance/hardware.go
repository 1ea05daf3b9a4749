package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"partyline/board"
	"partyline/hw"
	"partyline/hw/alert"
	"partyline/hw/audio"
	"partyline/hw/gpio"
	"partyline/hw/sim"
)

// hardware is what the appliance drives on its board.
type hardware struct {
	handsets []handsetHW
	audio    hw.AudioDevice
	hub      *audioHub
	speaker  hw.AlertSpeaker // nil when the board has none
	sim      *sim.Board      // the virtual hardware, on the sim board only
	closers  []func() error
	log      *slog.Logger
}

// handsetHW is the hardware of one handset.
type handsetHW struct {
	hook   hw.Switch
	button hw.Switch // nil when the handset has no join button
	led    hw.LED
}

// openHardware opens the hardware of profile, or uses simBoard on the sim board.
func openHardware(p board.Profile, simBoard *sim.Board, log *slog.Logger) (*hardware, error) {
	if p.Audio.Device == "" {
		return openSim(p, simBoard, log), nil
	}
	h := &hardware{log: log}
	for i, pins := range p.Handsets {
		hs, err := h.openHandset(pins)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("handset %d: %w", i+1, err), h.close())
		}
		h.handsets = append(h.handsets, hs)
	}
	dev, err := audio.Open(audio.Config{
		Device:       p.Audio.Device,
		SampleRate:   p.Audio.SampleRate,
		Channels:     p.Audio.Channels,
		PeriodFrames: p.Audio.PeriodFrames,
		Periods:      2,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("handset audio: %w", err), h.close())
	}
	h.closers = append(h.closers, dev.Close)
	h.audio = dev
	h.hub = newAudioHub(dev.Format())
	if spk, err := alert.Open(dev.Format().SampleRate); err != nil {
		log.Warn("no alert speaker", "err", err)
	} else {
		h.closers = append(h.closers, spk.Close)
		h.speaker = spk
	}
	return h, nil
}

func (h *hardware) openHandset(pins board.HandsetPins) (handsetHW, error) {
	var hs handsetHW
	hook, err := gpio.OpenSwitch(pins.Hook, true)
	if err != nil {
		return hs, fmt.Errorf("hook switch: %w", err)
	}
	hs.hook = hook
	if pins.Button != "" {
		button, err := gpio.OpenSwitch(pins.Button, true)
		if err != nil {
			return hs, fmt.Errorf("join button: %w", err)
		}
		hs.button = button
	}
	light, err := gpio.OpenLED(pins.LED)
	if err != nil {
		return hs, fmt.Errorf("LED: %w", err)
	}
	h.closers = append(h.closers, light.Halt)
	hs.led = light
	return hs, nil
}

func openSim(p board.Profile, b *sim.Board, log *slog.Logger) *hardware {
	if b == nil {
		b = sim.New(len(p.Handsets))
	}
	h := &hardware{sim: b, audio: b.Audio(), speaker: b.Speaker(), log: log}
	for i := range p.Handsets {
		h.handsets = append(h.handsets, handsetHW{hook: b.Hook(i), button: b.Button(i), led: b.LED(i)})
	}
	h.hub = newAudioHub(b.Audio().Format())
	return h
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
func (h *hardware) statusTone(s LineState) {
	if h.speaker == nil {
		return
	}
	var samples []int16
	switch s {
	case InCall:
		samples = beeps(h.audio.Format().SampleRate, 880, 2)
	case Failed:
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
