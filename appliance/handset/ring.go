package handset

import (
	"context"
	"errors"
	"time"
)

// An IncomingCall is a call to the handset that is not answered yet. The appliance has
// admitted it and sent 180 Ringing; the Line answers it, lets it ring or refuses it.
type IncomingCall interface {
	// Caller says who calls, display name and URI, e.g. `"Bob" <sip:bob@example.org>`.
	Caller() string
	// Answer answers the call and starts its audio on the handset: the returned Leg is the
	// handset's call, as a join's is.
	Answer(ctx context.Context) (Leg, error)
	// Reject refuses the call with a final answer, e.g. 486 Busy Here.
	Reject(status int, reason string)
	// Gone is closed when the call can no longer be answered: the caller cancelled.
	Gone() <-chan struct{}
}

// RingOptions say how a Line takes an incoming call: from the handset's settings.
type RingOptions struct {
	// AutoAnswer answers the call at once (intercom): the Cue, then the call's audio.
	AutoAnswer bool
	// MuteUntilLifted keeps the microphone of an auto-answered call muted until the
	// handset is lifted.
	MuteUntilLifted bool
	// CallWaiting lets a call that comes while the handset is busy wait, with the Cue in
	// the earpiece, rather than refusing it 486.
	CallWaiting bool
}

// ringTimeout is how long an unanswered call rings before it is refused with 480 and
// recorded as missed.
const ringTimeout = 60 * time.Second

// Events of incoming calls.
type (
	ringOffer struct {
		call IncomingCall
		opts RingOptions
	}
	answerDo  struct{}
	callGone  struct{ call IncomingCall } // the caller cancelled
	ringTimer struct{ call IncomingCall } // nobody answered within ringTimeout
)

// Offer gives the line an incoming call, admitted and ringing at the caller's end. The
// line rings, answers it at once (opts.AutoAnswer), lets it wait (opts.CallWaiting) or
// refuses it 486 when the handset is busy. It returns at once; a line too busy to take
// the call refuses it too. Safe from any goroutine.
func (l *Line) Offer(call IncomingCall, opts RingOptions) {
	select {
	case l.events <- ringOffer{call, opts}:
	default:
		call.Reject(486, "Busy Here")
	}
}

// Answer answers the call that rings the handset, as lifting it does, or, while a call
// waits behind the one in progress, hangs that one up and answers the waiting one. It
// returns at once; it fails when nothing rings or the line is too busy to take it.
func (l *Line) Answer() error {
	st := l.Status()
	if st.State != Ringing && st.Waiting == "" {
		return errors.New("no call to answer")
	}
	select {
	case l.events <- answerDo{}:
		return nil
	default:
		return errors.New("the handset is busy: try again")
	}
}

// offered takes an incoming call on the line's goroutine.
func (l *Line) offered(ctx context.Context, ev ringOffer) {
	l.log.Info("incoming call", "from", ev.call.Caller(), "state", l.state, "off_hook", l.offHook)
	switch {
	case (l.state == Idle || l.state == Failed) && !l.offHook:
		if ev.opts.AutoAnswer {
			l.muteUntilLifted = ev.opts.MuteUntilLifted
			l.autoAnswered = true
			l.startAnswer(ctx, ev.call)
			return
		}
		l.ringing = ev.call
		l.watchCall(ctx, ev.call)
		l.setCaller(ev.call.Caller())
		l.setState(Ringing, "call from "+ev.call.Caller())
	case ev.opts.CallWaiting && l.waiting == nil && l.state != Ringing:
		l.waiting = ev.call
		l.watchCall(ctx, ev.call)
		l.mu.Lock()
		l.status.Waiting = ev.call.Caller()
		l.mu.Unlock()
		if l.onWaiting != nil {
			l.onWaiting()
		}
		l.setState(l.state, "call waiting from "+ev.call.Caller())
	default:
		l.log.Info("incoming call refused: busy", "from", ev.call.Caller())
		ev.call.Reject(486, "Busy Here")
		l.missed(ev.call, "busy")
	}
}

// watchCall posts callGone when the caller cancels call, and ringTimer after ringTimeout.
func (l *Line) watchCall(ctx context.Context, call IncomingCall) {
	l.wg.Go(func() {
		t := time.NewTimer(ringTimeout)
		defer t.Stop()
		select {
		case <-call.Gone():
			l.post(ctx, callGone{call})
		case <-t.C:
			l.post(ctx, ringTimer{call})
		case <-ctx.Done():
		}
	})
}

// startAnswer answers call in the background, as startJoin joins: the answer comes back
// as a joinDone.
func (l *Line) startAnswer(ctx context.Context, call IncomingCall) {
	l.joinSeq++
	seq := l.joinSeq
	actx, cancel := context.WithTimeout(ctx, joinTimeout)
	l.cancelJoin = cancel
	l.setCaller(call.Caller())
	l.wg.Go(func() {
		lg, err := call.Answer(actx)
		l.post(ctx, joinDone{seq: seq, leg: lg, err: err})
	})
	l.setState(Joining, "answering "+call.Caller())
}

// answerRinging answers the call that rings, or the one that waits once the call in
// progress is hung up.
func (l *Line) answerRinging(ctx context.Context) {
	switch {
	case l.state == Ringing:
		call := l.ringing
		l.ringing = nil
		l.startAnswer(ctx, call)
	case l.waiting != nil:
		call := l.waiting
		l.clearWaiting()
		l.leave(ctx, "")
		l.startAnswer(ctx, call)
	}
}

// callEndedRinging handles a caller that cancelled, or a call nobody answered in time.
func (l *Line) callEndedRinging(call IncomingCall, timedOut bool) {
	if call != l.ringing && call != l.waiting {
		return // answered or refused meanwhile
	}
	if timedOut {
		call.Reject(480, "Temporarily Unavailable: no answer")
	}
	why := "the caller hung up"
	if timedOut {
		why = "no answer"
	}
	l.missed(call, why)
	if call == l.waiting {
		l.clearWaiting()
		l.setState(l.state, "missed call from "+call.Caller())
		return
	}
	l.ringing = nil
	l.setState(Idle, "missed call from "+call.Caller())
}

// waitingRings makes the call that waited ring, once the call before it has ended and
// the handset is down; it reports whether one did.
func (l *Line) waitingRings() bool {
	if l.waiting == nil || l.offHook || (l.state != Idle && l.state != Failed) {
		return false
	}
	call := l.waiting
	l.clearWaiting()
	l.ringing = call
	l.setCaller(call.Caller())
	l.setState(Ringing, "call from "+call.Caller())
	return true
}

func (l *Line) clearWaiting() {
	l.waiting = nil
	l.mu.Lock()
	l.status.Waiting = ""
	l.mu.Unlock()
}

// setCaller sets who the call in or ringing is from, for the status; "" for none.
func (l *Line) setCaller(caller string) {
	l.mu.Lock()
	l.status.Caller = caller
	l.mu.Unlock()
}

// missed tells the call history of a call in that was not answered.
func (l *Line) missed(call IncomingCall, why string) {
	if l.onMissed != nil {
		l.onMissed(call.Caller(), why)
	}
}

// refuseRinging refuses the calls that ring or wait as the line stops.
func (l *Line) refuseRinging() {
	for _, call := range []IncomingCall{l.ringing, l.waiting} {
		if call != nil {
			call.Reject(480, "Temporarily Unavailable: shutting down")
		}
	}
	l.ringing, l.waiting = nil, nil
}
