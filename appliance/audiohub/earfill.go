package audiohub

import (
	"math"
	"time"

	"partyline/hw"
	"partyline/media"
)

// Earpiece fill control. The pump writes a packet's worth of earpiece audio each time the
// callback has captured a packet's worth of microphone audio, just before the callback
// needs it: without slack, a pump that runs more than a period late leaves the callback
// with nothing to play, and the silence it plays instead delays the rest of the call for
// good. So an earpiece's ring is kept at a small target fill:
//
//   - When a call's audio starts, the callback plays the target fill of silence first: one
//     period, at most earTargetMax. The pump may then run that much later than before without
//     the earpiece running dry, and the one-way delay grows by as much.
//   - The callback watches the least the ring holds after each period's read, over a window
//     longer than any packet. In steady state that is the target. When it stays above the
//     high mark (half a period above the target) for a whole window, as after a stall, where
//     the pump's late audio came on top of the silence played meanwhile, it drops the excess,
//     a little each period, by crossfading each such period into audio a few samples later.
//
// In steady state nothing is ever dropped: the pump can only be late, which lowers the fill.
//
// When the earpiece runs dry all the same, it does not cut to silence: the last sample it
// played falls linearly to zero over earFade, and when audio comes back it fades in over
// earFade, so neither edge of the gap clicks. In steady state neither happens, and the
// earpiece plays the ring's audio sample for sample.
const (
	// earTargetMax caps the target fill, which is one period: it adds its time to the
	// one-way delay.
	earTargetMax = 5 * time.Millisecond
	// earWindow is how long the fill must stay above the high mark before audio is dropped;
	// longer than any packet, so that the sawtooth of a packet's audio is never mistaken for
	// a backlog.
	earWindow = 2 * media.MaxPacketTime
	// earDropShare is the largest share of a period's audio dropped in it: 1/8, so a
	// catch-up plays at most 12.5% faster.
	earDropShare = 8
	// earFade is how long the earpiece takes to fade out into a gap and in after it: long
	// enough that a full-scale step becomes steps no larger than a 1 kHz tone's own at
	// -25 dBFS (96 of them at 48 kHz), short enough not to eat into the audio that comes back.
	earFade = 2 * time.Millisecond
)

// An earFill plays a port's earpiece ring into the device at its target fill. All but its
// parameters are the callback's: it never blocks and never allocates.
type earFill struct {
	target  int // samples the ring keeps after each period's read, in steady state
	high    int // above this for a whole window, the excess is dropped
	window  int // samples
	maxDrop int // samples dropped at most per period
	fade    int // samples, earFade

	started bool // the call's audio has started
	pad     int  // samples of silence still to play before the ring's audio
	drop    int  // samples still to drop
	low     int  // the least the ring held after a period's read in this window
	seen    int  // samples played in this window

	last int16 // the last sample played
	tail int   // what is left of the sample played before a gap: it falls to 0
	fall int   // how much tail falls per sample
	rise int   // samples the audio after a gap has faded in over, fade when faded in
}

func newEarFill(f hw.AudioFormat) earFill {
	target := min(f.PeriodFrames, durationSamples(earTargetMax, f.SampleRate))
	e := earFill{
		target:  target,
		high:    target + f.PeriodFrames/2,
		window:  durationSamples(earWindow, f.SampleRate),
		maxDrop: max(f.PeriodFrames/earDropShare, 1),
		fade:    max(durationSamples(earFade, f.SampleRate), 1),
	}
	e.reset()
	return e
}

func durationSamples(d time.Duration, rate int) int {
	return int(d * time.Duration(rate) / time.Second)
}

// reset forgets the call: the next audio in the ring starts a new one.
func (e *earFill) reset() {
	e.started, e.pad, e.drop = false, 0, 0
	e.last, e.tail, e.fall, e.rise = 0, 0, 0, e.fade
	e.restartWindow()
}

func (e *earFill) restartWindow() { e.low, e.seen = math.MaxInt, 0 }

// read fills buf with the next period of earpiece audio from ring, silence where there is
// none. It returns how many samples of the ring's audio it dropped to catch up with a
// backlog, and whether the earpiece ran dry in a call whose audio had started. buf's
// capacity must leave room for maxDrop more samples.
func (e *earFill) read(ring *media.Ring, buf []int16) (dropped int, dry bool) {
	frames := len(buf)
	if !e.started {
		if ring.Len() == 0 {
			clear(buf)
			return 0, false
		}
		e.started, e.pad = true, e.target
		e.restartWindow()
	}
	n := min(e.pad, frames)
	e.pad -= n
	clear(buf[:n])
	if d := min(e.drop, e.maxDrop, cap(buf)-frames); d > 0 && n == 0 && ring.Len() >= frames+d {
		ring.Read(buf[:frames+d])
		crossfade(buf[:frames+d], d)
		e.drop -= d
		n, dropped = frames, d
	} else {
		e.drop = 0 // the ring ran low again: the backlog is gone
		n += ring.Read(buf[n:])
	}
	clear(buf[n:])
	e.smooth(buf[:frames], n)
	e.watch(ring.Len(), frames)
	return dropped, n < frames
}

// smooth fades buf out into the gap that starts at buf[gap], if gap < len(buf), and fades in
// the audio that follows a gap, here or in later periods. A period that neither runs dry nor
// follows a gap closely is left as it is.
func (e *earFill) smooth(buf []int16, gap int) {
	if gap == len(buf) && e.tail == 0 && e.rise == e.fade {
		if gap > 0 {
			e.last = buf[gap-1]
		}
		return
	}
	for i, v := range buf {
		if i == gap && e.rise > 0 {
			// A gap starts (rise 0 is one going on from the last period): what the earpiece
			// played last falls to zero from here, and the audio after the gap fades in from
			// nothing.
			e.tail, e.rise = int(e.last), 0
			e.fall = (abs(e.tail) + e.fade - 1) / e.fade
		}
		out := int64(int(v)*e.rise/e.fade + e.tail)
		if i < gap && e.rise < e.fade {
			e.rise++
		}
		e.tail -= max(-e.fall, min(e.fall, e.tail))
		buf[i] = saturate(out)
		e.last = buf[i]
	}
}

func abs(v int) int { return max(v, -v) }

// watch takes what the ring holds after a period of frames was read, and starts a drop when
// it stayed above the high mark for a window.
func (e *earFill) watch(left, frames int) {
	if e.drop > 0 {
		return
	}
	e.low = min(e.low, left)
	e.seen += frames
	if e.seen < e.window {
		return
	}
	if e.low > e.high {
		e.drop = e.low - e.target
	}
	e.restartWindow()
}

// crossfade turns the len(a) samples of a into len(a)-d in place: a[i] fades from a[i] into
// a[i+d], so the result starts where a started and ends just before where a ends, without
// a step between the two.
func crossfade(a []int16, d int) {
	w := len(a) - d
	for i := range w {
		j := i + 1 // 1..w: the last sample is a[w-1+d], which the next period's first follows
		a[i] = int16((int(a[i])*(w-j) + int(a[i+d])*j) / w)
	}
}
