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
	keepFrames  = 3 * SampleRate  // earpiece history per channel (>= 2 s)
	levelFrames = SampleRate / 10 // microphone history per channel: what MicLevel measures
	maxCatchUp  = 4               // periods processed at once when Run fell behind
	// idleBurst is how many periods Run processes at once while idle (PaceIdle): it wakes
	// every 500 ms rather than every 5 ms. Wake ends the wait when idle ends.
	idleBurst = 100
)

// tones are DTMF-like frequencies in whole hertz: distinct, none a harmonic of another, all
// in 300..3000 Hz.
var tones = []int{697, 1209, 941, 1477, 852, 1336, 770, 1633, 2297, 563, 2741, 1871}

// ToneHz returns the frequency of the tone microphone i plays.
func ToneHz(i int) float64 { return float64(toneHz(i)) }

func toneHz(i int) int {
	if i < 0 {
		i = -i
	}
	return tones[i%len(tones)]
}

// sine is one second of a 1 Hz sine of amplitude ToneAmp, rounded: sample n of a tone of
// f whole hertz is sine()[f*n mod SampleRate], exactly, for a table load per sample. The
// microphones' tones are otherwise most of the sim board's CPU time.
var sine = sync.OnceValue(func() []int16 {
	t := make([]int16, SampleRate)
	for k := range t {
		t[k] = int16(math.Round(ToneAmp * math.Sin(2*math.Pi*float64(k)/SampleRate)))
	}
	return t
})

// Audio is the sim board's duplex audio device. It implements hw.AudioDevice: Run calls
// process every 5 ms of real time with microphone samples (each channel a sine at ToneHz,
// or samples given to SetMic) and records what process writes to the earpieces.
type Audio struct {
	channels int
	idle     atomic.Pointer[func() bool] // see PaceIdle
	ticker   atomic.Pointer[time.Ticker] // Run's, while it runs: Wake resets it
	woken    atomic.Bool                 // Wake was called since Run last looked

	mu    sync.Mutex // guards following
	phase []int      // where each microphone's tone is in the sine table
	mics  [][]int16  // SetMic overrides, nil = tone
	micAt []int      // read position in mics[i]
	ear   [][]int16  // ring of the last keepFrames per channel
	micH  [][]int16  // ring of the last levelFrames of each microphone
	pos   int        // frames written to the rings so far
}

func newAudio(channels int) *Audio {
	a := &Audio{
		channels: channels,
		phase:    make([]int, channels),
		mics:     make([][]int16, channels),
		micAt:    make([]int, channels),
		ear:      make([][]int16, channels),
		micH:     make([][]int16, channels),
	}
	for i := range channels {
		a.ear[i] = make([]int16, keepFrames)
		a.micH[i] = make([]int16, levelFrames)
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
// 500 ms, processing the periods due in one burst, rather than every 5 ms. The samples,
// meters and beats are those of real time all the same, up to 500 ms late; Wake ends the
// wait when something needs the periods on time again. Call it before Run.
func (a *Audio) PaceIdle(idle func() bool) { a.idle.Store(&idle) }

// Wake has Run process the periods due within a period from now and look again at
// whether it is idle, rather than wait for its next idle burst: call it when a call, a
// local mix or a cue starts. Safe from any goroutine; it never blocks.
func (a *Audio) Wake() {
	a.woken.Store(true)
	if t := a.ticker.Load(); t != nil {
		t.Reset(period)
	}
}

// isIdle reports whether Run may pace itself as idle.
func (a *Audio) isIdle() bool {
	f := a.idle.Load()
	return f != nil && (*f)()
}

// Run calls process once per 5 ms period until ctx is done, then returns nil. When it falls
// behind it catches up by at most a few periods and drops the rest. While idle (see
// PaceIdle) it processes the periods due in bursts, and within a period when woken (Wake).
//
// Wake resets Run's ticker rather than send on a channel of its own: a third case in the
// select below made the handsets' calls cost half as much CPU again, in twice the context
// switches (Go's scheduler, on two cores).
func (a *Audio) Run(ctx context.Context, process func(in, out []int16)) error {
	in := make([]int16, PeriodFrames*a.channels)
	out := make([]int16, PeriodFrames*a.channels)
	t := time.NewTicker(period)
	defer t.Stop()
	a.ticker.Store(t)
	defer a.ticker.Store(nil)
	wait := period // the ticker's interval, as Run last set it
	next := time.Now().Add(period)
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
		limit := maxCatchUp
		if wait != period {
			limit += idleBurst
		}
		for n := 0; !next.After(now) && n < limit; n++ {
			a.capture(in)
			clear(out)
			process(in, out)
			a.play(out)
			next = next.Add(period)
		}
		if !next.After(now) {
			next = now.Add(period) // too far behind: drop the missed periods
		}
		// Wake reset the ticker to a period behind Run's back (wait no longer says what it
		// is): a wake counts as not idle for one more period, which sets it again.
		woken := a.woken.Swap(false)
		want := period
		if !woken && a.isIdle() {
			want = idleBurst * period
		}
		if want != wait {
			t.Reset(want)
			wait = want
		}
		if want != period && a.woken.Load() {
			t.Reset(period) // woken since the Swap: this Reset may have undone Wake's
			wait = period
		}
	}
}

// capture fills in with one period of microphone samples. The rings hold whole periods,
// so a period never wraps in one.
func (a *Audio) capture(in []int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	table := sine()
	at := a.pos % levelFrames
	for c := range a.channels {
		mic := a.micH[c][at : at+PeriodFrames]
		if m := a.mics[c]; m != nil {
			k := a.micAt[c]
			for f := range mic {
				mic[f] = m[k]
				if k++; k == len(m) {
					k = 0
				}
			}
			a.micAt[c] = k
		} else {
			ph, step := a.phase[c], toneHz(c)
			for f := range mic {
				mic[f] = table[ph]
				if ph += step; ph >= SampleRate {
					ph -= SampleRate
				}
			}
			a.phase[c] = ph
		}
		for f, s := range mic {
			in[f*a.channels+c] = s
		}
	}
}

// play records one period of earpiece samples.
func (a *Audio) play(out []int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.pos % keepFrames
	for c := range a.channels {
		ear := a.ear[c][at : at+PeriodFrames]
		for f := range ear {
			ear[f] = out[f*a.channels+c]
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
