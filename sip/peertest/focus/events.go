package focus

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// The conference event package (RFC 4575) over SIP events (RFC 6665): a SUBSCRIBE to a
// conference gets 200 and a NOTIFY with the full roster; each change of the roster then
// gets a partial NOTIFY with the users that joined or changed (state "full") and those
// that left (state "deleted"). Each subscription has a goroutine that sends its NOTIFYs
// in order and ends the subscription when it expires.

const (
	eventPackage   = "conference"
	confInfoType   = "application/conference-info+xml"
	defaultExpires = 600  // seconds, when a SUBSCRIBE has no Expires
	maxExpires     = 3600 // seconds granted at most
	statusBadEvent = 489  // RFC 6665 section 8.3.1; sipgo has no name for it
)

// A subscription is one subscriber's dialog.
type subscription struct {
	key        string // Call-ID, our tag and theirs
	conference string
	callID     string
	local      sipmsg.Uri // the conference URI the subscriber named
	localTag   string
	remote     sipmsg.Uri // the subscriber, from its From
	remoteTag  string
	target     sipmsg.Uri // where NOTIFYs go: the subscriber's Contact
	routes     []string   // the route set, from Record-Route
	wake       chan struct{}

	// Guarded by Focus.mu.
	expires time.Time
	full    bool   // the next NOTIFY carries the full roster (a refresh asked for it)
	reason  string // why the subscription ends, once it does

	// The notifier's own.
	cseq    uint32
	version uint64
	sent    map[string]string // the users last notified, by entity: their XML
}

// onSubscribe takes a SUBSCRIBE to a conference's events, or refreshes or ends one.
func (f *Focus) onSubscribe(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !f.valid(req, tx) {
		return
	}
	ev := req.GetHeader("Event")
	if !f.cfg.Events || ev == nil || !strings.EqualFold(strings.TrimSpace(strings.SplitN(ev.Value(), ";", 2)[0]), eventPackage) {
		res := sipmsg.NewResponseFromRequest(req, statusBadEvent, "Bad Event", nil)
		if f.cfg.Events {
			res.AppendHeader(sipmsg.NewHeader("Allow-Events", eventPackage))
		}
		f.respond(tx, res)
		return
	}
	expires := uint64(defaultExpires)
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			f.reply(tx, req, sipmsg.StatusBadRequest, "Bad Expires")
			return
		}
		expires = min(v, maxExpires)
	}
	if inDialog(req) {
		f.refreshSubscription(req, tx, expires)
		return
	}
	if req.Contact() == nil {
		f.reply(tx, req, sipmsg.StatusBadRequest, "Missing Contact")
		return
	}
	from, to := req.From(), req.To()
	remoteTag, _ := from.Params.Get("tag")
	s := &subscription{
		conference: req.Recipient.User,
		callID:     req.CallID().Value(),
		local:      to.Address,
		localTag:   sipmsg.GenerateTagN(16),
		remote:     from.Address,
		remoteTag:  remoteTag,
		target:     req.Contact().Address,
		wake:       make(chan struct{}, 1),
		expires:    time.Now().Add(time.Duration(expires) * time.Second),
	}
	if expires == 0 {
		s.reason = "timeout" // a fetch: one NOTIFY, then the subscription is over
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		s.routes = append(s.routes, rr.Value())
	}
	s.key = subscriptionKey(s.callID, s.localTag, s.remoteTag)

	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	res.To().Params.Add("tag", s.localTag)
	res.AppendHeader(sipmsg.NewHeader("Expires", strconv.FormatUint(expires, 10)))
	f.decorate(res, s.conference)
	f.respond(tx, res)

	f.mu.Lock()
	f.subs[s.key] = s
	f.mu.Unlock()
	f.log.Info("subscription", "conference", s.conference, "subscriber", s.remote.String(), "expires", expires)
	f.wg.Go(func() { f.notifier(s) })
}

