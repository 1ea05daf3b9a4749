package sim

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"partyline/hw"
	"partyline/media"
)

// Audio format of the sim board's device.
const (
	SampleRate   = 48000
	PeriodFrames = 240  // 5 ms
	ToneAmp      = 6554 // microphone tone amplitude, 0.2 of full scale
)

const (
	period      = time.Second * PeriodFrames / SampleRate
	keepFrames  = 3 * SampleRate // earpiece history per channel (>= 2 s)
	levelFrames = SampleRate / 10
	maxCatchUp  = 4 // periods processed at once when Run fell behind
	// idleBurst is how many periods Run processes at once while idle (PaceIdle): it wakes
	// every 100 ms rather than every 5 ms, and a level meter's 100 ms still fill.
	idleBurst = 20
)

// tones are DTMF-like frequencies: distinct, none a harmonic of another, all in 300..3000 Hz.
var tones = []float64{697, 1209, 941, 1477, 852, 1336, 770, 1633, 2297, 563, 2741, 1871}

// ToneHz returns the frequency of the tone microphone i plays.
func ToneHz(i int) float64 {
	if i < 0 {
		i = -i
	}
	return tones[i%len(tones)]
}

// Audio is the sim board's duplex audio device. It implements hw.AudioDevice: Run calls
// process every 5 ms of real time with microphone samples (each channel a sine at ToneHz,
// or samples given to SetMic) and records what process writes to the earpieces.
type Audio struct {
	channels int
	idle     atomic.Pointer[func() bool] // see PaceIdle

	mu    sync.Mutex   // guards following
	osc   []oscillator // tone per channel
	mics  [][]int16    // SetMic overrides, nil = tone
	micAt []int        // read position in mics[i]
	ear   [][]int16    // ring of the last keepFrames per channel
	micH  [][]int16    // ring of the last levelFrames of each microphone
	pos   int          // frames written to the rings so far
}

func newAudio(channels int) *Audio {
	a := &Audio{
		channels: channels,
		osc:      make([]oscillator, channels),
		mics:     make([][]int16, channels),
		micAt:    make([]int, channels),
		ear:      make([][]int16, channels),
		micH:     make([][]int16, channels),
	}
	for i := range channels {
		a.osc[i] = newOscillator(ToneHz(i), SampleRate)
		a.ear[i] = make([]int16, keepFrames)
		a.micH[i] = make([]int16, keepFrames)
	}
	return a
}

// Format reports 48 kHz, one channel per handset, 240-frame periods.
func (a *Audio) Format() hw.AudioFormat {
	return hw.AudioFormat{SampleRate: SampleRate, Channels: a.channels, PeriodFrames: PeriodFrames}
}

// SetMic makes microphone i play samples in a loop instead of its tone; nil or empty
// samples bring the tone back. Out-of-range i is ignored.
func (a *Audio) SetMic(i int, samples []int16) {
	if i < 0 || i >= a.channels {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(samples) == 0 {
		a.mics[i] = nil
	} else {
		a.mics[i] = append([]int16(nil), samples...)
	}
	a.micAt[i] = 0
}

// PaceIdle has Run wake up less while idle reports true (no handset in a call): every
// 100 ms, processing the periods due in one burst, rather than every 5 ms. The samples,
// meters and beats are those of real time all the same; the first period after idle ends
// comes at most 100 ms late, which the call's start absorbs. Call it before Run.
func (a *Audio) PaceIdle(idle func() bool) { a.idle.Store(&idle) }

// isIdle reports whether Run may pace itself as idle.
func (a *Audio) isIdle() bool {
	f := a.idle.Load()
	return f != nil && (*f)()
}

// Run calls process once per 5 ms period until ctx is done, then returns nil. When it falls
// behind it catches up by at most a few periods and drops the rest. While idle (see
// PaceIdle) it processes the periods due in bursts.
func (a *Audio) Run(ctx context.Context, process func(in, out []int16)) error {
	in := make([]int16, PeriodFrames*a.channels)
	out := make([]int16, PeriodFrames*a.channels)
	t := time.NewTicker(period)
	defer t.Stop()
	idle := false
	next := time.Now().Add(period)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			limit := maxCatchUp
			if idle {
				limit += idleBurst
			}
			n := 0
			for !next.After(now) && n < limit {
				a.capture(in)
				clear(out)
				process(in, out)
				a.play(out)
				next = next.Add(period)
				n++
			}
			if !next.After(now) {
				next = now.Add(period) // too far behind: drop the missed periods
			}
			if was := idle; was != a.isIdle() {
				idle = !was
				if idle {
					t.Reset(idleBurst * period)
				} else {
					t.Reset(period)
				}
			}
		}
	}
}

