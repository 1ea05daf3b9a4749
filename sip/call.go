package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// byeTimeout bounds the BYE that the agent sends itself, when it cannot
// use an answer it got (one that crossed a CANCEL, as when the appliance
// stops during a join, among them): the 2 s that the appliance gives the
// BYE of every leg it hangs up, after which the BYE is abandoned.
const byeTimeout = 2 * time.Second

// cancelWait is how long an INVITE given up before any provisional answer
// waits for one, so that it can be cancelled (RFC 3261 section 9.1): a far
// end that answers at all sends 100 or 180 within a few retransmissions.
const cancelWait = 4 * time.Second

// ErrRemoteHangup is a Call's Err when the far end ended the call with BYE.
var ErrRemoteHangup = errors.New("the conference hung up")

// maxChanges is how many media changes MediaChanges buffers.
const maxChanges = 8

// errHangingUp is what a request in flight returns when Hangup ends its
// call.
var errHangingUp = errors.New("the call is being hung up")

// errCallEnded is what a request on an ended call returns.
var errCallEnded = errors.New("the call has ended")

// A JoinRequest says who joins which conference, and where our RTP is.
type JoinRequest struct {
	Target      string         // the conference URI, e.g. "sip:conf@example.com"
	DisplayName string         // shown to the other participants; quoted and escaped on the wire
	Account     Account        // its credentials answer 401/407, its proxy and transport carry the call
	Identity    Identity       // who the call presents as its caller; the zero value is the account's AOR
	LocalMedia  netip.AddrPort // our RTP address, offered in the SDP
}

// A JoinError is the final non-2xx answer the conference gave a Join.
type JoinError struct {
	Status   int    // the SIP status code, e.g. 486
	Reason   string // its reason phrase, e.g. "Busy Here"
	Identity string // the From URI the join presented, e.g. "sip:desk4@example.com"
}

// Error returns status and reason, e.g. "486 Busy Here".
func (e *JoinError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Reason) }

// A Call is an established call into a conference, from Join until either
// side hangs up.
type Call struct {
	agent     *Agent
	log       *slog.Logger
	key       dialogKey
	sess      dialogSession         // sipgo's side of the dialog
	laddr     sipmsg.Addr           // the local socket our requests go out from; zero on TCP and TLS
	client    *sipgo.Client         // sends ACKs again
	auth      sipgo.DigestAuth      // answers 401/407 challenges to our requests; zero on incoming calls
	transport string                // the account's, e.g. "udp"; an incoming call's, its INVITE's
	flow      *streamConn           // the connection an incoming call came on, held open while it is up; nil on UDP
	contact   *sipmsg.ContactHeader // ours, sent in every request and 2xx of the dialog
	local     netip.AddrPort        // our RTP address
	sdpID     uint64                // the o= session ID of our descriptions
	identity  string                // the From URI
	// hosts are where requests in the dialog may come from besides the
	// remote target (see dialogHosts).
	hosts []netip.Addr

	done    chan struct{}
	endOnce sync.Once
	err     error // written once, before done closes

	stopping  chan struct{} // closed when Hangup starts: requests in flight give up
	stopOnce  sync.Once
	hangingUp atomic.Bool          // we sent BYE: a crossing BYE from the far end is no failure
	reqMu     sync.Mutex           // serializes our requests in the dialog (sipgo numbers them)
	offer     chan struct{}        // holds a token while an offer/answer exchange runs, ours or theirs
	acks      chan *sipmsg.Request // ACKs of the far end for our 2xx to its re-INVITEs

	mu         sync.Mutex // guards following
	media      Media
	crypto     *ourCrypto      // our SRTP key; nil for a plain call. Not changed once set.
	prefs      mediaPrefs      // the codecs and events the call offers and accepts. Not changed.
	target     sipmsg.Uri      // the remote target: the far end's Contact (RFC 3261 section 12.2.1.1)
	held       bool            // whether we hold the call
	applying   bool            // our re-INVITE has its final answer, which we still apply (hold)
	remoteWant Direction       // what the far end's last offer allows us
	sdpVersion uint64          // the o= version of lastSDP
	lastSDP    []byte          // the last description we sent
	lastAck    *sipmsg.Request // the ACK of our last re-INVITE, for resending
	remoteCSeq uint32          // the far end's last CSeq (RFC 3261 section 12.2.2)
	haveRemote bool            // whether remoteCSeq is set
	changes    chan Media      // media changes not yet received; closed at the end
	ended      bool            // whether changes is closed
}

