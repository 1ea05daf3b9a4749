package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"partyline/sip/peertest"
)

// nextChange returns the next media change of call, failing the test if
// none comes within timeout.
func nextChange(t *testing.T, call *Call, timeout time.Duration) Media {
	t.Helper()
	select {
	case m, ok := <-call.MediaChanges():
		if !ok {
			t.Fatal("MediaChanges closed: the call ended")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no media change within %v", timeout)
	}
	return Media{}
}

// header returns the value of the first header name in a SIP message
// ("" if none).
func header(msg, name string) string {
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cseqOf returns a message's CSeq value, e.g. "2 INVITE".
func cseqOf(msg string) string { return header(msg, "CSeq") }

// withCSeq returns the messages whose CSeq is cseq.
func withCSeq(msgs []string, cseq string) []string {
	var out []string
	for _, m := range msgs {
		if cseqOf(m) == cseq {
			out = append(out, m)
		}
	}
	return out
}

var originVersion = regexp.MustCompile(`(?m)^o=partyline \d+ (\d+) `)

func TestRemoteHold(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioHold)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	sippMedia := r.sipp.MediaAddr()
	held := nextChange(t, call, failsafe)
	if want := (Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101, Remote: sippMedia, Direction: RecvOnly}); held != want {
		t.Errorf("held: media %+v, want %+v", held, want)
	}
	moved := nextChange(t, call, failsafe)
	wantMoved := Media{Codec: "PCMA", PayloadType: 8, DTMFPayloadType: 101, Remote: netip.AddrPortFrom(sippMedia.Addr(), sippMedia.Port()+2), Direction: SendRecv}
	if moved != wantMoved {
		t.Errorf("resumed: media %+v, want %+v", moved, wantMoved)
	}
	if got := call.Media(); got != wantMoved {
		t.Errorf("Media() = %+v, want %+v", got, wantMoved)
	}

	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if _, ok := <-call.MediaChanges(); ok {
		t.Error("MediaChanges not closed after Hangup")
	}
	r.waitSIPp(t)

	// Our answers, as SIPp received them.
	oks := r.sipp.Received("SIP/2.0 200")
	hold, resume := withCSeq(oks, "1 INVITE"), withCSeq(oks, "2 INVITE")
	if len(hold) == 0 || len(resume) == 0 {
		t.Fatalf("SIPp lacks our 200s to its re-INVITEs:\n%s", strings.Join(oks, "\n---\n"))
	}
	if !strings.Contains(hold[0], "a=recvonly") || !strings.Contains(hold[0], "m=audio "+fmt.Sprint(r.request().LocalMedia.Port())+" RTP/AVP 0 101") {
		t.Errorf("answer to the hold re-INVITE is not recvonly PCMU on our port:\n%s", hold[0])
	}
	if !strings.Contains(resume[0], "a=sendrecv") || !strings.Contains(resume[0], " RTP/AVP 8 101") {
		t.Errorf("answer to the resuming re-INVITE is not sendrecv PCMA:\n%s", resume[0])
	}
	if header(hold[0], "Contact") == "" {
		t.Errorf("200 to a re-INVITE without Contact:\n%s", hold[0])
	}
	invites := r.sipp.Received("INVITE ")
	v0, v1, v2 := originVersion.FindStringSubmatch(invites[0]), originVersion.FindStringSubmatch(hold[0]), originVersion.FindStringSubmatch(resume[0])
	if v0 == nil || v1 == nil || v2 == nil || !(v0[1] < v1[1] && v1[1] < v2[1]) || len(v0[1]) != len(v2[1]) {
		t.Errorf("o= versions of offer and answers do not go up: %v %v %v", v0, v1, v2)
	}
}

