package callin

import (
	"net/netip"
	"sync"
	"testing"

	"partyline/sip"
)

func TestDecide(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	inLAN := netip.MustParseAddr("192.0.2.7")
	outside := netip.MustParseAddr("198.51.100.9")
	for _, tc := range []struct {
		name  string
		rules Rules
		call  Call
		want  Verdict
	}{
		{"no rules: closed", Rules{}, Call{Source: inLAN, FromProxy: true, Digest: sip.DigestValid}, Refuse},
		{"listed network", Rules{Networks: lan}, Call{Source: inLAN}, AdmitUntrusted},
		{"v4-mapped source in a listed network", Rules{Networks: lan}, Call{Source: netip.MustParseAddr("::ffff:192.0.2.7")}, AdmitUntrusted},
		{"network not listed", Rules{Networks: lan}, Call{Source: outside}, Refuse},
		{"proxy", Rules{Proxy: true}, Call{Source: outside, FromProxy: true}, AdmitTrusted},
		{"not the proxy", Rules{Proxy: true}, Call{Source: outside}, Refuse},
		{"proxy not admitted", Rules{Networks: lan}, Call{Source: outside, FromProxy: true}, Refuse},
		{"digest: first INVITE", Rules{Digest: true}, Call{Source: outside}, Challenge},
		{"digest: right answer", Rules{Digest: true}, Call{Source: outside, Digest: sip.DigestValid}, AdmitTrusted},
		{"digest: late answer", Rules{Digest: true}, Call{Source: outside, Digest: sip.DigestStale}, ChallengeStale},
		{"digest: wrong answer", Rules{Digest: true}, Call{Source: outside, Digest: sip.DigestWrong}, Refuse},
		{"digest not asked", Rules{Networks: lan}, Call{Source: outside, Digest: sip.DigestValid}, Refuse},
		{"listed network, no credentials", Rules{Networks: lan, Digest: true}, Call{Source: inLAN}, AdmitUntrusted},
		{"listed network, right credentials", Rules{Networks: lan, Digest: true}, Call{Source: inLAN, Digest: sip.DigestValid}, AdmitTrusted},
		{"listed network, wrong credentials", Rules{Networks: lan, Digest: true}, Call{Source: inLAN, Digest: sip.DigestWrong}, AdmitUntrusted},
	} {
		if got := Decide(tc.rules, tc.call); got != tc.want {
			t.Errorf("%s: Decide = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	var l Limiter
	a1, ok := l.Acquire("a", 2, 3)
	if !ok {
		t.Fatal("first call refused")
	}
	if _, ok := l.Acquire("a", 2, 3); !ok {
		t.Fatal("second call of a refused")
	}
	if _, ok := l.Acquire("a", 2, 3); ok {
		t.Fatal("third call of a admitted past its limit of 2")
	}
	b1, ok := l.Acquire("b", 2, 3)
	if !ok {
		t.Fatal("first call of b refused")
	}
	if _, ok := l.Acquire("c", 2, 3); ok {
		t.Fatal("a fourth call admitted past the total of 3")
	}
	a1()
	a1() // a second release gives nothing back
	if per, total := l.InUse("a"); per != 1 || total != 2 {
		t.Fatalf("after a release: a has %d, total %d; want 1, 2", per, total)
	}
	if _, ok := l.Acquire("c", 2, 3); !ok {
		t.Fatal("call of c refused after a place was given back")
	}
	b1()
	if per, _ := l.InUse("b"); per != 0 {
		t.Errorf("b has %d calls after its release, want 0", per)
	}
}

// TestLimiterConcurrent races many acquirers: never more than the limit hold a place.
func TestLimiterConcurrent(t *testing.T) {
	var l Limiter
	var mu sync.Mutex
	held, peak := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 50 {
				release, ok := l.Acquire("x", 3, 5)
				if !ok {
					continue
				}
				mu.Lock()
				held++
				peak = max(peak, held)
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	if peak > 3 {
		t.Errorf("%d calls held places at once, want at most 3", peak)
	}
	if per, total := l.InUse("x"); per != 0 || total != 0 {
		t.Errorf("after all releases: %d, %d in use; want 0, 0", per, total)
	}
}
