// Package sim is a virtual board: hook switches and buttons set by tests or the admin page,
// LEDs and an alert speaker that remember their state, and a duplex audio device paced in
// real time whose microphones play test tones and whose earpieces are recorded. It lets the
// whole appliance run on a PC. It knows nothing of boards, SIP or conferences.
package sim

import (
	"context"
	"sync"
)

// A Board is the sim board's hardware for a fixed number of handsets.
type Board struct {
	hooks   []*Switch
	buttons []*Switch
	mutes   []*Switch
	leds    []*LED
	speaker *Speaker
	audio   *Audio
}

// New returns a sim board with handsets handsets (at least one): all hooks on-hook, all
// buttons released, all LEDs off.
func New(handsets int) *Board {
	handsets = max(handsets, 1)
	b := &Board{speaker: &Speaker{}, audio: newAudio(handsets)}
	for range handsets {
		b.hooks = append(b.hooks, newSwitch())
		b.buttons = append(b.buttons, newSwitch())
		b.mutes = append(b.mutes, newSwitch())
		b.leds = append(b.leds, &LED{})
	}
	return b
}

// Handsets returns how many handsets the board has.
func (b *Board) Handsets() int { return len(b.hooks) }

// Hook returns handset i's hook switch (active = off-hook), or nil if there is no handset i.
func (b *Board) Hook(i int) *Switch {
	if i < 0 || i >= len(b.hooks) {
		return nil
	}
	return b.hooks[i]
}

// Button returns handset i's button (active = pressed), or nil if there is no handset i.
func (b *Board) Button(i int) *Switch {
	if i < 0 || i >= len(b.buttons) {
		return nil
	}
	return b.buttons[i]
}

// MuteButton returns handset i's mute button (active = pressed), or nil if there is no
// handset i.
func (b *Board) MuteButton(i int) *Switch {
	if i < 0 || i >= len(b.mutes) {
		return nil
	}
	return b.mutes[i]
}

// LED returns handset i's LED, or nil if there is no handset i.
func (b *Board) LED(i int) *LED {
	if i < 0 || i >= len(b.leds) {
		return nil
	}
	return b.leds[i]
}

// Speaker returns the board's alert speaker.
func (b *Board) Speaker() *Speaker { return b.speaker }

// Audio returns the board's duplex audio device, one channel per handset.
func (b *Board) Audio() *Audio { return b.audio }

// maxPending bounds the changes a Switch keeps for a caller that does not Wait.
const maxPending = 64

// A Switch is a virtual hook switch or button. It implements hw.Switch.
type Switch struct {
	mu      sync.Mutex // guards following
	active  bool
	pending []bool        // changes not yet reported by Wait, oldest first
	changed chan struct{} // closed and replaced on every change
}

func newSwitch() *Switch { return &Switch{changed: make(chan struct{})} }

// Set moves the switch. Setting the position it is already in does nothing.
func (s *Switch) Set(active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if active == s.active {
		return
	}
	s.active = active
	if len(s.pending) >= maxPending {
		// Drop the oldest press and release together so the reports still alternate.
		s.pending = append(s.pending[:0], s.pending[2:]...)
	}
	s.pending = append(s.pending, active)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Active reports the switch's current position.
func (s *Switch) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Wait reports the next change of position, in order: a press and release that happened
// since the last Wait are reported by two consecutive calls. It returns ctx's error when
// ctx is done first.
func (s *Switch) Wait(ctx context.Context) (bool, error) {
	for {
		s.mu.Lock()
		if len(s.pending) > 0 {
			v := s.pending[0]
			s.pending = s.pending[1:]
			s.mu.Unlock()
			return v, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// An LED is a virtual indicator light. It implements hw.LED.
type LED struct {
	mu sync.Mutex // guards following
	on bool
}

// Set switches the light on or off. It never fails.
func (l *LED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = on
	return nil
}

// On reports whether the light is on.
func (l *LED) On() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.on
}

// A Sound is one clip played on the alert speaker.
type Sound struct {
	SampleRate int
	Samples    []int16
}

// keepSounds is how many of the last sounds played a Speaker keeps: a sim board left
// running (make run, make soak) plays a status tone at every join, and must not grow.
const keepSounds = 16

// A Speaker is a virtual alert speaker that records the last sounds it was asked to play
// (keepSounds of them). It implements hw.AlertSpeaker.
type Speaker struct {
	mu      sync.Mutex // guards following
	played  []Sound
	ringing string // the country whose cadence rings, "" when silent
}

// Ring records that the speaker rings country's cadence, as the alert speaker's Ring
// queues it, until Silence. It never fails.
func (s *Speaker) Ring(country string, cycles int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ringing = country
	return nil
}

// Silence records that the speaker stopped ringing.
func (s *Speaker) Silence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ringing = ""
}

// Ringing returns the country whose cadence rings, "" when the speaker is not ringing.
func (s *Speaker) Ringing() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ringing
}

// Play records a copy of samples and returns at once. It never fails.
func (s *Speaker) Play(sampleRate int, samples []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.played) == keepSounds {
		s.played = append(s.played[:0], s.played[1:]...)
	}
	s.played = append(s.played, Sound{SampleRate: sampleRate, Samples: append([]int16(nil), samples...)})
	return nil
}

// Played returns the last sounds played (at most keepSounds), oldest first.
func (s *Speaker) Played() []Sound {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sound, len(s.played))
	for i, p := range s.played {
		out[i] = Sound{SampleRate: p.SampleRate, Samples: append([]int16(nil), p.Samples...)}
	}
	return out
}
