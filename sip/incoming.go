package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// maxRinging bounds how long an incoming call waits for Answer or Reject
// before the agent declines it itself with 480.
const maxRinging = 3 * time.Minute

// ErrCallerCanceled is the cause of an Incoming's Context when the caller
// sent CANCEL before it was answered.
var ErrCallerCanceled = errors.New("the caller cancelled the call")

// errIncomingDone is what Answer and Reject return once the call got its
// final answer, or can get none.
var errIncomingDone = errors.New("the incoming call was already answered, declined or cancelled")

// errNoAnswerSent is the cause of an Incoming's Context after Reject.
var errNoAnswerSent = errors.New("the incoming call was declined")

// errAnswered is the cause of an Incoming's Context after Answer.
var errAnswered = errors.New("the incoming call was answered")

// An Incoming is a new call that arrived for us, not yet answered. The
// agent keeps it ringing (at most maxRinging) until Answer or Reject, or
// until the caller cancels, which ends Context.
type Incoming struct {
	agent  *Agent
	log    *slog.Logger
	req    *sipmsg.Request // the INVITE, with our To tag
	tx     sipmsg.ServerTransaction
	sess   *sipgo.DialogServerSession
	client *sipgo.Client
	host   netip.Addr // our address towards the caller
	// transport is the INVITE's, e.g. "udp"; flow the TCP or TLS connection
	// it came on (nil on UDP, or if it is gone).
	transport string
	flow      *streamConn
	offer     *sdpSession
	media     Media // what answering the offer settles
	at        int   // the offer's stream that media answers

	ctx    context.Context // ends once no answer can be given any more
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the INVITE needs the agent no more

	mu    sync.Mutex // guards following
	state incomingState
}

type incomingState uint8

const (
	incomingRinging   incomingState = iota
	incomingAnswering               // Answer sent 200 and waits for the ACK
	incomingFinished                // answered, declined or cancelled
)

// From returns the caller's From URI, e.g. "sip:alice@example.com".
func (in *Incoming) From() string { return in.req.From().Address.String() }

// DisplayName returns the display name of the caller's From header, "" if
// none, unquoted.
func (in *Incoming) DisplayName() string { return unquoteDisplayName(in.req.From().DisplayName) }

// User returns the user part of the Request-URI: whom the caller dialled,
// as the last proxy put it (e.g. the account's user, or a number).
func (in *Incoming) User() string { return in.req.Recipient.User }

// ToUser returns the user part of the To URI: whom the caller dialled, as
// the caller wrote it.
func (in *Incoming) ToUser() string { return in.req.To().Address.User }

// Source returns the address the INVITE came from: the caller's, or that of the last
// proxy on its way.
func (in *Incoming) Source() netip.AddrPort {
	ap, err := netip.ParseAddrPort(in.req.Source())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ID returns the call's Call-ID.
func (in *Incoming) ID() string { return callID(in.req) }

// Media returns what answering the caller's offer settles: its first
// codec of ours, its telephone-event payload type, where its RTP goes.
func (in *Incoming) Media() Media { return in.media }

// Context returns a context that ends once the call can no longer be
// answered: the caller cancelled (cause ErrCallerCanceled), it was
// answered or declined, or the agent stopped.
func (in *Incoming) Context() context.Context { return in.ctx }

// Ringing sends 180 Ringing.
func (in *Incoming) Ringing() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != incomingRinging {
		return errIncomingDone
	}
	if err := in.sess.Respond(sipmsg.StatusRinging, "Ringing", nil); err != nil {
		return fmt.Errorf("send 180 to %s: %w", in.From(), err)
	}
	return nil
}

// Reject declines the call with status (400-699) and reason, e.g. 503
// "Conference refused: 486 Busy Here". The reason is made safe for the
// wire.
func (in *Incoming) Reject(status int, reason string) error {
	return in.reject(status, reason)
}

