package sip

import (
	"log/slog"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// allowed lists the methods we answer, for Allow headers (RFC 3261
// section 20.5).
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"

// Incoming requests. sipgo runs each handler in a goroutine of its own and
// ends the server transaction when the handler returns; unparsable
// datagrams never get here (sipgo logs and drops them). Every request that
// parses is answered, with 400 and a reason when it is not valid.

// onOptions answers OPTIONS, in or out of a dialog: registrars and proxies
// use it to check that we are alive (RFC 3261 section 11.2).
func (a *Agent) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	a.respond(tx, res)
}

// onInvite answers INVITEs. A new call goes to Config.OnIncoming (see
// Agent.takeCall), or is declined without one; a re-INVITE in one of our
// calls changes its session (see Call.onReinvite).
func (a *Agent) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	if req.Contact() == nil {
		a.reply(tx, req, sipmsg.StatusBadRequest, "Missing Contact")
		return
	}
	if !inDialog(req) {
		if a.incoming == nil {
			a.log.Info("incoming call declined", "from", fromURI(req), "to", req.Recipient.String())
			a.reply(tx, req, sipmsg.StatusTemporarilyUnavailable, "Incoming Calls Not Supported Yet")
			return
		}
		a.takeCall(req, tx)
		return
	}
	c, ok := a.findCall(req)
	if !ok {
		a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.acceptHost(req, tx) {
		return
	}
	c.onReinvite(req, tx)
}

// onAck takes ACKs for 2xx answers, which come in transactions of their
// own, and hands those of our calls to the re-INVITE waiting for them;
// ACKs for our non-2xx answers are absorbed by sipgo's server transaction.
// An ACK gets no answer (RFC 3261 section 17.1.1.3), so one that is
// invalid, or of no call (it came after the BYE), is dropped.
func (a *Agent) onAck(req *sipmsg.Request, _ sipmsg.ServerTransaction) {
	if reason := badRequest(req); reason != "" {
		a.malformed.log(a.log, slog.LevelInfo, "bad ACK dropped", "source", req.Source(), "reason", reason)
		return
	}
	c, ok := a.findCall(req)
	if !ok {
		a.log.Debug("ACK of no call ignored", "call", callID(req))
		return
	}
	if !c.fromDialogHost(req) {
		a.refused.log(c.log, slog.LevelWarn, "ACK in a call dropped: not from a host of its dialog", "source", req.Source())
		return
	}
	c.ack(req)
}

// onBye ends the call the BYE belongs to (RFC 3261 section 15.1.2).
func (a *Agent) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	c, ok := a.findCall(req)
	if !ok {
		a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.acceptHost(req, tx) || !c.acceptCSeq(req, tx) {
		return
	}
	a.reply(tx, req, sipmsg.StatusOK, "OK")
	c.remoteHangup()
}

// onCancel answers a CANCEL that matches no INVITE transaction (sipgo
// answers the ones that do, RFC 3261 section 9.2).
func (a *Agent) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onInfo accepts INFO in our calls (servers send keypad or media-control
// events with it) and ignores what it says.
func (a *Agent) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	c, ok := a.findCall(req)
	if !ok {
		a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.acceptHost(req, tx) || !c.acceptCSeq(req, tx) {
		return
	}
	a.reply(tx, req, sipmsg.StatusOK, "OK")
}

// onOther answers every other method: 481 for a dialog we do not know, and
// 405 with what we allow otherwise.
func (a *Agent) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	if _, ok := a.findCall(req); inDialog(req) && !ok {
		a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	a.respond(tx, res)
}

// valid answers 400 with the reason and returns false if req lacks what
// every request needs (RFC 3261 section 8.1.1).
func (a *Agent) valid(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	reason := badRequest(req)
	if reason == "" {
		return true
	}
	a.malformed.log(a.log, slog.LevelInfo, "bad request", "request", req.StartLine(), "source", req.Source(), "reason", reason)
	a.reply(tx, req, sipmsg.StatusBadRequest, reason)
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
	case tag(req.From().Params) == "":
		return "Missing From Tag"
	case req.Recipient.Scheme != "sip" && req.Recipient.Scheme != "sips":
		return "Unsupported URI Scheme " + reasonSafe(req.Recipient.Scheme)
	}
	return ""
}

// reasonSafe keeps what goes into a reason phrase printable and short.
func reasonSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return clip(s)
}

// inDialog reports whether req carries a To tag, i.e. claims a dialog.
func inDialog(req *sipmsg.Request) bool {
	to := req.To()
	return to != nil && tag(to.Params) != ""
}

// tag returns the tag parameter of a From or To header, "" if none.
func tag(params sipmsg.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

func fromURI(req *sipmsg.Request) string {
	if f := req.From(); f != nil {
		return f.Address.String()
	}
	return ""
}

// reply answers req with a response without body.
func (a *Agent) reply(tx sipmsg.ServerTransaction, req *sipmsg.Request, status int, reason string) {
	a.respond(tx, sipmsg.NewResponseFromRequest(req, status, reason, nil))
}

func (a *Agent) respond(tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	if a.userAgent != "" {
		res.AppendHeader(sipmsg.NewHeader("Server", a.userAgent))
	}
	if err := tx.Respond(res); err != nil {
		a.log.Warn("send response", "response", res.StartLine(), "call", callID(res), "err", err)
	}
}