func TestHold(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioHeld)
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
	if m := nextChange(t, call, failsafe); m.Direction != SendOnly {
		t.Errorf("held: change %+v, want Direction %v", m, SendOnly)
	}
	if err := call.Hold(ctx, false); err != nil {
		t.Fatalf("Hold(false): %v", err)
	}
	if got := call.Media(); got.Direction != SendRecv || got.Codec != "PCMU" || got.Remote != r.sipp.MediaAddr() {
		t.Errorf("resumed: Media %+v, want PCMU sendrecv to %v", got, r.sipp.MediaAddr())
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := call.Hold(ctx, true); err == nil {
		t.Error("Hold after Hangup: got nil error")
	}
	r.waitSIPp(t)

	invites := r.sipp.Received("INVITE ")
	if len(invites) != 3 {
		t.Fatalf("SIPp received %d INVITEs, want 3:\n%s", len(invites), strings.Join(invites, "\n---\n"))
	}
	hold, resume := invites[1], invites[2]
	if !strings.Contains(hold, "a=sendonly") || !strings.Contains(resume, "a=sendrecv") {
		t.Errorf("re-INVITEs do not offer sendonly, then sendrecv:\n%s\n---\n%s", hold, resume)
	}
	for i, inv := range invites[1:] {
		if !strings.Contains(inv, "Content-Type: application/sdp") || header(inv, "Contact") == "" || header(inv, "Route") != "" && !strings.Contains(header(inv, "Route"), "lr") {
			t.Errorf("re-INVITE %d lacks SDP or Contact:\n%s", i+1, inv)
		}
	}
	// The re-INVITEs number on from the INVITE, and each has its ACK.
	first := strings.Fields(cseqOf(invites[0]))[0]
	var n int
	fmt.Sscan(first, &n)
	for i, inv := range invites[1:] {
		if want := fmt.Sprintf("%d INVITE", n+1+i); cseqOf(inv) != want {
			t.Errorf("re-INVITE %d has CSeq %q, want %q", i+1, cseqOf(inv), want)
		}
		if acks := withCSeq(r.sipp.Received("ACK "), fmt.Sprintf("%d ACK", n+1+i)); len(acks) != 1 {
			t.Errorf("SIPp received %d ACKs for re-INVITE %d, want 1", len(acks), i+1)
		}
	}
}

func TestSendInfoDTMF(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioInfo)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	for _, d := range "12#" {
		if err := call.SendInfoDTMF(ctx, d, 0); err != nil {
			t.Fatalf("SendInfoDTMF(%q): %v", d, err)
		}
	}
	if err := call.SendInfoDTMF(ctx, 'a', 250*time.Millisecond); err != nil {
		t.Fatalf("SendInfoDTMF('a'): %v", err)
	}
	for _, bad := range []struct {
		d   rune
		dur time.Duration
	}{{'x', 0}, {'5', -time.Second}, {'5', time.Minute}} {
		if err := call.SendInfoDTMF(ctx, bad.d, bad.dur); err == nil {
			t.Errorf("SendInfoDTMF(%q, %v): got nil error", bad.d, bad.dur)
		}
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := call.SendInfoDTMF(ctx, '1', 0); err == nil {
		t.Error("SendInfoDTMF after Hangup: got nil error")
	}
	r.waitSIPp(t)

	infos := r.sipp.Received("INFO ")
	want := []string{"Signal=1\r\nDuration=160", "Signal=2\r\nDuration=160", "Signal=#\r\nDuration=160", "Signal=A\r\nDuration=250"}
	if len(infos) != len(want) {
		t.Fatalf("SIPp received %d INFOs, want %d:\n%s", len(infos), len(want), strings.Join(infos, "\n---\n"))
	}
	for i, info := range infos {
		if header(info, "Content-Type") != "application/dtmf-relay" || !strings.Contains(info, want[i]) {
			t.Errorf("INFO %d lacks application/dtmf-relay with %q:\n%s", i, want[i], info)
		}
	}
}

// rawConference is a conference spoken by hand over UDP: it answers an
// INVITE and then sends requests in the dialog.
type rawConference struct {
	*rawPeer
	from, to, callID, contact string // of our dialog with the agent: From is ours (with tag), To the agent's
}

// accept waits for the agent's INVITE, answers it 200 with an SDP answer
// and waits for the ACK.
func (p *rawConference) accept(t *testing.T) {
	t.Helper()
	inv := p.receive(t, "INVITE ")
	p.from = header(inv, "To") + ";tag=conf"
	p.to = header(inv, "From")
	p.callID = header(inv, "Call-ID")
	p.contact = strings.Trim(header(inv, "Contact"), "<>")
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	p.send(p.response(inv, "200 OK", "Contact: <sip:conf@127.0.0.1:"+fmt.Sprint(p.port())+">\r\nContent-Type: application/sdp\r\n", body))
	p.receive(t, "ACK ")
}

// receive returns the next message starting with prefix, failing the test
// if none comes within failsafe.
func (p *rawConference) receive(t *testing.T, prefix string) string {
	t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(failsafe)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no %q received: %v", prefix, err)
		}
		if m := string(buf[:n]); strings.HasPrefix(m, prefix) {
			return m
		}
	}
}

