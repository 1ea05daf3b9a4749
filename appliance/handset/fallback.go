package handset

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// ErrUnreachable marks a join that failed because the conference cannot be reached (no
// answer, 408, a 5xx, the network): errors.Is(err, ErrUnreachable). Only such a failure
// puts a lifted handset into the local mix; any other (403, 404, 486, 488, a failed
// authentication) leaves it Failed.
var ErrUnreachable = errors.New("the conference cannot be reached")

// Unreachable marks err as a failure to reach the conference: its text stays err's, and
// errors.Is finds both err's chain and ErrUnreachable.
func Unreachable(err error) error { return unreachableError{err} }

type unreachableError struct{ err error }

func (e unreachableError) Error() string   { return e.err.Error() }
func (e unreachableError) Unwrap() []error { return []error{e.err, ErrUnreachable} }

// A LocalMix lets lifted handsets whose conference cannot be reached talk to each other
// through the appliance's own mix.
type LocalMix interface {
	// EnterLocal puts the handset into the local mix of its conference, and returns how
	// to take it out again. It fails when the handset's conference does not allow local
	// fallback.
	EnterLocal(handset int) (leave func(), err error)
	// Unreachable returns why the handset's conference is known to be out of reach before
	// any join, e.g. its account's registration failed for want of an answer; nil when
	// nothing says so.
	Unreachable(handset int) error
}

// The backoff of the joins a LocalOnly line keeps trying: from retryMin, doubling up to
// retryMax, each wait drawn between half and all of it so that the handsets of one
// appliance (and of many) do not try in step.
const (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// fallback is what a LocalOnly line keeps; Run's goroutine only.
type fallback struct {
	leave       func()             // takes the handset out of the local mix
	backoff     time.Duration      // the next wait before a join, before jitter
	cancelRetry context.CancelFunc // stops the wait for the next join
	// recorded is set once the call history has the first failed join of this lift.
	recorded bool
}

// fallBack enters LocalOnly after a join that failed with err, if err says the conference
// cannot be reached and the local mix takes the handset; it reports whether it did.
func (l *Line) fallBack(ctx context.Context, err error) bool {
	if l.local == nil || !l.offHook || !errors.Is(err, ErrUnreachable) {
		return false
	}
	leave, lerr := l.local.EnterLocal(l.index)
	if lerr != nil {
		l.log.Info("no local fallback", "reason", lerr)
		return false
	}
	l.log.Warn("the conference cannot be reached: local only, joining again in the background", "err", err)
	l.callEnded(err)
	l.fallback = fallback{leave: leave, backoff: retryMin, recorded: true}
	l.setState(LocalOnly, err.Error())
	l.scheduleRetry(ctx)
	return true
}

// fallBackAtOnce enters LocalOnly as the handset is lifted, before any join has failed,
// when the local mix says that the conference is out of reach already (the handset's
// account's registration failed for want of an answer) and takes the handset; the join
// goes out all the same, in the background, and what it ends in is taken as the joins
// again of a LocalOnly line are. It reports whether it did.
func (l *Line) fallBackAtOnce(ctx context.Context) bool {
	if l.local == nil || !l.offHook {
		return false
	}
	why := l.local.Unreachable(l.index)
	if why == nil {
		return false
	}
	leave, err := l.local.EnterLocal(l.index)
	if err != nil {
		l.log.Info("no local fallback", "reason", err)
		return false
	}
	l.log.Warn("the conference is out of reach: local only at once, joining in the background", "why", why)
	l.fallback = fallback{leave: leave, backoff: retryMin}
	l.dial(ctx)
	l.setState(LocalOnly, why.Error())
	return true
}

// scheduleRetry waits the backoff with its jitter, then asks Run for the next join.
func (l *Line) scheduleRetry(ctx context.Context) {
	d := l.fallback.backoff
	l.fallback.backoff = min(2*d, retryMax)
	d = d/2 + rand.N(d/2+1)
	wctx, cancel := context.WithCancel(ctx)
	l.fallback.cancelRetry = cancel
	seq := l.joinSeq
	l.wg.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			l.post(ctx, retryDue{seq})
		case <-wctx.Done():
		}
	})
}

// retry starts the next join of a LocalOnly line, unless the line has moved on.
func (l *Line) retry(ctx context.Context, ev retryDue) {
	if l.state != LocalOnly || ev.seq != l.joinSeq {
		return
	}
	l.dial(ctx)
}

// rejoinFinished takes the result of a LocalOnly line's join: the call takes over from the
// local mix, without the handset being hung up; a conference still unreachable is tried
// again later; any other failure ends the fallback as Failed.
func (l *Line) rejoinFinished(ctx context.Context, ev joinDone) {
	switch {
	case ev.err == nil:
		l.stopFallback()
		l.takeLeg(ctx, ev.leg)
		l.log.Info("the conference answers again: moved from local only into it")
		l.setState(InCall, "the conference answers again: moved from local only into it")
	case errors.Is(ev.err, ErrUnreachable):
		l.log.Info("the conference still cannot be reached", "err", ev.err)
		if !l.fallback.recorded {
			l.fallback.recorded = true
			l.callEnded(ev.err)
		}
		l.scheduleRetry(ctx)
	default:
		l.stopFallback()
		l.log.Warn("join failed", "err", ev.err)
		l.callEnded(ev.err)
		l.setState(Failed, ev.err.Error())
	}
}

// endFallback ends LocalOnly as the user leaves or the appliance stops; the call history
// gets the lift if no join of it has ended yet.
func (l *Line) endFallback() {
	if !l.fallback.recorded {
		l.callEnded(nil)
	}
	l.stopFallback()
}

// stopFallback takes the handset out of the local mix and stops the joins in the
// background, the one under way too.
func (l *Line) stopFallback() {
	if l.fallback.cancelRetry != nil {
		l.fallback.cancelRetry()
	}
	if l.cancelJoin != nil {
		l.cancelJoin()
		l.cancelJoin = nil
	}
	if l.fallback.leave != nil {
		l.fallback.leave()
	}
	l.fallback = fallback{}
}
