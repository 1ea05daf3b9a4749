package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

const (
	// registerTimeout bounds one REGISTER attempt, challenge included.
	registerTimeout = 10 * time.Second
	// unregisterTimeout bounds the unregistration on the way out.
	unregisterTimeout = 2 * time.Second
	// minRefresh is the shortest wait between two refreshes.
	minRefresh = 500 * time.Millisecond
	// retryMin and retryMax bound the backoff between failed attempts.
	retryMin = time.Second
	retryMax = 60 * time.Second
	// maxChallenges is how many 401/407 one attempt answers: the first,
	// and one more if the server calls our nonce stale.
	maxChallenges = 2
)

// KeepRegistered registers acc with its registrar (RFC 3261 section 10) and
// keeps it registered until ctx is done; then it unregisters (Expires: 0,
// bounded by a short timeout) and returns nil.
//
// It answers 401/407 challenges with the account's credentials, in the
// realm the challenge names. It refreshes at half the lifetime the
// registrar granted, each refresh a new transaction in the same Call-ID
// with the same From tag and the next CSeq (RFC 3261 section 10.2.4).
// While registered it sends an OPTIONS keep-alive every acc.KeepAlive
// (which also keeps NAT bindings open); one without any answer means the
// server is gone: the registration is reported Failed ("no answer from
// host:port") and it registers again at once. On TCP and TLS, a
// keep-alive that had to open a new connection registers again too,
// since the server reaches us only over the connection our binding
// names. After a failure it retries with exponential backoff and jitter,
// from 1 s up to 60 s.
//
// report, if not nil, is called from KeepRegistered's goroutine whenever
// the Registration changes, a refresh's new Expires included. An account
// that cannot be used at all (a bad proxy address, an unreadable CA file)
// is reported Failed and returned as an error.
func (a *Agent) KeepRegistered(ctx context.Context, acc Account, report func(Registration)) error {
	if report == nil {
		report = func(Registration) {}
	}
	if err := acc.validate(); err != nil {
		report(Registration{State: Failed, Detail: err.Error()})
		return fmt.Errorf("keep %s registered: %w", acc.AOR(), err)
	}
	if err := a.waitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("keep %s registered: %w", acc.AOR(), err)
	}
	r, err := a.newRegistrar(acc)
	if err != nil {
		report(Registration{State: Failed, Detail: err.Error()})
		return fmt.Errorf("keep %s registered: %w", acc.AOR(), err)
	}
	if err := r.run(ctx, report); err != nil {
		return fmt.Errorf("keep %s registered: %w", acc.AOR(), err)
	}
	return nil
}

// A registrar keeps one account registered.
type registrar struct {
	agent   *Agent
	acc     Account
	log     *slog.Logger
	client  *sipgo.Client        // nil until connect
	route   *sipmsg.RouteHeader  // nil without outbound proxy
	hop     string               // host:port of the first hop, for messages
	contact sipmsg.ContactHeader // set by connect
	callID  sipmsg.CallIDHeader
	fromTag string
	cseq    uint32 // of the last REGISTER sent

	minExpires time.Duration // the registrar's Min-Expires, once it named one
}

// newRegistrar checks what of acc cannot change by itself (its proxy's address, its CA
// file); what the network may change, such as a name that does not resolve yet, waits
// for the first attempt (see connect).
func (a *Agent) newRegistrar(acc Account) (*registrar, error) {
	route, err := acc.route()
	if err != nil {
		return nil, err
	}
	hop := nextHop(route, registrarURI(acc), acc.transport())
	if acc.transport() == TransportTLS {
		if err := a.trustServer(hopHost(hop), acc.CAFile); err != nil {
			return nil, err
		}
	}
	return &registrar{
		agent:   a,
		acc:     acc,
		log:     a.log.With("account", acc),
		route:   route,
		hop:     hop,
		callID:  sipmsg.CallIDHeader(newToken()),
		fromTag: newToken(),
	}, nil
}

// connect finds the client and our Contact for the registrar's hop, once: on an agent
// bound to 0.0.0.0 that looks the hop's name up, which may fail now and work later.
func (r *registrar) connect(ctx context.Context) error {
	if r.client != nil {
		return nil
	}
	client, host, err := r.agent.prepare(ctx, r.acc, r.hop)
	if err != nil {
		return err
	}
	r.client, r.contact = client, *r.agent.contact(r.acc.User, host, r.acc.transport())
	return nil
}

// registrarURI is the request-URI of REGISTER: the domain, without user
// (RFC 3261 section 10.2).
func registrarURI(acc Account) sipmsg.Uri {
	return acc.requestURI(sipmsg.Uri{Scheme: "sip", Host: acc.Domain})
}

// What the registration loop does when its timer fires.
const (
	doRegister = iota
	doProbe
)

