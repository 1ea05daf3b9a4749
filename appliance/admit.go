package appliance

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"partyline/appliance/settings"

	"partyline/appliance/callin"
	"partyline/appliance/legs"
	"partyline/sip"
)

const (
	// digestRealm is the realm of the digest challenge a bridge sends its callers.
	digestRealm = "partyline"
	// busyRetryAfter is the Retry-After of the 503 a caller gets past the limits.
	busyRetryAfter = 30 * time.Second
	// proxyLookupTimeout bounds the look-up of a proxy's host name while a call waits.
	proxyLookupTimeout = 2 * time.Second
	// proxyLookupTTL is how long a looked-up proxy address is used.
	proxyLookupTTL = time.Minute
	// generatedCallerPrefix starts the generated identity of an untrusted caller on a bridge
	// with no identity prefix of its own.
	generatedCallerPrefix = "caller"
)

// An admission is an incoming call that may be bridged: the settings it was judged by,
// what it joins as, and its place under the limits, to give back when it ends.
type admission struct {
	in      *sip.Incoming
	bridge  string // the bridge's ID
	plan    legs.Plan
	release func()
}

// admit judges an incoming call against the settings before anything is done for it: the
// bridge it dialled, who may call that bridge, the identity the caller may present and
// the limits on calls at once. It answers a call it does not admit itself (404, 401, 403
// or 503) and returns false.
func (q *incomingQueue) admit(set settings.Settings, in *sip.Incoming) (*admission, bool) {
	log := q.log.With("call", in.ID(), "from", in.From(), "source", in.Source())
	br, found := findBridge(set, in)
	if !found {
		log.Info("incoming call refused: no bridge dialled", "user", in.User())
		reject(in, 404, "Not Found", log)
		return nil, false
	}
	log = log.With("bridge", br.ID)
	rules := callin.Rules{Networks: br.Networks(), Proxy: br.AllowProxy, Digest: br.AuthUser != ""}
	call := callin.Call{Source: in.Source().Addr()}
	if rules.Proxy {
		call.FromProxy = q.proxies.isProxy(set, br.Account, call.Source)
	}
	if rules.Digest {
		call.Digest = q.guard.Check(in, br.AuthUser, br.AuthPassword)
	}
	verdict := callin.Decide(rules, call)
	switch verdict {
	case callin.Challenge, callin.ChallengeStale:
		if err := q.guard.Challenge(in, verdict == callin.ChallengeStale); err != nil {
			log.Debug("challenge the caller", "err", err)
		}
		return nil, false
	case callin.Refuse:
		reason := "Forbidden"
		if call.Digest == sip.DigestWrong {
			reason = "Forbidden: wrong credentials"
		}
		log.Warn("incoming call refused: not allowed to call the bridge", "credentials", call.Digest, "open", rules.Open())
		reject(in, 403, reason, log)
		return nil, false
	}
	trusted := verdict == callin.AdmitTrusted && !ourAddress(set, in.From())
	plan, status, reason := planBridge(set, br, in, trusted)
	if status != 0 {
		log.Info("incoming call refused", "status", status, "reason", reason, "trusted", trusted)
		reject(in, status, reason, log)
		return nil, false
	}
	release, ok := q.limits.Acquire(br.ID, br.Calls(), set.SIP.BridgedCalls())
	if !ok {
		perBridge, total := q.limits.InUse(br.ID)
		log.Warn("incoming call refused: too many bridged calls", "bridge_calls", perBridge, "total", total)
		if err := in.RejectRetryAfter(503, "Service Unavailable: too many bridged calls", busyRetryAfter); err != nil {
			log.Debug("refuse incoming call", "err", err)
		}
		return nil, false
	}
	log.Info("incoming call admitted", "verdict", verdict, "identity", plan.Identity.Mode, "trusted", trusted)
	return &admission{in: in, bridge: br.ID, plan: plan, release: release}, true
}

// findBridge finds the bridge that in dialled, by its Request-URI user or else its To
// user.
func findBridge(set settings.Settings, in *sip.Incoming) (settings.Bridge, bool) {
	for _, user := range []string{in.User(), in.ToUser()} {
		for _, br := range set.Bridges {
			if user != "" && br.User == user {
				return br, true
			}
		}
	}
	return settings.Bridge{}, false
}

// ourAddress reports whether uri is the address of one of our accounts or the identity
// a handset of ours presents: a caller claiming it is not who it says.
func ourAddress(set settings.Settings, uri string) bool {
	claimed, err := sip.ParseURI(uri)
	if err != nil {
		return true // nothing we can compare: not to be presented as is
	}
	same := func(s string) bool {
		u, err := sip.ParseURI(s)
		return err == nil && u.User == claimed.User && strings.EqualFold(u.Host, claimed.Host)
	}
	for _, a := range set.Accounts {
		if same("sip:" + a.User + "@" + a.Domain) {
			return true
		}
	}
	for _, h := range set.Handsets {
		if h.IdentityURI != "" && same(h.IdentityURI) {
			return true
		}
	}
	return false
}

// proxyAddrs knows the addresses of the accounts' registrars and proxies, to tell the
// calls they relay. Host names are looked up when a call asks, and kept for
// proxyLookupTTL.
type proxyAddrs struct {
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)

	mu    sync.Mutex
	cache map[string]proxyLookup
}

type proxyLookup struct {
	addrs   []netip.Addr
	expires time.Time
}

// newProxyAddrs returns proxyAddrs that look names up with resolver (nil: the system's).
func newProxyAddrs(resolver *net.Resolver) *proxyAddrs {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &proxyAddrs{
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return resolver.LookupNetIP(ctx, "ip", host)
		},
		cache: map[string]proxyLookup{},
	}
}

// isProxy reports whether src is an address of the proxy of account (its Proxy, else its
// Domain). A host name that does not resolve matches nothing.
func (p *proxyAddrs) isProxy(set settings.Settings, account string, src netip.Addr) bool {
	acc, ok := findAccount(set, account)
	if !ok {
		return false
	}
	host := acc.Proxy
	if host == "" {
		host = acc.Domain
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	src = src.Unmap()
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap() == src
	}
	for _, a := range p.resolve(host) {
		if a.Unmap() == src {
			return true
		}
	}
	return false
}

// resolve returns the addresses of host, from the cache while they are fresh.
func (p *proxyAddrs) resolve(host string) []netip.Addr {
	now := time.Now()
	p.mu.Lock()
	c, ok := p.cache[host]
	p.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.addrs
	}
	ctx, cancel := context.WithTimeout(context.Background(), proxyLookupTimeout)
	defer cancel()
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		addrs = nil // tried again after the TTL, not at every call
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) > 64 {
		clear(p.cache) // the accounts' hosts are few; anything more is stale
	}
	p.cache[host] = proxyLookup{addrs: addrs, expires: now.Add(proxyLookupTTL)}
	return addrs
}