// refreshSubscription answers a SUBSCRIBE in an existing subscription: it sets the new
// expiry (0 ends the subscription) and has the full roster notified.
func (f *Focus) refreshSubscription(req *sipmsg.Request, tx sipmsg.ServerTransaction, expires uint64) {
	s := f.findSubscription(req)
	if s == nil {
		f.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	res.AppendHeader(sipmsg.NewHeader("Expires", strconv.FormatUint(expires, 10)))
	f.decorate(res, s.conference)
	f.respond(tx, res)
	f.mu.Lock()
	s.expires = time.Now().Add(time.Duration(expires) * time.Second)
	s.full = true
	if expires == 0 {
		s.reason = "timeout"
	}
	f.mu.Unlock()
	wake(s)
}

func subscriptionKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// findSubscription returns the subscription an in-dialog request belongs to, or nil.
func (f *Focus) findSubscription(req *sipmsg.Request) *subscription {
	to, _ := req.To().Params.Get("tag")
	from, _ := req.From().Params.Get("tag")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[subscriptionKey(req.CallID().Value(), to, from)]
}

// wake tells s's notifier to look at the roster again.
func wake(s *subscription) {
	select {
	case s.wake <- struct{}{}:
	default: // already told
	}
}

// updatedLocked wakes Await and, since a call changed, the subscriptions. The caller
// holds f.mu.
func (f *Focus) updatedLocked() {
	f.changedLocked()
	for _, s := range f.subs {
		wake(s)
	}
}

// notifier sends s's NOTIFYs until the subscription ends: by expiry, by an unsubscribe, by
// a NOTIFY the subscriber refuses, or by the focus closing.
func (f *Focus) notifier(s *subscription) {
	defer func() {
		f.mu.Lock()
		delete(f.subs, s.key)
		f.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour) // set each round below
	defer timer.Stop()
	full := true // the first NOTIFY has the full state
	for {
		f.mu.Lock()
		bodies := f.rosterDocsLocked(s, full || s.full)
		s.full = false
		expires, reason := time.Until(s.expires), s.reason
		f.mu.Unlock()
		full = false

		if reason != "" && len(bodies) == 0 {
			bodies = [][]byte{nil}
		}
		for i, body := range bodies {
			state := fmt.Sprintf("active;expires=%d", max(0, int(expires.Round(time.Second)/time.Second)))
			if reason != "" && i == len(bodies)-1 {
				state = "terminated;reason=" + reason
			}
			if err := f.notify(s, body, state); err != nil {
				f.log.Info("subscription ended", "conference", s.conference, "subscriber", s.remote.String(), "err", err)
				return
			}
		}
		if reason != "" {
			f.log.Info("subscription ended", "conference", s.conference, "subscriber", s.remote.String(), "reason", reason)
			return
		}
		timer.Reset(max(expires, 0))
		select {
		case <-f.ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
			f.mu.Lock()
			if !time.Now().Before(s.expires) {
				s.reason = "timeout"
			}
			f.mu.Unlock()
		}
	}
}

// maxDocument is the size a conference-info document is kept to, so that its NOTIFY fits
// in sipgo's 1300-byte limit for UDP. A roster that does not fit goes out as a full
// document with the first users and partial ones with the rest, which a subscriber
// applies to the same result.
const maxDocument = 700

// The XML of the users of a conference-info document.
type xmlUser struct {
	XMLName     xml.Name      `xml:"user"`
	Entity      string        `xml:"entity,attr"`
	State       string        `xml:"state,attr"`
	DisplayText string        `xml:"display-text,omitempty"`
	Endpoints   []xmlEndpoint `xml:"endpoint"`
}

type xmlEndpoint struct {
	Entity string     `xml:"entity,attr"`
	Status string     `xml:"status"`
	Media  []xmlMedia `xml:"media"`
}

type xmlMedia struct {
	ID     string `xml:"id,attr"`
	Type   string `xml:"type"`
	Status string `xml:"status"`
}

// rosterDocsLocked writes the next conference-info documents for s: the whole roster if
// full, else what changed since the last ones (none if nothing did). The caller holds
// f.mu.
func (f *Focus) rosterDocsLocked(s *subscription, full bool) [][]byte {
	var order []string
	users := make(map[string]*xmlUser)
	for _, c := range f.order {
		if c.info.Conference != s.conference || c.info.State == Ended {
			continue
		}
		u := users[c.info.From]
		if u == nil {
			u = &xmlUser{Entity: c.info.From, State: "full", DisplayText: c.info.DisplayName}
			users[c.info.From] = u
			order = append(order, c.info.From)
		}
		status := "dialing-in"
		if c.info.State == Up {
			status = "connected"
		}
		u.Endpoints = append(u.Endpoints, xmlEndpoint{
			Entity: c.info.Contact,
			Status: status,
			Media:  []xmlMedia{{ID: "1", Type: "audio", Status: c.info.Direction}},
		})
	}
	rendered := make(map[string]string, len(users))
	for _, k := range order {
		rendered[k] = f.marshalUser(users[k])
	}
	var parts []string // the user elements to send
	for _, k := range order {
		if full || s.sent[k] != rendered[k] {
			parts = append(parts, rendered[k])
		}
	}
	if !full {
		var gone []string
		for k := range s.sent {
			if _, ok := users[k]; !ok {
				gone = append(gone, k)
			}
		}
		slices.Sort(gone)
		for _, k := range gone {
			parts = append(parts, f.marshalUser(&xmlUser{Entity: k, State: "deleted"}))
		}
	}
	s.sent = rendered
	if !full && len(parts) == 0 {
		return nil
	}

	var docs [][]byte
	state := "partial"
	if full {
		state = "full"
	}
	for first := true; first || len(parts) > 0; first = false {
		s.version++
		var b bytes.Buffer
		b.WriteString(xml.Header)
		b.WriteString(`<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="`)
		_ = xml.EscapeText(&b, []byte(f.URI(s.conference)))
		fmt.Fprintf(&b, `" state="%s" version="%d"><users>`, state, s.version)
		for n := 0; len(parts) > 0 && (n == 0 || b.Len()+len(parts[0]) < maxDocument); n++ {
			b.WriteString(parts[0])
			parts = parts[1:]
		}
		b.WriteString("</users></conference-info>")
		docs = append(docs, b.Bytes())
		state = "partial"
	}
	return docs
}

// marshalUser writes one user element.
func (f *Focus) marshalUser(u *xmlUser) string {
	b, err := xml.Marshal(u)
	if err != nil { // the types above always marshal; this would be a bug here
		f.log.Error("marshal conference-info user", "user", u.Entity, "err", err)
	}
	return string(b)
}

// notify sends s's subscriber one NOTIFY with body and Subscription-State state, and waits
// for its answer.
func (f *Focus) notify(s *subscription, body []byte, state string) error {
	req := sipmsg.NewRequest(sipmsg.NOTIFY, s.target)
	from := &sipmsg.FromHeader{Address: s.local, Params: sipmsg.NewParams()}
	from.Params.Add("tag", s.localTag)
	to := &sipmsg.ToHeader{Address: s.remote, Params: sipmsg.NewParams()}
	to.Params.Add("tag", s.remoteTag)
	callID := sipmsg.CallIDHeader(s.callID)
	s.cseq++
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: s.cseq, MethodName: sipmsg.NOTIFY})
	req.AppendHeader(&maxFwd)
	req.AppendHeader(f.contactHeader(s.conference))
	for _, r := range s.routes {
		req.AppendHeader(sipmsg.NewHeader("Route", r))
	}
	if r := req.Route(); r != nil {
		req.SetDestination(r.Address.HostPort())
	}
	req.AppendHeader(sipmsg.NewHeader("Event", eventPackage))
	req.AppendHeader(sipmsg.NewHeader("Subscription-State", state))
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", confInfoType))
	}
	req.SetBody(body)

	ctx, cancel := context.WithTimeout(f.ctx, requestTimeout)
	defer cancel()
	res, err := f.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("NOTIFY: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("NOTIFY: %s", res.StartLine())
	}
	return nil
}
