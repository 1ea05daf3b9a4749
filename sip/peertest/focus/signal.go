package focus

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The focus's SIP handlers. sipgo runs each in a goroutine of its own (through track) and
// ends the server transaction when it returns. Every request that parses is answered.

// onInvite takes a new call, or a re-INVITE in one.
func (f *Focus) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	if inDialog(req) {
		f.onReinvite(req, tx)
		return
	}
	c := &call{info: callInfo(req), ended: make(chan struct{})}
	c.info.State = Ringing
	f.mu.Lock()
	if _, dup := f.calls[c.info.CallID]; dup {
		f.mu.Unlock()
		f.reply(tx, req, sipmsg.StatusBadRequest, "Call-ID Already In Use")
		return
	}
	f.calls[c.info.CallID] = c
	f.order = append(f.order, c)
	f.updatedLocked()
	f.mu.Unlock()
	f.log.Info("call", "call", c.info.CallID, "conference", c.info.Conference, "from", c.info.From, "display", c.info.DisplayName)

	if status, reason, hdr := f.screen(c, req); status != 0 {
		res := sipmsg.NewResponseFromRequest(req, status, reason, nil)
		if hdr != nil {
			res.AppendHeader(hdr)
		}
		f.refuse(c, tx, res)
		return
	}

	dlg, err := f.dialogs.ReadInvite(req, tx)
	if err != nil {
		f.log.Warn("take invite", "call", c.info.CallID, "err", err)
		f.endCall(c, fmt.Sprintf("INVITE transaction: %v", err))
		return
	}
	leg, err := f.newLeg(c)
	if err != nil {
		f.log.Warn("rtp socket", "call", c.info.CallID, "err", err)
		f.refuse(c, tx, sipmsg.NewResponseFromRequest(dlg.InviteRequest, sipmsg.StatusInternalServerError, "No RTP Socket", nil))
		return
	}
	f.mu.Lock()
	c.dlg = dlg
	f.mu.Unlock()

	if f.cfg.AnswerDelay > 0 && !f.ring(c, dlg) {
		return
	}

	f.mu.Lock()
	if c.info.State != Ringing { // the focus closed meanwhile
		f.mu.Unlock()
		return
	}
	c.sdpID, c.sdpVersion = uint64(time.Now().UnixNano()), 1
	sdp := answer(c.offer, leg.local.Port(), c.sdpID, c.sdpVersion)
	c.info.State, c.info.Status = Up, sipmsg.StatusOK
	f.updatedLocked()
	f.mu.Unlock()
	f.log.Info("call up", "call", c.info.CallID, "codec", c.info.Codec, "rtp", leg.local, "remote", c.info.RemoteRTP)

	res := sipmsg.NewSDPResponseFromRequest(dlg.InviteRequest, sdp)
	f.decorate(res, c.info.Conference)
	// WriteResponse retransmits the 2xx until the ACK comes, and returns then. When a
	// BYE overtook the ACK, the call has already ended and endCall does nothing.
	if err := dlg.WriteResponse(res); err != nil {
		f.endCall(c, fmt.Sprintf("answer: %v", err))
	}
}

// ring sends 180 and waits Config.AnswerDelay. It reports false if the call ended in that
// time: by CANCEL (sipgo answered it, and the INVITE with 487) or by the focus closing.
func (f *Focus) ring(c *call, dlg *sipgo.DialogServerSession) bool {
	if err := dlg.Respond(sipmsg.StatusRinging, "Ringing", nil, f.contactHeader(c.info.Conference)); err != nil {
		f.endCall(c, fmt.Sprintf("ringing: %v", err))
		return false
	}
	timer := time.NewTimer(f.cfg.AnswerDelay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-dlg.Context().Done():
		f.mu.Lock()
		c.info.Status = sipmsg.StatusRequestTerminated
		f.mu.Unlock()
		f.endCall(c, "cancelled")
	case <-c.ended:
		// An early BYE, or the focus closing: the INVITE still needs its final answer.
		_ = dlg.Respond(sipmsg.StatusRequestTerminated, "Request Terminated", nil)
	}
	return false
}

// screen decides whether the focus takes the call c of req. It returns 0, having set
// c's offer, to take it, or the status, reason and an extra header to refuse it with.
func (f *Focus) screen(c *call, req *sipmsg.Request) (int, string, sipmsg.Header) {
	if req.Contact() == nil {
		return sipmsg.StatusBadRequest, "Missing Contact", nil
	}
	o, status, reason := readOffer(req)
	if status != 0 {
		if status == sipmsg.StatusUnsupportedMediaType {
			return status, reason, sipmsg.NewHeader("Accept", "application/sdp")
		}
		return status, reason, nil
	}
	f.mu.Lock()
	c.offer = o
	c.info.Codec, c.info.DTMFPayloadType, c.info.Direction, c.info.RemoteRTP = o.codec, o.dtmf, o.direction, o.remote
	info := c.info
	duplicate := false
	if f.cfg.UniqueIdentities {
		for _, other := range f.order {
			if other != c && other.info.State != Ended && other.info.Conference == info.Conference && sameURI(other.info.From, info.From) {
				duplicate = true
			}
		}
	}
	f.updatedLocked()
	f.mu.Unlock()
	if duplicate {
		return sipmsg.StatusBusyHere, "Already In Conference", nil
	}
	if f.cfg.Refuse != nil {
		if status, reason := f.cfg.Refuse(info); status != 0 {
			return status, reason, nil
		}
	}
	return 0, "", nil
}

