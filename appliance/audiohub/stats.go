package audiohub

import (
	"partyline/hw"
	"partyline/hw/audio"
)

// Stats is what the appliance counts of its handsets' audio.
type Stats struct {
	// Device holds the counters of the handsets' ALSA device since it opened: periods
	// processed, overruns and underruns (time the device lost), reopens after failures and
	// the last failure. HasDevice is false when the audio is virtual (the sim board without
	// Config.Audio), which keeps no such counters.
	Device    audio.Stats
	HasDevice bool
	// EarpieceUnderruns counts, per channel, the device periods in which a call's earpiece
	// ran dry because the call's audio came late from the network side (the pump).
	EarpieceUnderruns []uint64
	// EarpieceDropped counts, per channel, the earpiece samples dropped to catch up with
	// the call's audio after it came late in a burst: audio the handset never played.
	EarpieceDropped []uint64
}

// Stats reports the counters of the hub and of dev, the device whose callback it is. It
// is safe to call at any time.
func (h *Hub) Stats(dev hw.AudioDevice) Stats {
	s := Stats{EarpieceUnderruns: h.EarUnderruns(), EarpieceDropped: h.EarDropped()}
	if d, ok := dev.(*audio.Device); ok {
		s.Device, s.HasDevice = d.Stats(), true
	}
	return s
}

// EarpieceUnderrunsOf is the earpiece underruns of channel, 0 for a channel the audio
// lacks.
func (s Stats) EarpieceUnderrunsOf(channel int) uint64 {
	return ofChannel(s.EarpieceUnderruns, channel)
}

// EarpieceDroppedOf is the earpiece samples dropped on channel, 0 for a channel the audio
// lacks.
func (s Stats) EarpieceDroppedOf(channel int) uint64 { return ofChannel(s.EarpieceDropped, channel) }

// ofChannel returns counts[channel], 0 for a channel out of range.
func ofChannel(counts []uint64, channel int) uint64 {
	if channel < 0 || channel >= len(counts) {
		return 0
	}
	return counts[channel]
}
