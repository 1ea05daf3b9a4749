package sip

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultInfoDTMFDuration is the tone length SendInfoDTMF announces when
// given none.
const DefaultInfoDTMFDuration = 160 * time.Millisecond

// maxInfoDTMFDuration bounds the tone length SendInfoDTMF announces.
const maxInfoDTMFDuration = 10 * time.Second

// Session changes in a call (RFC 3264 section 8): re-INVITEs from the far
// end, which may hold us, move its media or change the codec, and our own
// for holding the call. One offer/answer exchange runs at a time per call;
// an offer that crosses one is answered 491 (RFC 3261 section 14.2).

// takeOffer takes the offer token for a re-INVITE of the far end, and reports whether it
// did. An offer crosses ours (491) only while our re-INVITE awaits its final answer, or
// while one of the far end's runs: once our re-INVITE was answered and acknowledged, the
// far end may offer again at once, and then waits here the moment we take to apply the
// answer.
func (c *Call) takeOffer() bool {
	select {
	case c.offer <- struct{}{}:
		return true
	default:
	}
	c.mu.Lock()
	applying := c.applying
	c.mu.Unlock()
	if !applying {
		return false
	}
	select {
	case c.offer <- struct{}{}:
		return true
	case <-c.done:
		return false
	}
}

// onReinvite answers a re-INVITE of the far end in c: with 200 and our
// answer to its offer, or with 200 and our offer when it made none (whose
// answer comes in the ACK). The answer mirrors its direction, within what
// our own hold allows (sendonly -> recvonly, inactive -> inactive). Then it
// resends the 200 until the ACK comes (on UDP; RFC 3261 section 13.3.1.4).
func (c *Call) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.acceptCSeq(req, tx) {
		return
	}
	if !c.takeOffer() {
		c.agent.reply(tx, req, sipmsg.StatusRequestPending, "Request Pending")
		return
	}
	// A refusal hands the token back before it is sent: the far end may
	// offer again as soon as it has it.
	release := sync.OnceFunc(func() { <-c.offer })
	defer release()
	offerless := len(req.Body()) == 0
	if !offerless {
		if err := sdpBody(req); err != nil {
			release()
			res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
			res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
			c.agent.respond(tx, res)
			return
		}
	}
	var (
		body []byte
		next Media
	)
	if offerless {
		c.mu.Lock()
		body = c.sdpLocked(c.withCrypto(sdpOut{dir: c.localWant().and(c.remoteWant), audio: c.prefs.formats()}, max(c.media.cryptoTag, 1), c.media.savp))
		c.mu.Unlock()
	} else {
		sess, err := parseSDP(req.Body())
		var at int
		if err == nil {
			next, at, err = sess.negotiate(true, c.srtpWant(), c.prefs)
		}
		if err != nil {
			release()
			c.log.Info("re-INVITE offer refused", "err", err)
			c.agent.reply(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		c.mu.Lock()
		c.remoteWant = next.Direction
		next.Direction = next.Direction.and(c.localWant())
		if !next.Remote.IsValid() {
			next.Remote = c.media.Remote
		}
		next = c.withKey(next)
		body = c.sdpLocked(c.withCrypto(sdpOut{dir: next.Direction, audio: next.formats(), offer: sess, audioAt: at}, next.cryptoTag, next.savp))
		c.mu.Unlock()
	}
	if contact := req.Contact(); contact != nil {
		// A re-INVITE refreshes the remote target (RFC 3261 section 12.2.2).
		c.mu.Lock()
		c.target = *contact.Address.Clone()
		c.mu.Unlock()
	}
	res := sipmsg.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(c.contact.Clone())
	c.agent.respond(tx, res)
	if !offerless {
		c.setMedia(next)
	}
	c.awaitAck(req, tx, res, offerless)
}

// localWant is the direction our own hold allows. Call with c.mu held.
func (c *Call) localWant() Direction {
	if c.held {
		return SendOnly
	}
	return SendRecv
}

// sdpLocked returns our next session description: o has the audio and
// direction, this fills in address and origin. The o= version goes up
// whenever the description differs from the last one (RFC 3264 section
// 8). Call with c.mu held.
func (c *Call) sdpLocked(o sdpOut) []byte {
	o.local, o.id, o.version = c.local, c.sdpID, c.sdpVersion
	body := writeSDP(o)
	if !bytes.Equal(body, c.lastSDP) {
		c.sdpVersion++
		o.version = c.sdpVersion
		body = writeSDP(o)
	}
	c.lastSDP = body
	return body
}

// ack takes an ACK of the far end in c, for awaitAck. One that comes after
// awaitAck gave up, or after a BYE, is dropped once the buffer is full.
func (c *Call) ack(req *sipmsg.Request) {
	select {
	case c.acks <- req:
	default:
		c.log.Debug("stray ACK dropped", "cseq", req.CSeq().SeqNo)
	}
}

// awaitAck waits for the ACK of our 2xx res to the re-INVITE req, resending
// res on UDP at T1, 2*T1 ... up to T2 (RFC 3261 section 13.3.1.4), until
// the ACK comes, the call ends, or 64*T1 pass, after which the call is
// hung up. An ACK of an offerless re-INVITE carries the answer to our offer.
func (c *Call) awaitAck(req *sipmsg.Request, tx sipmsg.ServerTransaction, res *sipmsg.Response, offerless bool) {
	seq := req.CSeq().SeqNo
	interval := sipmsg.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	giveUp := time.NewTimer(64 * sipmsg.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-c.acks:
			if ack.CSeq().SeqNo != seq {
				continue // of an earlier re-INVITE
			}
			if offerless {
				c.takeAnswer(ack)
			}
			return
		case <-resend.C:
			if c.transport == TransportUDP {
				if err := tx.Respond(res); err != nil {
					c.log.Debug("resend 2xx", "err", err)
				}
			}
			interval = min(2*interval, sipmsg.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			c.log.Warn("no ACK for our 2xx to a re-INVITE: hanging up")
			ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if err := c.Hangup(ctx); err != nil {
				c.log.Warn("hang up", "err", err)
			}
			return
		case <-c.done:
			return
		}
	}
}

// takeAnswer reads the answer in the ACK of an offerless re-INVITE.
func (c *Call) takeAnswer(ack *sipmsg.Request) {
	if len(ack.Body()) == 0 {
		c.log.Warn("ACK without the answer to our offer: media unchanged")
		return
	}
	m, err := c.answered(ack.Body())
	if err != nil {
		c.log.Warn("unusable answer in ACK: media unchanged", "err", err)
		return
	}
	c.setMedia(m)
}

// answered reads the far end's answer to an offer of ours in a re-INVITE
// exchange. Call with no lock held.
func (c *Call) answered(body []byte) (Media, error) {
	sess, err := parseSDP(body)
	if err != nil {
		return Media{}, err
	}
	m, _, err := sess.negotiate(true, c.srtpWant(), c.prefs)
	if err != nil {
		return Media{}, err
	}
	if !m.Remote.IsValid() {
		m.Remote = c.Media().Remote
	}
	return c.withKey(m), nil
}

// Hold puts the call on hold (on) with a re-INVITE offering a=sendonly
// (RFC 3264 section 8.4; a=inactive while the far end holds us too), or
// takes it off hold with one offering a=sendrecv. It returns once the far
// end answered, with the media it agreed to in Media (and on
// MediaChanges): Direction SendOnly or Inactive while held. A re-INVITE
// answered 491 is sent once more after 2.1 to 4 s (RFC 3261 section 14.1),
// one challenged with 401/407 once more with the account's credentials (and
// again only if the challenge says the nonce went stale). Hangup makes it
// give up.
func (c *Call) Hold(ctx context.Context, on bool) error {
	if err := c.hold(ctx, on); err != nil {
		return fmt.Errorf("hold call %s (%v): %w", c.ID(), on, err)
	}
	return nil
}

func (c *Call) hold(ctx context.Context, on bool) error {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	select {
	case c.offer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errCallEnded
	case <-c.stopping:
		return errHangingUp
	}
	defer func() {
		<-c.offer // first, so that takeOffer never sees the token held and applying false
		c.mu.Lock()
		c.applying = false
		c.mu.Unlock()
	}()
	c.mu.Lock()
	was := c.held
	c.held = on
	c.mu.Unlock()
	res, err := c.reinvite(ctx)
	c.mu.Lock()
	c.applying = true
	c.mu.Unlock()
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
		if dialogGone(res) {
			c.end(err)
		}
	}
	if err != nil {
		c.mu.Lock()
		c.held = was
		c.mu.Unlock()
		return err
	}
	// A 2xx is acknowledged whatever it says (RFC 3261 section 13.2.2.4),
	// and again if it comes again.
	ack := sipmsg.NewRequest(sipmsg.ACK, c.remoteTarget())
	ack.Laddr = c.laddr
	if err := c.sess.WriteRequest(ack); err != nil {
		return fmt.Errorf("send ACK: %w", err)
	}
	c.mu.Lock()
	c.lastAck = ack.Clone()
	c.mu.Unlock()
	m, err := c.answered(res.Body())
	if err != nil {
		return fmt.Errorf("unusable answer, media unchanged: %w", err)
	}
	c.setMedia(m)
	return nil
}

