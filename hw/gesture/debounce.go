// Package gesture turns the raw level changes of a hook switch or a push button into what
// the user did: lifted or hung up the handset, flashed the hook, pressed a button briefly or
// held it. A Trigger names a gesture on one of a handset's inputs; what a trigger does is the
// application's business (appliance/handset maps triggers to actions).
//
// The state machines (Debouncer, Hook, Button) take the time with every input instead of
// reading a clock, so they are exact and instant to test; Watch drives a Hook or Button from
// a hw.Switch with an injected Clock.
package gesture

import "time"

// DefaultDebounce is how long a level must stay stable before it counts.
const DefaultDebounce = 30 * time.Millisecond

// A Debouncer reports a line's level once it has been stable for its debounce time. It is
// fed the line's changes and samples, with their times, and asked with Update whether a new
// level has settled. Its zero value debounces for 0 (any change counts at once) and starts
// inactive. It is not safe for concurrent use.
type Debouncer struct {
	wait   time.Duration
	stable bool      // the level last reported
	raw    bool      // the level last seen on the line
	since  time.Time // when raw was last seen to change
}

// NewDebouncer returns a Debouncer that waits d and starts inactive.
func NewDebouncer(d time.Duration) *Debouncer {
	return &Debouncer{wait: d}
}

// Edge records that the line changed at least once at time at and is now at level. The
// stability wait starts again even if level is the level last seen: the line bounced.
func (b *Debouncer) Edge(at time.Time, level bool) {
	b.raw, b.since = level, at
}

// Sample records that the line read level at time at. Only a level other than the one last
// seen starts the stability wait again.
func (b *Debouncer) Sample(at time.Time, level bool) {
	if level != b.raw {
		b.Edge(at, level)
	}
}

// Update reports whether a new level has been stable since at, long enough by now; it then
// becomes the level Level reports.
func (b *Debouncer) Update(now time.Time) (level bool, at time.Time, changed bool) {
	if b.raw == b.stable || now.Sub(b.since) < b.wait {
		return b.stable, time.Time{}, false
	}
	b.stable = b.raw
	return b.stable, b.since, true
}

// Deadline reports when a level that is waiting to settle will have settled, if the line
// does not change before then.
func (b *Debouncer) Deadline() (time.Time, bool) {
	if b.raw == b.stable {
		return time.Time{}, false
	}
	return b.since.Add(b.wait), true
}

// Level returns the level last reported by Update.
func (b *Debouncer) Level() bool { return b.stable }

// pending reports since when a level has been waiting to settle.
func (b *Debouncer) pending() (time.Time, bool) {
	return b.since, b.raw != b.stable
}