// ID returns the call's Call-ID.
func (c *Call) ID() string { return c.key.callID }

// Identity returns the From URI the call presents, e.g.
// "sip:pl-7f3a9c2k1m0q@example.com" for a generated identity.
func (c *Call) Identity() string { return c.identity }

// Media returns what the last offer/answer exchange settled.
func (c *Call) Media() Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// MediaChanges returns a channel that delivers the call's Media whenever a
// re-INVITE changes it, from the far end (hold, a new address or codec) or
// from Hold, in order. It buffers maxChanges changes, dropping the oldest
// beyond (Media always has the latest), and is closed when the call ends.
func (c *Call) MediaChanges() <-chan Media { return c.changes }

// Done returns a channel that is closed when the call has ended, from
// either side.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err returns, once Done is closed, nil if we hung up, or why the call
// ended otherwise (ErrRemoteHangup when the far end sent BYE). Before
// that it returns nil.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Hangup sends BYE along the dialog's route set (RFC 3261 section 15.1.1),
// answering a 401/407 challenge to it once with the account's
// credentials, waits for the answer or ctx, and ends the call. A Hold or
// SendInfoDTMF in flight gives up. Calling it again, or after the far end
// hung up, does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stopping) })
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	select {
	case <-c.done:
		return nil
	default:
	}
	c.hangingUp.Store(true)
	err := c.agent.bye(ctx, c.sess, c.laddr, c.auth, c.remoteTarget())
	c.end(nil)
	if err != nil {
		return fmt.Errorf("hang up call %s: %w", c.ID(), err)
	}
	return nil
}

// end ends the call once, with err as its Err.
func (c *Call) end(err error) {
	c.endOnce.Do(func() {
		c.err = err
		if c.flow != nil {
			c.flow.calls.Add(-1)
		}
		c.agent.removeCall(c)
		c.mu.Lock()
		c.ended = true
		close(c.changes)
		c.mu.Unlock()
		close(c.done)
		c.log.Info("call ended", "err", err)
	})
}

// remoteHangup ends the call after the far end's BYE.
func (c *Call) remoteHangup() {
	if c.hangingUp.Load() {
		c.end(nil)
		return
	}
	c.end(ErrRemoteHangup)
}

// remoteTarget returns where requests in the dialog go.
func (c *Call) remoteTarget() sipmsg.Uri {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.target.Clone()
}

// setMedia makes m the call's media and, if that changes it, delivers it
// on MediaChanges; if maxChanges are waiting there, the oldest is dropped.
func (c *Call) setMedia(m Media) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m == c.media || c.ended {
		return
	}
	c.media = m
	if len(c.changes) == cap(c.changes) {
		select {
		case <-c.changes:
		default:
		}
	}
	c.changes <- m // room: every send happens under c.mu, after the check
	c.log.Info("media changed", "codec", m.Codec, "remote_media", m.Remote, "direction", m.Direction, "dtmf_pt", m.DTMFPayloadType)
}