// run is the registration loop: register, then refresh, probe or retry,
// until ctx is done.
func (r *registrar) run(ctx context.Context, report func(Registration)) error {
	var last Registration
	set := func(reg Registration) {
		if reg != last {
			last = reg
			r.log.Debug("registration", "state", reg.State, "detail", reg.Detail, "expires", reg.Expires, "next", reg.NextAttempt)
			report(reg)
		}
	}
	last.State = -1 // so that the first set reports
	set(Registration{State: Registering})

	bound := false // whether the registrar may hold our binding
	failures := 0
	var refreshAt time.Time // while registered
	next := doRegister
	timer := time.NewTimer(0)
	defer timer.Stop()
	// schedule picks what follows a success: the refresh, or a keep-alive
	// before it.
	schedule := func() {
		wait := time.Until(refreshAt)
		next = doRegister
		if ka := r.acc.keepAlive(); ka > 0 && ka < wait {
			next, wait = doProbe, ka
		}
		timer.Reset(wait)
	}
	for {
		select {
		case <-ctx.Done():
			if bound {
				r.unregister()
			}
			set(Registration{State: Unregistered})
			return nil
		case <-r.agent.stopped:
			set(Registration{State: Failed, Detail: errStopped.Error()})
			return errStopped
		case <-timer.C:
		}
		if next == doProbe {
			err := r.probe(ctx)
			switch {
			case ctx.Err() != nil:
				continue // to ctx.Done
			case err == nil:
				schedule()
				continue
			}
			if errors.Is(err, errReconnected) {
				r.log.Info("new connection to the registrar: registering again")
			} else {
				r.log.Info("keep-alive failed: registering again", "err", err)
				set(Registration{State: Failed, Detail: err.Error(), Unreachable: IsUnreachable(err), NextAttempt: time.Now()})
			}
		}
		granted, err := r.register1(ctx, r.acc.expires())
		switch {
		case ctx.Err() != nil:
			// Stopped while registering: the registrar may have bound us
			// all the same, so the loop unregisters, unless no REGISTER
			// went out (the hop's name did not resolve).
			bound = bound || r.client != nil
		case err != nil:
			failures++
			d := retryDelay(failures)
			next = doRegister
			set(Registration{State: Failed, Detail: err.Error(), Unreachable: IsUnreachable(err), NextAttempt: time.Now().Add(d)})
			timer.Reset(d)
		default:
			bound, failures = true, 0
			now := time.Now()
			refreshAt = now.Add(max(granted/2, minRefresh))
			set(Registration{State: Registered, Expires: now.Add(granted), NextAttempt: refreshAt})
			schedule()
		}
	}
}

// retryDelay returns the wait after the nth failure in a row: 1 s doubling
// up to 60 s, each drawn uniformly from its upper half so that many
// appliances restarted together do not retry in step.
func retryDelay(failures int) time.Duration {
	d := retryMax
	if failures <= 7 {
		d = min(retryMin<<(failures-1), retryMax)
	}
	return d/2 + rand.N(d/2+1)
}

// probeTimeout bounds one keep-alive: no longer than the interval, since
// the next one is due then, and within [1 s, 5 s] so that retransmissions
// get their chance and a dead server is noticed soon.
func probeTimeout(interval time.Duration) time.Duration {
	return min(max(interval, time.Second), 5*time.Second)
}

// probe sends one OPTIONS keep-alive to the registrar (RFC 3261 section
// 11) and returns an error if nothing answers: any response, even an
// error status, shows the server alive.
func (r *registrar) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(r.acc.keepAlive()))
	defer cancel()
	uri := registrarURI(r.acc)
	req := sipmsg.NewRequest(sipmsg.OPTIONS, uri)
	from := &sipmsg.FromHeader{Address: r.acc.aorURI(), Params: sipmsg.NewParams()}
	from.Params.Add("tag", newToken())
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", Host: r.acc.Domain}})
	callID := sipmsg.CallIDHeader(newToken())
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.OPTIONS})
	if r.route != nil {
		route := *r.route
		req.AppendHeader(&route)
	}
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	if ua := r.agent.userAgent; ua != "" {
		req.AppendHeader(sipmsg.NewHeader("User-Agent", ua))
	}
	req.SetTransport(r.acc.sipTransport())
	var port int
	if r.acc.stream() {
		var err error
		if port, err = r.agent.streamPort(ctx, r.client, req); err != nil {
			return fmt.Errorf("no answer from %s: %w", r.hop, err)
		}
	}
	res, err := r.client.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return noAnswer("no answer from " + r.hop)
		}
		if lerr := lookupError(hopHost(r.hop), err); lerr != err {
			return lerr
		}
		return fmt.Errorf("no answer from %s: %w", r.hop, err)
	}
	r.log.Debug("keep-alive answered", "status", res.StatusCode)
	if r.acc.stream() && port != r.contact.Address.Port {
		return errReconnected
	}
	return nil
}

// errReconnected is what a keep-alive on TCP or TLS returns when it went
// out on a new connection: the server reaches us only over the one our
// binding names, so we register again on the new one.
var errReconnected = errors.New("the connection to the registrar was replaced")

