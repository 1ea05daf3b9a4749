package sip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/sip/peertest"
)

const (
	testDomain   = "partyline.test"
	testRealm    = "auth.partyline.test" // differs from the domain: the realm must come from the challenge
	testUser     = "alice"
	testPassword = "s3cret-Pa55"
)

// recorder collects the Registrations KeepRegistered reports.
type recorder struct {
	mu   sync.Mutex // guards following
	regs []Registration
	at   []time.Time // when each of regs was reported
}

func (r *recorder) report(reg Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.regs = append(r.regs, reg)
	r.at = append(r.at, time.Now())
}

func (r *recorder) last() Registration {
	reg, _ := r.lastAt()
	return reg
}

// lastAt returns the last report and when it was made: the times a report names are
// checked against that, not against when the test got round to look.
func (r *recorder) lastAt() (Registration, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.regs) == 0 {
		return Registration{State: -1}, time.Time{}
	}
	return r.regs[len(r.regs)-1], r.at[len(r.at)-1]
}

func (r *recorder) states() []RegState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []RegState
	for _, reg := range r.regs {
		s = append(s, reg.State)
	}
	return s
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keepRegistered runs KeepRegistered until the returned stop is called;
// stop returns what KeepRegistered returned.
func keepRegistered(t *testing.T, a *Agent, acc Account, rec *recorder) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.KeepRegistered(ctx, acc, rec.report) }()
	stopped := false
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(failsafe):
				t.Fatalf("KeepRegistered did not return within %v of its context ending", failsafe)
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func startRegistrar(t *testing.T) *peertest.Kamailio {
	return peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: testDomain,
		Realm:  testRealm,
		Users:  map[string]string{testUser: testPassword},
	})
}

func TestKeepRegistered(t *testing.T) {
	t.Parallel()
	k := startRegistrar(t)
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.Addr().String(), Expires: 2 * time.Second}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)

	waitFor(t, "Registered reported", failsafe, func() bool { return rec.last().State == Registered })
	if got := rec.states()[0]; got != Registering {
		t.Errorf("first report %v, want %v", got, Registering)
	}
	if reg, at := rec.lastAt(); reg.Expires.Sub(at) <= 0 || reg.Expires.Sub(at) > 3*time.Second {
		t.Errorf("Expires %v after the report, want about 2 s", reg.Expires.Sub(at))
	}
	if !k.Registered(testUser) {
		t.Errorf("Kamailio has no binding for %s", testUser)
	}
	// Refreshed at half the granted 2 s.
	waitFor(t, "a refresh", failsafe, func() bool { return k.Registrations(testUser) >= 2 })

	// A restarted registrar forgets the binding; the next refresh restores it.
	k.Restart(t)
	waitFor(t, "registration after the registrar restarted", failsafe, func() bool { return k.Registered(testUser) })

	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	if got := rec.last().State; got != Unregistered {
		t.Errorf("last report %v, want %v", got, Unregistered)
	}
	if k.Registered(testUser) {
		t.Errorf("Kamailio still has a binding for %s after unregistering", testUser)
	}
}

func TestKeepRegisteredWrongPassword(t *testing.T) {
	t.Parallel()
	k := startRegistrar(t)
	a := startAgent(t)
	acc := Account{User: testUser, Password: "wrong", Domain: testDomain, Proxy: k.Addr().String()}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "Failed reported", failsafe, func() bool { return rec.last().State == Failed })
	if got := rec.last(); !strings.Contains(got.Detail, "403") || got.Unreachable {
		t.Errorf("Detail = %q, unreachable %v; want the 403 of the registrar, which is there and refuses", got.Detail, got.Unreachable)
	}
	// The first retry is due after 0.5 to 1 s.
	reg, at := rec.lastAt()
	if next := reg.NextAttempt.Sub(at); next > time.Second {
		t.Errorf("NextAttempt %v after the report, want at most 1 s", next)
	}
	if k.Registered(testUser) {
		t.Errorf("Kamailio has a binding for %s with a wrong password", testUser)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
}

func TestKeepRegisteredNoRegistrar(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	// A socket that never answers: every attempt waits, and so does the
	// unregistration on the way out, within its bound.
	dead := newRawPeer(t, a).conn.LocalAddr().String()
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: dead}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	if d := time.Since(start); d > stopBound {
		t.Errorf("stopping took %v, want about %v, its bound, and never a transaction's 32 s", d, unregisterTimeout)
	}
	if got := rec.last().State; got != Unregistered {
		t.Errorf("last report %v, want %v", got, Unregistered)
	}
}

func TestRetryDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: 60 * time.Second, 50: 60 * time.Second} {
		for range 20 {
			if got := retryDelay(failures); got < want/2 || got > want {
				t.Fatalf("retryDelay(%d) = %v, want within [%v, %v]", failures, got, want/2, want)
			}
		}
	}
}

