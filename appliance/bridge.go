package appliance

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"partyline/appliance/callin"
	"partyline/appliance/config"
	"partyline/appliance/settings"
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

// bridging takes incoming calls and bridges each caller that dials a configured bridge's
// user into the bridge's conference: it joins the conference first, as the caller or
// under a generated identity, and answers the caller only once the conference answered;
// then it relays the media between the two calls until either ends, and hangs up the
// other. It never sends the caller's call on to the conference URI (a back-to-back call
// with the conference as destination): the conference leg is a join of its own.
//
// Calls in are closed by default: offer admits a caller only if the bridge it dialled
// says it may call (see admit), before anything is done for the call.
type bridging struct {
	store   *config.Store
	log     *slog.Logger
	calls   chan *admission
	guard   *sip.DigestGuard
	proxies *proxyAddrs
	limits  callin.Limiter
}

// newBridging returns the bridging of the settings in store. Its offer method is the SIP
// agent's Config.OnIncoming; run does the bridging.
func newBridging(store *config.Store, log *slog.Logger) *bridging {
	return &bridging{
		store:   store,
		log:     log,
		calls:   make(chan *admission, bridgeQueue),
		guard:   sip.NewDigestGuard(digestRealm),
		proxies: newProxyAddrs(),
	}
}

// offer judges an incoming call and hands it to run if it is admitted, or refuses it as
// busy when bridgeQueue calls wait already.
func (b *bridging) offer(in *sip.Incoming) {
	set, err := b.store.Settings()
	if err != nil {
		b.log.Warn("incoming call refused: settings unreadable", "err", err)
		b.reject(in, 500, "Server Internal Error")
		return
	}
	adm, ok := b.admit(set, in)
	if !ok {
		return
	}
	select {
	case b.calls <- adm:
	default:
		adm.release()
		b.log.Warn("incoming call refused: too many waiting", "from", in.From())
		b.reject(in, 486, "Busy Here")
	}
}

// run bridges the incoming calls offer hands it through agent, with the identities in
// claims and the conference legs entered in rosters, until ctx ends; then it hangs up
// the bridged calls, refuses those still waiting and returns.
func (b *bridging) run(ctx context.Context, agent *sip.Agent, claims *identityClaims, rosters *rosters) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case adm := <-b.calls:
			wg.Go(func() {
				defer adm.release()
				b.bridge(ctx, agent, claims, rosters, adm.in, adm.plan)
			})
		case <-ctx.Done():
			for {
				select {
				case adm := <-b.calls:
					adm.release()
					b.reject(adm.in, 503, "Service Unavailable: shutting down")
				default:
					return
				}
			}
		}
	}
}

func (b *bridging) reject(in *sip.Incoming, status int, reason string) {
	if err := in.Reject(status, reason); err != nil {
		b.log.Debug("refuse incoming call", "call", in.ID(), "err", err)
	}
}

// A bridgePlan is what bridging one caller needs, from the settings.
type bridgePlan struct {
	bridge      string // the bridge's ID, for messages
	target      string // the conference URI
	account     sip.Account
	identity    sip.Identity
	displayName string
}

// planBridge works out the conference leg of in, a call to br. The caller's identity is
// presented only if trusted says it may be; otherwise the leg gets a generated identity,
// or the call is refused, as the bridge says. It returns the status and reason to refuse
// the caller with if it cannot be bridged.
func planBridge(set settings.Settings, br settings.Bridge, in *sip.Incoming, trusted bool) (bridgePlan, int, string) {
	conf, ok := findConference(set, br.Conference)
	if !ok || conf.URI == "" {
		return bridgePlan{}, 480, "Temporarily Unavailable: the conference has no URI"
	}
	acc, ok := findAccount(set, br.Account)
	if !ok {
		return bridgePlan{}, 480, "Temporarily Unavailable: the bridge has no account"
	}
	p := bridgePlan{bridge: br.ID, target: conf.URI, account: sipAccount(acc)}
	// The relay moves packets as they are: the bridge's conference leg is plain RTP.
	switch p.account.SRTP {
	case sip.SRTPRequired:
		return bridgePlan{}, 503, "Service Unavailable: the bridge's account requires SRTP, which a bridge cannot relay"
	case sip.SRTPOffered:
		p.account.SRTP = sip.SRTPOff
	}
	if br.Identity != settings.BridgeGenerated && !trusted && br.Untrusted == settings.UntrustedRefuse {
		return bridgePlan{}, 403, "Forbidden: the caller's identity is not trusted"
	}
	if br.Identity == settings.BridgeGenerated || !trusted {
		p.identity = sip.Identity{Mode: sip.IdentityGenerated, Prefix: cmp.Or(br.IdentityPrefix, generatedCallerPrefix), Assert: br.AssertIdentity}
		return p, 0, ""
	}
	p.identity = sip.Identity{Mode: sip.IdentityImpersonate, URI: in.From(), Assert: br.AssertIdentity}
	p.displayName = in.DisplayName()
	if err := p.identity.Validate(); err != nil {
		return bridgePlan{}, 403, "Forbidden: the caller's identity cannot be presented"
	}
	return p, 0, ""
}