// readOffer reads the SDP offer of an INVITE or re-INVITE, or returns the status and
// reason to refuse it with.
func readOffer(req *sipmsg.Request) (offer, int, string) {
	body := req.Body()
	if len(body) == 0 {
		return offer{}, sipmsg.StatusNotAcceptableHere, "SDP Offer Required"
	}
	if ct := req.ContentType(); ct == nil || !isSDP(ct.Value()) {
		return offer{}, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type"
	}
	o, err := parseOffer(body)
	switch {
	case errors.Is(err, errNoCodec):
		return offer{}, sipmsg.StatusNotAcceptableHere, "No Common Codec"
	case err != nil:
		return offer{}, sipmsg.StatusBadRequest, reasonSafe("Malformed SDP: " + err.Error())
	}
	return o, 0, ""
}

func isSDP(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/sdp"
}

// refuse ends c and answers its INVITE with the final response res: in that order, so
// that whoever got the answer finds the call ended.
func (f *Focus) refuse(c *call, tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	f.mu.Lock()
	c.info.Status = res.StatusCode
	f.mu.Unlock()
	f.endCall(c, fmt.Sprintf("refused: %d %s", res.StatusCode, res.Reason))
	f.respond(tx, res)
}

// onReinvite answers a re-INVITE of a call that is up: it takes the new offer's address,
// direction and codec and answers with the same port, or declines with 488 and leaves the
// session as it was (RFC 3264 section 8).
func (f *Focus) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := f.findDialog(req)
	if c == nil {
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	o, status, reason := readOffer(req)
	if status != 0 {
		f.reply(tx, req, sipmsg.StatusNotAcceptableHere, reason)
		return
	}
	f.mu.Lock()
	if c.info.State != Up {
		f.mu.Unlock()
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.offer = o
	c.leg.setOffer(o)
	c.info.Codec, c.info.DTMFPayloadType, c.info.Direction, c.info.RemoteRTP = o.codec, o.dtmf, o.direction, o.remote
	c.sdpVersion++
	sdp := answer(o, c.leg.local.Port(), c.sdpID, c.sdpVersion)
	f.updatedLocked()
	f.mu.Unlock()
	f.log.Info("re-INVITE", "call", c.info.CallID, "codec", o.codec, "direction", o.direction, "remote", o.remote)
	res := sipmsg.NewSDPResponseFromRequest(req, sdp)
	f.decorate(res, c.info.Conference)
	f.respond(tx, res)
}

// onAck confirms a call's dialog. ACKs for re-INVITEs and for refusals need nothing.
func (f *Focus) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := f.findDialog(req); c != nil {
		_ = c.dlg.ReadAck(req, tx)
	}
}

// onBye ends the call the BYE belongs to.
func (f *Focus) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	c := f.findDialog(req)
	if c == nil {
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if req.CSeq().SeqNo <= c.dlg.InviteRequest.CSeq().SeqNo {
		f.reply(tx, req, sipmsg.StatusBadRequest, "CSeq Out Of Order")
		return
	}
	// End the call first, so that an answer still waiting for an overtaken ACK finds the
	// reason set.
	f.endCall(c, "BYE from caller")
	if err := c.dlg.ReadBye(req, tx); err != nil {
		f.log.Warn("answer BYE", "call", c.info.CallID, "err", err)
	}
}

// onInfo takes keys sent as SIP INFO (application/dtmf-relay or application/dtmf), the
// fallback of phones whose peer has no telephone-event, and records them with the RFC 4733
// ones.
func (f *Focus) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	c := f.findDialog(req)
	if c == nil {
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	body := strings.TrimSpace(string(req.Body()))
	if body == "" {
		f.reply(tx, req, sipmsg.StatusOK, "OK")
		return
	}
	var mt string
	if ct := req.ContentType(); ct != nil {
		mt, _, _ = mime.ParseMediaType(ct.Value())
	}
	var key string
	switch mt {
	case "application/dtmf-relay":
		for line := range strings.SplitSeq(body, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.EqualFold(strings.TrimSpace(k), "Signal") {
				key = strings.TrimSpace(v)
			}
		}
	case "application/dtmf":
		key = body
	default:
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sipmsg.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		f.respond(tx, res)
		return
	}
	key = strings.ToUpper(key)
	if len(key) != 1 || !strings.Contains(dtmfKeys, key) {
		f.reply(tx, req, sipmsg.StatusBadRequest, "Bad DTMF Signal")
		return
	}
	f.mu.Lock()
	c.info.Digits += key
	f.changedLocked()
	f.mu.Unlock()
	f.reply(tx, req, sipmsg.StatusOK, "OK")
}

