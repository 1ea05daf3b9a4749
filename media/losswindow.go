package media

import "time"

// qualityWindow is the time over which Session.Stats rates the audio received (R and
// MOS): long enough that the loss of a few packets does not swing the figure, short
// enough that it shows a fault while the fault lasts and recovers once it is over.
const qualityWindow = 10 * time.Second

// A lossWindow keeps, once a second of playout, how many packets the stream had been
// expected to deliver and how many of them were lost or came too late, for the last
// qualityWindow, so that the loss over that window can be told from the loss since the
// call began. It never allocates.
type lossWindow struct {
	samples [qualityWindow / time.Second]lossSample
	taken   int // samples taken since the start
	pops    int // playouts since the last sample
}

// A lossSample is the cumulative count of packets expected and of those lost or late.
type lossSample struct{ expected, impaired uint64 }

// played counts one playout of the packets of perSecond a second; each second it samples
// now.
func (w *lossWindow) played(perSecond int, now lossSample) {
	w.pops++
	if w.pops < perSecond {
		return
	}
	w.pops = 0
	w.samples[w.taken%len(w.samples)] = now
	w.taken++
}

// lossPercent returns the share of the packets expected over the window up to now that
// were lost or late, in percent: since the start while the call is younger than the
// window, or while no packet was expected within it (the network is cut, and only the
// packets after the cut will tell how many it lost).
func (w *lossWindow) lossPercent(now lossSample) float64 {
	var base lossSample
	if w.taken >= len(w.samples) {
		base = w.samples[w.taken%len(w.samples)] // the oldest
	}
	if now.expected <= base.expected {
		base = lossSample{}
	}
	if now.expected == 0 {
		return 0
	}
	impaired := int64(now.impaired) - int64(base.impaired) // late packets make lost smaller
	return 100 * float64(max(impaired, 0)) / float64(now.expected-base.expected)
}