// bridge bridges one admitted caller as plan says, or refuses it with a final answer.
func (b *bridging) bridge(ctx context.Context, agent *sip.Agent, claims *identityClaims, rosters *rosters, in *sip.Incoming, plan bridgePlan) {
	log := b.log.With("call", in.ID(), "from", in.From(), "bridge", plan.bridge, "conference", plan.target)
	release := func() {}
	var err error
	if plan.identity.Mode == sip.IdentityImpersonate {
		holder := "Bridged caller " + in.From()
		if release, err = claims.claim(plan.target, plan.identity.URI, holder); err != nil {
			log.Info("incoming call refused", "err", err)
			b.reject(in, 486, "Busy Here: already in the conference")
			return
		}
	}
	defer release()
	if err := in.Ringing(); err != nil {
		log.Info("caller gone before ringing", "err", err)
		return
	}
	conf, err := b.joinFor(ctx, agent, in, plan)
	if err != nil {
		b.refuseAfterJoin(in, err, log)
		return
	}
	defer rosters.add(plan.target, plan.account, conf.call.Identity(), bridgeLabel(in))()
	caller, callerConn, err := b.answer(ctx, agent, in)
	if err != nil {
		log.Warn("answer the caller", "err", err)
		conf.close()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
		defer cancel()
		if err := conf.call.Hangup(hctx); err != nil {
			log.Warn("hang up the conference leg", "err", err)
		}
		return
	}
	log.Info("caller bridged", "conference_identity", conf.call.Identity(),
		"conference_codec", conf.call.Media().Codec, "caller_codec", caller.Media().Codec)
	b.relayUntilEnd(ctx, conf, &joinedLeg{call: caller, conn: callerConn}, log)
}

// bridgeLabel names a bridged caller's leg for the roster.
func bridgeLabel(in *sip.Incoming) string {
	if name := in.DisplayName(); name != "" {
		return "Bridged caller " + name
	}
	return "Bridged caller"
}

// A joinedLeg is a call with the RTP socket of its media.
type joinedLeg struct {
	call *sip.Call
	conn *net.UDPConn
}

func (l *joinedLeg) close() { l.conn.Close() }

