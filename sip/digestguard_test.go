package sip

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestDigestGuard has one of our agents call another whose guard challenges it: the
// caller answers the 401 with the account's password, and the guard tells a right
// password from a wrong one, a late answer from a fresh one, and another realm's
// credentials from none.
func TestDigestGuard(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		later    time.Duration // how long after the challenge the guard checks
		want     DigestVerdict
	}{
		{"right password", "s3cret", 0, DigestValid},
		{"wrong password", "guess", 0, DigestWrong},
		{"late answer", "s3cret", nonceLifetime + time.Minute, DigestStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller := startAgent(t)
			callee, calls := startCallee(t)
			g := NewDigestGuard("lobby")
			joined := make(chan joinResult, 1)
			go func() {
				c, err := caller.Join(t.Context(), JoinRequest{
					Target:     fmt.Sprintf("sip:lobby@%v", callee.Addr()),
					Account:    Account{User: "carol", Domain: "127.0.0.1", Password: tc.password},
					LocalMedia: netip.MustParseAddrPort("127.0.0.1:40000"),
				})
				joined <- joinResult{c, err}
			}()
			first := nextIncoming(t, calls)
			if got := g.Check(first, "carol", "s3cret"); got != DigestMissing {
				t.Fatalf("first INVITE: Check = %v, want %v", got, DigestMissing)
			}
			if src := first.Source(); src.Addr() != netip.MustParseAddr("127.0.0.1") || src.Port() == 0 {
				t.Errorf("Source = %v, want the caller's 127.0.0.1 port", src)
			}
			if err := g.Challenge(first, false); err != nil {
				t.Fatalf("Challenge: %v", err)
			}
			second := nextIncoming(t, calls)
			if second.ID() != first.ID() {
				t.Errorf("the answer to the challenge has Call-ID %s, want %s", second.ID(), first.ID())
			}
			g.now = func() time.Time { return time.Now().Add(tc.later) }
			if got := g.Check(second, "carol", "s3cret"); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
			if got := g.Check(second, "dave", "s3cret"); got != DigestWrong {
				t.Errorf("Check for another user = %v, want %v", got, DigestWrong)
			}
			if got := NewDigestGuard("other").Check(second, "carol", "s3cret"); got != DigestMissing {
				t.Errorf("Check by a guard of another realm = %v, want %v", got, DigestMissing)
			}
			if err := second.Reject(403, "Forbidden"); err != nil {
				t.Fatalf("Reject: %v", err)
			}
			r := <-joined
			var je *JoinError
			if !errors.As(r.err, &je) || je.Status != 403 {
				t.Errorf("Join = %v, want 403", r.err)
			}
		})
	}
}

// TestDigestNonceBelongsToItsAddress checks that a nonce is good only from the address it
// was issued to, only from its guard, and only while it is young.
func TestDigestNonceBelongsToItsAddress(t *testing.T) {
	g := NewDigestGuard("lobby")
	now := time.Now()
	g.now = func() time.Time { return now }
	alice := netip.MustParseAddr("127.0.0.1")
	n := g.nonce(alice, now)
	for _, tc := range []struct {
		name      string
		g         *DigestGuard
		nonce     string
		addr      netip.Addr
		fresh, ok bool
	}{
		{"issued here", g, n, alice, true, true},
		{"v4-mapped form of the same address", g, n, netip.MustParseAddr("::ffff:127.0.0.1"), true, true},
		{"another address", g, n, netip.MustParseAddr("127.0.0.2"), false, false},
		{"another guard", NewDigestGuard("lobby"), n, alice, false, false},
		{"expired", g, g.nonce(alice, now.Add(-nonceLifetime-time.Second)), alice, false, true},
		{"garbage", g, "not-a-nonce", alice, false, false},
		{"another MAC", g, n[:len(n)-1] + otherChar(n[len(n)-1]), alice, false, false},
	} {
		fresh, ok := tc.g.checkNonce(tc.nonce, tc.addr)
		if fresh != tc.fresh || ok != tc.ok {
			t.Errorf("%s: checkNonce = fresh %v, ok %v; want %v, %v", tc.name, fresh, ok, tc.fresh, tc.ok)
		}
	}
}

// otherChar returns a base64url character other than c.
func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestRejectRetryAfter checks the 503 a caller past the limits gets on the wire: with
// Retry-After, in whole seconds.
func TestRejectRetryAfter(t *testing.T) {
	callee, calls := startCallee(t)
	p := newRawPeer(t, callee)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
	p.send(fmt.Sprintf("INVITE sip:bridge@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:peer@127.0.0.1>;tag=%s\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:peer@127.0.0.1:%d>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		p.to, p.port(), newToken(), newToken(), newToken(), p.port(), len(offer), offer))
	in := nextIncoming(t, calls)
	if err := in.RejectRetryAfter(503, "Service Unavailable: too many bridged calls", 30*time.Second); err != nil {
		t.Fatalf("RejectRetryAfter: %v", err)
	}
	res := p.final(30 * time.Second)
	if got := statusLine(res); got != "SIP/2.0 503 Service Unavailable: too many bridged calls" {
		t.Errorf("status line %q, want 503 naming the limit", got)
	}
	if !strings.Contains(res, "\r\nRetry-After: 30\r\n") {
		t.Errorf("the 503 has no Retry-After: 30:\n%s", res)
	}
}

// TestDigestNonceCarriesNoWallClock checks that a nonce's time is counted from its guard's
// start on the monotonic clock, not read from the wall clock: a step of the wall clock
// (NTP at boot) then neither expires every nonce out nor keeps old ones good.
func TestDigestNonceCarriesNoWallClock(t *testing.T) {
	g := NewDigestGuard("lobby")
	b, err := base64.RawURLEncoding.DecodeString(g.nonce(netip.MustParseAddr("127.0.0.1"), time.Now()))
	if err != nil || len(b) < 8 {
		t.Fatalf("nonce: %x, %v", b, err)
	}
	// The guard is younger than a minute; a Unix time would be decades.
	if stamp := time.Duration(binary.BigEndian.Uint64(b[:8])) * time.Millisecond; stamp < 0 || stamp > time.Minute {
		t.Errorf("the nonce's time is %v from the guard's start, want its age on the monotonic clock", stamp)
	}
}