// acceptCSeq checks an in-dialog request's CSeq against the far end's
// last one, and answers 500 if it is not higher (RFC 3261 section 12.2.2;
// a retransmission never gets here, sipgo's transaction absorbs it). The
// first request of the far end sets it. It is our own check: sipgo's
// seeds the remote CSeq with our INVITE's and rejects valid requests
// (research/sip.md section 5.3).
func (c *Call) acceptCSeq(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	seq := req.CSeq().SeqNo
	c.mu.Lock()
	ok := !c.haveRemote || seq > c.remoteCSeq
	if ok {
		c.remoteCSeq, c.haveRemote = seq, true
	}
	c.mu.Unlock()
	if !ok {
		c.agent.reply(tx, req, sipmsg.StatusInternalServerError, "CSeq Out Of Order")
	}
	return ok
}

// Join calls the conference req.Target as req.Identity over req.Account,
// with the display name req.DisplayName, offering PCMU, PCMA and
// telephone-event on req.LocalMedia, and returns the established call.
//
// It answers a 401/407 challenge with the account's credentials and waits
// through provisional answers. If ctx ends before the final answer, it
// sends CANCEL (RFC 3261 section 9.1) and returns an error wrapping
// ctx.Err(). A final non-2xx answer is returned as a *JoinError naming
// the identity presented (see IsRosterConflict). An answer whose SDP it
// cannot use is acknowledged, hung up and returned as an error that says
// the SDP is bad.
func (a *Agent) Join(ctx context.Context, req JoinRequest) (*Call, error) {
	c, err := a.join(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", req.Target, err)
	}
	return c, nil
}

func (a *Agent) join(ctx context.Context, req JoinRequest) (*Call, error) {
	acc := req.Account
	if err := acc.validate(); err != nil {
		return nil, err
	}
	who, err := present(req.Identity, acc)
	if err != nil {
		return nil, err
	}
	target, err := conferenceURI(req.Target, acc)
	if err != nil {
		return nil, err
	}
	if !req.LocalMedia.IsValid() || req.LocalMedia.Port() == 0 || !req.LocalMedia.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("local media address %v is not an IPv4 address and port", req.LocalMedia)
	}
	if err := a.waitReady(ctx); err != nil {
		return nil, err
	}
	route, _ := acc.route() // validated above
	hop := nextHop(route, target, acc.transport())
	client, host, err := a.prepare(ctx, acc, hop)
	if err != nil {
		return nil, err
	}
	local := netip.AddrPortFrom(req.LocalMedia.Addr().Unmap(), req.LocalMedia.Port())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(host, local.Port())
	}

	sdpID := rand.Uint64() >> 2
	crypto := newOurCrypto(acc.SRTP)
	inv := a.invite(req, who, acc.requestURI(target), route, host, local, sdpID, crypto)
	callID := inv.CallID().Value()
	fromTag, _ := inv.From().Params.Get("tag")
	identity := who.from.String()

	log := a.log.With("call", callID, "to", req.Target, "from", identity)
	dua := &sipgo.DialogUA{Client: client, ContactHDR: *inv.Contact()}
	sess, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		if lerr := lookupError(hopHost(hop), err); lerr != err {
			return nil, lerr
		}
		return nil, fmt.Errorf("send INVITE: %w", err)
	}
	log.Info("calling", "account", acc, "transport", acc.transport())
	auth := sipgo.DigestAuth{Username: acc.authUser(), Password: acc.Password}
	if err := a.waitAnswer(ctx, sess, auth, identity, log); err != nil {
		a.abandon(ctx, sess, auth, log)
		return nil, err
	}
	// On TCP and TLS sipgo wrote the connection's port into our Contact
	// as it sent the INVITE; requests in the dialog carry that one.
	dua.ContactHDR = *inv.Contact().Clone()

	res := sess.InviteResponse
	remoteTag, _ := res.To().Params.Get("tag")
	want := srtpNone
	switch {
	case crypto != nil && crypto.savp:
		want = srtpMust
	case crypto != nil:
		want = srtpOptional
	}
	media, mediaErr := answerMedia(res, want, acc.mediaPrefs())
	if !media.SRTP.On() {
		crypto = nil // offered, and answered in plain RTP
	} else {
		media.SRTP.Local = crypto.key
	}
	c := &Call{
		agent:      a,
		log:        log,
		key:        dialogKey{callID: callID, localTag: fromTag, remoteTag: remoteTag},
		sess:       sess,
		laddr:      sess.InviteRequest.Laddr,
		client:     client,
		auth:       auth,
		transport:  acc.transport(),
		contact:    inv.Contact().Clone(),
		local:      local,
		sdpID:      sdpID,
		identity:   identity,
		hosts:      dialogHosts(res.Source(), res),
		done:       make(chan struct{}),
		stopping:   make(chan struct{}),
		offer:      make(chan struct{}, 1),
		acks:       make(chan *sipmsg.Request, 4),
		media:      media,
		crypto:     crypto,
		prefs:      acc.mediaPrefs(),
		target:     *inv.Recipient.Clone(),
		sdpVersion: sdpID,
		lastSDP:    inv.Body(),
		changes:    make(chan Media, maxChanges),
	}
	if contact := res.Contact(); contact != nil {
		c.target = *contact.Address.Clone()
	}
	a.addCall(c) // before the ACK, after which the far end may send BYE
	if err := sess.Ack(ctx); err != nil {
		c.end(err)
		return nil, fmt.Errorf("send ACK: %w", err)
	}
	if mediaErr != nil {
		log.Warn("unusable answer: hanging up", "err", mediaErr)
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		defer cancel()
		if err := c.Hangup(hctx); err != nil {
			log.Warn("hang up", "err", err)
		}
		return nil, fmt.Errorf("bad SDP answer: %w", mediaErr)
	}
	log.Info("call established", "codec", media.Codec, "remote_media", media.Remote, "dtmf_pt", media.DTMFPayloadType,
		"direction", media.Direction, "srtp", media.SRTP.On())
	return c, nil
}