// RejectRetryAfter declines the call like Reject and asks the caller to try again after
// d (a Retry-After header, RFC 3261 20.33), e.g. 503 when the appliance is at its limit.
func (in *Incoming) RejectRetryAfter(status int, reason string, d time.Duration) error {
	return in.reject(status, reason, sipmsg.NewHeader("Retry-After", strconv.Itoa(int(d.Round(time.Second)/time.Second))))
}

// reject declines the call with status, reason and the extra headers.
func (in *Incoming) reject(status int, reason string, headers ...sipmsg.Header) error {
	if status < 400 || status > 699 {
		return fmt.Errorf("reject call %s: status %d is not 400-699", in.ID(), status)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != incomingRinging {
		return errIncomingDone
	}
	in.state = incomingFinished
	res := sipmsg.NewResponseFromRequest(in.req, status, reasonSafe(reason), nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	in.agent.respond(in.tx, res)
	in.log.Info("incoming call declined", "status", status, "reason", reason)
	in.finish(errNoAnswerSent)
	return nil
}

// finish ends Context with cause and lets the INVITE's handler return.
// Call once, with in.mu held.
func (in *Incoming) finish(cause error) {
	in.cancel(cause)
	close(in.done)
}

// Answer answers the call with 200 and our SDP answer for RTP at local,
// and waits for the caller's ACK (resending the 200 on the way, RFC 3261
// section 13.3.1.4), or ctx. The Call it returns works as a joined one:
// Hangup sends BYE, the caller's BYE ends it, re-INVITEs change its media.
func (in *Incoming) Answer(ctx context.Context, local netip.AddrPort) (*Call, error) {
	c, err := in.answer(ctx, local)
	if err != nil {
		return nil, fmt.Errorf("answer call %s from %s: %w", in.ID(), in.From(), err)
	}
	return c, nil
}

func (in *Incoming) answer(ctx context.Context, local netip.AddrPort) (*Call, error) {
	if !local.IsValid() || local.Port() == 0 || !local.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("local media address %v is not an IPv4 address and port", local)
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(in.host, local.Port())
	}
	in.mu.Lock()
	if in.state != incomingRinging {
		in.mu.Unlock()
		if cause := context.Cause(in.ctx); errors.Is(cause, ErrCallerCanceled) {
			return nil, cause
		}
		return nil, errIncomingDone
	}
	in.state = incomingAnswering
	in.mu.Unlock()

	c := in.newCall(local)
	if c.flow != nil {
		c.flow.calls.Add(1) // until c ends
	}
	c.mu.Lock()
	body := c.sdpLocked(sdpOut{dir: in.media.Direction, audio: in.media.formats(), offer: in.offer, audioAt: in.at})
	c.mu.Unlock()
	res := sipmsg.NewSDPResponseFromRequest(in.req, body)
	res.AppendHeader(c.contact.Clone())
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	in.sess.InviteResponse = res // the dialog's From for our requests
	in.agent.addCall(c)          // before the 200, after which the caller may send ACK and BYE
	in.agent.respond(in.tx, res)
	err := in.awaitAck(ctx, c, res)

	in.mu.Lock()
	in.state = incomingFinished
	in.finish(errAnswered)
	in.mu.Unlock()
	if err != nil {
		c.end(err)
		return nil, err
	}
	c.log.Info("call answered", "codec", c.media.Codec, "remote_media", c.media.Remote, "dtmf_pt", c.media.DTMFPayloadType, "direction", c.media.Direction)
	return c, nil
}

// newCall returns the call that answering in makes, on local.
func (in *Incoming) newCall(local netip.AddrPort) *Call {
	req := in.req
	sdpID := rand.Uint64() >> 2
	user := req.Recipient.User
	if user == "" {
		user = uaName("")
	}
	var laddr sipmsg.Addr // on TCP and TLS: the connection's, which sipgo finds
	if in.transport == TransportUDP {
		laddr = in.agent.laddr()
	}
	c := &Call{
		agent:      in.agent,
		log:        in.log,
		key:        dialogKey{callID: callID(req), localTag: tag(req.To().Params), remoteTag: tag(req.From().Params)},
		sess:       in.sess,
		laddr:      laddr,
		client:     in.client,
		transport:  in.transport,
		flow:       in.flow,
		contact:    in.agent.listenContact(user, in.host, in.transport),
		local:      local,
		sdpID:      sdpID,
		identity:   req.To().Address.String(),
		hosts:      dialogHosts(req.Source(), req),
		done:       make(chan struct{}),
		stopping:   make(chan struct{}),
		offer:      make(chan struct{}, 1),
		acks:       make(chan *sipmsg.Request, 4),
		media:      in.media,
		target:     *req.Contact().Address.Clone(),
		remoteWant: in.media.Direction,
		sdpVersion: sdpID,
		remoteCSeq: req.CSeq().SeqNo,
		haveRemote: true,
		changes:    make(chan Media, maxChanges),
	}
	return c
}

// awaitAck waits for the ACK of our 2xx res to the INVITE, resending res
// over UDP at T1, 2*T1 ... up to T2, for 64*T1 at most (RFC 3261 section
// 13.3.1.4). A BYE that overtook the ACK ends the call, and the wait.
func (in *Incoming) awaitAck(ctx context.Context, c *Call, res *sipmsg.Response) error {
	seq := in.req.CSeq().SeqNo
	interval := sipmsg.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	giveUp := time.NewTimer(64 * sipmsg.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-c.acks:
			if ack.CSeq().SeqNo == seq {
				return nil
			}
		case <-resend.C:
			if in.transport == TransportUDP {
				if err := in.tx.Respond(res); err != nil {
					c.log.Debug("resend 2xx", "err", err)
				}
			}
			interval = min(2*interval, sipmsg.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			in.byeUnacknowledged(ctx, c)
			return errors.New("no ACK for our 200")
		case <-c.done:
			return errors.New("the caller hung up before acknowledging")
		case <-ctx.Done():
			in.byeUnacknowledged(ctx, c)
			return ctx.Err()
		}
	}
}

// byeUnacknowledged hangs up an answered call whose ACK never came (RFC
// 3261 section 13.3.1.4).
func (in *Incoming) byeUnacknowledged(ctx context.Context, c *Call) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	if err := c.Hangup(hctx); err != nil {
		c.log.Warn("hang up", "err", err)
	}
}

