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
)

// byeTimeout bounds the BYE that Join sends itself, when it cannot use an
// answer it got.
const byeTimeout = 5 * time.Second

// ErrRemoteHangup is a Call's Err when the far end ended the call with BYE.
var ErrRemoteHangup = errors.New("the conference hung up")

// A JoinRequest says who joins which conference, and where our RTP is.
type JoinRequest struct {
	Target      string         // the conference URI, e.g. "sip:conf@example.com"
	DisplayName string         // shown to the other participants; quoted and escaped on the wire
	Account     Account        // its AOR is the From, its credentials answer 401/407, its proxy carries the call
	LocalMedia  netip.AddrPort // our RTP address, offered in the SDP
}

// A JoinError is the final non-2xx answer the conference gave a Join.
type JoinError struct {
	Status int    // the SIP status code, e.g. 486
	Reason string // its reason phrase, e.g. "Busy Here"
}

// Error returns status and reason, e.g. "486 Busy Here".
func (e *JoinError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Reason) }

// A Call is an established call into a conference, from Join until either
// side hangs up.
type Call struct {
	agent *Agent
	log   *slog.Logger
	key   dialogKey
	sess  *sipgo.DialogClientSession
	media Media

	done    chan struct{}
	endOnce sync.Once
	err     error // written once, before done closes

	hangupMu  sync.Mutex  // serializes Hangup
	hangingUp atomic.Bool // we sent BYE: a crossing BYE from the far end is no failure

	mu         sync.Mutex // guards following
	remoteCSeq uint32     // the far end's last CSeq (RFC 3261 section 12.2.2)
	haveRemote bool       // whether remoteCSeq is set
}

// ID returns the call's Call-ID.
func (c *Call) ID() string { return c.key.callID }

// Media returns what the offer/answer exchange settled.
func (c *Call) Media() Media { return c.media }

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
// waits for the answer or ctx, and ends the call. Calling it again, or
// after the far end hung up, does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	c.hangupMu.Lock()
	defer c.hangupMu.Unlock()
	select {
	case <-c.done:
		return nil
	default:
	}
	c.hangingUp.Store(true)
	err := c.agent.bye(ctx, c.sess)
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
		c.agent.removeCall(c)
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

// acceptCSeq checks an in-dialog request's CSeq against the far end's
// last one, and answers 500 if it is older (RFC 3261 section 12.2.2). It
// is our own check: sipgo's seeds the remote CSeq with our INVITE's and
// rejects valid requests (research/sip.md section 5.3).
func (c *Call) acceptCSeq(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	seq := req.CSeq().SeqNo
	c.mu.Lock()
	ok := !c.haveRemote || seq >= c.remoteCSeq
	if ok {
		c.remoteCSeq, c.haveRemote = seq, true
	}
	c.mu.Unlock()
	if !ok {
		c.agent.reply(tx, req, sipmsg.StatusInternalServerError, "CSeq Out Of Order")
	}
	return ok
}

// Join calls the conference req.Target as req.Account with the display
// name req.DisplayName, offering PCMU, PCMA and telephone-event on
// req.LocalMedia, and returns the established call.
//
// It answers a 401/407 challenge with the account's credentials and waits
// through provisional answers. If ctx ends before the final answer, it
// sends CANCEL (RFC 3261 section 9.1) and returns an error wrapping
// ctx.Err(). A final non-2xx answer is returned as a *JoinError. An answer
// whose SDP it cannot use is acknowledged, hung up and returned as an
// error that says the SDP is bad.
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
	target, err := conferenceURI(req.Target)
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
	host, err := a.localIP(nextHop(route, target))
	if err != nil {
		return nil, err
	}
	client, err := a.client(host)
	if err != nil {
		return nil, err
	}
	local := netip.AddrPortFrom(req.LocalMedia.Addr().Unmap(), req.LocalMedia.Port())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(host, local.Port())
	}

	inv := a.invite(req, target, route, host, local)
	callID := inv.CallID().Value()
	fromTag, _ := inv.From().Params.Get("tag")

	log := a.log.With("call", callID, "to", req.Target, "from", acc.AOR())
	dua := &sipgo.DialogUA{Client: client, ContactHDR: *inv.Contact()}
	sess, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		return nil, fmt.Errorf("send INVITE: %w", err)
	}
	log.Info("calling")
	if err := a.waitAnswer(ctx, sess, acc, log); err != nil {
		a.abandon(ctx, sess, log)
		return nil, err
	}

	res := sess.InviteResponse
	remoteTag, _ := res.To().Params.Get("tag")
	media, mediaErr := answerMedia(res)
	c := &Call{
		agent: a,
		log:   log,
		key:   dialogKey{callID: callID, localTag: fromTag, remoteTag: remoteTag},
		sess:  sess,
		media: media,
		done:  make(chan struct{}),
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
	log.Info("call established", "codec", media.Codec, "remote_media", media.Remote, "dtmf_pt", media.DTMFPayloadType)
	return c, nil
}