// capture fills in with one period of microphone samples.
func (a *Audio) capture(in []int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.channels {
		o := &a.osc[c]
		ring, at := a.micH[c], a.pos%keepFrames
		for f := range PeriodFrames {
			var s int16
			if m := a.mics[c]; m != nil {
				s = m[a.micAt[c]%len(m)]
				a.micAt[c] = (a.micAt[c] + 1) % len(m)
			} else {
				s = o.next()
			}
			in[f*a.channels+c] = s
			ring[at] = s
			if at++; at == keepFrames {
				at = 0
			}
		}
		o.normalize()
	}
}

// An oscillator makes a sine of amplitude ToneAmp by turning a unit phasor one step per
// sample (a complex multiplication), rather than calling math.Sin per sample: the sim
// board's microphones are most of its CPU time otherwise.
type oscillator struct {
	re, im         float64 // the phasor: cos and sin of the phase
	stepRe, stepIm float64 // the turn per sample
}

func newOscillator(hz float64, rate int) oscillator {
	step := 2 * math.Pi * hz / float64(rate)
	return oscillator{re: 1, stepRe: math.Cos(step), stepIm: math.Sin(step)}
}

// next returns the sample at the current phase, rounded, and turns the phasor on.
func (o *oscillator) next() int16 {
	v := ToneAmp * o.im
	o.re, o.im = o.re*o.stepRe-o.im*o.stepIm, o.re*o.stepIm+o.im*o.stepRe
	if v < 0 {
		return int16(v - 0.5)
	}
	return int16(v + 0.5)
}

// normalize brings the phasor back to unit length, which rounding errors drift from.
func (o *oscillator) normalize() {
	n := 1 / math.Sqrt(o.re*o.re+o.im*o.im)
	o.re, o.im = o.re*n, o.im*n
}

// play records one period of earpiece samples.
func (a *Audio) play(out []int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.channels {
		ring, at := a.ear[c], a.pos%keepFrames
		for f := range PeriodFrames {
			ring[at] = out[f*a.channels+c]
			if at++; at == keepFrames {
				at = 0
			}
		}
	}
	a.pos += PeriodFrames
}

// last returns a copy of the last n frames of ring (fewer if fewer were played).
func (a *Audio) last(ring []int16, n int) []int16 {
	n = min(n, a.pos, len(ring))
	out := make([]int16, n)
	for k := range n {
		out[k] = ring[(a.pos-n+k)%len(ring)]
	}
	return out
}

// Earpiece returns a copy of the last d of earpiece i (at most the 3 s kept, and no more
// than has been played), or nil if there is no handset i.
func (a *Audio) Earpiece(i int, d time.Duration) []int16 {
	if i < 0 || i >= a.channels || d <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last(a.ear[i], int(d*SampleRate/time.Second))
}

// EarpieceLevel returns the RMS level of the last 100 ms of earpiece i in dBFS (-120 for
// silence or no handset i).
func (a *Audio) EarpieceLevel(i int) float64 {
	if i < 0 || i >= a.channels {
		return media.FloorDBFS
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return media.LevelDBFS(a.last(a.ear[i], levelFrames))
}

// MicLevel returns the RMS level of the last 100 ms of microphone i in dBFS (-120 for
// silence or no handset i).
func (a *Audio) MicLevel(i int) float64 {
	if i < 0 || i >= a.channels {
		return media.FloorDBFS
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return media.LevelDBFS(a.last(a.micH[i], levelFrames))
}
