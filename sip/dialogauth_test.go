package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"partyline/sip/peertest"
)

// TestInDialogChallenge holds a call, sends DTMF in an INFO and hangs up
// through a Kamailio that challenges each of these requests with 407: each
// is sent once more with credentials and a new CSeq, and reaches SIPp
// once.
func TestInDialogChallenge(t *testing.T) {
	t.Parallel()
	r := startRigWith(t, peertest.ScenarioHeldInfo, func(c *peertest.KamailioConfig) { c.ChallengeInDialog = true })
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if err := call.Hold(ctx, true); err != nil {
		t.Fatalf("Hold(true): %v", err)
	}
	if got := call.Media().Direction; got != SendOnly {
		t.Errorf("held: Direction %v, want %v", got, SendOnly)
	}
	if err := call.SendInfoDTMF(ctx, '7', 0); err != nil {
		t.Fatalf("SendInfoDTMF: %v", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if err := call.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	r.waitSIPp(t)

	for _, m := range []string{"INVITE", "INFO", "BYE"} {
		if n := r.kam.InDialogChallenges(m); n != 1 {
			t.Errorf("Kamailio challenged %d in-dialog %ss, want 1", n, m)
		}
	}
	invites := r.sipp.Received("INVITE ")
	if len(invites) != 2 {
		t.Fatalf("SIPp received %d INVITEs, want 2:\n%s", len(invites), strings.Join(invites, "\n---\n"))
	}
	var n int
	if _, err := fmt.Sscan(cseqOf(invites[0]), &n); err != nil {
		t.Fatalf("CSeq of the INVITE %q: %v", cseqOf(invites[0]), err)
	}
	// Each challenged request took a number, its retry the next.
	for _, want := range []struct {
		prefix, cseq string
		got          []string
	}{
		{"INVITE ", fmt.Sprintf("%d INVITE", n+2), invites[1:]},
		{"ACK ", fmt.Sprintf("%d ACK", n+2), withCSeq(r.sipp.Received("ACK "), fmt.Sprintf("%d ACK", n+2))},
		{"INFO ", fmt.Sprintf("%d INFO", n+4), r.sipp.Received("INFO ")},
		{"BYE ", fmt.Sprintf("%d BYE", n+6), r.sipp.Received("BYE ")},
	} {
		if len(want.got) != 1 || cseqOf(want.got[0]) != want.cseq {
			t.Errorf("SIPp received %q requests %q, want one with CSeq %s", want.prefix, want.got, want.cseq)
		}
	}
	if len(invites) == 2 && !strings.Contains(invites[1], "a=sendonly") {
		t.Errorf("the re-INVITE does not hold:\n%s", invites[1])
	}
	if infos := r.sipp.Received("INFO "); len(infos) == 1 && !strings.Contains(infos[0], "Signal=7") {
		t.Errorf("the INFO lacks the digit:\n%s", infos[0])
	}
	// The ACKs of the 407s stayed with Kamailio: SIPp saw the INVITE's
	// and the re-INVITE's only.
	if acks := r.sipp.Received("ACK "); len(acks) != 2 {
		t.Errorf("SIPp received %d ACKs, want 2:\n%s", len(acks), strings.Join(acks, "\n---\n"))
	}
}

// TestInDialogChallengedAgain answers an INFO's 407 challenge with the
// account's credentials, gives up when challenged again, and answers a
// BYE's 401 challenge with credentials the far end can check.
func TestInDialogChallengedAgain(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	infoErr := make(chan error, 1)
	go func() { infoErr <- call.SendInfoDTMF(ctx, '1', 0) }()
	info := p.receive(t, "INFO ")
	p.send(p.response(info, "407 Proxy Authentication Required", "Proxy-Authenticate: "+fmt.Sprintf(digestChallenge, "n1")+"\r\n", ""))
	again := p.receive(t, "INFO ")
	checkDigest(t, again, "Proxy-Authorization", "n1")
	if cseqOf(again) == cseqOf(info) {
		t.Errorf("the INFO with credentials has the challenged one's CSeq %s", cseqOf(info))
	}
	p.send(p.response(again, "407 Proxy Authentication Required", "Proxy-Authenticate: "+fmt.Sprintf(digestChallenge, "n2")+"\r\n", ""))
	select {
	case err := <-infoErr:
		if !errors.Is(err, ErrChallengedAgain) || !strings.Contains(err.Error(), "INFO answered 407") {
			t.Errorf("SendInfoDTMF challenged twice = %v, want an INFO error wrapping %v", err, ErrChallengedAgain)
		}
	case <-time.After(failsafe):
		t.Fatal("SendInfoDTMF did not give up after the second challenge")
	}

	hungUp := make(chan error, 1)
	go func() { hungUp <- call.Hangup(ctx) }()
	bye := p.receive(t, "BYE ")
	p.send(p.response(bye, "401 Unauthorized", "WWW-Authenticate: "+fmt.Sprintf(digestChallenge, "n3")+"\r\n", ""))
	bye2 := p.receive(t, "BYE ")
	checkDigest(t, bye2, "Authorization", "n3")
	if header(bye2, "Proxy-Authorization") != "" {
		t.Errorf("the BYE carries Proxy-Authorization for a 401:\n%s", bye2)
	}
	p.send(p.response(bye2, "200 OK", "", ""))
	select {
	case err := <-hungUp:
		if err != nil {
			t.Errorf("Hangup after a 401 = %v, want nil", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Hangup did not return after the 200")
	}
	if err := call.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	var info1, bye1 int
	fmt.Sscan(cseqOf(info), &info1)
	fmt.Sscan(cseqOf(bye2), &bye1)
	if bye1 != info1+3 {
		t.Errorf("CSeqs: challenged INFO %d, BYE with credentials %d; want every request numbered on", info1, bye1)
	}
}

// digestChallenge is the challenge of the raw-peer tests, with a %s for the nonce.
const digestChallenge = `Digest realm="` + testRealm + `", nonce="%s", qop="auth", algorithm=MD5`

// checkDigest fails the test unless the credentials in header name of req answer
// digestChallenge with nonce for our test account.
func checkDigest(t *testing.T, req, name, nonce string) {
	t.Helper()
	cred, err := digest.ParseCredentials(header(req, name))
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, header(req, name), err, req)
	}
	ruri := strings.Fields(req)[1]
	c, err := digest.ParseChallenge(fmt.Sprintf(digestChallenge, nonce))
	if err != nil {
		t.Fatal(err)
	}
	want, err := digest.Digest(c, digest.Options{Method: strings.Fields(req)[0], URI: ruri, Username: testUser, Password: testPassword, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		t.Fatal(err)
	}
	if cred.Username != testUser || cred.Realm != testRealm || cred.Nonce != nonce || cred.URI != ruri || cred.Response != want.Response {
		t.Errorf("%s %q does not answer the challenge for %s with nonce %s", name, header(req, name), ruri, nonce)
	}
}

// TestInDialogStaleNonce answers a second challenge that says stale=true once more, with
// the new nonce, and succeeds; a third challenge, stale or not, is an error wrapping
// ErrChallengedAgain, so that a server that keeps saying stale is not answered forever.
func TestInDialogStaleNonce(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	stale := func(nonce string) string {
		return "Proxy-Authenticate: " + fmt.Sprintf(digestChallenge, nonce) + ", stale=true\r\n"
	}
	const fresh = "407 Proxy Authentication Required"

	infoErr := make(chan error, 1)
	go func() { infoErr <- call.SendInfoDTMF(ctx, '1', 0) }()
	info := p.receive(t, "INFO ")
	p.send(p.response(info, fresh, "Proxy-Authenticate: "+fmt.Sprintf(digestChallenge, "n1")+"\r\n", ""))
	withN1 := p.receive(t, "INFO ")
	checkDigest(t, withN1, "Proxy-Authorization", "n1")
	p.send(p.response(withN1, fresh, stale("n2"), ""))
	withN2 := p.receive(t, "INFO ")
	checkDigest(t, withN2, "Proxy-Authorization", "n2")
	if cseqOf(withN2) == cseqOf(withN1) {
		t.Errorf("the INFO answering the stale challenge has the previous one's CSeq %s", cseqOf(withN1))
	}
	if n := strings.Count(withN2, "Proxy-Authorization:"); n != 1 {
		t.Errorf("the INFO answering the stale challenge has %d Proxy-Authorization headers, want 1:\n%s", n, withN2)
	}
	p.send(p.response(withN2, "200 OK", "", ""))
	select {
	case err := <-infoErr:
		if err != nil {
			t.Errorf("SendInfoDTMF after a stale nonce = %v, want nil", err)
		}
	case <-time.After(failsafe):
		t.Fatal("SendInfoDTMF did not return after the 200")
	}

	go func() { infoErr <- call.SendInfoDTMF(ctx, '2', 0) }()
	info = p.receive(t, "INFO ")
	p.send(p.response(info, fresh, "Proxy-Authenticate: "+fmt.Sprintf(digestChallenge, "n3")+"\r\n", ""))
	p.send(p.response(p.receive(t, "INFO "), fresh, stale("n4"), ""))
	p.send(p.response(p.receive(t, "INFO "), fresh, stale("n5"), ""))
	select {
	case err := <-infoErr:
		if !errors.Is(err, ErrChallengedAgain) {
			t.Errorf("SendInfoDTMF stale twice = %v, want an error wrapping %v", err, ErrChallengedAgain)
		}
	case <-time.After(failsafe):
		t.Fatal("SendInfoDTMF did not give up after the second stale challenge")
	}

	hungUp := make(chan error, 1)
	go func() { hungUp <- call.Hangup(ctx) }()
	p.send(p.response(p.receive(t, "BYE "), "200 OK", "", ""))
	select {
	case err := <-hungUp:
		if err != nil {
			t.Errorf("Hangup = %v, want nil", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Hangup did not return after the 200")
	}
}