// invite builds the INVITE for req: From the account's AOR with the display
// name and a new tag, a Contact of its own on host, through route if not
// nil, offering our media at local.
func (a *Agent) invite(req JoinRequest, target sipmsg.Uri, route *sipmsg.RouteHeader, host netip.Addr, local netip.AddrPort) *sipmsg.Request {
	inv := sipmsg.NewRequest(sipmsg.INVITE, target)
	from := &sipmsg.FromHeader{DisplayName: quoteDisplayName(req.DisplayName), Address: req.Account.aorURI(), Params: sipmsg.NewParams()}
	from.Params.Add("tag", newToken())
	inv.AppendHeader(from)
	inv.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}})
	callID := sipmsg.CallIDHeader(newToken())
	inv.AppendHeader(&callID)
	inv.AppendHeader(a.contact(req.Account.User, host))
	if route != nil {
		inv.AppendHeader(route)
	}
	inv.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	if a.userAgent != "" {
		inv.AppendHeader(sipmsg.NewHeader("User-Agent", a.userAgent))
	}
	inv.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(offerSDP(local, rand.Uint64()>>2))
	return inv
}

// waitAnswer waits for the final answer to the INVITE. When ctx ends,
// sipgo sends CANCEL, which RFC 3261 section 9.1 allows only once some
// provisional answer came; before that there is nothing to cancel yet and
// the INVITE transaction is abandoned at once instead of waiting for an
// answer that may never come.
func (a *Agent) waitAnswer(ctx context.Context, sess *sipgo.DialogClientSession, acc Account, log *slog.Logger) error {
	var answered atomic.Bool
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() {
		if answered.Load() {
			cancel(context.Cause(ctx))
		} else {
			cancel(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer stop()
	err := sess.WaitAnswer(wctx, sipgo.AnswerOptions{
		Username: acc.authUser(),
		Password: acc.Password,
		OnResponse: func(res *sipmsg.Response) error {
			// A 401/407 is followed by a new INVITE, which has had no
			// answer yet.
			answered.Store(res.IsProvisional())
			log.Debug("answer", "status", res.StatusCode, "reason", res.Reason)
			return nil
		},
	})
	if err == nil {
		return nil
	}
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		return &JoinError{Status: dr.Res.StatusCode, Reason: dr.Res.Reason}
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
// be left with a call nobody is in.
func (a *Agent) abandon(ctx context.Context, sess *sipgo.DialogClientSession, log *slog.Logger) {
	res := sess.InviteResponse
	if res == nil || !res.IsSuccess() {
		return
	}
	log.Info("answered after cancel: hanging up")
	if err := sess.Ack(ctx); err != nil {
		log.Warn("send ACK", "err", err)
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	if err := a.bye(hctx, sess); err != nil {
		log.Warn("hang up", "err", err)
	}
}

// bye sends BYE in sess's dialog and waits for the final answer. It builds
// the BYE itself rather than with sess.Bye: that one does not send from
// our socket (no Laddr) and takes a provisional answer for the final one.
// 481 and 408 end the dialog as well as 2xx do (RFC 3261 section 15.1.1).
func (a *Agent) bye(ctx context.Context, sess *sipgo.DialogClientSession) error {
	target := sess.InviteRequest.Recipient
	if contact := sess.InviteResponse.Contact(); contact != nil {
		target = contact.Address
	}
	bye := sipmsg.NewRequest(sipmsg.BYE, *target.Clone())
	bye.Laddr = sess.InviteRequest.Laddr
	if a.userAgent != "" {
		bye.AppendHeader(sipmsg.NewHeader("User-Agent", a.userAgent))
	}
	tx, err := sess.TransactionRequest(ctx, bye)
	if err != nil {
		return fmt.Errorf("send BYE: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess(), res.StatusCode == sipmsg.StatusCallTransactionDoesNotExists, res.StatusCode == sipmsg.StatusRequestTimeout:
				return nil
			}
			return fmt.Errorf("BYE answered %d %s", res.StatusCode, res.Reason)
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return fmt.Errorf("BYE: %w", err)
			}
			return errors.New("BYE: no answer")
		case <-ctx.Done():
			return fmt.Errorf("BYE: %w", ctx.Err())
		}
	}
}

// conferenceURI parses and checks a conference URI.
func conferenceURI(s string) (sipmsg.Uri, error) {
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("conference URI %q: %w", s, err)
	}
	if u.Scheme != "sip" || u.Host == "" || u.Wildcard {
		return u, fmt.Errorf("conference URI %q: want sip:user@host", s)
	}
	if tr, ok := u.UriParams.Get("transport"); ok && !strings.EqualFold(tr, "udp") {
		return u, fmt.Errorf("conference URI %q: transport %s is not supported, only UDP", s, tr)
	}
	return u, nil
}

// answerMedia returns the media an INVITE's 2xx answer settles.
func answerMedia(res *sipmsg.Response) (Media, error) {
	ct := res.ContentType()
	if ct == nil {
		return Media{}, errors.New("no SDP body (no Content-Type)")
	}
	typ, _, err := mime.ParseMediaType(ct.Value())
	if err != nil || typ != "application/sdp" {
		return Media{}, fmt.Errorf("body is %q, not application/sdp", clip(ct.Value()))
	}
	return parseAnswer(res.Body())
}
