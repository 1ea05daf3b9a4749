package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// failsafe bounds the tests' waits for a peer or the agent to get somewhere: only what
// never happens takes that long, however busy the machine is.
const failsafe = time.Minute

// stopBound is how long a step that must not wait for a SIP transaction to time out (32 s,
// Timer B or F) may take on a busy machine: well above what it takes, well below 32 s.
const stopBound = 15 * time.Second

// startAgent runs an Agent on 127.0.0.1 until the test ends.
func startAgent(t *testing.T) *Agent {
	t.Helper()
	return startAgentWith(t, Config{ListenAddr: "127.0.0.1:0"})
}

// startAgentWith runs an Agent configured by cfg, logging to the test, until the test ends.
func startAgentWith(t *testing.T, cfg Config) *Agent {
	t.Helper()
	cfg.UserAgent, cfg.Log = "partyline-test", testLog(t)
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(failsafe):
			t.Errorf("Run did not return within %v of its context ending", failsafe)
		}
	})
	return a
}

// testLog logs to the test's output (shown with -v or on failure) until the
// test ends. sipgo handles each message in a goroutine of its own, which
// may log a moment after Run returned; those lines are dropped.
func testLog(t *testing.T) *slog.Logger {
	w := &testWriter{out: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu     sync.Mutex // guards following
	out    io.Writer
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.out.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// rawPeer is a plain UDP socket that speaks SIP by hand.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawPeer(t *testing.T, a *Agent) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, to: net.UDPAddrFromAddrPort(a.Addr())}
}

func (p *rawPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// request returns a request from the peer; headers replace or add to the
// defaults, "Name:" alone removes one.
func (p *rawPeer) request(method string, headers ...string) string {
	h := []string{
		"Via: SIP/2.0/UDP 127.0.0.1:" + fmt.Sprint(p.port()) + ";branch=z9hG4bK" + newToken(),
		"Max-Forwards: 70",
		"From: <sip:peer@127.0.0.1>;tag=" + newToken(),
		"To: <sip:alice@127.0.0.1>",
		"Call-ID: " + newToken(),
		"CSeq: 1 " + method,
		"Contact: <sip:peer@127.0.0.1:" + fmt.Sprint(p.port()) + ">",
	}
	for _, e := range headers {
		name, _, _ := strings.Cut(e, ":")
		replaced := false
		for i := range h {
			if strings.HasPrefix(h[i], name+":") {
				h[i], replaced = e, true
			}
		}
		if !replaced {
			h = append(h, e)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:alice@%s SIP/2.0\r\n", method, p.to)
	for _, line := range h {
		if !strings.HasSuffix(line, ":") {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (p *rawPeer) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// final returns the first final response that arrives within timeout, or
// "" if none does.
func (p *rawPeer) final(timeout time.Duration) string {
	buf := make([]byte, 65535)
	deadline := time.Now().Add(timeout)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		if m := string(buf[:n]); strings.HasPrefix(m, "SIP/2.0 ") && !strings.HasPrefix(m, "SIP/2.0 1") {
			return m
		}
	}
}

func statusLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\r\n")
	return line
}

func TestIncomingRequests(t *testing.T) {
	a := startAgent(t)
	tests := []struct {
		name    string
		method  string
		headers []string
		want    string // status line
	}{
		{"options", "OPTIONS", nil, "SIP/2.0 200 OK"},
		{"options in a dialog", "OPTIONS", []string{"To: <sip:alice@127.0.0.1>;tag=x"}, "SIP/2.0 200 OK"},
		{"new call", "INVITE", nil, "SIP/2.0 480 Incoming Calls Not Supported Yet"},
		{"invite without contact", "INVITE", []string{"Contact:"}, "SIP/2.0 400 Missing Contact"},
		{"re-invite of no call", "INVITE", []string{"To: <sip:alice@127.0.0.1>;tag=x"}, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"bye of no call", "BYE", []string{"To: <sip:alice@127.0.0.1>;tag=x"}, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"bye without to tag", "BYE", nil, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"info of no call", "INFO", []string{"To: <sip:alice@127.0.0.1>;tag=x"}, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"cancel of nothing", "CANCEL", nil, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"register", "REGISTER", nil, "SIP/2.0 405 Method Not Allowed"},
		{"update of no call", "UPDATE", []string{"To: <sip:alice@127.0.0.1>;tag=x"}, "SIP/2.0 481 Call/Transaction Does Not Exist"},
		{"no from tag", "OPTIONS", []string{"From: <sip:peer@127.0.0.1>"}, "SIP/2.0 400 Missing From Tag"},
		{"no call-id", "OPTIONS", []string{"Call-ID:"}, "SIP/2.0 400 Missing Call-ID"},
		{"cseq method mismatch", "OPTIONS", []string{"CSeq: 1 INVITE"}, "SIP/2.0 400 CSeq Method Does Not Match"},
		{"no to", "BYE", []string{"To:"}, "SIP/2.0 400 Missing To"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newRawPeer(t, a)
			p.send(p.request(tt.method, tt.headers...))
			got := p.final(failsafe)
			if statusLine(got) != tt.want {
				t.Errorf("%s: got %q, want %q\n%s", tt.method, statusLine(got), tt.want, got)
			}
			if strings.Contains(tt.want, " 405 ") && !strings.Contains(got, "Allow: INVITE") {
				t.Errorf("405 without Allow:\n%s", got)
			}
		})
	}
}

// TestMalformedDatagrams sends what a broken or hostile peer might, then
// checks that the agent still answers.
func TestMalformedDatagrams(t *testing.T) {
	a := startAgent(t)
	p := newRawPeer(t, a)
	garbage := []string{
		"",
		"\r\n\r\n",
		"\x00\x00\x00\x00",
		"hello, world",
		"\xff\xfe\xfd binary \x01\x02",
		"INVITE\r\n\r\n",
		"INVITE sip:alice@127.0.0.1 SIP/2.0\r\n",
		"INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: garbage\r\nCSeq: x\r\n\r\n",
		"OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nFrom: \"unterminated <sip:x@y>\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nthis line has no colon\r\n\r\n",
		"OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\nshort",
		"BYE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nCSeq: 99999999999999999999 BYE\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKnone\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 999999 Huge\r\n\r\n",
		strings.Repeat("A", 9000),
		// Parses, but the INVITE's SDP is nonsense and its URI not SIP.
		strings.Replace(p.request("INVITE"), "Content-Length: 0\r\n\r\n", "Content-Type: application/sdp\r\nContent-Length: 7\r\n\r\nv=oops\n", 1),
		strings.Replace(p.request("OPTIONS"), "OPTIONS sip:", "OPTIONS tel:+1555", 1),
	}
	for _, g := range garbage {
		p.send(g)
	}
	// The last two are answered; drain those answers, then ask.
	deadline := time.Now().Add(failsafe)
	for time.Now().Before(deadline) && p.final(300*time.Millisecond) != "" {
	}
	p.send(p.request("OPTIONS"))
	if got := p.final(failsafe); statusLine(got) != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS after malformed datagrams: got %q, want 200 OK", statusLine(got))
	}
}

func TestNewAgent(t *testing.T) {
	a, err := NewAgent(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	if got := a.Addr(); got.Addr().String() != "127.0.0.1" || got.Port() == 0 {
		t.Errorf("Addr() = %v, want 127.0.0.1 and a port", got)
	}
	if _, err := NewAgent(Config{ListenAddr: a.Addr().String()}); err == nil {
		t.Errorf("NewAgent on a port in use: got nil error")
	}
	if _, err := NewAgent(Config{ListenAddr: "no port"}); err == nil {
		t.Errorf("NewAgent(%q): got nil error", "no port")
	}
	wild, err := NewAgent(Config{ListenAddr: "0.0.0.0:0"})
	if err != nil {
		t.Fatalf("NewAgent(0.0.0.0:0): %v", err)
	}
	if got := wild.Addr(); !got.Addr().IsUnspecified() || !got.Addr().Is4() || got.Port() == 0 {
		t.Errorf("Addr() = %v, want 0.0.0.0 and a port", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if err := a.waitReady(t.Context()); err != nil {
		t.Fatalf("waitReady: %v", err)
	}
	if err := a.Run(ctx); err == nil {
		t.Error("second Run: got nil error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if _, err := a.Join(t.Context(), JoinRequest{}); err == nil {
		t.Error("Join after Run: got nil error")
	}
	// Run on the 0.0.0.0 agent too, which closes its socket.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := wild.Run(ctx2); err != nil {
		t.Errorf("Run with a done context = %v, want nil", err)
	}
	if err := wild.KeepRegistered(t.Context(), Account{User: "u", Domain: "d"}, nil); !errors.Is(err, errStopped) {
		t.Errorf("KeepRegistered after Run = %v, want %v", err, errStopped)
	}
}

func TestRegStateString(t *testing.T) {
	for s, want := range map[RegState]string{Unregistered: "unregistered", Registering: "registering", Registered: "registered", Failed: "failed", 9: "RegState(9)"} {
		if got := s.String(); got != want {
			t.Errorf("RegState(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestQuoteDisplayName(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Desk "One" \ Reception`, `Desk \"One\" \\ Reception`},
		{"plain", "plain"},
		{"  padded  ", "padded"},
		{"evil\r\nX-Injected: 1", "evil  X-Injected: 1"},
		{"tab\there", "tab here"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"Zoë 会议", "Zoë 会议"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := quoteDisplayName(tt.in); got != tt.want {
			t.Errorf("quoteDisplayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAccount(t *testing.T) {
	acc := Account{User: "alice", Domain: "example.com", Proxy: "127.0.0.1:5070"}
	if got := acc.AOR(); got != "sip:alice@example.com" {
		t.Errorf("AOR() = %q", got)
	}
	if got := fmt.Sprint(slog.AnyValue(Account{User: "a", Domain: "d", Password: "secret"}).Resolve()); strings.Contains(got, "secret") {
		t.Errorf("logged account shows the password: %s", got)
	}
	if err := acc.validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	r, _ := acc.route()
	if got := r.Value(); got != "<sip:127.0.0.1:5070;lr>" {
		t.Errorf("route = %q, want <sip:127.0.0.1:5070;lr>", got)
	}
	for _, bad := range []Account{
		{Domain: "example.com"},
		{User: "alice"},
		{User: "al ice", Domain: "example.com"},
		{User: "alice", Domain: "example.com", Proxy: "host:notaport"},
		{User: "alice", Domain: "example.com", Proxy: "host:0"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("validate(%+v): got nil error", bad)
		}
	}
}
