package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"partyline/sip/confinfo"
	"partyline/sip/peertest/focus"
)

// strangerPeer returns a raw SIP peer on 127.0.0.2: another host than the
// agent's peers, all on 127.0.0.1.
func strangerPeer(t *testing.T, a *Agent) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, to: net.UDPAddrFromAddrPort(a.Addr())}
}

// forged rewrites a request of the conference p so that it comes from
// stranger: its Via and Contact name the stranger, the dialog stays p's.
func forged(p *rawConference, stranger *rawPeer, msg string) string {
	addr := stranger.conn.LocalAddr().String()
	msg = strings.Replace(msg, fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;", p.port()), "Via: SIP/2.0/UDP "+addr+";", 1)
	return strings.Replace(msg, fmt.Sprintf("Contact: <sip:conf@127.0.0.1:%d>", p.port()), "Contact: <sip:conf@"+addr+">", 1)
}

// TestInDialogRequestsFromAnotherHost replays the hijack of a call's
// signalling: a host that knows the dialog's Call-ID and tags (they cross
// the LAN in clear text) sends a re-INVITE moving the media to itself, an
// INFO, an ACK and a BYE, from 127.0.0.2. Each is refused with 403 and
// changes nothing: not the media, not the remote target, not the CSeq the
// real conference goes on with; its re-INVITE, with a lower CSeq than the
// stranger's, still moves the media.
func TestInDialogRequestsFromAnotherHost(t *testing.T) {
	t.Parallel()
	p, call := rawCall(t)
	stranger := strangerPeer(t, call.agent)
	before := call.Media()
	sdp := func(addr string, port int) string {
		return fmt.Sprintf("v=0\r\no=- 1 2 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", addr, addr, port)
	}
	attacks := []string{
		p.inDialog("INVITE", 100, "Content-Type: application/sdp\r\n", sdp("127.0.0.2", 9000)),
		p.inDialog("INFO", 101, "", ""),
		p.inDialog("BYE", 102, "", ""),
	}
	for _, msg := range attacks {
		msg = forged(p, stranger, msg)
		stranger.send(msg)
		if got := statusLine(stranger.final(3 * time.Second)); got != "SIP/2.0 403 Not From A Host Of The Dialog" {
			t.Errorf("%s from 127.0.0.2: got %q, want 403", statusLine(msg), got)
		}
	}
	stranger.send(forged(p, stranger, p.inDialog("ACK", 100, "", "")))
	select {
	case m := <-call.MediaChanges():
		t.Fatalf("the stranger changed the media to %+v", m)
	case <-call.Done():
		t.Fatalf("the stranger's BYE ended the call: %v", call.Err())
	case <-time.After(300 * time.Millisecond):
	}
	if got := call.Media(); got != before {
		t.Errorf("media %+v after the stranger's requests, want %+v", got, before)
	}

	// The conference itself, with a CSeq below the stranger's.
	p.send(p.inDialog("INVITE", 2, "Content-Type: application/sdp\r\n", sdp("127.0.0.1", 7010)))
	if got := statusLine(p.finalFor(t, "2 INVITE")); got != "SIP/2.0 200 OK" {
		t.Fatalf("re-INVITE from the conference: got %q, want 200 OK", got)
	}
	p.send(p.inDialog("ACK", 2, "", ""))
	if m := nextChange(t, call, 3*time.Second); m.Remote != netip.MustParseAddrPort("127.0.0.1:7010") {
		t.Errorf("the conference's re-INVITE moved the media to %v, want 127.0.0.1:7010", m.Remote)
	}
	// Our BYE goes to the conference, not to the Contact the stranger gave.
	hungUp := make(chan error, 1)
	go func() { hungUp <- call.Hangup(t.Context()) }()
	p.send(p.response(p.receive(t, "BYE "), "200 OK", "", ""))
	if err := <-hungUp; err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// TestBroadcastMedia offers media at non-unicast addresses: a new call
// that would have the appliance send its audio to every host on the LAN
// is refused 488 and never offered, as is such a re-INVITE, which leaves
// the media as it was; c=0.0.0.0 in a re-INVITE still holds the call
// (RFC 3264 section 8.4).
func TestBroadcastMedia(t *testing.T) {
	t.Parallel()
	callee, calls := startCallee(t)
	caller := newRawPeer(t, callee)
	sdp := func(addr string) string {
		return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 " + addr + "\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"
	}
	for _, addr := range []string{"255.255.255.255", "224.0.0.1", "127.255.255.255", "0.0.0.0"} {
		inv := strings.Replace(caller.request("INVITE", "Content-Type: application/sdp"), "Content-Length: 0\r\n\r\n",
			fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(sdp(addr)), sdp(addr)), 1)
		caller.send(inv)
		if got := statusLine(caller.final(3 * time.Second)); got != "SIP/2.0 488 Not Acceptable Here" {
			t.Errorf("INVITE with c=%s: got %q, want 488", addr, got)
		}
	}
	select {
	case in := <-calls:
		t.Errorf("a call with media at %v was offered", in.Media().Remote)
	default:
	}

	p, call := rawCall(t)
	before := call.Media()
	p.send(p.inDialog("INVITE", 1, "Content-Type: application/sdp\r\n", sdp("255.255.255.255")))
	if got := statusLine(p.finalFor(t, "1 INVITE")); got != "SIP/2.0 488 Not Acceptable Here" {
		t.Errorf("re-INVITE with c=255.255.255.255: got %q, want 488", got)
	}
	p.send(p.inDialog("INVITE", 2, "Content-Type: application/sdp\r\n", sdp("0.0.0.0")))
	if got := statusLine(p.finalFor(t, "2 INVITE")); got != "SIP/2.0 200 OK" {
		t.Fatalf("re-INVITE with c=0.0.0.0: got %q, want 200 OK", got)
	}
	p.send(p.inDialog("ACK", 2, "", ""))
	held := nextChange(t, call, 3*time.Second)
	if held.Remote != before.Remote || held.Direction.Sends() {
		t.Errorf("media after the old-style hold: %+v, want %v kept and nothing sent", held, before.Remote)
	}
}

// TestMalformedFlood sends 5000 malformed datagrams of three kinds: the
// agent counts every one, logs a handful of lines about them, and still
// takes a call.
func TestMalformedFlood(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	calls := make(chan *Incoming, 1)
	a, err := NewAgent(Config{ListenAddr: "127.0.0.1:0", Log: log, OnIncoming: func(in *Incoming) { calls <- in }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := a.waitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, a)
	kinds := []func() string{
		func() string { return "NOT SIP " + strings.Repeat("A", 200) }, // does not parse
		func() string { // no Via or CSeq: sipgo answers 400
			return "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: " + newToken() + "\r\nContent-Length: 0\r\n\r\n"
		},
		func() string { return p.request("OPTIONS", "From: <sip:peer@127.0.0.1>") }, // no From tag: we answer 400
	}
	// The lines the flood may add: all but the agent's own start-up line, which Run may
	// log at any time.
	floodLines := func() int {
		n := 0
		for line := range strings.Lines(buf.String()) {
			if !strings.Contains(line, `msg="sip listening"`) {
				n++
			}
		}
		return n
	}
	linesBefore := floodLines()
	const flood = 5000
	for i := range flood {
		p.send(kinds[i%len(kinds)]())
		if i%100 == 99 { // in step with the agent, so that the socket's buffer drops none
			waitFor(t, "the agent to read the datagrams", 10*time.Second, func() bool { return a.MalformedMessages() == uint64(i+1) })
		}
	}
	waitFor(t, "the agent to read the datagrams", 10*time.Second, func() bool { return a.MalformedMessages() == flood })
	a.malformed.flush(a.log) // the end of the minute
	logged := buf.String()
	if lines := floodLines() - linesBefore; lines > floodBurst+1 {
		t.Errorf("%d malformed datagrams logged %d lines, want at most %d:\n%.2000s", flood, lines, floodBurst+1, logged)
	}
	if want := fmt.Sprintf("count=%d", flood-floodBurst); !strings.Contains(logged, want) {
		t.Errorf("the log does not say how many were left out (%s):\n%.2000s", want, logged)
	}

	caller := startAgent(t)
	joined := callJoin(t.Context(), caller, a)
	in := nextIncoming(t, calls)
	if _, err := in.Answer(t.Context(), netip.MustParseAddrPort("127.0.0.1:40002")); err != nil {
		t.Fatalf("Answer after the flood: %v", err)
	}
	if r := <-joined; r.err != nil {
		t.Fatalf("Join after the flood: %v", r.err)
	}
	if got := a.MalformedMessages(); got != flood {
		t.Errorf("MalformedMessages() = %d after a good call, want %d", got, flood)
	}
}

// TestNotifyFromAnotherHost sends a NOTIFY into a live roster
// subscription from 127.0.0.2, listing a participant who is not there: it
// is refused with 403 and the roster stays as the conference says.
func TestNotifyFromAnotherHost(t *testing.T) {
	f := focus.Start(t, focus.Config{Events: true})
	a := startAgent(t)
	acc := Account{User: "trunk", Domain: "partyline.test", Proxy: f.Addr().String()}
	w := newRosterWatch()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- a.Subscribe(ctx, SubscribeRequest{Target: "sip:room@partyline.test", Account: acc, OnRoster: w.report})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Subscribe: %v", err)
		}
	}()
	one, err := a.Join(t.Context(), JoinRequest{
		Target: "sip:room@partyline.test", Account: acc,
		Identity:   Identity{Mode: IdentityImpersonate, URI: "sip:one@partyline.test"},
		LocalMedia: netip.MustParseAddrPort("127.0.0.1:40014"),
	})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	defer one.Hangup(t.Context())
	w.await(t, "sip:one@partyline.test")

	a.mu.Lock()
	var key subscriptionKey
	for k := range a.subs {
		key = k
	}
	a.mu.Unlock()
	stranger := strangerPeer(t, a)
	body := `<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:room@partyline.test" state="full" version="99">
<users><user entity="sip:evil@partyline.test" state="full"><display-text>Evil</display-text></user></users></conference-info>`
	notify := stranger.request("NOTIFY",
		"From: <sip:room@partyline.test>;tag=conf",
		"To: <sip:trunk@partyline.test>;tag="+key.localTag,
		"Call-ID: "+key.callID,
		"Event: conference",
		"Subscription-State: active;expires=600",
		"Content-Type: "+confinfo.ContentType)
	notify = strings.Replace(notify, "Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body), 1)
	notify = strings.ReplaceAll(notify, "127.0.0.1:"+fmt.Sprint(stranger.port()), stranger.conn.LocalAddr().String())
	stranger.send(notify)
	if got := statusLine(stranger.final(3 * time.Second)); got != "SIP/2.0 403 Not From A Host Of The Dialog" {
		t.Errorf("NOTIFY from 127.0.0.2: got %q, want 403", got)
	}
	// The conference's next notification is taken, in order: the forged one,
	// had it been taken at version 99, would have made it look stale.
	two, err := a.Join(t.Context(), JoinRequest{
		Target: "sip:room@partyline.test", Account: acc,
		Identity:   Identity{Mode: IdentityImpersonate, URI: "sip:two@partyline.test"},
		LocalMedia: netip.MustParseAddrPort("127.0.0.1:40016"),
	})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	defer two.Hangup(t.Context())
	w.await(t, "sip:one@partyline.test", "sip:two@partyline.test")
}