// invite builds the INVITE for req: From the presented identity with the
// display name and a new tag, a Contact of its own on host, through route
// if not nil, offering our media at local.
//
// The Contact's user is the From user and a token of the call's own, so
// that no two legs share one, whatever identities they present; the agent
// routes requests in a dialog by its Call-ID and tags all the same.
func (a *Agent) invite(req JoinRequest, who presented, ruri sipmsg.Uri, route *sipmsg.RouteHeader, host netip.Addr, local netip.AddrPort, sdpID uint64, crypto *ourCrypto) *sipmsg.Request {
	inv := sipmsg.NewRequest(sipmsg.INVITE, ruri)
	from := &sipmsg.FromHeader{DisplayName: quoteDisplayName(req.DisplayName), Address: who.from, Params: sipmsg.NewParams()}
	from.Params.Add("tag", newToken())
	inv.AppendHeader(from)
	inv.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port}})
	callID := sipmsg.CallIDHeader(newToken())
	inv.AppendHeader(&callID)
	user := who.from.User
	if user == "" {
		user = DefaultGeneratedPrefix
	}
	inv.AppendHeader(a.contact(user+"-"+strings.ToLower(newToken()[:8]), host, req.Account.transport()))
	if route != nil {
		inv.AppendHeader(route)
	}
	for _, h := range who.headers(req.DisplayName) {
		inv.AppendHeader(h)
	}
	inv.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	if a.userAgent != "" {
		inv.AppendHeader(sipmsg.NewHeader("User-Agent", a.userAgent))
	}
	inv.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(offerSDP(local, sdpID, crypto, req.Account.mediaPrefs()))
	inv.SetTransport(req.Account.sipTransport())
	return inv
}

