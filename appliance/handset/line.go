// Package handset runs the handsets: one Line (a state machine on one goroutine) per
// handset, from its hook switch and buttons to its LED and its call, and the mapping of
// the gestures of its hook and buttons to actions (join, mute, hold, send the PIN, ...).
// The SIP and media work behind a call is the Conference's; a Line only asks for it.
package handset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"partyline/hw"
	"partyline/hw/gesture"
	"partyline/hw/led"
	"partyline/media"
)

// State is where a handset is in its call.
type State int32

const (
	Idle      State = iota // no call; the zero value
	Joining                // INVITE sent, no final answer yet
	InCall                 // in the conference
	Failed                 // the join failed or the call broke while the handset was lifted
	LocalOnly              // the conference cannot be reached: the local mix, and joins again and again
	Ringing                // a call to the handset waits for an answer
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Joining:
		return "joining"
	case InCall:
		return "in call"
	case Failed:
		return "failed"
	case LocalOnly:
		return "local only"
	case Ringing:
		return "ringing"
	}
	return "unknown"
}

// pattern is the LED pattern that shows s, with the call held by us or not, the
// microphone muted or not and the conference recorded or not. A held call slow-flashes,
// muted or not: nothing of the microphone reaches the conference then.
func (s State) pattern(held, muted, recorded bool) led.Pattern {
	switch s {
	case Joining:
		return led.SlowBlink
	case InCall:
		switch {
		case held:
			return led.SlowFlash
		case muted:
			return led.DoubleBlink
		case recorded:
			return led.Wink
		}
		return led.On
	case Failed:
		return led.FastBlink
	case LocalOnly:
		return led.TripleBlink
	case Ringing:
		return led.Ringing
	}
	return led.Off
}

// A Conference puts a handset into its conference: the SIP and media work behind a Line.
type Conference interface {
	// Join places the handset's call into its conference.
	Join(ctx context.Context, handset int) (Leg, error)
	// NextConference makes the next configured conference the handset's own and returns
	// its name.
	NextConference(handset int) (string, error)
	// PIN returns the PIN of the handset's conference, "" when it has none.
	PIN(handset int) (string, error)
	// Louder changes the handset's earpiece gain by deltaDB, at once and in its settings,
	// and returns the new gain.
	Louder(handset int, deltaDB float64) (float64, error)
}

// A Recorder records the conference a handset is in, and says whether it does.
type Recorder interface {
	// ToggleHandsetRecording starts or stops recording the handset's conference, as its
	// Record button does. It returns at once.
	ToggleHandsetRecording(handset int) error
	// HandsetRecorded reports whether the handset's conference is being recorded.
	HandsetRecorded(handset int) bool
	// RecordingChanged returns a channel that is closed when a recording next starts or
	// stops.
	RecordingChanged() <-chan struct{}
}

// Presence takes the proof that someone is at the device: while the appliance wants one
// (no admin password is set), PresenceTrigger proves presence instead of doing its mapped
// action.
type Presence interface {
	// PresenceWanted reports whether a proof of presence is wanted now.
	PresenceWanted() bool
	// ProvePresence records that someone held handset's call button. It returns at once,
	// with what the handset's status should say, e.g. "presence proven: set the admin
	// password on the page within 5 minutes".
	ProvePresence(handset int) string
}

// VolumeStep is how much a volume button changes the earpiece gain.
const VolumeStep = 3

// A Leg is one handset's call into its conference.
type Leg interface {
	// Hangup ends the call from our side. It returns in bounded time even when ctx is
	// done already: the BYE is sent all the same.
	Hangup(ctx context.Context) error
	// Done is closed when the call has ended, from either side.
	Done() <-chan struct{}
	// Err says why the call ended, once Done is closed.
	Err() error
	// Mute silences the microphone in the call, or lets it through again.
	Mute(on bool)
	// Hold puts the call on hold (on) or takes it off, and returns once the far end
	// agreed. While held, the leg sends no audio.
	Hold(ctx context.Context, on bool) error
	// SendDigits sends DTMF digits into the call.
	SendDigits(digits string) error
	// Quality returns the call's RTP figures so far; safe from any goroutine.
	Quality() media.Stats
}

