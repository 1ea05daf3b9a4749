package appliance

import (
	"partyline/appliance/web"
	"partyline/hw/audio"
)

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
	// EarpieceDropped counts, per channel, the earpiece samples dropped to catch up with
	// the call's audio after it came late in a burst: audio the handset never played.
	EarpieceDropped []uint64
}

// AudioStats reports the handsets' audio counters. It is safe to call at any time.
func (a *Appliance) AudioStats() AudioStats {
	s := AudioStats{EarpieceUnderruns: a.hw.hub.earUnderruns(), EarpieceDropped: a.hw.hub.earDropped()}
	if dev, ok := a.hw.audio.(*audio.Device); ok {
		s.Device, s.HasDevice = dev.Stats(), true
	}
	return s
}

// status is what the admin page shows of the audio device: nil when the audio is virtual.
func (s AudioStats) status() *web.AudioStatus {
	if !s.HasDevice {
		return nil
	}
	return &web.AudioStatus{
		Overruns:  s.Device.Overruns,
		Underruns: s.Device.Underruns,
		Restarts:  s.Device.Restarts,
		LastError: s.Device.LastError,
	}
}

// earpieceUnderruns is the earpiece underruns of channel, 0 for a channel the audio lacks.
func (s AudioStats) earpieceUnderruns(channel int) uint64 {
	return ofChannel(s.EarpieceUnderruns, channel)
}

// earpieceDropped is the earpiece samples dropped on channel, 0 for a channel the audio
// lacks.
func (s AudioStats) earpieceDropped(channel int) uint64 { return ofChannel(s.EarpieceDropped, channel) }

// ofChannel returns counts[channel], 0 for a channel out of range.
func ofChannel(counts []uint64, channel int) uint64 {
	if channel < 0 || channel >= len(counts) {
		return 0
	}
	return counts[channel]
}
