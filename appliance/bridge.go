package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"partyline/appliance/callin"
	"partyline/appliance/config"
	"partyline/appliance/legs"
	"partyline/media"
	"partyline/sip"
)

const (
	// bridgeQueue is how many incoming calls wait for the bridging goroutine at most;
	// more are refused as busy.
	bridgeQueue = 8
	// bridgeJoinTimeout bounds the join of a bridged caller's conference leg: the caller,
	// who hears ringing meanwhile, gets a final answer by then.
	bridgeJoinTimeout = 20 * time.Second
	// answerTimeout bounds waiting for the caller's ACK of our 200.
	answerTimeout = 10 * time.Second
)

// An incomingQueue judges the incoming calls and holds those it admits until the bridging
// goroutine takes them. It is made before the SIP agent, whose Config.OnIncoming is its
// offer; bridging, made after the agent, takes the calls from it.
//
// Calls in are closed by default: offer admits a caller only if the bridge it dialled says
// it may call (see admit), before anything is done for the call.
type incomingQueue struct {
	calls   chan *admission
	store   *config.Store
	guard   *sip.DigestGuard
	proxies *proxyAddrs
	limits  callin.Limiter
	log     *slog.Logger
	// handsets routes the calls to a handset's identity to its line; set once the lines
	// are made, before the SIP agent runs.
	handsets *handsetCalls
}

func newIncomingQueue(store *config.Store, resolver *net.Resolver, log *slog.Logger) *incomingQueue {
	return &incomingQueue{
		calls:   make(chan *admission, bridgeQueue),
		store:   store,
		guard:   sip.NewDigestGuard(digestRealm),
		proxies: newProxyAddrs(resolver),
		log:     log,
	}
}

// offer judges an incoming call against the settings in memory and queues it if it is
// admitted, or refuses it as busy when bridgeQueue calls wait already.
func (q *incomingQueue) offer(in *sip.Incoming) {
	set := q.store.Current().Settings
	if _, bridged := findBridge(set, in); !bridged && q.offerHandset(set, in) {
		return
	}
	adm, ok := q.admit(set, in)
	if !ok {
		return
	}
	select {
	case q.calls <- adm:
	default:
		adm.release()
		q.log.Warn("incoming call refused: too many waiting", "from", in.From())
		reject(in, 486, "Busy Here", q.log)
	}
}

// bridging takes incoming calls and bridges each caller that dials a configured bridge's
// user into the bridge's conference: it joins the conference first, as the caller or
// under a generated identity, and answers the caller only once the conference answered;
// then it relays the media between the two calls until either ends, and hangs up the
// other. It never sends the caller's call on to the conference URI (a back-to-back call
// with the conference as destination): the conference leg is a join of its own.
type bridging struct {
	agent   *sip.Agent
	store   *config.Store
	claims  *identityClaims // no two of our legs present one identity in a conference
	rosters *rosters        // the conference legs are marked in their rosters
	queue   *incomingQueue
	log     *slog.Logger
	// problem tells the admin page of a bridged call that failed, from the bridge called
	// source; nil for none.
	problem func(source, text string)
}

// report tells the admin page of a failed bridged call from in, through bridge br.
func (b *bridging) report(br string, in *sip.Incoming, text string) {
	if b.problem != nil {
		b.problem("bridge "+br, fmt.Sprintf("the call from %s: %s", in.From(), text))
	}
}

// run bridges the calls that wait in the queue until ctx ends; then it hangs up the
// bridged calls, refuses those still waiting and returns.
func (b *bridging) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case adm := <-b.queue.calls:
			wg.Go(func() {
				defer adm.release()
				b.bridge(ctx, adm)
			})
		case <-ctx.Done():
			for {
				select {
				case adm := <-b.queue.calls:
					adm.release()
					reject(adm.in, 503, "Service Unavailable: shutting down", b.log)
				default:
					return
				}
			}
		}
	}
}

