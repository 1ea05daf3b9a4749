package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"partyline/sip/confinfo"
)

// DefaultSubscribeExpires is the subscription lifetime asked for when
// SubscribeRequest.Expires is 0.
const DefaultSubscribeExpires = 600 * time.Second

// subscribeTimeout bounds each SUBSCRIBE transaction.
const subscribeTimeout = 10 * time.Second

// resubscribeBackoff is the wait before a subscription that ended or failed
// is tried again.
const resubscribeBackoff = 5 * time.Second

// ErrNoConferenceEvents is what Subscribe returns when the conference does
// not serve the conference event package (RFC 4575): it answered 489 Bad
// Event, 405 or 501.
var ErrNoConferenceEvents = errors.New("the conference does not serve the conference event package")

// A SubscribeRequest says whose roster to follow, and how.
type SubscribeRequest struct {
	Target  string        // the conference URI, e.g. "sip:conf@example.com"
	Account Account       // its credentials answer 401/407; its proxy carries the requests
	Expires time.Duration // the lifetime asked for; 0 means DefaultSubscribeExpires
	// OnRoster is given the roster after every notification that changed it,
	// in order, on the agent's goroutines (one at a time).
	OnRoster func([]confinfo.Participant)
}

// subscription is one dialog of Subscribe's.
type subscription struct {
	log      *slog.Logger
	onRoster func([]confinfo.Participant)
	gap      chan struct{} // a notification was missed: refresh now for a full one
	ended    chan struct{} // the conference ended the subscription (Subscription-State: terminated)
	endOnce  sync.Once

	mu     sync.Mutex // guards following, and serializes notifications
	roster confinfo.Roster
	// hosts are where NOTIFYs may come from: the next hop of our
	// SUBSCRIBEs, and the dialog's hosts once a 2xx named them (see
	// dialogHosts), with the conference's Contact.
	hosts []netip.Addr
}

// Subscribe subscribes to the conference event package of req.Target
// (RFC 4575, over RFC 6665) and keeps the subscription until ctx ends: it
// refreshes it before it expires, subscribes again when the conference
// ends it or a notification was missed (confinfo.ErrGap), applies every
// NOTIFY in order and hands the roster to req.OnRoster. When ctx ends it
// unsubscribes (Expires: 0) and returns nil. A conference that does not
// serve the package makes it return ErrNoConferenceEvents at once; the
// first SUBSCRIBE failing otherwise returns that error.
func (a *Agent) Subscribe(ctx context.Context, req SubscribeRequest) error {
	if err := a.subscribe(ctx, req); err != nil {
		return fmt.Errorf("subscribe to %s: %w", req.Target, err)
	}
	return nil
}

func (a *Agent) subscribe(ctx context.Context, req SubscribeRequest) error {
	acc := req.Account
	if err := acc.validate(); err != nil {
		return err
	}
	target, err := conferenceURI(req.Target, acc)
	if err != nil {
		return err
	}
	if err := a.waitReady(ctx); err != nil {
		return err
	}
	expires := req.Expires
	if expires <= 0 {
		expires = DefaultSubscribeExpires
	}
	first := true
	for {
		err := a.subscription(ctx, req, acc, target, expires)
		if ctx.Err() != nil {
			return nil
		}
		if first && err != nil {
			return err
		}
		first = false
		a.log.Info("subscription ended: subscribing again", "to", req.Target, "err", err, "after", resubscribeBackoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(resubscribeBackoff):
		}
	}
}

