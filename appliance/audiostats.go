package appliance

import "partyline/hw/audio"

// AudioStats is what the appliance counts of its handsets' audio.
type AudioStats struct {
	// Device holds the counters of the handsets' ALSA device since it opened: periods
	// processed, overruns and underruns (time the device lost), reopens after failures and
	// the last failure. HasDevice is false when the audio is virtual (the sim board without
	// Config.Audio), which keeps no such counters.
	Device    audio.Stats
	HasDevice bool
	// EarpieceUnderruns counts, per channel, the device periods in which a call's earpiece
	// ran dry because the call's audio came late from the network side (the pump).
	EarpieceUnderruns []uint64
}

// AudioStats reports the handsets' audio counters. It is safe to call at any time.
func (a *Appliance) AudioStats() AudioStats {
	s := AudioStats{EarpieceUnderruns: a.hw.hub.earUnderruns()}
	if dev, ok := a.hw.audio.(*audio.Device); ok {
		s.Device, s.HasDevice = dev.Stats(), true
	}
	return s
}