// joinFor joins the conference leg of in: with a context that ends when the caller
// cancels (which cancels the join), when the appliance stops, or after
// bridgeJoinTimeout.
func (b *bridging) joinFor(ctx context.Context, agent *sip.Agent, in *sip.Incoming, plan bridgePlan) (*joinedLeg, error) {
	jctx, cancel := context.WithTimeout(in.Context(), bridgeJoinTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	conn, err := listenRTP(agent)
	if err != nil {
		return nil, err
	}
	call, err := agent.Join(jctx, sip.JoinRequest{
		Target:      plan.target,
		DisplayName: plan.displayName,
		Account:     plan.account,
		Identity:    plan.identity,
		LocalMedia:  localMedia(conn),
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &joinedLeg{call: call, conn: conn}, nil
}

// refuseAfterJoin gives the caller the final answer for a join that failed: none if the
// caller cancelled (sipgo answered 487), 503 naming the conference's answer if it
// refused, 480 otherwise.
func (b *bridging) refuseAfterJoin(in *sip.Incoming, err error, log *slog.Logger) {
	if errors.Is(context.Cause(in.Context()), sip.ErrCallerCanceled) {
		log.Info("caller cancelled while joining the conference")
		return
	}
	var refused *sip.JoinError
	if errors.As(err, &refused) {
		log.Info("the conference refused the bridged caller", "err", err)
		b.reject(in, 503, fmt.Sprintf("Conference refused: %d %s", refused.Status, refused.Reason))
		return
	}
	log.Warn("join the conference for the bridged caller", "err", err)
	b.reject(in, 480, "Temporarily Unavailable: conference unreachable")
}

// answer answers the caller on an RTP socket of its own.
func (b *bridging) answer(ctx context.Context, agent *sip.Agent, in *sip.Incoming) (*sip.Call, *net.UDPConn, error) {
	conn, err := listenRTP(agent)
	if err != nil {
		b.reject(in, 500, "Server Internal Error")
		return nil, nil, err
	}
	actx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	call, err := in.Answer(actx, localMedia(conn))
	if err != nil {
		conn.Close()
		if errors.Is(err, sip.ErrCallerCanceled) {
			return nil, nil, err
		}
		b.reject(in, 500, "Server Internal Error")
		return nil, nil, err
	}
	return call, conn, nil
}

// relayUntilEnd relays the media of the two legs until either call ends or ctx does,
// then hangs up the calls still up.
func (b *bridging) relayUntilEnd(ctx context.Context, conf, caller *joinedLeg, log *slog.Logger) {
	confLeg, err := callLeg("conference", conf.conn, conf.call)
	var callerLeg *relayLeg
	if err == nil {
		callerLeg, err = callLeg("caller", caller.conn, caller.call)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if err != nil {
		log.Warn("cannot relay the media: hanging up", "err", err)
		conf.close()
		caller.close()
	} else {
		r := newRelay(confLeg, callerLeg, log)
		wg.Go(func() { r.run(rctx) })
		select {
		case <-conf.call.Done():
			log.Info("the conference ended the bridged call", "err", conf.call.Err())
		case <-caller.call.Done():
			log.Info("the caller ended the bridged call", "err", caller.call.Err())
		case <-ctx.Done():
		}
	}
	stop()
	wg.Wait()
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
	defer cancel()
	var hwg sync.WaitGroup
	for _, l := range []*joinedLeg{conf, caller} {
		hwg.Go(func() {
			if err := l.call.Hangup(hctx); err != nil {
				log.Warn("hang up", "call", l.call.ID(), "err", err)
			}
		})
	}
	hwg.Wait()
}

// A relayLeg is one side of a relay: the RTP socket of a call and what its offer/answer
// settled.
type relayLeg struct {
	name  string
	conn  *net.UDPConn
	media atomic.Pointer[legMedia]
	// changes delivers the leg's media after each re-INVITE; nil for none.
	changes <-chan sip.Media
	// sendInfo sends a DTMF digit by SIP INFO, for when the leg negotiated no
	// telephone-event; nil drops such digits.
	sendInfo func(ctx context.Context, digit rune, duration time.Duration) error
}

// legMedia is what a leg's relay needs of its negotiated media.
type legMedia struct {
	remote netip.AddrPort // where its RTP goes, and the address it is taken from (any port)
	codec  string         // "PCMU", "PCMA" or "G722"
	pt     uint8
	dtmfPT uint8 // telephone-event's payload type, 0 if not negotiated
	sends  bool  // whether we may send to it
}

func newLegMedia(m sip.Media) (*legMedia, error) {
	if _, ok := media.CodecByName(m.Codec); !ok {
		return nil, fmt.Errorf("codec %s is not supported", m.Codec)
	}
	return &legMedia{
		remote: netip.AddrPortFrom(m.Remote.Addr().Unmap(), m.Remote.Port()),
		codec:  m.Codec,
		pt:     m.PayloadType,
		dtmfPT: m.DTMFPayloadType,
		sends:  m.Direction.Sends() && m.Remote.IsValid(),
	}, nil
}

// callLeg returns the relay leg of call on conn. The relay moves packets as they are, so
// it cannot take an encrypted call.
func callLeg(name string, conn *net.UDPConn, call *sip.Call) (*relayLeg, error) {
	if call.Media().SRTP.On() {
		return nil, fmt.Errorf("%s leg: encrypted with SRTP, which the bridge cannot relay", name)
	}
	m, err := newLegMedia(call.Media())
	if err != nil {
		return nil, fmt.Errorf("%s leg: %w", name, err)
	}
	l := &relayLeg{name: name, conn: conn, changes: call.MediaChanges(), sendInfo: call.SendInfoDTMF}
	l.media.Store(m)
	return l, nil
}

// follow applies the leg's media changes until the call ends or ctx does. A change to
// a codec the relay cannot take keeps the old codec, but still moves the address and
// direction.
func (l *relayLeg) follow(ctx context.Context, log *slog.Logger) {
	for {
		var m sip.Media
		select {
		case <-ctx.Done():
			return
		case change, ok := <-l.changes:
			if !ok {
				return
			}
			m = change
		}
		next, err := newLegMedia(m)
		if err != nil {
			log.Warn("media change of a bridged leg", "leg", l.name, "err", err)
			old := *l.media.Load()
			old.remote = netip.AddrPortFrom(m.Remote.Addr().Unmap(), m.Remote.Port())
			old.sends = m.Direction.Sends() && m.Remote.IsValid()
			next = &old
		}
		l.media.Store(next)
	}
}

// A relay carries RTP between two legs, each way on a goroutine of its own that reads
// one leg's socket and sends from the other's: audio packets as they come, without a
// jitter buffer (the far ends have theirs), re-sequenced under an SSRC of the relay's own
// per direction. The payload passes unchanged when both legs use the same codec and is
// converted (decode, resample, encode) when they do not. Telephone events (RFC 4733)
// pass with the payload type of the other leg, or become SIP INFO requests there when it
// negotiated none. RTCP is not relayed: each far end's reports stay with the relay.
type relay struct {
	a, b *relayLeg
	log  *slog.Logger
}

func newRelay(a, b *relayLeg, log *slog.Logger) *relay {
	return &relay{a: a, b: b, log: log}
}

// run relays until ctx ends, then closes both sockets.
func (r *relay) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range []*relayLeg{r.a, r.b} {
		if l.changes != nil {
			wg.Go(func() { l.follow(ctx, r.log) })
		}
		stop := context.AfterFunc(ctx, func() { _ = l.conn.SetReadDeadline(time.Now()) })
		defer stop()
	}
	wg.Go(func() { r.forward(ctx, r.a, r.b) })
	wg.Go(func() { r.forward(ctx, r.b, r.a) })
	<-ctx.Done()
	wg.Wait()
	r.a.conn.Close()
	r.b.conn.Close()
}

// maxDigitsQueued bounds the digits waiting to go out by SIP INFO.
const maxDigitsQueued = 16

// forward relays what from receives to to until ctx ends or from's socket fails.
func (r *relay) forward(ctx context.Context, from, to *relayLeg) {
	var (
		buf, converted, sendBuf [maxRTP]byte
		pkt                     rtp.Packet
		conv                    converter
		inSSRC, lastEvent       uint32
		started, haveEvent      bool
		wg                      sync.WaitGroup
	)
	hdr := rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32())}
	tsOffset := rand.Uint32()
	digits := make(chan relayedDigit, maxDigitsQueued)
	defer wg.Wait()
	defer close(digits)
	wg.Go(func() { sendDigits(ctx, to, digits, r.log) })
	for {
		n, src, err := from.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("relay: receive RTP", "leg", from.name, "err", err)
			}
			return
		}
		fm, tm := from.media.Load(), to.media.Load()
		if src.Addr().Unmap() != fm.remote.Addr() || n < 2 || (buf[1] >= 192 && buf[1] <= 223) {
			continue // another peer's, or RTCP (RFC 5761 section 4)
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		var payload []byte
		switch {
		case pkt.PayloadType == fm.pt:
			hdr.PayloadType = tm.pt
			payload = conv.convert(fm.codec, tm.codec, pkt.Payload, converted[:])
		case fm.dtmfPT != 0 && pkt.PayloadType == fm.dtmfPT && len(pkt.Payload) >= 4:
			if tm.dtmfPT == 0 {
				// The end of an event comes three times (RFC 4733 section 2.5.1.4).
				if pkt.Payload[1]&0x80 != 0 && (!haveEvent || pkt.Timestamp != lastEvent) {
					lastEvent, haveEvent = pkt.Timestamp, true
					queueDigit(digits, pkt.Payload)
				}
				continue
			}
			hdr.PayloadType = tm.dtmfPT
			payload = pkt.Payload
		default:
			continue
		}
		if payload == nil || !tm.sends {
			continue
		}
		hdr.Marker = pkt.Marker || !started || pkt.SSRC != inSSRC
		started, inSSRC = true, pkt.SSRC
		// Every codec here counts RTP time at 8 kHz (G.722 too, RFC 3551 section
		// 4.5.2): the timestamps carry over, shifted.
		hdr.Timestamp = pkt.Timestamp + tsOffset
		m, err := hdr.MarshalTo(sendBuf[:])
		if err != nil || m+len(payload) > len(sendBuf) {
			continue
		}
		m += copy(sendBuf[m:], payload)
		if _, err := to.conn.WriteToUDPAddrPort(sendBuf[:m], tm.remote); err != nil {
			r.log.Debug("relay: send RTP", "leg", to.name, "err", err)
		}
		hdr.SequenceNumber++
	}
}

