package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"partyline/appliance/audiohub"
	"partyline/appliance/callin"
	"partyline/appliance/handset"
	"partyline/appliance/legs"
	"partyline/appliance/settings"
	"partyline/hw"
	"partyline/hw/alert"
	"partyline/sip"
)

// Calls in to the handsets: an incoming call that dials no bridge but a handset's identity
// (its account's user, or the user of the URI it impersonates) rings that handset, if the
// handset's settings admit the caller.

// ringCountry is the cadence the alert speaker rings with.
const ringCountry = "us"

// handsetCalls routes calls in to the handsets' lines. It is made with the lines, after
// the SIP agent, and set on the incoming queue before the agent runs.
type handsetCalls struct {
	agent *sip.Agent
	conf  *conferencing
	lines []*handset.Line
	log   *slog.Logger
}

// findHandset finds the handset that a call dialled, by the users it dialled, its
// Request-URI user first and then its To user: a handset impersonating a URI with that
// user, else one whose account has it. A user several handsets share rings the first of
// them.
func findHandset(set settings.Settings, users ...string) (int, bool) {
	for _, user := range users {
		if user == "" {
			continue
		}
		for i, h := range set.Handsets {
			if h.Identity == settings.IdentityImpersonate {
				if u, err := sip.ParseURI(h.IdentityURI); err == nil && u.User == user {
					return i, true
				}
			}
		}
		for i, h := range set.Handsets {
			if acc, ok := findAccount(set, h.Account); ok && h.Identity != settings.IdentityImpersonate && acc.User == user {
				return i, true
			}
		}
	}
	return 0, false
}

// offerHandset judges a call in to a handset against the handset's settings before
// anything is done for it, and offers it to the handset's line if it is admitted. It
// answers a call it does not admit itself (403, 603) and reports whether in dialled a
// handset at all.
func (q *incomingQueue) offerHandset(set settings.Settings, in *sip.Incoming) bool {
	hc := q.handsets
	i, found := findHandset(set, in.User(), in.ToUser())
	if hc == nil || !found || i >= len(hc.lines) {
		return false
	}
	h := set.Handsets[i]
	log := q.log.With("call", in.ID(), "from", in.From(), "source", in.Source(), "handset", h.ID)
	rules := callin.Rules{Networks: h.CallsIn.Networks(), Proxy: h.CallsIn.AllowProxy, Digest: h.CallsIn.AuthUser != ""}
	call := callin.Call{Source: in.Source().Addr()}
	if rules.Proxy {
		call.FromProxy = q.proxies.isProxy(set, h.Account, call.Source)
	}
	if rules.Digest {
		call.Digest = q.guard.Check(in, h.CallsIn.AuthUser, h.CallsIn.AuthPassword)
	}
	switch verdict := callin.Decide(rules, call); verdict {
	case callin.Challenge, callin.ChallengeStale:
		if err := q.guard.Challenge(in, verdict == callin.ChallengeStale); err != nil {
			log.Debug("challenge the caller", "err", err)
		}
		return true
	case callin.Refuse:
		reason := "Forbidden"
		if call.Digest == sip.DigestWrong {
			reason = "Forbidden: wrong credentials"
		}
		log.Warn("call in refused: not allowed to call the handset", "credentials", call.Digest, "open", rules.Open())
		reject(in, 403, reason, log)
		return true
	}
	if h.CallsIn.Mode == settings.CallsInReject {
		log.Info("call in declined: the handset takes no calls")
		reject(in, 603, "Decline", log)
		return true
	}
	if err := in.Ringing(); err != nil {
		log.Info("caller gone before ringing", "err", err)
		return true
	}
	log.Info("call in admitted", "mode", h.CallsIn.Mode)
	opts := handset.RingOptions{
		AutoAnswer:      h.CallsIn.Mode == settings.CallsInAutoAnswer,
		MuteUntilLifted: h.CallsIn.MuteUntilLifted,
		CallWaiting:     h.CallsIn.CallWaiting,
	}
	hc.lines[i].Offer(&incomingCall{in: in, calls: hc, index: i, auto: opts.AutoAnswer, log: log}, opts)
	return true
}

// An incomingCall is a call in to handset index: the handset.IncomingCall of its line.
type incomingCall struct {
	in    *sip.Incoming
	calls *handsetCalls
	index int
	auto  bool // auto-answered: a short tone in the earpiece first
	log   *slog.Logger
}

// Caller implements handset.IncomingCall.
func (c *incomingCall) Caller() string { return callerOf(c.in) }

// callerOf is the caller of in as the page shows it: `"Bob" <sip:bob@example.org>`.
func callerOf(in *sip.Incoming) string {
	if name := in.DisplayName(); name != "" {
		return fmt.Sprintf("%q <%s>", name, in.From())
	}
	return in.From()
}

// Reject implements handset.IncomingCall.
func (c *incomingCall) Reject(status int, reason string) { reject(c.in, status, reason, c.log) }

// Gone implements handset.IncomingCall.
func (c *incomingCall) Gone() <-chan struct{} { return c.in.Context().Done() }

