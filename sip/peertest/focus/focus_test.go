package focus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"partyline/sip/confinfo"
)

// guard bounds every wait of these tests, so that a broken focus fails them instead of
// hanging them. Nothing is asserted about how long anything takes.
const guard = time.Minute

// startFocus starts a focus whose log is shown if the test fails.
func startFocus(t *testing.T, cfg Config) *Focus {
	t.Helper()
	var buf lockedBuffer
	cfg.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("focus log:\n%s", buf.String())
		}
	})
	return Start(t, cfg)
}

// lockedBuffer collects log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A uac is a SIP user agent of the tests: one UDP socket, any number of calls.
type uac struct {
	ua       *sipgo.UserAgent
	client   *sipgo.Client
	cache    *sipgo.DialogClientCache
	addr     netip.AddrPort
	notifies chan *sipmsg.Request
}

func newUAC(t *testing.T) *uac {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("focus-test"),
		sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(quiet),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua,
		sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientPort(int(addr.Port())),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()),
		sipgo.WithClientLogger(quiet),
	)
	if err != nil {
		t.Fatal(err)
	}
	u := &uac{
		ua:       ua,
		client:   client,
		cache:    sipgo.NewDialogClientCache(client, sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "tester", Host: "127.0.0.1", Port: int(addr.Port())}}),
		addr:     addr,
		notifies: make(chan *sipmsg.Request, 64),
	}
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if err := u.cache.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "No Such Call", nil))
		}
	})
	srv.OnNotify(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		// Queue before answering: the focus sends the next NOTIFY only after this one's
		// answer, and sipgo runs each handler in a goroutine of its own.
		select {
		case u.notifies <- req:
		default: // the test stopped reading; awaitRoster fails if that is wrong
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
	})
	served := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { served <- srv.ServeUDP(conn) })
	t.Cleanup(func() {
		ua.Close()
		conn.Close()
		wg.Wait()
	})
	if err := awaitPooled(ua, conn, served); err != nil {
		t.Fatal(err)
	}
	return u
}

// A testLeg is one call of a uac into the focus, with its RTP socket.
type testLeg struct {
	callID string
	dlg    *sipgo.DialogClientSession
	conn   *net.UDPConn
	remote netip.AddrPort
	ulaw   bool
	pt     uint8
	dtmf   uint8
	ts     uint32 // play's

	mu  sync.Mutex // guards seq
	seq uint16
}

// offerSDP offers audio on port with the payload types pts, telephone-event as 101.
func offerSDP(port uint16, direction string, pts ...uint8) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP", port)
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	b.WriteString(" 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=" + direction + "\r\n")
	return []byte(b.String())
}

func focusURI(f *Focus, conference string) sipmsg.Uri {
	return sipmsg.Uri{Scheme: "sip", User: conference, Host: f.Addr().Addr().String(), Port: int(f.Addr().Port())}
}

// invite calls conference on f from user (display name display), offering pts, and
// returns the dialog and the RTP socket; it does not wait for the answer.
func (u *uac) invite(t *testing.T, ctx context.Context, f *Focus, conference, user, display string, pts []uint8, extra ...sipmsg.Header) (*sipgo.DialogClientSession, *net.UDPConn) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	from := &sipmsg.FromHeader{DisplayName: display, Address: sipmsg.Uri{Scheme: "sip", User: user, Host: "partyline.test"}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	contact := &sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: int(u.addr.Port())}}
	headers := append([]sipmsg.Header{from, contact, sipmsg.NewHeader("Content-Type", "application/sdp")}, extra...)
	port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	dlg, err := u.cache.Invite(ctx, focusURI(f, conference), offerSDP(port, "sendrecv", pts...), headers...)
	if err != nil {
		t.Fatalf("INVITE from %s: %v", user, err)
	}
	return dlg, conn
}

// join calls conference on f from user and waits until the call is up.
func (u *uac) join(t *testing.T, f *Focus, conference, user, display string, pts []uint8, extra ...sipmsg.Header) *testLeg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	dlg, conn := u.invite(t, ctx, f, conference, user, display, pts, extra...)
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("join %s as %s: %v", conference, user, err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatalf("ACK from %s: %v", user, err)
	}
	ans, err := parseOffer(dlg.InviteResponse.Body())
	if err != nil {
		t.Fatalf("answer to %s: %v\n%s", user, err, dlg.InviteResponse.Body())
	}
	return &testLeg{
		callID: dlg.InviteRequest.CallID().Value(),
		dlg:    dlg,
		conn:   conn,
		remote: ans.remote,
		ulaw:   ans.codec == "PCMU",
		pt:     ans.pt,
		dtmf:   ans.dtmf,
	}
}