// Events a Line's goroutine handles.
type (
	hookMoved  struct{ offHook bool }
	actionDo   struct{ action Action }
	presenceDo struct{}
	digitsSend struct {
		digits string
		result chan<- error
	}
	joinDone struct {
		seq int // which join, so a stale result is recognised
		leg Leg
		err error
	}
	legEnded struct{ leg Leg } // which leg, so a stale event is ignored
	retryDue struct{ seq int } // which join it follows, so a stale one is ignored
	holdDone struct {
		leg Leg // which leg, so a stale result is ignored
		on  bool
		err error
	}
)

// holdTimeout bounds the re-INVITE that puts a call on hold or takes it off.
const holdTimeout = 10 * time.Second

// joinTimeout bounds a join from INVITE to the final answer.
const joinTimeout = 30 * time.Second

// Status is a snapshot of a Line for the admin page.
type Status struct {
	State     State
	Detail    string // the last error or why the last call ended
	OffHook   bool
	Muted     bool
	Held      bool // we put the call on hold
	LED       led.Pattern
	Since     time.Time   // when State was entered
	CallStart time.Time   // when the current call was answered; zero without one
	Quality   media.Stats // the current call's RTP figures; zero without one
	// Unreachable is when the conference was found unreachable, while the line is
	// LocalOnly; zero otherwise.
	Unreachable time.Time
	// Caller is who calls the handset, while its call in rings or is answered; "" for
	// none.
	Caller string
	// Waiting is who waits behind the call in progress (call waiting); "" for none.
	Waiting string
}

// A Line runs the call of one handset: hook switch and buttons in, LED and the conference
// leg out. Lifting the handset joins, hanging up leaves; the gestures of the hook (a flash)
// and of the buttons (short and long presses) do what the mapping says. Its state is owned
// by the goroutine in Run; others send it events.
type Line struct {
	index   int
	hook    hw.Switch
	buttons map[string]hw.Switch // by input name, e.g. "button", "mute"
	// mapping is what the gestures do; SetMapping replaces it while the line runs. The
	// mapping it points to is never changed.
	mapping   atomic.Pointer[Mapping]
	light     *led.Indicator
	onState   func(State)              // told of every change of state, may be nil
	onCallEnd func(Status, error)      // call history of ended joins and calls, may be nil
	onMissed  func(caller, why string) // call history of calls in not answered, may be nil
	onWaiting func()                   // a call waits behind the one in progress, may be nil
	recorder  Recorder                 // nil when the appliance does not record
	presence  Presence                 // nil when no proof of presence is ever wanted
	conf      Conference
	local     LocalMix // nil: no local fallback
	log       *slog.Logger

	events chan any
	wg     sync.WaitGroup // goroutines started by Run and its handlers

	// probe asks Run's goroutine to count a beat, which shows the watchdog that it still
	// takes events; see Probe.
	probe chan struct{}
	beats atomic.Uint64

	mu     sync.Mutex // guards following
	status Status
	call   Leg // the leg in the call, for its figures

	// Owned by Run's goroutine.
	state      State
	offHook    bool
	muted      bool
	held       bool // the far end agreed to our hold
	holding    bool // a hold or resume is under way
	leg        Leg
	joinSeq    int
	cancelJoin context.CancelFunc
	fallback   fallback // while LocalOnly
	// Calls in: the one that rings, the one that waits behind the call in progress, and
	// how the call in progress was answered.
	ringing, waiting IncomingCall
	autoAnswered     bool // the call in progress was answered without lifting
	muteUntilLifted  bool // its microphone stays muted until the handset is lifted
}