// waitAnswer waits for the final answer to the INVITE. When ctx ends,
// sipgo sends CANCEL, which RFC 3261 section 9.1 allows only once some
// provisional answer came: until then the INVITE waits for one, for
// cancelWait at most, and is abandoned after that. A 2xx that comes
// instead is returned as ctx's error, for the caller to hang it up.
func (a *Agent) waitAnswer(ctx context.Context, sess *sipgo.DialogClientSession, auth sipgo.DigestAuth, identity string, log *slog.Logger) error {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	// RFC 3261 section 9.1: no CANCEL before a provisional answer. Given up before one
	// came, the INVITE waits for one (and then is cancelled) for cancelWait at most, and is
	// abandoned after that: a far end that never answers is not waited for.
	var (
		mu                        sync.Mutex // guards following
		provisional, cancelWanted bool
		force                     *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		cancelWanted = true
		if provisional {
			cancel(context.Cause(ctx))
			return
		}
		force = time.AfterFunc(cancelWait, func() { cancel(sipgo.WaitAnswerForceCancelErr) })
	})
	defer stop()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if force != nil {
			force.Stop()
		}
	}()
	err := sess.WaitAnswer(wctx, sipgo.AnswerOptions{
		Username: auth.Username,
		Password: auth.Password,
		OnResponse: func(res *sipmsg.Response) error {
			mu.Lock()
			defer mu.Unlock()
			// A 401/407 is followed by a new INVITE, which has had no answer yet.
			provisional = res.IsProvisional()
			if provisional && cancelWanted {
				cancel(context.Cause(ctx))
			}
			log.Debug("answer", "status", res.StatusCode, "reason", res.Reason)
			return nil
		},
	})
	if err == nil {
		if ctx.Err() != nil {
			return ctx.Err() // answered although given up: the caller hangs it up (abandon)
		}
		return nil
	}
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		return &JoinError{Status: dr.Res.StatusCode, Reason: dr.Res.Reason, Identity: identity}
	case ctx.Err() != nil:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			log.Warn("cancel", "err", err)
		}
		return ctx.Err()
	}
	return err
}