// reack resends the ACK of our re-INVITE numbered seq, if it was the
// last one, and reports whether it did.
func (c *Call) reack(seq uint32) bool {
	c.mu.Lock()
	ack := c.lastAck
	c.mu.Unlock()
	if ack == nil || ack.CSeq().SeqNo != seq {
		return false
	}
	// Sent as built the first time: an option keeps sipgo from filling
	// in headers again.
	keep := func(*sipgo.Client, *sipmsg.Request) error { return nil }
	if err := c.client.WriteRequest(ack.Clone(), keep); err != nil {
		c.log.Warn("resend ACK", "err", err)
	}
	return true
}

// reinvite sends a re-INVITE offering the call's codec with the direction
// our hold and the far end's last offer allow, and returns the final
// answer; after a 491 it waits and tries once more.
func (c *Call) reinvite(ctx context.Context) (*sipmsg.Response, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		body := c.sdpLocked(c.withCrypto(sdpOut{dir: c.localWant().and(c.remoteWant), audio: c.media.formats()}, max(c.media.cryptoTag, 1), c.media.savp))
		c.mu.Unlock()
		req := sipmsg.NewRequest(sipmsg.INVITE, c.remoteTarget())
		req.AppendHeader(c.contact.Clone())
		req.AppendHeader(sipmsg.NewHeader("Allow", allowed))
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		res, err := c.agent.dialogRequest(ctx, c.sess, c.laddr, c.auth, req, c.stopping)
		if err != nil || res.StatusCode != sipmsg.StatusRequestPending || attempt > 0 {
			return res, err
		}
		wait := 2100*time.Millisecond + rand.N(1900*time.Millisecond)
		c.log.Info("re-INVITE crossed one of the far end: trying again", "after", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, errCallEnded
		case <-c.stopping:
			return nil, errHangingUp
		}
	}
}

