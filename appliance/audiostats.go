package appliance

import "partyline/hw/audio"

// AudioStats reports the counters of the handsets' ALSA device since it opened: periods
// processed, overruns and underruns (time the device lost), reopens after failures and the
// last failure. ok is false when the handsets' audio is virtual (the sim board without
// Config.Audio), which keeps no such counters.
func (a *Appliance) AudioStats() (s audio.Stats, ok bool) {
	dev, ok := a.hw.audio.(*audio.Device)
	if !ok {
		return audio.Stats{}, false
	}
	return dev.Stats(), true
}