// send sends one RTP packet on l.
func (l *testLeg) send(t *testing.T, pt uint8, marker bool, ts uint32, payload []byte) {
	l.mu.Lock()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: l.seq, Timestamp: ts, SSRC: 0x5eed}, Payload: payload}
	l.seq++
	l.mu.Unlock()
	b, err := pkt.Marshal()
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := l.conn.WriteToUDPAddrPort(b, l.remote); err != nil {
		t.Errorf("send RTP: %v", err)
	}
}

// play sends a sine of freq Hz on l in 20 ms packets until the test ends. The test's
// cleanup stops it.
func (l *testLeg) play(t *testing.T, freq float64) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	wg.Go(func() {
		tick := time.NewTicker(frameTime)
		defer tick.Stop()
		payload := make([]byte, frameSamples)
		var n int
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i := range payload {
				v := int16(0.15 * math.MaxInt16 * math.Sin(2*math.Pi*freq*float64(n)/sampleRate))
				n++
				if l.ulaw {
					payload[i] = g711.EncodeUlawFrame(v)
				} else {
					payload[i] = g711.EncodeAlawFrame(v)
				}
			}
			l.send(t, l.pt, l.ts == 0, l.ts, payload)
			l.ts += frameSamples
		}
	})
}

// sendDigit sends one RFC 4733 event on l, the way a phone does: three packets as the
// key is held, then three that end it, all with the event's timestamp.
func (l *testLeg) sendDigit(t *testing.T, event byte) {
	ts := uint32(0x10000000) + uint32(event)*1000
	for i := range 6 {
		flags := byte(10) // volume
		if i >= 3 {
			flags |= 0x80
		}
		dur := uint16(160 * min(i+1, 3))
		l.send(t, l.dtmf, i == 0, ts, []byte{event, flags, byte(dur >> 8), byte(dur)})
	}
}

// hear reads what the focus sends l and returns frames 20 ms frames of it that are not
// silent, after skipping the first skip such frames.
func (l *testLeg) hear(t *testing.T, skip, frames int) []int16 {
	t.Helper()
	buf := make([]byte, maxDatagram)
	var pkt rtp.Packet
	var out []int16
	for range 100 * (skip + frames) {
		if err := l.conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
			t.Fatal(err)
		}
		n, err := l.conn.Read(buf)
		if err != nil {
			t.Fatalf("read RTP: %v", err)
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("RTP from the focus: %v", err)
		}
		if pkt.PayloadType != l.pt || len(pkt.Payload) != frameSamples {
			t.Fatalf("RTP from the focus: payload type %d, %d bytes; want %d, %d", pkt.PayloadType, len(pkt.Payload), l.pt, frameSamples)
		}
		frame := make([]int16, frameSamples)
		var energy float64
		for i, b := range pkt.Payload {
			if l.ulaw {
				frame[i] = g711.DecodeUlawFrame(b)
			} else {
				frame[i] = g711.DecodeAlawFrame(b)
			}
			energy += float64(frame[i]) * float64(frame[i])
		}
		if math.Sqrt(energy/frameSamples) < 300 { // about -40 dBFS: silence
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if out = append(out, frame...); len(out) == frames*frameSamples {
			return out
		}
	}
	t.Fatalf("heard only %d loud frames", len(out)/frameSamples)
	return nil
}

// toneShare returns how much of the power of s (8 kHz) lies at freq, in dB: about 0 for a
// pure tone at freq, -3 for one of two equal tones, far below for a tone elsewhere. It is
// one DFT bin (Goertzel) over a Hann window, against the windowed power.
func toneShare(s []int16, freq float64) float64 {
	n := len(s)
	coeff := 2 * math.Cos(2*math.Pi*freq/sampleRate)
	var s1, s2, wsum, energy, wenergy float64
	for i, v := range s {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		x := w * float64(v)
		s1, s2 = x+coeff*s1-s2, s1
		wsum += w
		energy += x * x
		wenergy += w * w
	}
	if energy == 0 {
		return math.Inf(-1)
	}
	bin := s1*s1 + s2*s2 - coeff*s1*s2
	return 10 * math.Log10((2*bin/(wsum*wsum))/(energy/wenergy))
}

