// Package callin decides who may call in, and how many at once. A bridge (or, later, a
// handset) holds Rules: the networks its callers may come from, whether it asks them for
// digest credentials, and whether it takes the calls its account's own proxy relays. Decide
// turns what is known of one incoming call into a Verdict before any work is done for it,
// and a Limiter bounds the calls in progress. It does no I/O: the appliance tells it where
// a call came from and what its credentials proved.
package callin

import (
	"net/netip"
	"slices"
	"sync"

	"partyline/sip"
)

// Rules say who may call. With none of them set, nobody may: calls in are closed by
// default.
type Rules struct {
	// Networks admit callers whose INVITE comes from one of these prefixes. Anybody there
	// can write any From header, so their identity is not trusted.
	Networks []netip.Prefix
	// Digest admits callers who answer a digest challenge with the bridge's credentials.
	// They proved that they hold the credentials: their identity is trusted.
	Digest bool
	// Proxy admits calls relayed by the registrar or outbound proxy of the bridge's account,
	// which authenticated the caller: their identity is trusted.
	Proxy bool
}

// Open reports whether the rules admit anybody at all.
func (r Rules) Open() bool { return len(r.Networks) > 0 || r.Digest || r.Proxy }

// A Call is what is known of an incoming call before anything is done for it.
type Call struct {
	Source    netip.Addr        // where its INVITE came from
	FromProxy bool              // Source is the account's registrar or proxy
	Digest    sip.DigestVerdict // what its credentials proved, if the rules ask for some
}

// A Verdict is what to do with an incoming call.
type Verdict int

// The verdicts of Decide.
const (
	// Refuse the call: 403, before anything else happens.
	Refuse Verdict = iota
	// Challenge the caller for digest credentials (401).
	Challenge
	// ChallengeStale: the caller's answer was right but late; challenge again with
	// stale=true, so that it answers without asking its user.
	ChallengeStale
	// AdmitTrusted: the caller may call in as who it says it is.
	AdmitTrusted
	// AdmitUntrusted: the caller may call in, but its identity is not proved.
	AdmitUntrusted
)

func (v Verdict) String() string {
	return [...]string{"refuse", "challenge", "challenge (stale)", "admit (trusted)", "admit (untrusted)"}[v]
}

// Decide applies r to c. A trusted way in wins over an untrusted one; a caller from an
// admitted network who also answered the challenge rightly is trusted. Wrong credentials
// are refused rather than challenged again, so that guessing costs a call per guess.
func Decide(r Rules, c Call) Verdict {
	switch {
	case r.Proxy && c.FromProxy:
		return AdmitTrusted
	case r.Digest && c.Digest == sip.DigestValid:
		return AdmitTrusted
	case r.Digest && c.Digest == sip.DigestStale:
		return ChallengeStale
	case slices.ContainsFunc(r.Networks, func(p netip.Prefix) bool { return p.Contains(c.Source.Unmap()) }):
		return AdmitUntrusted
	case r.Digest && c.Digest == sip.DigestMissing:
		return Challenge
	}
	return Refuse
}

// A Limiter bounds the calls in progress, per key (a bridge) and in total. Its zero value
// is ready to use; it is safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	total int
	per   map[string]int
}

// Acquire takes a place for one more call under key, if key has fewer than perKey calls
// and all keys fewer than total. The returned release gives the place back; calling it
// more than once gives it back once.
func (l *Limiter) Acquire(key string, perKey, total int) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= total || l.per[key] >= perKey {
		return nil, false
	}
	if l.per == nil {
		l.per = map[string]int{}
	}
	l.total++
	l.per[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.per[key]--; l.per[key] == 0 {
				delete(l.per, key)
			}
		})
	}, true
}

// InUse returns the calls in progress under key and in total.
func (l *Limiter) InUse(key string) (perKey, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.per[key], l.total
}