// subscription runs one subscription dialog until ctx ends (unsubscribing),
// the conference ends it, or a SUBSCRIBE fails.
func (a *Agent) subscription(ctx context.Context, req SubscribeRequest, acc Account, target sipmsg.Uri, expires time.Duration) error {
	route, _ := acc.route() // validated by Subscribe
	hop := nextHop(route, target, acc.transport())
	client, host, err := a.prepare(ctx, acc, hop)
	if err != nil {
		return err
	}
	hopHost, _, _ := net.SplitHostPort(hop)
	hopAddrs, err := a.lookupHost(ctx, hopHost)
	if err != nil {
		return err
	}
	callID := newToken()
	fromTag := newToken()
	s := &subscription{
		log:      a.log.With("subscription", callID, "to", req.Target),
		onRoster: req.OnRoster,
		gap:      make(chan struct{}, 1),
		ended:    make(chan struct{}),
		hosts:    hopAddrs,
	}
	key := subscriptionKey{callID: callID, localTag: fromTag}
	a.mu.Lock()
	a.subs[key] = s
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.subs, key)
		a.mu.Unlock()
	}()

	sub := sipmsg.NewRequest(sipmsg.SUBSCRIBE, acc.requestURI(target))
	from := &sipmsg.FromHeader{Address: acc.aorURI(), Params: sipmsg.NewParams()}
	from.Params.Add("tag", fromTag)
	sub.AppendHeader(from)
	sub.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}})
	cid := sipmsg.CallIDHeader(callID)
	sub.AppendHeader(&cid)
	sub.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.SUBSCRIBE})
	sub.AppendHeader(a.contact(acc.User, host, acc.transport()))
	if route != nil {
		sub.AppendHeader(route)
	}
	sub.AppendHeader(sipmsg.NewHeader("Event", "conference"))
	sub.AppendHeader(sipmsg.NewHeader("Accept", confinfo.ContentType))
	sub.SetTransport(acc.sipTransport())

	res, err := a.sendSubscribe(ctx, client, acc, sub, expires)
	if err != nil {
		return err
	}
	// The dialog: the conference's tag, its Contact as the target, the
	// route set from Record-Route, reversed (RFC 3261 section 12.1.2).
	toTag := tag(res.To().Params)
	sub.To().Params.Add("tag", toTag)
	if contact := res.Contact(); contact != nil {
		sub.Recipient = *contact.Address.Clone()
	}
	s.addHosts(res, sub.Recipient)
	sub.RemoveHeader("Route")
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		sub.AppendHeader(sipmsg.NewHeader("Route", rrs[i].Value()))
	}
	granted := grantedExpires(res, expires)
	s.log.Info("subscribed", "expires", granted)
	for {
		refresh := time.NewTimer(granted * 4 / 5)
		select {
		case <-ctx.Done():
			refresh.Stop()
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), subscribeTimeout)
			defer cancel()
			if _, err := a.sendSubscribe(uctx, client, acc, sub, 0); err != nil {
				s.log.Info("unsubscribe", "err", err)
			}
			return nil
		case <-s.ended:
			refresh.Stop()
			return errors.New("the conference ended the subscription")
		case <-s.gap:
			refresh.Stop()
			s.log.Info("notification missed: refreshing for the full roster")
		case <-refresh.C:
		}
		res, err := a.sendSubscribe(ctx, client, acc, sub, expires)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		s.addHosts(res, sub.Recipient)
		granted = grantedExpires(res, expires)
	}
}

// sendSubscribe sends sub (the next CSeq, a new branch) with Expires
// expires and waits for its 2xx, answering one 401/407 challenge.
func (a *Agent) sendSubscribe(ctx context.Context, client *sipgo.Client, acc Account, sub *sipmsg.Request, expires time.Duration) (*sipmsg.Response, error) {
	sctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	req := sub.Clone()
	sub.CSeq().SeqNo++ // the next one's
	req.RemoveHeader("Via")
	req.RemoveHeader("Expires")
	exp := sipmsg.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	if a.userAgent != "" {
		req.AppendHeader(sipmsg.NewHeader("User-Agent", a.userAgent))
	}
	res, err := client.Do(sctx, req)
	if err == nil && (res.StatusCode == sipmsg.StatusUnauthorized || res.StatusCode == sipmsg.StatusProxyAuthRequired) {
		res, err = client.DoDigestAuth(sctx, req, res, sipgo.DigestAuth{Username: acc.authUser(), Password: acc.Password})
		sub.CSeq().SeqNo = req.CSeq().SeqNo + 1
	}
	if err != nil {
		return nil, fmt.Errorf("SUBSCRIBE: %w", err)
	}
	switch {
	case res.IsSuccess():
		return res, nil
	case res.StatusCode == statusBadEvent || res.StatusCode == sipmsg.StatusMethodNotAllowed || res.StatusCode == sipmsg.StatusNotImplemented:
		return nil, fmt.Errorf("%w (%d %s)", ErrNoConferenceEvents, res.StatusCode, res.Reason)
	}
	return nil, fmt.Errorf("SUBSCRIBE answered %d %s", res.StatusCode, res.Reason)
}