// SendInfoDTMF sends digit (0-9, *, #, A-D) in an INFO request with an
// application/dtmf-relay body ("Signal=5\r\nDuration=160\r\n"), the
// fallback for conference PINs when the far end negotiated no
// telephone-event. duration is the tone length announced, in whole
// milliseconds; 0 means DefaultInfoDTMFDuration. It returns once the far
// end answered; a 401/407 challenge is answered with the account's
// credentials once, and once more only if its nonce went stale.
func (c *Call) SendInfoDTMF(ctx context.Context, digit rune, duration time.Duration) error {
	if err := c.sendInfoDTMF(ctx, digit, duration); err != nil {
		return fmt.Errorf("send DTMF %q in call %s: %w", digit, c.ID(), err)
	}
	return nil
}

func (c *Call) sendInfoDTMF(ctx context.Context, digit rune, duration time.Duration) error {
	signal, ok := infoSignal(digit)
	if !ok {
		return fmt.Errorf("%q is not a DTMF digit (0-9, *, #, A-D)", digit)
	}
	if duration == 0 {
		duration = DefaultInfoDTMFDuration
	}
	if duration < time.Millisecond || duration > maxInfoDTMFDuration {
		return fmt.Errorf("duration %v is not between 1 ms and %v", duration, maxInfoDTMFDuration)
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	req := sipmsg.NewRequest(sipmsg.INFO, c.remoteTarget())
	req.AppendHeader(c.contact.Clone())
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody(fmt.Appendf(nil, "Signal=%c\r\nDuration=%d\r\n", signal, duration.Milliseconds()))
	res, err := c.agent.dialogRequest(ctx, c.sess, c.laddr, c.auth, req, c.stopping)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		err := fmt.Errorf("INFO answered %d %s", res.StatusCode, res.Reason)
		if dialogGone(res) {
			c.end(err)
		}
		return err
	}
	return nil
}

// usable returns an error if the call has ended or is being hung up.
func (c *Call) usable() error {
	select {
	case <-c.done:
		return errCallEnded
	case <-c.stopping:
		return errHangingUp
	default:
		return nil
	}
}

// infoSignal returns the Signal value of a DTMF digit.
func infoSignal(digit rune) (byte, bool) {
	switch {
	case digit >= '0' && digit <= '9', digit == '*', digit == '#', digit >= 'A' && digit <= 'D':
		return byte(digit), true
	case digit >= 'a' && digit <= 'd':
		return byte(digit - 'a' + 'A'), true
	}
	return 0, false
}