// Config is what a Line is made of.
type Config struct {
	Index   int                  // the handset's index: handset Index+1 to the user
	Hook    hw.Switch            // the hook switch, debounced
	Buttons map[string]hw.Switch // the handset's buttons by input name, e.g. "button", "mute"
	LED     hw.LED
	// Mapping is what the gestures of the hook and the buttons do; nil means
	// DefaultMapping. It must not be changed afterwards.
	Mapping    Mapping
	Conference Conference
	Recorder   Recorder // nil when the appliance does not record
	Presence   Presence // nil when no proof of presence is ever wanted
	// Local is the local mix a lifted handset talks in while its conference cannot be
	// reached; nil means none: such a join fails as any other.
	Local LocalMix
	// OnState, if set, is told of every change of the line's state (the status tone, the
	// service legs); OnCallEnd of every join and call that ends (the call history). Both
	// run on the line's goroutine and must not block.
	OnState   func(State)
	OnCallEnd func(Status, error)
	// OnMissed, if set, is told of every call in that was not answered (the call history),
	// OnWaiting of every call that starts to wait behind the call in progress (the
	// call-waiting tone). Both run on the line's goroutine and must not block.
	OnMissed  func(caller, why string)
	OnWaiting func()
	Log       *slog.Logger
}

// New makes the line of handset cfg.Index.
func New(cfg Config) *Line {
	l := &Line{
		index:     cfg.Index,
		hook:      cfg.Hook,
		buttons:   cfg.Buttons,
		light:     led.New(cfg.LED),
		conf:      cfg.Conference,
		recorder:  cfg.Recorder,
		presence:  cfg.Presence,
		local:     cfg.Local,
		onState:   cfg.OnState,
		onCallEnd: cfg.OnCallEnd,
		onMissed:  cfg.OnMissed,
		onWaiting: cfg.OnWaiting,
		log:       cfg.Log,
		events:    make(chan any, 8),
		probe:     make(chan struct{}, 1),
	}
	m := cfg.Mapping
	if m == nil {
		m = DefaultMapping()
	}
	l.SetMapping(m)
	return l
}

// SetMapping makes m what the line's gestures do from the next one that completes on: a
// press already under way is mapped when it ends or is held long enough, and a call in
// progress keeps going. m must not be changed afterwards. Safe from any goroutine.
func (l *Line) SetMapping(m Mapping) { l.mapping.Store(&m) }

// Mapping returns what the line's gestures do now. Safe from any goroutine.
func (l *Line) Mapping() Mapping { return *l.mapping.Load() }

// Leg returns the leg of the call in progress, nil without one. Safe from any goroutine.
func (l *Line) Leg() Leg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.call
}

// Status returns a snapshot of the line, safe from any goroutine.
func (l *Line) Status() Status {
	l.mu.Lock()
	st, call := l.status, l.call
	l.mu.Unlock()
	if call != nil {
		st.Quality = call.Quality()
	}
	return st
}