// abandon acknowledges and hangs up a 2xx that arrived although the INVITE
// was given up (a CANCEL that crossed the answer): the far end must not
// be left with a call nobody is in. auth answers a challenge to the BYE.
func (a *Agent) abandon(ctx context.Context, sess *sipgo.DialogClientSession, auth sipgo.DigestAuth, log *slog.Logger) {
	res := sess.InviteResponse
	if res == nil || !res.IsSuccess() {
		return
	}
	log.Info("answered after cancel: hanging up")
	if err := sess.Ack(ctx); err != nil {
		log.Warn("send ACK", "err", err)
		return
	}
	target := sess.InviteRequest.Recipient
	if contact := res.Contact(); contact != nil {
		target = contact.Address
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	if err := a.bye(hctx, sess, sess.InviteRequest.Laddr, auth, *target.Clone()); err != nil {
		log.Warn("hang up", "err", err)
	}
}

// bye sends BYE to target in sess's dialog from laddr, answering a
// challenge with auth, and waits for the final answer. 481 and 408 end
// the dialog as well as 2xx do (RFC 3261 section 15.1.1).
func (a *Agent) bye(ctx context.Context, sess dialogSession, laddr sipmsg.Addr, auth sipgo.DigestAuth, target sipmsg.Uri) error {
	res, err := a.dialogRequest(ctx, sess, laddr, auth, sipmsg.NewRequest(sipmsg.BYE, target), nil)
	if err != nil {
		return err
	}
	if res.IsSuccess() || dialogGone(res) {
		return nil
	}
	return fmt.Errorf("BYE answered %d %s", res.StatusCode, res.Reason)
}

// dialogGone reports whether an answer in a dialog says the far end no
// longer has it: 481, or 408 (RFC 3261 section 12.2.1.2).
func dialogGone(res *sipmsg.Response) bool {
	return res.StatusCode == sipmsg.StatusCallTransactionDoesNotExists || res.StatusCode == sipmsg.StatusRequestTimeout
}

// dialogSession is sipgo's side of a call's dialog: a DialogClientSession
// when we called, a DialogServerSession when the far end did. Both fill in
// the dialog's headers and route set and number our requests.
type dialogSession interface {
	TransactionRequest(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error)
	WriteRequest(req *sipmsg.Request) error
}

// dialogRequest sends req in sess's dialog from laddr and waits for its
// final answer, ctx, or abort (which may be nil). It is built here rather
// than with sess.Do, which does not send from our UDP socket (no Laddr).
//
// A 401 or 407 answer is a challenge (a proxy or the far end wants
// proof, RFC 3261 section 22.2): req goes once more, as a new transaction
// with the dialog's next CSeq, with credentials of auth for it. A second
// challenge is an error wrapping ErrChallengedAgain, unless it says
// stale=true: then the nonce had expired and the credentials were right
// (RFC 7616 section 3.3), and req goes once more with the new nonce. A
// stale challenge is answered once only.
func (a *Agent) dialogRequest(ctx context.Context, sess dialogSession, laddr sipmsg.Addr, auth sipgo.DigestAuth, req *sipmsg.Request, abort <-chan struct{}) (*sipmsg.Response, error) {
	method := req.Method
	if a.userAgent != "" {
		req.AppendHeader(sipmsg.NewHeader("User-Agent", a.userAgent))
	}
	// As the caller built it: sipgo adds the dialog's headers, Route and
	// Via as it sends, and will again for each retry.
	base := req.Clone()
	res, err := a.dialogTransaction(ctx, sess, laddr, req, abort)
	if err != nil || !isChallenge(res) {
		return res, err
	}
	if auth.Username == "" {
		return nil, fmt.Errorf("%s challenged with %d %s, and the call has no credentials", method, res.StatusCode, res.Reason)
	}
	for staleRetried := false; ; staleRetried = true {
		// Clone fixes the destination at the remote target; cleared, the
		// retry goes where its Route header says, like req.
		retry := base.Clone()
		retry.SetDestination("")
		// The digest covers the request-URI as sent (RFC 2617 section
		// 3.2.2), parameters and all.
		if err := authorize(retry, req.Recipient.String(), res, auth); err != nil {
			return nil, fmt.Errorf("answer the %d challenge to %s: %w", res.StatusCode, method, err)
		}
		a.log.Debug("answering challenge", "method", method, "status", res.StatusCode, "stale", staleRetried, "call", callID(req))
		res, err = a.dialogTransaction(ctx, sess, laddr, retry, abort)
		if err != nil {
			return nil, err
		}
		if !isChallenge(res) {
			return res, nil
		}
		if staleRetried || !staleChallenge(res) {
			return nil, fmt.Errorf("%s answered %d %s to the credentials of %s: %w", method, res.StatusCode, res.Reason, auth.Username, ErrChallengedAgain)
		}
		a.log.Info("nonce stale: answering the challenge once more", "method", method, "status", res.StatusCode, "call", callID(req))
	}
}

// staleChallenge reports whether the challenge res (a 401 or 407) says
// stale=true: the nonce of the credentials it refused had expired.
func staleChallenge(res *sipmsg.Response) bool {
	name := "WWW-Authenticate"
	if res.StatusCode == sipmsg.StatusProxyAuthRequired {
		name = "Proxy-Authenticate"
	}
	h := res.GetHeader(name)
	if h == nil {
		return false
	}
	chal, err := digest.ParseChallenge(h.Value())
	return err == nil && chal.Stale
}

// ErrChallengedAgain is wrapped by the error of a request in a call that
// was challenged (401/407) again after it answered a challenge with the
// account's credentials: they are wrong, or not good for the server.
var ErrChallengedAgain = errors.New("challenged again after answering with credentials")

// dialogTransaction sends req in sess's dialog from laddr as a new
// transaction and waits for its final answer, ctx, or abort.
func (a *Agent) dialogTransaction(ctx context.Context, sess dialogSession, laddr sipmsg.Addr, req *sipmsg.Request, abort <-chan struct{}) (*sipmsg.Response, error) {
	method := req.Method
	req.Laddr = laddr
	tx, err := sess.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", method, err)
			}
			return nil, fmt.Errorf("%s: no answer", method)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", method, ctx.Err())
		case <-abort:
			return nil, fmt.Errorf("%s: %w", method, errHangingUp)
		}
	}
}

