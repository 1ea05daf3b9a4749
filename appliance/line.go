package appliance

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"partyline/hw"
	"partyline/hw/led"
)

// LineState is where a handset is in its call.
type LineState int32

const (
	Idle    LineState = iota // no call; the zero value
	Joining                  // INVITE sent, no final answer yet
	InCall                   // in the conference
	Failed                   // the join failed or the call broke while the handset was lifted
)

func (s LineState) String() string {
	switch s {
	case Idle:
		return "idle"
	case Joining:
		return "joining"
	case InCall:
		return "in call"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// pattern is the LED pattern that shows s.
func (s LineState) pattern() led.Pattern {
	switch s {
	case Joining:
		return led.SlowBlink
	case InCall:
		return led.On
	case Failed:
		return led.FastBlink
	}
	return led.Off
}

// A joiner puts a handset into its conference: the SIP and media work behind a Line.
type joiner interface {
	join(ctx context.Context, handset int) (leg, error)
}

// A leg is one handset's call into its conference.
type leg interface {
	// hangup ends the call from our side.
	hangup(ctx context.Context) error
	// done is closed when the call has ended, from either side.
	done() <-chan struct{}
	// err says why the call ended, once done is closed.
	err() error
}

// Events a Line's goroutine handles.
type (
	hookMoved     struct{ offHook bool }
	buttonPressed struct{}
	joinDone      struct {
		seq int // which join, so a stale result is recognised
		leg leg
		err error
	}
	legEnded struct{ leg leg } // which leg, so a stale event is ignored
)

// hangupTimeout bounds the BYE sent when a handset leaves or the appliance stops.
const hangupTimeout = 2 * time.Second

// joinTimeout bounds a join from INVITE to the final answer.
const joinTimeout = 30 * time.Second

// lineStatus is a snapshot of a Line for the admin page.
type lineStatus struct {
	State   LineState
	Detail  string // the last error or why the last call ended
	OffHook bool
	Since   time.Time // when State was entered
}

// A Line runs the call of one handset: hook switch and join button in, LED and the
// conference leg out. Its state is owned by the goroutine in Run; others send it events.
type Line struct {
	index  int
	hook   hw.Switch
	button hw.Switch // nil when the handset has no join button
	light  *led.Indicator
	onTone func(LineState) // status tone on the alert speaker, may be nil
	conf   joiner
	log    *slog.Logger

	events chan any
	wg     sync.WaitGroup // goroutines started by Run and its handlers

	mu     sync.Mutex // guards following
	status lineStatus

	// Owned by Run's goroutine.
	state      LineState
	offHook    bool
	leg        leg
	joinSeq    int
	cancelJoin context.CancelFunc
}

func newLine(index int, hook, button hw.Switch, light hw.LED, conf joiner, log *slog.Logger) *Line {
	return &Line{
		index:  index,
		hook:   hook,
		button: button,
		light:  led.New(light),
		conf:   conf,
		log:    log,
		events: make(chan any, 8),
	}
}

// Status returns a snapshot of the line, safe from any goroutine.
func (l *Line) Status() lineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Run drives the line until ctx is done, then hangs up any call. It returns only after
// every goroutine it started has finished.
func (l *Line) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer l.wg.Wait()
	defer cancel()

	l.wg.Go(func() { _ = l.light.Run(ctx) })
	l.wg.Go(func() { l.watch(ctx, l.hook, func(active bool) any { return hookMoved{active} }) })
	if l.button != nil {
		l.wg.Go(func() {
			l.watch(ctx, l.button, func(active bool) any {
				if active {
					return buttonPressed{}
				}
				return nil
			})
		})
	}
	l.setState(Idle, "")
	for {
		select {
		case <-ctx.Done():
			l.shutdown()
			return nil
		case ev := <-l.events:
			l.handle(ctx, ev)
		}
	}
}

// handle applies one event. It never blocks: slow work runs in a goroutine that reports
// back with another event.
func (l *Line) handle(ctx context.Context, ev any) {
	switch ev := ev.(type) {
	case hookMoved:
		l.offHook = ev.offHook
		l.mu.Lock()
		l.status.OffHook = ev.offHook
		l.mu.Unlock()
		switch {
		case ev.offHook && (l.state == Idle || l.state == Failed):
			l.startJoin(ctx)
		case !ev.offHook:
			l.leave(ctx, "")
		}
	case buttonPressed:
		switch l.state {
		case Idle, Failed:
			l.startJoin(ctx)
		case Joining, InCall:
			l.leave(ctx, "")
		}
	case joinDone:
		l.joinFinished(ctx, ev)
	case legEnded:
		if ev.leg != l.leg {
			return
		}
		l.leg = nil
		l.failOrIdle(describeEnd(ev.leg.err()))
	}
}

func (l *Line) joinFinished(ctx context.Context, ev joinDone) {
	if ev.seq != l.joinSeq || l.state != Joining {
		// The user left while this join was under way: hang up whatever it produced.
		if ev.leg != nil {
			l.hangupAsync(ctx, ev.leg)
		}
		return
	}
	l.cancelJoin()
	l.cancelJoin = nil
	if ev.err != nil {
		l.log.Warn("join failed", "err", ev.err)
		l.failOrIdle(ev.err.Error())
		return
	}
	l.leg = ev.leg
	l.wg.Go(func() {
		select {
		case <-ev.leg.done():
			l.post(ctx, legEnded{ev.leg})
		case <-ctx.Done():
		}
	})
	l.setState(InCall, "")
}

// failOrIdle ends up Failed while the handset is lifted (so the user sees the error and
// lifting again after putting it down retries) and Idle otherwise.
func (l *Line) failOrIdle(detail string) {
	if l.offHook {
		l.setState(Failed, detail)
	} else {
		l.setState(Idle, detail)
	}
}

func (l *Line) startJoin(ctx context.Context) {
	l.joinSeq++
	seq := l.joinSeq
	joinCtx, cancel := context.WithTimeout(ctx, joinTimeout)
	l.cancelJoin = cancel
	l.wg.Go(func() {
		lg, err := l.conf.join(joinCtx, l.index)
		if err != nil && errors.Is(joinCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = errors.New("no answer from the conference")
		}
		// ctx, not joinCtx: the result must arrive even when the join was cancelled.
		l.post(ctx, joinDone{seq: seq, leg: lg, err: err})
	})
	l.setState(Joining, "")
}

// leave ends the call or the join in progress and returns to Idle (or Failed while lifted
// and detail says why).
func (l *Line) leave(ctx context.Context, detail string) {
	switch l.state {
	case Joining:
		l.cancelJoin() // sends CANCEL; the joinDone that follows is stale
		l.cancelJoin = nil
	case InCall:
		l.hangupAsync(ctx, l.leg)
		l.leg = nil
	}
	l.setState(Idle, detail)
}

func (l *Line) hangupAsync(ctx context.Context, lg leg) {
	l.wg.Go(func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
		defer cancel()
		if err := lg.hangup(hctx); err != nil {
			l.log.Warn("hang up", "err", err)
		}
	})
}