// await waits until cond holds for f's calls.
func await(t *testing.T, f *Focus, what string, cond func([]CallInfo) bool) []CallInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	if err := f.Await(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; calls: %+v", what, err, f.Calls())
	}
	return f.Calls()
}

func callByID(calls []CallInfo, id string) CallInfo {
	for _, c := range calls {
		if c.CallID == id {
			return c
		}
	}
	return CallInfo{}
}

// TestThreeCallsMixMinusOne joins three calls of one user agent, each under its own
// identity and two of them with different codecs, into one conference. Each plays its own
// tone and must hear the other two and not its own; the focus must have recorded each
// call's own tone and identity. Then one hangs up and the focus kicks the others.
func TestThreeCallsMixMinusOne(t *testing.T) {
	f := startFocus(t, Config{})
	u := newUAC(t)
	pai := sipmsg.NewHeader("P-Asserted-Identity", `"Alice" <sip:alice@partyline.test>`)
	a := u.join(t, f, "room", "alice", "Alice Handset", []uint8{ptPCMU, ptPCMA}, pai)
	b := u.join(t, f, "room", "bob", "Bob", []uint8{ptPCMA, ptPCMU})
	c := u.join(t, f, "room", "pl-7f3a9c", "Recorder", []uint8{18, ptPCMU}, sipmsg.NewHeader("Privacy", "id"))
	if !a.ulaw || b.ulaw || !c.ulaw {
		t.Fatalf("codecs: a µ-law %v, b µ-law %v, c µ-law %v; want the first G.711 offered", a.ulaw, b.ulaw, c.ulaw)
	}
	legs := []*testLeg{a, b, c}
	tones := []float64{500, 1300, 2100}
	for i, l := range legs {
		l.play(t, tones[i])
	}

	for i, l := range legs {
		heard := l.hear(t, 10, 50)
		for j, freq := range tones {
			share := toneShare(heard, freq)
			switch {
			case i == j && share > -30:
				t.Errorf("leg %d hears its own %v Hz tone at %.1f dB", i, freq, share)
			case i != j && share < -6:
				t.Errorf("leg %d hears the %v Hz tone of leg %d at only %.1f dB", i, freq, j, share)
			}
		}
	}

	c.sendDigit(t, 1)
	c.sendDigit(t, 11)
	calls := await(t, f, "a second of audio from every call and c's digits", func(calls []CallInfo) bool {
		for _, l := range legs {
			if callByID(calls, l.callID).ReceivedSamples < sampleRate {
				return false
			}
		}
		return callByID(calls, c.callID).Digits == "1#"
	})
	for i, l := range legs {
		rec := f.Received(l.callID)
		for j, freq := range tones {
			share := toneShare(rec, freq)
			if (i == j && share < -1) || (i != j && share > -30) {
				t.Errorf("the focus recorded %v Hz at %.1f dB of what leg %d sent", freq, share, i)
			}
		}
	}

	want := []CallInfo{
		{Conference: "room", From: "sip:alice@partyline.test", DisplayName: "Alice Handset", PAI: `"Alice" <sip:alice@partyline.test>`, Codec: "PCMU"},
		{Conference: "room", From: "sip:bob@partyline.test", DisplayName: "Bob", Codec: "PCMA"},
		{Conference: "room", From: "sip:pl-7f3a9c@partyline.test", DisplayName: "Recorder", Privacy: "id", Codec: "PCMU", DTMFPayloadType: 101},
	}
	for i, l := range legs {
		got := callByID(calls, l.callID)
		w := want[i]
		if got.Conference != w.Conference || got.From != w.From || got.DisplayName != w.DisplayName || got.PAI != w.PAI ||
			got.Privacy != w.Privacy || got.Codec != w.Codec || got.State != Up || got.Status != 200 || got.Direction != "sendrecv" {
			t.Errorf("call %d: %+v, want %+v, up", i, got, w)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	if err := a.dlg.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	await(t, f, "a's call to end", func(calls []CallInfo) bool {
		return callByID(calls, a.callID).EndReason == "BYE from caller"
	})
	for _, l := range []*testLeg{b, c} {
		if err := f.Kick(l.callID); err != nil {
			t.Fatalf("Kick: %v", err)
		}
		select {
		case <-l.dlg.Context().Done():
		case <-ctx.Done():
			t.Fatal("the kicked call's dialog did not end")
		}
	}
	for _, got := range f.Calls() {
		if got.State != Ended {
			t.Errorf("call %s is %s after BYE and Kick", got.From, got.State)
		}
	}
	if err := f.Kick(b.callID); err == nil {
		t.Error("Kick of an ended call succeeded")
	}
}

// TestToneAndConferences: a tone played into one conference is heard there and not in
// another, and calls in different conferences do not hear each other.
func TestToneAndConferences(t *testing.T) {
	f := startFocus(t, Config{})
	u := newUAC(t)
	a := u.join(t, f, "one", "alice", "", []uint8{ptPCMA})
	b := u.join(t, f, "two", "bob", "", []uint8{ptPCMU})
	f.Tone("one", 800, 0.1)
	b.play(t, 1500)
	heard := a.hear(t, 2, 25)
	if share := toneShare(heard, 800); share < -1 {
		t.Errorf("the tone is at %.1f dB of what conference one hears", share)
	}
	if share := toneShare(heard, 1500); share > -30 {
		t.Errorf("conference one hears conference two at %.1f dB", share)
	}
}

// rawInvite sends one INVITE, written out, from a plain UDP socket and returns the status
// line of the final answer.
func rawInvite(t *testing.T, f *Focus, contentType, body string, withContact bool) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	me := conn.LocalAddr().String()
	callID := sipmsg.GenerateTagN(12) + "@raw"
	branch := "z9hG4bK" + sipmsg.GenerateTagN(10)
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE sip:room@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nMax-Forwards: 70\r\n", f.Addr(), me, branch)
	fmt.Fprintf(&b, "From: <sip:raw@127.0.0.1>;tag=raw1\r\nTo: <sip:room@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n", f.Addr(), callID)
	if withContact {
		fmt.Fprintf(&b, "Contact: <sip:raw@%s>\r\n", me)
	}
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := conn.WriteToUDPAddrPort([]byte(b.String()), f.Addr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for range 10 {
		if err := conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the INVITE: %v", err)
		}
		msg := string(buf[:n])
		status, _, _ := strings.Cut(msg, "\r\n")
		if strings.HasPrefix(status, "SIP/2.0 1") {
			continue
		}
		// ACK the final answer, with its To tag (RFC 3261 section 17.1.1.3).
		var to string
		for line := range strings.SplitSeq(msg, "\r\n") {
			if strings.HasPrefix(strings.ToLower(line), "to:") {
				to = line
			}
		}
		ack := fmt.Sprintf("ACK sip:room@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nMax-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=raw1\r\n%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
			f.Addr(), me, branch, to, callID)
		if _, err := conn.WriteToUDPAddrPort([]byte(ack), f.Addr()); err != nil {
			t.Fatal(err)
		}
		return status
	}
	t.Fatal("only provisional answers")
	return ""
}

func TestBadInvites(t *testing.T) {
	f := startFocus(t, Config{})
	const sdp = "application/sdp"
	good := string(offerSDP(4000, "sendrecv", ptPCMU))
	cases := []struct {
		name, contentType, body string
		noContact               bool
		want                    string
	}{
		{name: "not SDP", contentType: sdp, body: "this is not a session description", want: "400 Malformed SDP: SDP does not start with v=0"},
		{name: "garbage line", contentType: sdp, body: "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\nthis line has no equals\r\n", want: "400 Malformed SDP"},
		{name: "no audio", contentType: sdp, body: "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", want: "400 Malformed SDP: SDP has no audio stream"},
		{name: "bad port", contentType: sdp, body: strings.Replace(good, "m=audio 4000", "m=audio 99999", 1), want: "400 Malformed SDP"},
		{name: "no connection", contentType: sdp, body: strings.Replace(good, "c=IN IP4 127.0.0.1\r\n", "", 1), want: "400 Malformed SDP: SDP has no c= line"},
		{name: "hostname", contentType: sdp, body: strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP4 example.com", 1), want: "400 Malformed SDP"},
		{name: "no contact", contentType: sdp, body: good, noContact: true, want: "400 Missing Contact"},
		{name: "not G.711", contentType: sdp, body: strings.Replace(good, "RTP/AVP 0 101", "RTP/AVP 18 101", 1), want: "488 No Common Codec"},
		{name: "no offer", want: "488 SDP Offer Required"},
		{name: "text", contentType: "text/plain", body: "hello", want: "415 Unsupported Media Type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rawInvite(t, f, tc.contentType, tc.body, !tc.noContact)
			if !strings.HasPrefix(got, "SIP/2.0 "+tc.want) {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
	for _, c := range f.Calls() {
		if c.State != Ended || c.Status < 400 || !strings.HasPrefix(c.EndReason, "refused: ") {
			t.Errorf("refused call %+v", c)
		}
	}
}

func TestCancelWhileRinging(t *testing.T) {
	f := startFocus(t, Config{AnswerDelay: time.Hour})
	u := newUAC(t)
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	dlg, _ := u.invite(t, ctx, f, "room", "alice", "", []uint8{ptPCMU})
	ringing, hangUp := context.WithCancel(ctx)
	err := dlg.WaitAnswer(ringing, sipgo.AnswerOptions{OnResponse: func(res *sipmsg.Response) error {
		if res.StatusCode == sipmsg.StatusRinging {
			hangUp() // WaitAnswer sends CANCEL
		}
		return nil
	}})
	if err == nil {
		t.Fatal("the call was answered")
	}
	calls := await(t, f, "the call to be cancelled", func(calls []CallInfo) bool {
		return len(calls) == 1 && calls[0].State == Ended
	})
	if calls[0].EndReason != "cancelled" || calls[0].Status != sipmsg.StatusRequestTerminated {
		t.Errorf("cancelled call: %+v", calls[0])
	}
}

func TestRefusals(t *testing.T) {
	f := startFocus(t, Config{
		UniqueIdentities: true,
		Refuse: func(c CallInfo) (int, string) {
			if c.Conference == "locked" {
				return sipmsg.StatusForbidden, "Conference Locked"
			}
			return 0, ""
		},
	})
	u := newUAC(t)
	u.join(t, f, "room", "alice", "Alice", []uint8{ptPCMU})
	u.join(t, f, "other", "alice", "Alice", []uint8{ptPCMU}) // another conference: fine

	refused := func(conference, user string) int {
		ctx, cancel := context.WithTimeout(t.Context(), guard)
		defer cancel()
		dlg, _ := u.invite(t, ctx, f, conference, user, "", []uint8{ptPCMU})
		err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{})
		var res *sipgo.ErrDialogResponse
		if !errors.As(err, &res) {
			t.Fatalf("join %s as %s: %v, want a refusal", conference, user, err)
		}
		return res.Res.StatusCode
	}
	if got := refused("room", "alice"); got != sipmsg.StatusBusyHere {
		t.Errorf("a second alice in room got %d, want 486", got)
	}
	if got := refused("locked", "bob"); got != sipmsg.StatusForbidden {
		t.Errorf("joining the locked conference got %d, want 403", got)
	}
	u.join(t, f, "room", "bob", "Bob", []uint8{ptPCMU})
}

func TestReinvite(t *testing.T) {
	f := startFocus(t, Config{})
	u := newUAC(t)
	a := u.join(t, f, "room", "alice", "", []uint8{ptPCMU})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	port := a.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	req := sipmsg.NewRequest(sipmsg.INVITE, a.dlg.InviteResponse.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offerSDP(port, "sendonly", ptPCMA))
	res, err := a.dlg.Do(ctx, req)
	if err != nil || res.StatusCode != sipmsg.StatusOK {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	if err := a.dlg.WriteRequest(sipmsg.NewRequest(sipmsg.ACK, a.dlg.InviteResponse.Contact().Address)); err != nil {
		t.Fatal(err)
	}
	ans, err := parseOffer(res.Body())
	if err != nil || ans.codec != "PCMA" || ans.direction != "recvonly" || ans.remote != a.remote {
		t.Errorf("answer to the re-INVITE: %+v, %v; want PCMA, recvonly, the same port", ans, err)
	}
	got, _ := f.Call(a.callID)
	if got.Codec != "PCMA" || got.Direction != "sendonly" || got.State != Up {
		t.Errorf("after the re-INVITE: %+v", got)
	}
}

// subscribe sends a SUBSCRIBE for conference's events from u and returns the answer.
func (u *uac) subscribe(t *testing.T, f *Focus, conference string, expires int, dialog *sipmsg.Response) *sipmsg.Response {
	t.Helper()
	req := sipmsg.NewRequest(sipmsg.SUBSCRIBE, focusURI(f, conference))
	if dialog != nil {
		from, to, callID := *dialog.From(), *dialog.To(), *dialog.CallID()
		req.AppendHeader(&from)
		req.AppendHeader(&to)
		req.AppendHeader(&callID)
		req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: dialog.CSeq().SeqNo + 1, MethodName: sipmsg.SUBSCRIBE})
	} else {
		from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: "watcher", Host: "partyline.test"}, Params: sipmsg.NewParams()}
		from.Params.Add("tag", sipmsg.GenerateTagN(16))
		req.AppendHeader(from)
	}
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "watcher", Host: "127.0.0.1", Port: int(u.addr.Port())}})
	req.AppendHeader(sipmsg.NewHeader("Event", "conference"))
	req.AppendHeader(sipmsg.NewHeader("Accept", confInfoType))
	req.AppendHeader(sipmsg.NewHeader("Expires", fmt.Sprint(expires)))
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	res, err := u.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	return res
}