// unregister removes our binding (RFC 3261 section 10.2.2), bounded by
// unregisterTimeout, if the agent still runs.
func (r *registrar) unregister() {
	select {
	case <-r.agent.stopped:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
	defer cancel()
	if _, err := r.register1(ctx, 0); err != nil {
		r.log.Warn("unregister", "err", err)
	}
}

// register1 makes one REGISTER attempt asking for expires (0 unregisters)
// and returns the lifetime the registrar granted.
func (r *registrar) register1(ctx context.Context, expires time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	if err := r.connect(ctx); err != nil {
		return 0, err
	}
	if expires > 0 {
		expires = max(expires, r.minExpires)
	}
	res, err := r.send(ctx, expires)
	if err == nil && res.StatusCode == sipmsg.StatusIntervalToBrief && expires > 0 {
		// RFC 3261 section 10.2.8: ask again, for at least Min-Expires.
		if least, ok := headerSeconds(res, "Min-Expires"); ok && least > expires {
			r.minExpires, expires = least, least
			res, err = r.send(ctx, expires)
		}
	}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return 0, noAnswer(fmt.Sprintf("no answer from %s within %v", r.hop, registerTimeout))
	case err != nil:
		return 0, lookupError(hopHost(r.hop), err)
	case !res.IsSuccess():
		return 0, &statusError{status: res.StatusCode, reason: res.Reason}
	}
	if expires == 0 {
		return 0, nil
	}
	granted := r.granted(res, expires)
	if granted <= 0 {
		return 0, fmt.Errorf("%d %s without a lifetime for our contact", res.StatusCode, res.Reason)
	}
	return granted, nil
}

// send sends one REGISTER and answers its 401/407 challenges.
func (r *registrar) send(ctx context.Context, expires time.Duration) (*sipmsg.Response, error) {
	req := r.request(expires)
	if r.acc.stream() && expires > 0 {
		// The Contact names the connection's port, which may be new. An
		// unregistration names the one registered.
		port, err := r.agent.streamPort(ctx, r.client, req)
		if err != nil {
			return nil, err
		}
		r.contact.Address.Port = port
		req.Contact().Address.Port = port
	}
	res, err := r.client.Do(ctx, req)
	for challenges := 0; err == nil && challenges < maxChallenges && isChallenge(res); challenges++ {
		if challenges > 0 && !staleNonce(res) {
			break
		}
		// DoDigestAuth takes the realm from the challenge, removes the Via
		// (a new branch: the same one would be answered from the server
		// transaction's cache) and increments the CSeq.
		res, err = r.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.acc.authUser(), Password: r.acc.Password})
	}
	if seq := req.CSeq(); seq != nil {
		r.cseq = seq.SeqNo
	}
	return res, err
}

// request builds the next REGISTER: the Call-ID, From tag and Contact of
// the earlier ones, the next CSeq, no Via (sipgo adds one with a new
// branch).
func (r *registrar) request(expires time.Duration) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.REGISTER, registrarURI(r.acc))
	from := &sipmsg.FromHeader{Address: r.acc.aorURI(), Params: sipmsg.NewParams()}
	from.Params.Add("tag", r.fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: r.acc.aorURI()})
	callID := r.callID
	req.AppendHeader(&callID)
	r.cseq++
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: r.cseq, MethodName: sipmsg.REGISTER})
	contact := r.contact
	req.AppendHeader(&contact)
	if r.route != nil {
		route := *r.route
		req.AppendHeader(&route)
	}
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	exp := sipmsg.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	if ua := r.agent.userAgent; ua != "" {
		req.AppendHeader(sipmsg.NewHeader("User-Agent", ua))
	}
	req.SetTransport(r.acc.sipTransport())
	return req
}

// granted returns the lifetime the registrar gave our contact (RFC 3261
// section 10.2.4): the expires parameter of our Contact in the 200, else
// its Expires header, else what we asked for.
func (r *registrar) granted(res *sipmsg.Response, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sipmsg.ContactHeader)
		if !ok || !sameContact(c.Address, r.contact.Address) {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				return time.Duration(n) * time.Second
			}
		}
	}
	if d, ok := headerSeconds(res, "Expires"); ok {
		return d
	}
	return asked
}

// headerSeconds reads a header holding a number of seconds.
func headerSeconds(res *sipmsg.Response, name string) (time.Duration, bool) {
	h := res.GetHeader(name)
	if h == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// sameContact compares the parts of two contact URIs that we set.
func sameContact(a, b sipmsg.Uri) bool {
	if a.User != b.User || a.Port != b.Port {
		return false
	}
	ha, errA := netip.ParseAddr(a.Host)
	hb, errB := netip.ParseAddr(b.Host)
	if errA == nil && errB == nil {
		return ha == hb
	}
	return strings.EqualFold(a.Host, b.Host)
}

func isChallenge(res *sipmsg.Response) bool {
	return res.StatusCode == sipmsg.StatusUnauthorized || res.StatusCode == sipmsg.StatusProxyAuthRequired
}

// staleNonce reports whether a challenge says our credentials were right
// but the nonce had expired (RFC 7616 section 3.3), so that a second
// attempt makes sense.
func staleNonce(res *sipmsg.Response) bool {
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		if h := res.GetHeader(name); h != nil && strings.Contains(strings.ToLower(h.Value()), "stale=true") {
			return true
		}
	}
	return false
}
