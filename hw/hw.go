// Package hw is the appliance's shared hardware vocabulary: the small interfaces that real
// drivers (hw/gpio, hw/audio), the virtual sim board (hw/sim) and test fakes all implement.
// It holds no drivers itself.
package hw

import "context"

// A Switch is a two-position input: a hook switch or a push button.
type Switch interface {
	// Wait blocks until the switch is in a position other than the one it last reported to
	// this caller (initially: inactive), or until ctx is done. It returns the new position:
	// true means active (handset off-hook, button pressed).
	Wait(ctx context.Context) (active bool, err error)
}

// An LED is one indicator light.
type LED interface {
	// Set switches the light on or off.
	Set(on bool) error
}

// AudioFormat describes the interleaved signed 16-bit PCM a duplex audio device exchanges
// once per period. Channel i of capture and of playback belongs to handset i.
type AudioFormat struct {
	SampleRate   int // frames per second, e.g. 48000
	Channels     int // handsets: capture and playback have the same count
	PeriodFrames int // frames per period, e.g. 240 (5 ms at 48 kHz)
}

// An AudioDevice is a duplex device whose period is the clock of every handset's audio.
type AudioDevice interface {
	// Format reports the format process exchanges.
	Format() AudioFormat
	// Run starts the device and calls process once per period with the interleaved
	// microphone samples just captured (in) and the earpiece samples to fill (out), both
	// PeriodFrames*Channels long, until ctx is done. process must not block or allocate;
	// the slices are only valid during the call. Run returns after the device has stopped.
	Run(ctx context.Context, process func(in, out []int16)) error
}

// An AlertSpeaker is the device's own loudspeaker for ringing, prompts and status tones.
type AlertSpeaker interface {
	// Play queues mono samples at sampleRate behind what is already queued and returns at
	// once; it never waits for the sound to be heard.
	Play(sampleRate int, samples []int16) error
}