// maxRTP is the largest RTP datagram relayed: an Ethernet MTU.
const maxRTP = 1500

// A relayedDigit is a telephone event to send by SIP INFO.
type relayedDigit struct {
	digit    rune
	duration time.Duration
}

// queueDigit queues the DTMF digit of a telephone event's payload, unless it is no
// digit or the queue is full.
func queueDigit(digits chan<- relayedDigit, payload []byte) {
	const keys = "0123456789*#ABCD"
	if int(payload[0]) >= len(keys) {
		return
	}
	d := relayedDigit{
		digit:    rune(keys[payload[0]]),
		duration: max(time.Duration(binary.BigEndian.Uint16(payload[2:4]))*time.Second/8000, time.Millisecond),
	}
	select {
	case digits <- d:
	default:
	}
}

// sendDigits sends the digits queued for leg by SIP INFO, one at a time, until digits is
// closed.
func sendDigits(ctx context.Context, leg *relayLeg, digits <-chan relayedDigit, log *slog.Logger) {
	for d := range digits {
		if leg.sendInfo == nil || ctx.Err() != nil {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, infoTimeout)
		if err := leg.sendInfo(ictx, d.digit, d.duration); err != nil {
			log.Warn("relay: send DTMF by SIP INFO", "leg", leg.name, "err", err)
		}
		cancel()
	}
}