// statusBadEvent is 489 Bad Event (RFC 6665 section 8.3.1), which sipgo
// has no name for.
const statusBadEvent = 489

// grantedExpires returns the lifetime a 2xx to SUBSCRIBE granted, at most
// asked, and at least a second.
func grantedExpires(res *sipmsg.Response, asked time.Duration) time.Duration {
	if h := res.GetHeader("Expires"); h != nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32); err == nil {
			return max(min(time.Duration(v)*time.Second, asked), time.Second)
		}
	}
	return asked
}

// subscriptionKey names a subscription of ours: its Call-ID and our tag
// (the conference's NOTIFY may come before the 2xx that tells its tag).
type subscriptionKey struct {
	callID, localTag string
}

// onNotify takes a NOTIFY of one of our subscriptions (RFC 6665 section
// 4.1.3): it answers 200 and applies the body to the roster; 481 for a
// subscription we do not have.
func (a *Agent) onNotify(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !a.valid(req, tx) {
		return
	}
	key := subscriptionKey{callID: callID(req), localTag: tag(req.To().Params)}
	a.mu.Lock()
	s, ok := a.subs[key]
	a.mu.Unlock()
	if !ok {
		a.reply(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	if !s.fromHost(req) {
		a.refused.log(s.log, slog.LevelWarn, "NOTIFY refused: not from a host of its subscription", "source", req.Source())
		a.reply(tx, req, sipmsg.StatusForbidden, "Not From A Host Of The Dialog")
		return
	}
	a.reply(tx, req, sipmsg.StatusOK, "OK")
	s.notified(req)
}

// addHosts adds the hosts of the subscription's dialog that res, a 2xx to
// SUBSCRIBE, names, and that of target, the conference's Contact, if it is
// an IP address.
func (s *subscription) addHosts(res *sipmsg.Response, target sipmsg.Uri) {
	hosts := dialogHosts(res.Source(), res)
	if a, err := netip.ParseAddr(strings.Trim(target.Host, "[]")); err == nil {
		hosts = append(hosts, a.Unmap())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hosts {
		if !slices.Contains(s.hosts, h) {
			s.hosts = append(s.hosts, h)
		}
	}
}

// fromHost reports whether req comes from one of the subscription's hosts.
func (s *subscription) fromHost(req *sipmsg.Request) bool {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.hosts, src.Addr().Unmap())
}

// notified applies a NOTIFY's document and reads its Subscription-State.
func (s *subscription) notified(req *sipmsg.Request) {
	if len(req.Body()) > 0 {
		s.apply(req.Body())
	}
	if h := req.GetHeader("Subscription-State"); h != nil {
		state, _, _ := strings.Cut(h.Value(), ";")
		if strings.EqualFold(strings.TrimSpace(state), "terminated") {
			s.endOnce.Do(func() { close(s.ended) })
		}
	}
}

// apply applies a conference-info document to the roster in order; a gap
// asks for a refresh, which brings a full document.
func (s *subscription) apply(body []byte) {
	doc, err := confinfo.Parse(body)
	if err != nil {
		s.log.Info("unusable conference-info ignored", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch err := s.roster.Apply(doc); {
	case errors.Is(err, confinfo.ErrGap):
		s.log.Info("conference-info gap", "err", err)
		select {
		case s.gap <- struct{}{}:
		default:
		}
		return
	case err != nil:
		s.log.Debug("conference-info ignored", "err", err)
		return
	}
	if s.onRoster != nil {
		s.onRoster(s.roster.Participants())
	}
}