// reject gives in the final answer status with reason.
func reject(in *sip.Incoming, status int, reason string, log *slog.Logger) {
	if err := in.Reject(status, reason); err != nil {
		log.Debug("refuse incoming call", "call", in.ID(), "err", err)
	}
}

// bridge bridges one admitted caller as its plan says, or refuses it with a final answer.
func (b *bridging) bridge(ctx context.Context, adm *admission) {
	in, plan := adm.in, adm.plan
	log := b.log.With("call", in.ID(), "from", in.From(), "bridge", adm.bridge, "conference", plan.Target)
	release := func() {}
	var err error
	if uri, fixed := plan.Presents(); fixed {
		holder := "Bridged caller " + in.From()
		if release, err = b.claims.claim(plan.Target, uri, holder); err != nil {
			log.Info("incoming call refused", "err", err)
			reject(in, 486, "Busy Here: already in the conference", log)
			return
		}
	}
	defer release()
	if err := in.Ringing(); err != nil {
		log.Info("caller gone before ringing", "err", err)
		return
	}
	conf, err := b.joinFor(ctx, in, plan)
	if err != nil {
		if text := b.refuseAfterJoin(in, err, log); text != "" {
			b.report(adm.bridge, in, text)
		}
		return
	}
	defer b.rosters.add(plan.Target, plan.Account, conf.Identity(), bridgeLabel(in))()
	caller, err := b.answer(ctx, in, log)
	if err != nil {
		log.Warn("answer the caller", "err", err)
		if !errors.Is(err, sip.ErrCallerCanceled) {
			b.report(adm.bridge, in, "not answered: "+err.Error())
		}
		if err := conf.Hangup(ctx); err != nil {
			log.Warn("hang up the conference leg", "err", err)
		}
		return
	}
	log.Info("caller bridged", "conference_identity", conf.Identity(),
		"conference_codec", conf.Call().Media().Codec, "caller_codec", caller.Call().Media().Codec)
	if text := b.relayUntilEnd(ctx, conf, caller, log); text != "" {
		b.report(adm.bridge, in, text)
	}
}

// bridgeLabel names a bridged caller's leg for the roster.
func bridgeLabel(in *sip.Incoming) string {
	if name := in.DisplayName(); name != "" {
		return "Bridged caller " + name
	}
	return "Bridged caller"
}