// shutdown runs when the appliance stops: cancel a join, hang up a call.
func (l *Line) shutdown() {
	if l.cancelJoin != nil {
		l.cancelJoin()
	}
	if l.leg != nil {
		hctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		defer cancel()
		if err := l.leg.hangup(hctx); err != nil {
			l.log.Warn("hang up", "err", err)
		}
		l.leg = nil
	}
}

func (l *Line) setState(s LineState, detail string) {
	prev := l.state
	if s != prev || detail != "" {
		l.log.Info("state", "from", prev, "to", s, "detail", detail)
	}
	l.state = s
	l.mu.Lock()
	l.status.State = s
	l.status.Since = time.Now()
	if detail != "" || s == Joining {
		l.status.Detail = detail
	}
	l.mu.Unlock()
	l.light.Set(s.pattern())
	if s != prev && l.onTone != nil {
		l.onTone(s)
	}
}

// watch forwards the positions of a switch to Run as events made by ev (nil: ignore).
func (l *Line) watch(ctx context.Context, sw hw.Switch, ev func(active bool) any) {
	for {
		active, err := sw.Wait(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Error("switch", "err", err)
			}
			return
		}
		if e := ev(active); e != nil {
			l.post(ctx, e)
		}
	}
}

// post delivers ev to Run, or drops it once Run is shutting down.
func (l *Line) post(ctx context.Context, ev any) {
	select {
	case l.events <- ev:
	case <-ctx.Done():
	}
}

// describeEnd says why a call ended, for the admin page.
func describeEnd(err error) string {
	if err == nil {
		return "call ended"
	}
	return err.Error()
}