// onCancel answers a CANCEL that matches no INVITE transaction; sipgo answers those that
// do, and the INVITE with 487.
func (f *Focus) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onOptions says what the focus can do.
func (f *Focus) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	f.decorate(res, "")
	f.respond(tx, res)
}

// onOther answers every other method with 405 (481 in a dialog it does not know).
func (f *Focus) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	if inDialog(req) && f.findDialog(req) == nil && f.findSubscription(req) == nil {
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", nil)
	f.decorate(res, "")
	f.respond(tx, res)
}

// findDialog returns the call whose dialog req belongs to, or nil.
func (f *Focus) findDialog(req *sipmsg.Request) *call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[req.CallID().Value()]
	if !ok || c.dlg == nil {
		return nil
	}
	ours, _ := c.dlg.InviteRequest.To().Params.Get("tag")
	theirs, _ := c.dlg.InviteRequest.From().Params.Get("tag")
	to, _ := req.To().Params.Get("tag")
	from, _ := req.From().Params.Get("tag")
	if to != ours || from != theirs {
		return nil
	}
	return c
}

// decorate adds what the focus's responses carry: Allow, Allow-Events and the Contact of
// conference (unless conference is "").
func (f *Focus) decorate(res *sipmsg.Response, conference string) {
	if conference != "" {
		res.AppendHeader(f.contactHeader(conference))
	}
	if f.cfg.Events {
		res.AppendHeader(sipmsg.NewHeader("Allow", allowedEvents))
		res.AppendHeader(sipmsg.NewHeader("Allow-Events", eventPackage))
	} else {
		res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	}
}

func (f *Focus) contactHeader(conference string) *sipmsg.ContactHeader {
	c := f.contact(conference)
	return &c
}

// callInfo reads what CallInfo records of a new INVITE.
func callInfo(req *sipmsg.Request) CallInfo {
	info := CallInfo{
		CallID:      req.CallID().Value(),
		Conference:  req.Recipient.User,
		RequestURI:  req.Recipient.String(),
		From:        uriString(req.From().Address),
		DisplayName: req.From().DisplayName,
	}
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		info.PAI = h.Value()
	}
	if h := req.GetHeader("Privacy"); h != nil {
		info.Privacy = h.Value()
	}
	if h := req.Contact(); h != nil {
		info.Contact = uriString(h.Address)
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		info.UserAgent = h.Value()
	}
	return info
}

// uriString writes u without its header part.
func uriString(u sipmsg.Uri) string {
	u.Headers = nil
	return u.String()
}

// sameURI reports whether two From URIs name the same identity: the same scheme, user and
// host, whatever the parameters.
func sameURI(a, b string) bool {
	var ua, ub sipmsg.Uri
	if sipmsg.ParseUri(a, &ua) != nil || sipmsg.ParseUri(b, &ub) != nil {
		return strings.EqualFold(a, b)
	}
	return ua.Scheme == ub.Scheme && ua.User == ub.User && strings.EqualFold(ua.Host, ub.Host)
}

// valid answers 400 with the reason and returns false if req lacks what every request
// needs (RFC 3261 section 8.1.1).
func (f *Focus) valid(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	reason := badRequest(req)
	if reason == "" {
		return true
	}
	f.log.Info("bad request", "request", req.StartLine(), "reason", reason)
	f.reply(tx, req, sipmsg.StatusBadRequest, reason)
	return false
}

// badRequest returns, as a reason phrase, what makes req invalid, or "".
func badRequest(req *sipmsg.Request) string {
	switch {
	case req.From() == nil:
		return "Missing From"
	case req.To() == nil:
		return "Missing To"
	case req.CallID() == nil || req.CallID().Value() == "":
		return "Missing Call-ID"
	case req.CSeq() == nil:
		return "Missing CSeq"
	case req.CSeq().MethodName != req.Method:
		return "CSeq Method Does Not Match"
	case !req.From().Params.Has("tag"):
		return "Missing From Tag"
	}
	return ""
}

// inDialog reports whether req carries a To tag, i.e. claims a dialog.
func inDialog(req *sipmsg.Request) bool {
	return req.To().Params.Has("tag")
}

// reasonSafe keeps what goes into a reason phrase printable and short.
func reasonSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	const n = 100
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// reply answers req with a response without body.
func (f *Focus) reply(tx sipmsg.ServerTransaction, req *sipmsg.Request, status int, reason string) {
	f.respond(tx, sipmsg.NewResponseFromRequest(req, status, reason, nil))
}

func (f *Focus) respond(tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	res.AppendHeader(sipmsg.NewHeader("Server", "partyline-focus"))
	if err := tx.Respond(res); err != nil {
		f.log.Warn("send response", "response", res.StartLine(), "err", err)
	}
}