// joinFor joins the conference leg of in: with a context that ends when the caller
// cancels (which cancels the join), when the appliance stops, or after
// bridgeJoinTimeout.
func (b *bridging) joinFor(ctx context.Context, in *sip.Incoming, plan legs.Plan) (*legs.Leg, error) {
	jctx, cancel := context.WithTimeout(in.Context(), bridgeJoinTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return legs.Dial(jctx, b.agent, plan, b.log)
}

// refuseAfterJoin gives the caller the final answer for a join that failed: none if the
// caller cancelled (sipgo answered 487), 503 naming the conference's answer if it
// refused, 480 otherwise. It returns what failed, for the admin page: "" when the caller
// cancelled.
func (b *bridging) refuseAfterJoin(in *sip.Incoming, err error, log *slog.Logger) string {
	if errors.Is(context.Cause(in.Context()), sip.ErrCallerCanceled) {
		log.Info("caller cancelled while joining the conference")
		return ""
	}
	var refused *sip.JoinError
	if errors.As(err, &refused) {
		log.Info("the conference refused the bridged caller", "err", err)
		reject(in, 503, fmt.Sprintf("Conference refused: %d %s", refused.Status, refused.Reason), log)
		return "the conference refused it: " + err.Error()
	}
	log.Warn("join the conference for the bridged caller", "err", err)
	reject(in, 480, "Temporarily Unavailable: conference unreachable", log)
	return "the conference could not be joined: " + err.Error()
}

// answer answers the caller on an RTP socket of its own; a caller that cannot be
// answered, other than by cancelling, gets 500.
func (b *bridging) answer(ctx context.Context, in *sip.Incoming, log *slog.Logger) (*legs.Leg, error) {
	actx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	caller, err := legs.Answer(actx, b.agent, in, b.log)
	if err != nil && !errors.Is(err, sip.ErrCallerCanceled) {
		reject(in, 500, "Server Internal Error", log)
	}
	return caller, err
}

// relayUntilEnd relays the media of the two legs until either call ends or ctx does,
// then hangs up the calls still up. It returns what failed, for the admin page: "" when
// the call ended as calls do.
func (b *bridging) relayUntilEnd(ctx context.Context, conf, caller *legs.Leg, log *slog.Logger) (failed string) {
	confLeg, err := relayLeg("conference", conf)
	var callerLeg *media.RelayLeg
	if err == nil {
		callerLeg, err = relayLeg("caller", caller)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if err != nil {
		log.Warn("cannot relay the media: hanging up", "err", err)
		failed = "hung up, the media could not be relayed: " + err.Error()
	} else {
		r := media.NewRelay(confLeg, callerLeg, b.rtpTimeout(), log)
		wg.Go(func() { r.Run(rctx) })
		wg.Go(func() { followRelayed(rctx, "conference", conf.Call(), confLeg, log) })
		wg.Go(func() { followRelayed(rctx, "caller", caller.Call(), callerLeg, log) })
		select {
		case <-conf.Done():
			log.Info("the conference ended the bridged call", "err", conf.Call().Err())
		case <-caller.Done():
			log.Info("the caller ended the bridged call", "err", caller.Call().Err())
		case <-r.Silent():
			log.Warn("no audio: hanging up the bridged call", "from", r.SilentLeg(), "after", b.rtpTimeout())
			failed = fmt.Sprintf("hung up, no audio from the %s for %s", r.SilentLeg(), b.rtpTimeout())
		case <-ctx.Done():
		}
	}
	stop()
	wg.Wait()
	var hwg sync.WaitGroup
	for _, l := range []*legs.Leg{conf, caller} {
		hwg.Go(func() {
			if err := l.Hangup(ctx); err != nil {
				log.Warn("hang up", "call", l.Call().ID(), "err", err)
			}
		})
	}
	hwg.Wait()
	return failed
}

// rtpTimeout is how long a bridged call's legs may stay without audio.
func (b *bridging) rtpTimeout() time.Duration {
	return b.store.Current().Settings.SIP.RTPTimeout()
}

// relayLeg returns the relay's side of leg l, called name.
func relayLeg(name string, l *legs.Leg) (*media.RelayLeg, error) {
	if l.Call().Media().SRTP.On() {
		return nil, fmt.Errorf("%s leg: encrypted with SRTP, which the bridge cannot relay", name)
	}
	rl, err := media.NewRelayLeg(name, l.Conn(), relayMedia(l.Call().Media()), l.Call().SendInfoDTMF)
	if err == nil && l.Tap() != nil {
		rl.SetTap(l.Tap())
	}
	return rl, err
}

// relayMedia is what the relay needs of a call's negotiated media.
func relayMedia(m sip.Media) media.RelayMedia {
	return media.RelayMedia{
		Remote:          m.Remote,
		Codec:           m.Codec,
		PayloadType:     m.PayloadType,
		DTMFPayloadType: m.DTMFPayloadType,
		Sends:           m.Direction.Sends(),
		Receives:        m.Direction == sip.SendRecv,
	}
}

// followRelayed applies the media changes of call's re-INVITEs to its side of the relay
// until the call ends or ctx does. A change to a codec the relay cannot take keeps the old
// codec, but still moves the address and direction.
func followRelayed(ctx context.Context, name string, call *sip.Call, leg *media.RelayLeg, log *slog.Logger) {
	changes := call.MediaChanges()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-changes:
			if !ok {
				return
			}
			if err := leg.SetMedia(relayMedia(m)); err != nil {
				log.Warn("media change of a bridged leg", "leg", name, "err", err)
			}
		}
	}
}