// awaitRoster applies the NOTIFYs u receives to r until the roster is want. It returns the
// Subscription-State of the last NOTIFY.
func (u *uac) awaitRoster(t *testing.T, r *confinfo.Roster, want ...confinfo.Participant) string {
	t.Helper()
	var got []confinfo.Participant
	for range 10 {
		var req *sipmsg.Request
		select {
		case req = <-u.notifies:
		case <-time.After(guard):
			t.Fatalf("no NOTIFY; roster %+v, want %+v", got, want)
		}
		if ev := req.GetHeader("Event"); ev == nil || ev.Value() != "conference" {
			t.Fatalf("NOTIFY with Event %v", ev)
		}
		state := req.GetHeader("Subscription-State").Value()
		if len(req.Body()) > 0 {
			if ct := req.ContentType(); ct == nil || ct.Value() != confinfo.ContentType {
				t.Fatalf("NOTIFY with Content-Type %v", ct)
			}
			doc, err := confinfo.Parse(req.Body())
			if err != nil {
				t.Fatalf("NOTIFY body: %v\n%s", err, req.Body())
			}
			if err := r.Apply(doc); err != nil {
				t.Fatalf("apply NOTIFY: %v\n%s", err, req.Body())
			}
		}
		if got = r.Participants(); slices.Equal(got, want) {
			return state
		}
	}
	t.Fatalf("roster %+v, want %+v", got, want)
	return ""
}