// finalFor returns the next final response whose CSeq is cseq, failing
// the test if none comes within failsafe. Others (a 2xx resent while its ACK
// is missing) are skipped.
func (p *rawConference) finalFor(t *testing.T, cseq string) string {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for time.Now().Before(deadline) {
		if m := p.final(time.Until(deadline)); m != "" && cseqOf(m) == cseq {
			return m
		}
	}
	t.Fatalf("no final response with CSeq %s", cseq)
	return ""
}

// response answers req with status, extra headers and body, adding our To
// tag if req has none.
func (p *rawConference) response(req, status, extra, body string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for line := range strings.SplitSeq(req, "\r\n") {
		if line == "" {
			break
		}
		for _, h := range []string{"Via:", "From:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(line, h) {
				b.WriteString(line + "\r\n")
			}
		}
		if strings.HasPrefix(line, "To:") {
			if !strings.Contains(line, "tag=") {
				line += ";tag=conf"
			}
			b.WriteString(line + "\r\n")
		}
	}
	fmt.Fprintf(&b, "%sContent-Length: %d\r\n\r\n%s", extra, len(body), body)
	return b.String()
}

// inDialog returns a request in the dialog with the agent.
func (p *rawConference) inDialog(method string, cseq int, extra, body string) string {
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:conf@127.0.0.1:%d>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, p.contact, p.port(), newToken(), p.from, p.to, p.callID, cseq, method, p.port(), extra, len(body), body)
}

// rawCall returns a call joined to a raw-UDP conference.
func rawCall(t *testing.T) (*rawConference, *Call) {
	t.Helper()
	a := startAgent(t)
	p := &rawConference{rawPeer: newRawPeer(t, a)}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	joined := make(chan *Call, 1)
	go func() {
		call, err := a.Join(ctx, JoinRequest{
			Target:     testConference,
			Account:    Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: p.conn.LocalAddr().String()},
			LocalMedia: netip.MustParseAddrPort("127.0.0.1:40006"),
		})
		if err != nil {
			t.Errorf("Join: %v", err)
		}
		joined <- call
	}()
	p.accept(t)
	call := <-joined
	if call == nil {
		t.FailNow()
	}
	return p, call
}