// authorize adds to req the credentials of auth that answer the
// challenge res (a 401 or 407) for the request-URI uri: Authorization
// for a 401's WWW-Authenticate, Proxy-Authorization for a 407's
// Proxy-Authenticate (RFC 3261 sections 22.2 and 22.3).
func authorize(req *sipmsg.Request, uri string, res *sipmsg.Response, auth sipgo.DigestAuth) error {
	challenge, answer := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sipmsg.StatusProxyAuthRequired {
		challenge, answer = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(challenge)
	if h == nil {
		return fmt.Errorf("no %s header", challenge)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return fmt.Errorf("parse %s: %w", challenge, err)
	}
	// Some servers write the algorithm in lower case; the digest package
	// knows it in upper case only.
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{Method: req.Method.String(), URI: uri, Username: auth.Username, Password: auth.Password})
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	req.RemoveHeader(answer)
	req.AppendHeader(sipmsg.NewHeader(answer, cred.String()))
	return nil
}

// conferenceURI parses and checks a conference URI for acc: a transport
// it names must be the account's.
func conferenceURI(s string, acc Account) (sipmsg.Uri, error) {
	u, err := ParseURI(s)
	if err != nil {
		return sipmsg.Uri{}, fmt.Errorf("conference URI: %w", err)
	}
	if tr, ok := u.param("transport"); ok && !strings.EqualFold(tr, acc.transport()) {
		return sipmsg.Uri{}, fmt.Errorf("conference URI %q says transport=%s, but the account uses %s", s, tr, acc.transport())
	}
	if u.Scheme == "sips" && acc.transport() != TransportTLS {
		return sipmsg.Uri{}, fmt.Errorf("conference URI %q is a sips: URI, but the account uses %s, not tls", s, acc.transport())
	}
	return u.sipURI(), nil
}

// answerMedia returns the media an INVITE's 2xx answer settles, taking of
// SRTP what srtp says and of the codecs what prefs allows.
func answerMedia(res *sipmsg.Response, srtp srtpWant, prefs mediaPrefs) (Media, error) {
	if err := sdpBody(res); err != nil {
		return Media{}, err
	}
	return parseAnswer(res.Body(), srtp, prefs)
}

// srtpWant is what the call's exchanges in the dialog take of SRTP: an
// encrypted call stays encrypted, a plain one plain.
func (c *Call) srtpWant() srtpWant {
	if c.crypto != nil {
		return srtpMust
	}
	return srtpNone
}

// withCrypto adds our key to o, a description of ours in the dialog, if
// the call is encrypted: tag answers the far end's a=crypto (in an offer of
// ours, the one its last answer took).
func (c *Call) withCrypto(o sdpOut, tag int, savp bool) sdpOut {
	if c.crypto != nil {
		o.crypto, o.cryptoTag, o.savp = &c.crypto.key, tag, savp
	}
	return o
}

// withKey completes the keys of m, settled in the dialog, with ours.
func (c *Call) withKey(m Media) Media {
	if c.crypto != nil {
		m.SRTP.Local = c.crypto.key
	}
	return m
}

// sdpBody checks that m carries an SDP body by its Content-Type.
func sdpBody(m interface {
	ContentType() *sipmsg.ContentTypeHeader
}) error {
	ct := m.ContentType()
	if ct == nil {
		return errors.New("no SDP body (no Content-Type)")
	}
	typ, _, err := mime.ParseMediaType(ct.Value())
	if err != nil || typ != "application/sdp" {
		return fmt.Errorf("body is %q, not application/sdp", clip(ct.Value()))
	}
	return nil
}