// SendDigits sends DTMF digits into the handset's call, as the handset's keypad would. It
// fails when the handset is not in a call or the digits cannot be sent.
func (l *Line) SendDigits(ctx context.Context, digits string) error {
	result := make(chan error, 1)
	select {
	case l.events <- digitsSend{digits, result}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do asks the line to carry out action, as a mapped button would. It returns at once; it
// fails only when the line is not running or is too busy to take it.
func (l *Line) Do(action Action) error {
	select {
	case l.events <- actionDo{action}:
		return nil
	default:
		return errors.New("the handset is busy: try again")
	}
}

// Probe asks the line's goroutine to show that it still takes events: it counts a beat
// (see Beats) when it next gets to the probe. A line stuck in a handler never does. Probe
// never blocks, and a probe still pending is not queued twice. Safe from any goroutine.
func (l *Line) Probe() {
	select {
	case l.probe <- struct{}{}:
	default:
	}
}

// Beats counts the probes the line's goroutine has answered. Safe from any goroutine.
func (l *Line) Beats() uint64 { return l.beats.Load() }

// Run drives the line until ctx is done, then hangs up any call. It returns only after
// every goroutine it started has finished.
func (l *Line) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer l.wg.Wait()
	defer cancel()

	l.wg.Go(func() { _ = l.light.Run(ctx) })
	// The switches are debounced already: the machines only tell the gestures apart.
	hookTiming, buttonTiming := gesture.DefaultHook(), gesture.DefaultButton()
	hookTiming.Debounce, buttonTiming.Debounce = 0, 0
	hook, err := gesture.NewHook(hookTiming)
	if err != nil {
		return fmt.Errorf("handset %d hook: %w", l.index+1, err)
	}
	l.wg.Go(func() { l.watch(ctx, gesture.HookInput, l.hook, hook) })
	for name, sw := range l.buttons {
		button, err := gesture.NewButton(buttonTiming)
		if err != nil {
			return fmt.Errorf("handset %d %s: %w", l.index+1, name, err)
		}
		l.wg.Go(func() { l.watch(ctx, name, sw, button) })
	}
	l.setState(Idle, "")
	for {
		// A recording that starts or stops may change the LED: the line shows whether its
		// conference is being recorded.
		var recordingChanged <-chan struct{}
		if l.recorder != nil {
			recordingChanged = l.recorder.RecordingChanged()
		}
		select {
		case <-ctx.Done():
			l.shutdown()
			return nil
		case ev := <-l.events:
			l.handle(ctx, ev)
		case <-recordingChanged:
			l.showLight()
		case <-l.probe:
			l.beats.Add(1)
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
		case ev.offHook && l.state == Ringing:
			l.answerRinging(ctx)
		case ev.offHook && l.state == InCall && l.muteUntilLifted:
			l.muteUntilLifted = false
			l.setMuted(false)
		case ev.offHook && (l.state == Idle || l.state == Failed):
			l.startJoin(ctx)
		case !ev.offHook:
			l.leave(ctx, "")
			l.waitingRings()
		}
	case actionDo:
		l.do(ctx, ev.action)
	case presenceDo:
		detail := l.presence.ProvePresence(l.index)
		l.log.Info("call button held: presence proven")
		l.setState(l.state, detail)
	case digitsSend:
		if l.state != InCall {
			ev.result <- errors.New("the handset is not in a call")
			return
		}
		ev.result <- l.leg.SendDigits(ev.digits)
	case ringOffer:
		l.offered(ctx, ev)
	case answerDo:
		l.answerRinging(ctx)
	case callGone:
		l.callEndedRinging(ev.call, false)
	case ringTimer:
		l.callEndedRinging(ev.call, true)
	case joinDone:
		l.joinFinished(ctx, ev)
	case holdDone:
		l.holdFinished(ev)
	case retryDue:
		l.retry(ctx, ev)
	case legEnded:
		if ev.leg != l.leg {
			return
		}
		l.callEnded(ev.leg.Err())
		l.leg = nil
		l.failOrIdle(describeEnd(ev.leg.Err()))
		l.waitingRings()
	}
}

// do carries out a mapped action.
func (l *Line) do(ctx context.Context, a Action) {
	switch a {
	case JoinLeave:
		switch l.state {
		case Ringing:
			l.answerRinging(ctx)
		case Idle, Failed:
			l.startJoin(ctx)
		case Joining, InCall, LocalOnly:
			l.leave(ctx, "")
		}
	case Mute:
		if l.state != InCall {
			return // nothing to mute: the microphone is live only in a call
		}
		l.setMuted(!l.muted)
	case Hold:
		l.startHold(ctx)
	case SendPIN:
		if l.state != InCall {
			return
		}
		pin, err := l.conf.PIN(l.index)
		if err == nil && pin == "" {
			err = errors.New("the conference has no PIN")
		}
		if err == nil {
			err = l.leg.SendDigits(pin)
		}
		if err != nil {
			l.log.Warn("send PIN", "err", err)
			l.setState(l.state, "PIN not sent: "+err.Error())
		}
	case Record:
		err := errors.New("this appliance does not record")
		if l.recorder != nil {
			err = l.recorder.ToggleHandsetRecording(l.index)
		}
		if err != nil {
			l.log.Warn("record", "err", err)
			l.setState(l.state, err.Error())
		}
	case VolumeUp, VolumeDown:
		delta := float64(VolumeStep)
		if a == VolumeDown {
			delta = -delta
		}
		gain, err := l.conf.Louder(l.index, delta)
		if err != nil {
			l.log.Warn("volume", "err", err)
			l.setState(l.state, err.Error())
			return
		}
		l.log.Info("earpiece volume", "gain_db", gain)
	case NextConference:
		if l.state == Joining || l.state == InCall || l.state == LocalOnly {
			return // the call stays where it is; the choice is for the next one
		}
		name, err := l.conf.NextConference(l.index)
		if err != nil {
			l.log.Warn("next conference", "err", err)
			l.setState(l.state, err.Error())
			return
		}
		l.setState(l.state, "next call joins "+name)
	default:
		l.log.Warn("action not available on this handset", "action", a)
	}
}

// setMuted mutes or unmutes the microphone of the call in progress.
func (l *Line) setMuted(on bool) {
	if l.leg != nil {
		l.leg.Mute(on)
	}
	if on != l.muted {
		l.log.Info("microphone", "muted", on)
	}
	l.muted = on
	l.showLight()
}

// startHold puts the call on hold, or takes it off, in the background. A press while the
// last one is still under way is ignored: the toggle would not know which way to go.
func (l *Line) startHold(ctx context.Context) {
	if l.state != InCall || l.holding {
		return
	}
	l.holding = true
	lg, on := l.leg, !l.held
	l.wg.Go(func() {
		hctx, cancel := context.WithTimeout(ctx, holdTimeout)
		defer cancel()
		err := lg.Hold(hctx, on)
		l.post(ctx, holdDone{leg: lg, on: on, err: err})
	})
}

// holdFinished takes the result of startHold.
func (l *Line) holdFinished(ev holdDone) {
	if ev.leg != l.leg {
		return // the call it was for has ended
	}
	l.holding = false
	if ev.err != nil {
		what := map[bool]string{true: "hold", false: "resume"}[ev.on]
		l.log.Warn(what, "err", ev.err)
		l.setState(l.state, what+" failed: "+ev.err.Error())
		return
	}
	l.log.Info("call", "held", ev.on)
	l.held = ev.on
	l.showLight()
}

// showLight lights the LED for the line's state.
func (l *Line) showLight() { l.publish(func() {}) }

// publish runs change, which may update l.status and l.call, and lights the LED for the
// line's state, all under l.mu with the held and muted flags, so that Status never shows a
// state, a flag and a light that disagree.
func (l *Line) publish(change func()) {
	recorded := l.state == InCall && l.recorder != nil && l.recorder.HandsetRecorded(l.index)
	p := l.state.pattern(l.held, l.muted, recorded)
	l.mu.Lock()
	change()
	l.status.LED, l.status.Held, l.status.Muted = p, l.held, l.muted
	l.mu.Unlock()
	l.light.Set(p)
}

func (l *Line) joinFinished(ctx context.Context, ev joinDone) {
	if ev.seq != l.joinSeq || (l.state != Joining && l.state != LocalOnly) {
		// The user left while this join was under way: hang up whatever it produced.
		if ev.leg != nil {
			l.hangupAsync(ctx, ev.leg)
		}
		return
	}
	l.cancelJoin()
	l.cancelJoin = nil
	if l.state == LocalOnly {
		l.rejoinFinished(ctx, ev)
		return
	}
	if ev.err != nil && l.fallBack(ctx, ev.err) {
		return
	}
	if ev.err != nil {
		l.log.Warn("join failed", "err", ev.err)
		l.callEnded(ev.err)
		l.failOrIdle(ev.err.Error())
		return
	}
	l.takeLeg(ctx, ev.leg)
	l.setState(InCall, "")
	if l.muteUntilLifted && !l.offHook {
		l.setMuted(true)
	}
}

// takeLeg makes lg the line's call and watches for its end.
func (l *Line) takeLeg(ctx context.Context, lg Leg) {
	l.leg = lg
	l.wg.Go(func() {
		select {
		case <-lg.Done():
			l.post(ctx, legEnded{lg})
		case <-ctx.Done():
		}
	})
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
	if l.fallBackAtOnce(ctx) {
		return
	}
	l.dial(ctx)
	l.setState(Joining, "")
}

// dial starts a join in the background; its joinDone comes back to Run.
func (l *Line) dial(ctx context.Context) {
	l.joinSeq++
	seq := l.joinSeq
	joinCtx, cancel := context.WithTimeout(ctx, joinTimeout)
	l.cancelJoin = cancel
	l.wg.Go(func() {
		lg, err := l.conf.Join(joinCtx, l.index)
		if err != nil && errors.Is(joinCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = Unreachable(errors.New("no answer from the conference"))
		}
		// ctx, not joinCtx: the result must arrive even when the join was cancelled.
		l.post(ctx, joinDone{seq: seq, leg: lg, err: err})
	})
}

// leave ends the call or the join in progress and returns to Idle (or Failed while lifted
// and detail says why).
func (l *Line) leave(ctx context.Context, detail string) {
	if l.state == Joining || l.state == InCall {
		l.callEnded(nil)
	}
	switch l.state {
	case Joining:
		l.cancelJoin() // sends CANCEL; the joinDone that follows is stale
		l.cancelJoin = nil
	case InCall:
		l.hangupAsync(ctx, l.leg)
		l.leg = nil
	case LocalOnly:
		l.endFallback()
	}
	l.setState(Idle, detail)
}

func (l *Line) hangupAsync(ctx context.Context, lg Leg) {
	l.wg.Go(func() {
		if err := lg.Hangup(ctx); err != nil {
			l.log.Warn("hang up", "err", err)
		}
	})
}

// shutdown runs when the appliance stops: refuse the calls that ring, cancel a join, hang
// up a call.
func (l *Line) shutdown() {
	l.refuseRinging()
	if l.state == Joining || l.state == InCall {
		l.callEnded(nil)
	}
	if l.cancelJoin != nil {
		l.cancelJoin()
	}
	if l.state == LocalOnly {
		l.endFallback()
	}
	if l.leg != nil {
		if err := l.leg.Hangup(context.Background()); err != nil {
			l.log.Warn("hang up", "err", err)
		}
		l.leg = nil
	}
}

// setState enters s. Leaving a call unmutes and forgets the hold: the next call starts
// with a live microphone.
func (l *Line) setState(s State, detail string) {
	prev := l.state
	if s != prev || detail != "" {
		l.log.Info("state", "from", prev, "to", s, "detail", detail)
	}
	l.state = s
	if s != InCall {
		l.muted, l.held, l.holding = false, false, false
	}
	if s != InCall && s != Joining {
		l.autoAnswered, l.muteUntilLifted = false, false
	}
	now := time.Now()
	l.publish(func() {
		l.status.State = s
		l.status.Since = now
		if detail != "" || s == Joining {
			l.status.Detail = detail
		}
		if s == Idle || s == Failed {
			l.status.Caller = "" // the call in, if any, is over
		}
		switch {
		case s == InCall && prev != InCall:
			l.status.CallStart, l.call = now, l.leg
		case s != InCall:
			l.status.CallStart, l.call = time.Time{}, nil
		}
		switch {
		case s == LocalOnly && prev != LocalOnly:
			l.status.Unreachable = now
		case s != LocalOnly:
			l.status.Unreachable = time.Time{}
		}
	})
	if s != prev && l.onState != nil {
		l.onState(s)
	}
}

// watch turns the positions of the switch called input into gestures and forwards them to
// Run: the hook's lifting and hanging up as hookMoved, PresenceTrigger as presenceDo while
// a proof of presence is wanted, every other gesture as the action the mapping of the
// moment gives it.
func (l *Line) watch(ctx context.Context, input string, sw hw.Switch, m gesture.Machine) {
	err := gesture.Watch(ctx, sw, m, gesture.System, func(e gesture.Event) {
		switch {
		case e.Gesture == gesture.OffHook:
			l.post(ctx, hookMoved{true})
		case e.Gesture == gesture.OnHook:
			l.post(ctx, hookMoved{false})
		case l.presence != nil && (gesture.Trigger{Input: input, Gesture: e.Gesture}) == PresenceTrigger && l.presence.PresenceWanted():
			l.post(ctx, presenceDo{})
		default:
			if a, ok := l.mapping.Load().Action(input, e.Gesture); ok {
				l.post(ctx, actionDo{a})
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		l.log.Error("switch", "input", input, "err", err)
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

// callEnded reports the join or call that is ending to the call history, before setState
// forgets its start and figures.
func (l *Line) callEnded(err error) {
	if l.onCallEnd != nil {
		l.onCallEnd(l.Status(), err)
	}
}