// Answer implements handset.IncomingCall: it answers the caller on an RTP socket of its
// own and starts the media between the call and the handset's audio port, as a join's.
func (c *incomingCall) Answer(ctx context.Context) (handset.Leg, error) {
	conf := c.calls.conf
	set := conf.current()
	if c.index >= len(set.Handsets) {
		return nil, fmt.Errorf("handset %d is not configured", c.index+1)
	}
	h := set.Handsets[c.index]
	port, err := conf.hub.Port(h.Channel)
	if err != nil {
		return nil, err
	}
	if err := conf.hub.SetLevels(h.Channel, h.MicGainDB, h.EarGainDB, audiohub.SidetoneDB(h.SidetonePercent)); err != nil {
		return nil, fmt.Errorf("%s levels: %w", h.Name, err)
	}
	if err := conf.hub.SetAGC(h.Channel, h.MicAGC); err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	lg, err := legs.Answer(ctx, c.calls.agent, c.in, c.log)
	if err != nil {
		return nil, err
	}
	label := handsetLabel(set, c.index)
	if conf.problem != nil {
		lg.OnProblem(func(text string) { conf.problem(label, text) })
	}
	if err := conf.startMedia(lg, port, label); err != nil {
		return nil, errors.Join(err, lg.Hangup(ctx))
	}
	if c.auto {
		port.Cue(beeps(conf.hub.Format().SampleRate, autoAnswerFreq, 1))
	}
	return &handsetLeg{Leg: lg, port: port, release: func() {}}, nil
}

// The earpiece cues of calls in: one beep before an auto-answered call's audio, two
// lower ones for a call that waits behind the one in progress.
const (
	autoAnswerFreq  = 1000
	callWaitingFreq = 440
)

// callWaitingTone plays the call-waiting tone into handset i's earpiece.
func (hc *handsetCalls) callWaitingTone(i int) {
	set := hc.conf.current()
	if i >= len(set.Handsets) {
		return
	}
	port, err := hc.conf.hub.Port(set.Handsets[i].Channel)
	if err != nil {
		hc.log.Warn("call-waiting tone", "err", err)
		return
	}
	port.Cue(beeps(hc.conf.hub.Format().SampleRate, callWaitingFreq, 2))
}

// missedCall adds a call in to handset i that nobody answered to the call history.
func (a *Appliance) missedCall(i int, caller, why string) {
	set := a.settings() // shared: read only
	rec := settings.CallRecord{Handset: handsetName(set, i), Caller: caller, Start: a.onWallClock(time.Now()),
		End: settings.EndMissed, Detail: why}
	if i < len(set.Handsets) {
		rec.Identity = handsetIdentity(set, set.Handsets[i])
	}
	a.events.Add(slog.LevelInfo, handsetLabel(set, i), fmt.Sprintf("missed call from %s: %s", caller, why))
	a.calls.add(rec.End)
	if err := a.store.AppendHistory(rec); err != nil {
		a.log.Error("record missed call", "handset", handsetID(set, i), "err", err)
	}
}

// A ringer rings the alert speaker while any handset rings: one cycle of the cadence
// queued ahead of the one that sounds, and silence at once when the last handset stops
// ringing. A speaker that cannot ring (Ring and Silence) plays nothing.
type ringer struct {
	speaker interface {
		Ring(country string, cycles int) error
		Silence()
	}
	log  *slog.Logger
	wake chan struct{} // a buffered wake-up for run

	mu      sync.Mutex // guards following, and the speaker's ringing
	ringing map[int]bool
}

// newRinger returns the ringer of speaker (nil when the board has none).
func newRinger(speaker hw.AlertSpeaker, log *slog.Logger) *ringer {
	r := &ringer{log: log, ringing: map[int]bool{}, wake: make(chan struct{}, 1)}
	if s, ok := speaker.(interface {
		Ring(country string, cycles int) error
		Silence()
	}); ok {
		r.speaker = s
	}
	return r
}

// set says whether handset i rings. The last handset that stops ringing silences the
// speaker at once. It never blocks on the speaker.
func (r *ringer) set(i int, on bool) {
	if r.speaker == nil {
		return
	}
	r.mu.Lock()
	was := len(r.ringing) > 0
	if on {
		r.ringing[i] = true
	} else {
		delete(r.ringing, i)
	}
	if was && len(r.ringing) == 0 {
		r.speaker.Silence()
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run rings while any handset rings, until ctx is done.
func (r *ringer) run(ctx context.Context) {
	if r.speaker == nil {
		return
	}
	cycle, err := alert.CycleLength(ringCountry)
	if err != nil {
		r.log.Error("ringing", "err", err)
		return
	}
	ring := func(cycles int) {
		if err := r.speaker.Ring(ringCountry, cycles); err != nil {
			r.log.Warn("alert speaker", "err", err)
		}
	}
	t := time.NewTimer(cycle)
	defer t.Stop()
	on, due := false, false // ringing, and a cycle to queue
	for {
		r.mu.Lock()
		switch rings := len(r.ringing) > 0; {
		case rings && !on:
			r.speaker.Silence() // no status tone before the ringing
			ring(2)
			t.Reset(cycle)
		case rings && due:
			ring(1)
			t.Reset(cycle)
		}
		on = len(r.ringing) > 0
		r.mu.Unlock()
		due = false
		select {
		case <-ctx.Done():
			r.mu.Lock()
			if on {
				r.speaker.Silence()
			}
			r.mu.Unlock()
			return
		case <-r.wake:
		case <-t.C:
			due = true
		}
	}
}
