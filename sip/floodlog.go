package sip

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Log limits for what any host on the network can make the agent log, once
// per datagram: at most floodBurst lines of a kind per floodPeriod, so that
// a flood neither wears the SD card nor pushes the appliance's own
// messages out of the journal's rate limit.
const (
	floodPeriod = time.Minute
	floodBurst  = 5
)

// A floodLog counts a kind of message that any peer can cause, such as a
// datagram that does not parse, and lets at most burst of them a period be
// logged; at the end of each period it logs how many it left out.
type floodLog struct {
	what   string // what it counts, for the summary: "SIP messages that do not parse"
	period time.Duration
	burst  int

	total atomic.Uint64 // every message counted, logged or not

	mu         sync.Mutex // guards following
	logged     int        // lines logged this period
	suppressed uint64     // messages not logged this period
}

func newFloodLog(what string) *floodLog {
	return &floodLog{what: what, period: floodPeriod, burst: floodBurst}
}

// allow counts a message and reports whether it may be logged.
func (f *floodLog) allow() bool {
	f.total.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logged < f.burst {
		f.logged++
		return true
	}
	f.suppressed++
	return false
}

// log counts a message and logs it with l at level unless this period's
// lines are spent.
func (f *floodLog) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	if f.allow() {
		l.Log(context.Background(), level, msg, args...)
	}
}

// flush ends the period: it logs with l how many messages were left out,
// if any, and lets burst more be logged.
func (f *floodLog) flush(l *slog.Logger) {
	f.mu.Lock()
	n := f.suppressed
	f.logged, f.suppressed = 0, 0
	f.mu.Unlock()
	if n > 0 {
		l.Warn("more "+f.what+" were not logged one by one", "count", n, "within", f.period)
	}
}

// run flushes every period until ctx is done, and once more then.
func (f *floodLog) run(ctx context.Context, l *slog.Logger) {
	t := time.NewTicker(f.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.flush(l)
			return
		case <-t.C:
			f.flush(l)
		}
	}
}