// takeCall handles a new INVITE: it checks the offer, hands the call to
// Config.OnIncoming and keeps the INVITE transaction (which sipgo ends
// when the handler returns) until the call is answered, declined or
// cancelled. An INVITE without a usable offer is answered 488.
//
// A call over TCP or TLS stays on the connection its INVITE came on: our
// requests in the call go over it (to the caller, or to the proxy that
// record-routed the call), and while the call is up the connection is
// not closed for being idle. Our Contact names our listener, for a new
// connection if that one is lost.
func (a *Agent) takeCall(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	transport := strings.ToLower(req.Transport())
	log := a.log.With("call", callID(req), "from", fromURI(req), "to", req.Recipient.String(), "transport", transport)
	offer, media, at, err := incomingOffer(req)
	if err != nil {
		log.Info("incoming call declined: unusable offer", "err", err)
		a.reply(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	host, err := a.localIP(context.Background(), req.Source()) // an address: nothing to look up
	if err == nil && !host.Is4() {
		err = fmt.Errorf("local address %v is not IPv4", host)
	}
	var client *sipgo.Client
	if err == nil {
		client, err = a.client(transport, host)
	}
	var sess *sipgo.DialogServerSession
	if err == nil {
		// RewriteContact: without a route set, our requests go to where the
		// INVITE came from, i.e. over its connection.
		dua := &sipgo.DialogUA{Client: client, ContactHDR: *a.listenContact(uaName(""), host, transport),
			RewriteContact: transport != TransportUDP}
		sess, err = dua.ReadInvite(req, tx)
	}
	if err != nil {
		log.Warn("incoming call failed", "err", err)
		a.reply(tx, req, sipmsg.StatusInternalServerError, "Server Internal Error")
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	in := &Incoming{
		agent:     a,
		log:       log,
		req:       sess.InviteRequest,
		tx:        tx,
		sess:      sess,
		client:    client,
		host:      host,
		transport: transport,
		flow:      a.flow(transport, req.Source()),
		offer:     offer,
		media:     media,
		at:        at,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	// sipgo answers CANCEL with 200 and the INVITE with 487 itself, and
	// then ends the session's context.
	stop := context.AfterFunc(sess.Context(), func() { in.end(ErrCallerCanceled) })
	defer stop()
	log.Info("incoming call", "display_name", in.DisplayName(), "codec", media.Codec)
	a.incoming(in)
	ringing := time.NewTimer(maxRinging)
	defer ringing.Stop()
	select {
	case <-in.done:
		return
	case <-a.stopped:
		in.end(errStopped)
	case <-ringing.C:
		log.Info("incoming call not answered in time", "after", maxRinging)
		if err := in.Reject(sipmsg.StatusTemporarilyUnavailable, "No Answer"); err != nil {
			log.Debug("decline", "err", err)
		}
	}
	<-in.done // Answer in progress waits for its ACK with the transaction
}

// end gives up a call still ringing, for cause.
func (in *Incoming) end(cause error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state == incomingRinging {
		in.state = incomingFinished
		in.log.Info("incoming call ended before an answer", "cause", cause)
		in.finish(cause)
	}
}

// incomingOffer reads the offer of a new INVITE and what answering it
// settles.
func incomingOffer(req *sipmsg.Request) (*sdpSession, Media, int, error) {
	if len(req.Body()) == 0 {
		return nil, Media{}, 0, errors.New("no SDP offer (offerless INVITEs are not taken)")
	}
	if err := sdpBody(req); err != nil {
		return nil, Media{}, 0, err
	}
	offer, err := parseSDP(req.Body())
	if err != nil {
		return nil, Media{}, 0, err
	}
	m, at, err := offer.negotiate(false, srtpNone, mediaPrefs{})
	if err != nil {
		return nil, Media{}, 0, err
	}
	return offer, m, at, nil
}

// listenContact returns a Contact header for user at host that names our
// listener for transport: the UDP socket, the TCP listener (the same
// port) or the TLS listener.
func (a *Agent) listenContact(user string, host netip.Addr, transport string) *sipmsg.ContactHeader {
	c := a.contact(user, host, TransportUDP)
	switch transport {
	case TransportTCP:
		c.Address.UriParams = sipmsg.HeaderParams{{K: "transport", V: TransportTCP}}
	case TransportTLS:
		c.Address.Port = int(a.TLSAddr().Port())
		c.Address.UriParams = sipmsg.HeaderParams{{K: "transport", V: TransportTLS}}
	}
	return c
}

// flow returns the connection of our TCP or TLS listener that source
// (host:port) holds, nil on UDP or if there is none.
func (a *Agent) flow(transport, source string) *streamConn {
	if transport == TransportUDP {
		return nil
	}
	conn, err := a.ua.TransportLayer().GetConnection(transport, source)
	if err != nil || conn == nil {
		return nil
	}
	defer func() { _, _ = conn.TryClose() }() // the reference GetConnection took
	tc, ok := conn.(*sipmsg.TCPConnection)
	if !ok {
		return nil
	}
	nc := tc.Conn
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	sc, _ := nc.(*streamConn)
	return sc
}

// laddr returns the agent's socket as sipgo names a request's local
// address, for requests in dialogs the far end started.
func (a *Agent) laddr() sipmsg.Addr {
	ap := a.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	host := ap.Addr().Unmap().String()
	return sipmsg.Addr{IP: net.ParseIP(host), Port: int(ap.Port()), Hostname: host}
}

// unquoteDisplayName undoes the quoted-pairs (RFC 3261 section 25.1) of
// a display name as sipgo reads it: it strips the quotes but keeps the
// backslashes.
func unquoteDisplayName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