// TestInDialogRequests checks what the agent does with the far end's
// requests in a call: CSeq order, an offer it cannot take, crossing
// offers, and a BYE that overtakes the ACK.
func TestInDialogRequests(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	expect := func(msg, wantStatus string) string {
		t.Helper()
		p.send(msg)
		got := p.finalFor(t, cseqOf(msg))
		if statusLine(got) != "SIP/2.0 "+wantStatus {
			t.Fatalf("%s (CSeq %s): got %q, want %s", statusLine(msg), cseqOf(msg), statusLine(got), wantStatus)
		}
		return got
	}
	// The first request sets the far end's CSeq, whatever our INVITE's was.
	expect(p.inDialog("INFO", 5, "", ""), "200 OK")
	expect(p.inDialog("INFO", 5, "", ""), "500 CSeq Out Of Order")
	expect(p.inDialog("INFO", 3, "", ""), "500 CSeq Out Of Order")
	sdp := func(dir string) string {
		return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7002 RTP/AVP 8\r\na=" + dir + "\r\n"
	}
	expect(p.inDialog("INVITE", 6, "Content-Type: application/sdp\r\n", "v=0\r\nnonsense\r\n"), "488 Not Acceptable Here")
	expect(p.inDialog("INVITE", 7, "Content-Type: text/plain\r\n", "hello"), "415 Unsupported Media Type")
	// An offer in a video-only description: nothing to take.
	expect(p.inDialog("INVITE", 8, "Content-Type: application/sdp\r\n", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 7004 RTP/AVP 31\r\n"), "488 Not Acceptable Here")
	ok := expect(p.inDialog("INVITE", 9, "Content-Type: application/sdp\r\n", sdp("inactive")), "200 OK")
	if !strings.Contains(ok, "a=inactive") || !strings.Contains(ok, "RTP/AVP 8\r\n") {
		t.Errorf("answer to an inactive PCMA offer:\n%s", ok)
	}
	// Not acknowledged yet: a second offer crosses it.
	expect(p.inDialog("INVITE", 10, "Content-Type: application/sdp\r\n", sdp("sendrecv")), "491 Request Pending")
	if m := nextChange(t, call, failsafe); m.Direction != Inactive || m.Codec != "PCMA" || m.Remote.Port() != 7002 {
		t.Errorf("media after the inactive offer: %+v", m)
	}
	// The BYE overtakes the ACK: the call ends, the late ACK is dropped.
	expect(p.inDialog("BYE", 11, "", ""), "200 OK")
	select {
	case <-call.Done():
	case <-time.After(failsafe):
		t.Fatal("call not ended by BYE")
	}
	if err := call.Err(); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("Err() = %v, want %v", err, ErrRemoteHangup)
	}
	p.send(p.inDialog("ACK", 9, "", ""))
	expect(p.inDialog("INFO", 12, "", ""), "481 Call/Transaction Does Not Exist")
}

// TestOfferlessReinvite checks a re-INVITE without SDP: our 200 makes the
// offer, and the answer comes in the ACK.
func TestOfferlessReinvite(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	p.send(p.inDialog("INVITE", 1, "", ""))
	ok := p.finalFor(t, "1 INVITE")
	if statusLine(ok) != "SIP/2.0 200 OK" || !strings.Contains(ok, "RTP/AVP 111 9 0 8 101") {
		t.Fatalf("offerless re-INVITE: got\n%s\nwant 200 with our full offer", ok)
	}
	answer := "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7006 RTP/AVP 8\r\na=recvonly\r\n"
	p.send(p.inDialog("ACK", 1, "Content-Type: application/sdp\r\n", answer))
	if m := nextChange(t, call, failsafe); m.Codec != "PCMA" || m.Remote.Port() != 7006 || m.Direction != SendOnly {
		t.Errorf("media after the answer in the ACK: %+v", m)
	}
	hungUp := make(chan error, 1)
	go func() { hungUp <- call.Hangup(ctx) }()
	bye := p.receive(t, "BYE ")
	if !strings.HasPrefix(bye, "BYE sip:conf@127.0.0.1:") {
		t.Errorf("BYE not sent to the Contact of the re-INVITE:\n%s", bye)
	}
	p.send(p.response(bye, "200 OK", "", ""))
	if err := <-hungUp; err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// TestHoldAckResent holds a call whose far end resends its 2xx, as if our
// ACK got lost: each copy is acknowledged again.
func TestHoldAckResent(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	held := make(chan error, 1)
	go func() { held <- call.Hold(ctx, true) }()
	inv := p.receive(t, "INVITE ")
	if !strings.Contains(inv, "a=sendonly") || !strings.Contains(inv, "RTP/AVP 0 101") {
		t.Errorf("hold re-INVITE does not offer our codec sendonly:\n%s", inv)
	}
	answer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
	ok := p.response(inv, "200 OK", "Contact: <sip:conf@127.0.0.1:"+fmt.Sprint(p.port())+">\r\nContent-Type: application/sdp\r\n", answer)
	p.send(ok)
	ack := p.receive(t, "ACK ")
	if err := <-held; err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if got := call.Media().Direction; got != SendOnly {
		t.Errorf("Direction %v, want %v", got, SendOnly)
	}
	p.send(ok)
	again := p.receive(t, "ACK ")
	if cseqOf(again) != cseqOf(ack) || cseqOf(ack) != strings.Replace(cseqOf(inv), "INVITE", "ACK", 1) {
		t.Errorf("ACKs %q and %q for re-INVITE %q", cseqOf(ack), cseqOf(again), cseqOf(inv))
	}
	hungUp := make(chan error, 1)
	go func() { hungUp <- call.Hangup(ctx) }()
	p.send(p.response(p.receive(t, "BYE "), "200 OK", "", ""))
	if err := <-hungUp; err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// TestOfferAfterOurAnswerWaits: a re-INVITE of the far end that comes while we still apply
// the answer to ours (it was answered and acknowledged: no offer is in flight) waits for
// the token instead of getting 491; one that crosses our offer in flight gets 491 at once.
func TestOfferAfterOurAnswerWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Call{offer: make(chan struct{}, 1), done: make(chan struct{})}
		c.offer <- struct{}{} // our re-INVITE holds the token, still in flight
		if c.takeOffer() {
			t.Fatal("an offer crossing ours in flight took the token")
		}
		c.mu.Lock()
		c.applying = true // answered and acknowledged; we apply the answer
		c.mu.Unlock()
		took := make(chan bool, 1)
		go func() { took <- c.takeOffer() }()
		synctest.Wait() // the far end's offer is waiting, or was answered
		select {
		case ok := <-took:
			t.Fatalf("the far end's offer did not wait for ours to be applied (took the token: %v)", ok)
		default:
		}
		<-c.offer // we are done applying
		if ok := <-took; !ok {
			t.Error("the far end's offer after our answer was refused")
		}
	})
}