func TestConferenceEvents(t *testing.T) {
	f := startFocus(t, Config{Events: true})
	u := newUAC(t)
	a := u.join(t, f, "room", "alice", "Alice", []uint8{ptPCMU})
	if c := a.dlg.InviteResponse.Contact(); c == nil || !c.Params.Has("isfocus") || c.Address.User != "room" {
		t.Errorf("answer Contact %v, want the conference URI with isfocus", c)
	}
	if h := a.dlg.InviteResponse.GetHeader("Allow-Events"); h == nil || h.Value() != "conference" {
		t.Errorf("answer Allow-Events %v, want conference", h)
	}

	res := u.subscribe(t, f, "room", 120, nil)
	if res.StatusCode != sipmsg.StatusOK || res.GetHeader("Expires").Value() != "120" {
		t.Fatalf("SUBSCRIBE: %s, Expires %v", res.StartLine(), res.GetHeader("Expires"))
	}
	var roster confinfo.Roster
	alice := confinfo.Participant{URI: "sip:alice@partyline.test", DisplayName: "Alice", Status: "connected"}
	bob := confinfo.Participant{URI: "sip:bob@partyline.test", DisplayName: "Bob", Status: "connected"}
	if state := u.awaitRoster(t, &roster, alice); !strings.HasPrefix(state, "active;expires=") {
		t.Errorf("Subscription-State %q", state)
	}
	if v, full := roster.Version(); v != 1 || !full {
		t.Errorf("first NOTIFY: version %d, full %v; want 1, full", v, full)
	}

	b := u.join(t, f, "room", "bob", "Bob", []uint8{ptPCMA})
	u.awaitRoster(t, &roster, alice, bob)
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	if err := a.dlg.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	u.awaitRoster(t, &roster, bob)
	if err := f.Kick(b.callID); err != nil {
		t.Fatal(err)
	}
	u.awaitRoster(t, &roster)

	if res := u.subscribe(t, f, "room", 0, res); res.StatusCode != sipmsg.StatusOK {
		t.Fatalf("unSUBSCRIBE: %s", res.StartLine())
	}
	if state := u.awaitRoster(t, &roster); state != "terminated;reason=timeout" {
		t.Errorf("last Subscription-State %q", state)
	}
}