// fakeRegistrar answers each REGISTER arriving on conn with what answer
// returns for it, until conn is closed.
func fakeRegistrar(t *testing.T, conn *net.UDPConn, answer func(req string) (status, extra string)) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			if !strings.HasPrefix(req, "REGISTER ") {
				continue
			}
			status, extra := answer(req)
			res := "SIP/2.0 " + status + "\r\n"
			for line := range strings.SplitSeq(req, "\r\n") {
				for _, h := range []string{"Via:", "From:", "Call-ID:", "CSeq:"} {
					if strings.HasPrefix(line, h) {
						res += line + "\r\n"
					}
				}
				if strings.HasPrefix(line, "To:") {
					res += line + ";tag=registrar\r\n"
				}
			}
			res += extra + "Content-Length: 0\r\n\r\n"
			if _, err := conn.WriteToUDP([]byte(res), from); err != nil {
				return
			}
		}
	}()
}

func TestKeepRegisteredIntervalTooBrief(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	conn := newRawPeer(t, a).conn
	var mu sync.Mutex
	var asked []string
	fakeRegistrar(t, conn, func(req string) (string, string) {
		_, rest, _ := strings.Cut(req, "\r\nExpires: ")
		exp, _, _ := strings.Cut(rest, "\r\n")
		mu.Lock()
		asked = append(asked, exp)
		mu.Unlock()
		if n, _ := strconv.Atoi(exp); n != 0 && n < 5 {
			return "423 Interval Too Brief", "Min-Expires: 5\r\n"
		}
		return "200 OK", "Expires: " + exp + "\r\n"
	})
	acc := Account{User: testUser, Domain: testDomain, Proxy: conn.LocalAddr().String(), Expires: 2 * time.Second}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "Registered reported", failsafe, func() bool { return rec.last().State == Registered })
	reg, at := rec.lastAt()
	if left := reg.Expires.Sub(at); left < 4*time.Second || left > 5*time.Second {
		t.Errorf("binding runs out in %v, want the 5 s of Min-Expires", left)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(asked, ","); got != "2,5,0" {
		t.Errorf("Expires asked for: %s, want 2,5,0", got)
	}
}

// TestKeepAliveNoticesDeadServer stops the registrar under a registered
// account: the next keep-alive goes unanswered, the registration fails
// saying so, and once the registrar is back the account registers again
// by itself.
func TestKeepAliveNoticesDeadServer(t *testing.T) {
	t.Parallel()
	k := startRegistrar(t)
	a := startAgent(t)
	// A long lifetime: only the keep-alive can notice.
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.Addr().String(), Expires: time.Hour, KeepAlive: 200 * time.Millisecond}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "Registered reported", failsafe, func() bool { return rec.last().State == Registered })
	if reg := rec.last(); time.Until(reg.NextAttempt) < 20*time.Minute {
		t.Errorf("registered: next attempt %v, want the refresh at half of an hour", time.Until(reg.NextAttempt))
	}
	k.Stop()
	want := "no answer from " + k.Addr().String()
	waitFor(t, "the dead registrar noticed", failsafe, func() bool {
		reg := rec.last()
		return reg.State == Failed && reg.Detail == want
	})
	if !rec.last().Unreachable {
		t.Errorf("%+v: want the unanswered keep-alive to say that the registrar cannot be reached", rec.last())
	}
	k.Start(t)
	waitFor(t, "registered again", failsafe, func() bool { return rec.last().State == Registered && k.Registered(testUser) })
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
}

// TestRefreshFailureRetries has a refresh refused: the registration fails
// with the answer and the time of the retry, which registers again.
func TestRefreshFailureRetries(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	conn := newRawPeer(t, a).conn
	var mu sync.Mutex
	n := 0
	fakeRegistrar(t, conn, func(req string) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 2 {
			return "500 Server Internal Error", ""
		}
		return "200 OK", "Expires: 1\r\n"
	})
	acc := Account{User: testUser, Domain: testDomain, Proxy: conn.LocalAddr().String(), Expires: time.Second, KeepAlive: -1}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "registered after the failed refresh", failsafe, func() bool {
		s := rec.states()
		return len(s) >= 4 && s[len(s)-1] == Registered
	})
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var failed *Registration
	for i, reg := range rec.regs {
		if reg.State == Failed {
			failed = &rec.regs[i]
			break
		}
	}
	if failed == nil || failed.Detail != "500 Server Internal Error" {
		t.Fatalf("reports %+v, want a Failed with 500 Server Internal Error", rec.regs)
	}
	if failed.NextAttempt.IsZero() {
		t.Errorf("Failed without NextAttempt: %+v", *failed)
	}
	if !failed.Unreachable {
		t.Errorf("%+v: want a 500 to say that the registrar cannot be reached", *failed)
	}
}
