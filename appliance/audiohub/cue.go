package audiohub

import "sync/atomic"

// A cue is a short sound played once into a port's earpiece, over the call: the
// call-waiting tone, the auto-answer tone. Only the callback moves pos.
type cue struct {
	samples []int16 // at the device's rate
	pos     int
}

// cues holds a port's cue to play; the callback takes it.
type cues struct{ next atomic.Pointer[cue] }

// Cue plays samples (mono, at the device's rate) once into the port's earpiece, mixed
// over the call's audio, or alone when the port has no call. A cue replaces one still
// playing. Safe from any goroutine; samples must not be changed afterwards.
func (p *Port) Cue(samples []int16) {
	p.cue.next.Store(&cue{samples: samples})
	p.wake()
}

// mix adds the next samples of the cue to channel c of out (frames interleaved in
// channels), and reports whether there was a cue to play; it never blocks or allocates.
// A cue played to its end is dropped.
func (cs *cues) mix(out []int16, c, channels, frames int) bool {
	q := cs.next.Load()
	if q == nil {
		return false
	}
	n := min(frames, len(q.samples)-q.pos)
	for f := range n {
		i := f*channels + c
		out[i] = saturate(int64(out[i]) + int64(q.samples[q.pos+f]))
	}
	q.pos += n
	if q.pos >= len(q.samples) {
		cs.next.CompareAndSwap(q, nil)
	}
	return true
}