// A converter turns one codec's payloads into another's, one packet at a time, keeping
// the codec and resampler state of one direction's stream between packets.
type converter struct {
	from, to string
	dec, enc media.Codec
	rs       *media.Resampler
	block    int // the input samples that make a whole number of output samples
	pcm, res [2 * maxRTP]int16
}

// convert returns payload converted from codec from to codec to, in dst; payload itself
// when they are the same; nil when it cannot be converted.
func (c *converter) convert(from, to string, payload, dst []byte) []byte {
	if from == to {
		return payload
	}
	if c.dec == nil || c.from != from || c.to != to {
		if !c.setup(from, to) {
			return nil
		}
	}
	n := c.dec.Decode(c.pcm[:], payload)
	if n%c.block != 0 {
		return nil
	}
	out := n * c.enc.ClockRate() / c.dec.ClockRate()
	c.rs.Process(c.res[:out], c.pcm[:n])
	return dst[:c.enc.Encode(dst, c.res[:out])]
}

// setup makes the decoder, encoder and resampler from codec from to codec to.
func (c *converter) setup(from, to string) bool {
	dec, okDec := media.CodecByName(from)
	enc, okEnc := media.CodecByName(to)
	if !okDec || !okEnc {
		return false
	}
	rs, err := media.NewResampler(dec.ClockRate(), enc.ClockRate())
	if err != nil {
		return false
	}
	a, b := dec.ClockRate(), enc.ClockRate()
	for b != 0 {
		a, b = b, a%b
	}
	c.from, c.to, c.dec, c.enc, c.rs, c.block = from, to, dec, enc, rs, dec.ClockRate()/a
	return true
}