func TestSubscribeRefused(t *testing.T) {
	f := startFocus(t, Config{})
	u := newUAC(t)
	if res := u.subscribe(t, f, "room", 60, nil); res.StatusCode != statusBadEvent {
		t.Errorf("SUBSCRIBE to a focus without events: %s, want 489", res.StartLine())
	}
	a := u.join(t, f, "room", "alice", "", []uint8{ptPCMU})
	if c := a.dlg.InviteResponse.Contact(); c == nil || c.Params.Has("isfocus") {
		t.Errorf("answer Contact %v, want no isfocus", c)
	}
}

func TestParseOffer(t *testing.T) {
	o, err := parseOffer([]byte("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n" +
		"m=audio 4000 RTP/AVP 9 96 8 97\r\na=rtpmap:96 PCMU/8000\r\na=rtpmap:97 telephone-event/8000\r\na=recvonly\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o.codec != "PCMU" || o.pt != 96 || o.dtmf != 97 || o.direction != "recvonly" || o.remote != netip.MustParseAddrPort("10.0.0.1:4000") || o.audio != 1 {
		t.Errorf("offer %+v", o)
	}
	ans := string(answer(o, 6000, 1, 2))
	for _, want := range []string{"m=video 0 RTP/AVP 96\r\n", "m=audio 6000 RTP/AVP 96 97\r\n", "a=rtpmap:96 PCMU/8000\r\n", "a=sendonly\r\n", "o=partyline-focus 1 2 "} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
}

// TestLargeRoster: a roster too large for one NOTIFY over UDP reaches the subscriber as a
// full document and partial ones, which add up to it.
func TestLargeRoster(t *testing.T) {
	f := startFocus(t, Config{Events: true})
	u := newUAC(t)
	var want []confinfo.Participant
	for i := range 6 {
		user := fmt.Sprintf("pl-%06x", 0x7f3a9c+i)
		u.join(t, f, "room", user, "Recorder of the conference", []uint8{ptPCMU})
		want = append(want, confinfo.Participant{URI: "sip:" + user + "@partyline.test", DisplayName: "Recorder of the conference", Status: "connected"})
	}
	u.subscribe(t, f, "room", 60, nil)
	var roster confinfo.Roster
	u.awaitRoster(t, &roster, want...)
	if v, _ := roster.Version(); v < 2 {
		t.Errorf("the roster of 6 came in %d document(s); want it split", v)
	}
}

func TestInfoDigits(t *testing.T) {
	f := startFocus(t, Config{})
	u := newUAC(t)
	a := u.join(t, f, "room", "alice", "", []uint8{ptPCMU})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	info := func(contentType, body string) int {
		req := sipmsg.NewRequest(sipmsg.INFO, a.dlg.InviteResponse.Contact().Address)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
		req.SetBody([]byte(body))
		res, err := a.dlg.Do(ctx, req)
		if err != nil {
			t.Fatalf("INFO: %v", err)
		}
		return res.StatusCode
	}
	for _, tc := range []struct {
		contentType, body string
		want              int
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200},
		{"application/dtmf", "#", 200},
		{"application/dtmf-relay", "Signal=x\r\n", 400},
		{"text/plain", "5", 415},
	} {
		if got := info(tc.contentType, tc.body); got != tc.want {
			t.Errorf("INFO %s %q: %d, want %d", tc.contentType, tc.body, got, tc.want)
		}
	}
	if got, _ := f.Call(a.callID); got.Digits != "5#" {
		t.Errorf("digits %q, want 5#", got.Digits)
	}
}
