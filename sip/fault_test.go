package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"partyline/sip/peertest"
	"partyline/sip/peertest/faultproxy"
)

// all returns every report so far and when each was made.
func (r *recorder) all() ([]Registration, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Registration(nil), r.regs...), append([]time.Time(nil), r.at...)
}

// A failure is the report of a REGISTER attempt that failed (Failed, with a retry after
// it) and when it was made.
type failure struct {
	reg Registration
	at  time.Time
}

// registerFailures returns the failures among regs, reported at at.
func registerFailures(regs []Registration, at []time.Time) []failure {
	var failed []failure
	for i, reg := range regs {
		if reg.State == Failed && reg.NextAttempt.After(at[i]) {
			failed = append(failed, failure{reg, at[i]})
		}
	}
	return failed
}

// TestRegistrarUnreachableThenBack cuts the registrar off (every datagram either way is
// dropped) under a registered account: the keep-alive notices, the account shows Failed
// with why and when it tries again, each retry waits longer than the one before it could
// at most, and once the registrar is reachable again the next attempt registers, without
// another failure in between.
func TestRegistrarUnreachableThenBack(t *testing.T) {
	t.Parallel()
	k := startRegistrar(t)
	p := faultproxy.Start(t, k.Addr(), 1)
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: p.Addr().String(), Expires: time.Hour, KeepAlive: 200 * time.Millisecond}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "Registered reported", failsafe, func() bool { return rec.last().State == Registered })

	p.SetBoth(faultproxy.Fault{Blackhole: true})
	// Two failed REGISTER attempts, registerTimeout each, then the registrar is back.
	var failed []failure
	waitFor(t, "two failed REGISTER attempts", failsafe+2*registerTimeout, func() bool {
		failed = registerFailures(rec.all())
		return len(failed) >= 2
	})
	want := "no answer from " + p.Addr().String()
	for i, f := range failed[:2] {
		if !strings.Contains(f.reg.Detail, want) || !f.reg.Unreachable {
			t.Errorf("failure %d: Detail %q, unreachable %v; want it to say %q, unreachable", i+1, f.reg.Detail, f.reg.Unreachable, want)
		}
		// The nth failure in a row waits at most retryMin doubled n-1 times.
		if wait, most := f.reg.NextAttempt.Sub(f.at), retryMin<<i; wait > most {
			t.Errorf("failure %d: retry %v after it, want at most %v", i+1, wait, most)
		}
	}
	if failed[1].at.Before(failed[0].reg.NextAttempt) {
		t.Errorf("the second attempt failed at %v, before it was due at %v", failed[1].at, failed[0].reg.NextAttempt)
	}
	lifted := len(rec.states())
	last := failed[1].reg.NextAttempt
	p.SetBoth(faultproxy.Fault{})

	// Recovery within one backoff step: the attempt due at last registers.
	waitFor(t, "registered again", failsafe, func() bool { return rec.last().State == Registered && k.Registered(testUser) })
	regs, at := rec.all()
	for i, reg := range regs[lifted:] {
		if reg.State != Registered {
			t.Errorf("after the registrar came back: %v (%s), want Registered at the next attempt", reg.State, reg.Detail)
		}
		if at[lifted+i].Before(last) {
			t.Errorf("registered at %v, before the attempt due at %v: the backoff was not kept", at[lifted+i], last)
		}
	}
	dropped := p.Counts(faultproxy.Up).Dropped
	if dropped < 2 {
		t.Errorf("the proxy dropped %d datagrams toward the registrar, want the keep-alive and the REGISTERs", dropped)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
}

// TestSignallingLoss drops a fifth of the SIP datagrams either way between the agent and
// Kamailio (seeded, so that the same datagrams are lost each run, the first REGISTER among
// them): the registration, the INVITE (through Kamailio to SIPp) and the BYE retransmit and
// complete, and SIPp sees one call, not two.
func TestSignallingLoss(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioEcho)
	p := faultproxy.Start(t, r.kam.Addr(), lossSeed)
	p.SetBoth(faultproxy.Fault{Loss: 0.2})
	r.acc.Proxy = p.Addr().String()
	r.acc.KeepAlive = -1

	rec := &recorder{}
	stopRegistering := keepRegistered(t, r.agent, r.acc, rec)
	waitFor(t, "Registered reported", failsafe, func() bool { return rec.last().State == Registered })

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err != nil {
		t.Fatalf("Join through 20 %% loss: %v", err)
	}
	if got := call.Media().Remote; got != r.sipp.MediaAddr() {
		t.Errorf("media to %v, want SIPp's %v", got, r.sipp.MediaAddr())
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup through 20 %% loss: %v", err)
	}
	r.waitSIPp(t)

	// One call: every INVITE SIPp got is the call's, retransmitted or not.
	for _, inv := range r.sipp.Received("INVITE ") {
		if !strings.Contains(inv, "Call-ID: "+call.ID()) {
			t.Errorf("SIPp got an INVITE of another call than %s:\n%s", call.ID(), inv)
		}
	}
	if err := stopRegistering(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	up, down := p.Counts(faultproxy.Up), p.Counts(faultproxy.Down)
	t.Logf("datagrams up %+v, down %+v", up, down)
	if up.Dropped == 0 || down.Dropped == 0 {
		t.Errorf("the proxy dropped %d up and %d down, want some each way: the test proves nothing", up.Dropped, down.Dropped)
	}
}

// lossSeed is a seed with which 20 % loss drops datagrams early both ways: among the
// first few up (the first REGISTER, the third and the sixth datagram) and down (the first,
// fourth and sixth).
const lossSeed = 29
