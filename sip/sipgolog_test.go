package sip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestUnparsableDatagramIsAWarning sends a large datagram that does not parse: the log
// says so once as a warning with its size and start, not at error level in full.
func TestUnparsableDatagramIsAWarning(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := NewAgent(Config{ListenAddr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	p := newRawPeer(t, a)
	garbage := "NOT SIP " + strings.Repeat("A", 4000)
	p.send(garbage)
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(buf.String(), "does not parse") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := buf.String()
	if !strings.Contains(got, "level=WARN msg=\"dropped a SIP message that does not parse\"") {
		t.Fatalf("no warning for the unparsable datagram; log:\n%s", got)
	}
	if !strings.Contains(got, "bytes=4008") || !strings.Contains(got, "start=\"NOT SIP AAA") {
		t.Errorf("the warning does not give the size and start of the datagram; log:\n%s", got)
	}
	if strings.Contains(got, strings.Repeat("A", unparsablePrefix+1)) {
		t.Errorf("the log holds the whole datagram:\n%.300s…", got)
	}
	if strings.Contains(got, "level=ERROR") {
		t.Errorf("a peer's garbage is logged as our error:\n%.300s…", got)
	}
}

// A lockedBuffer is a bytes.Buffer that the agent's goroutines may write while the test reads.
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

// TestClosedConnectionsAreQuiet: sipgo warns on its package-level logger every time a TCP
// or TLS connection closes after its reader dropped it, which any peer can cause; the
// agent has that at debug level, while sipgo's other warnings stay warnings.
func TestClosedConnectionsAreQuiet(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer slog.SetDefault(prev)
	quietSipgoDefault()
	for range 100 {
		sipmsg.DefaultLogger().Warn(negativeRef, "ip", "127.0.0.1:5060", "dst", "127.0.0.2:40000", "ref", -1)
	}
	sipmsg.DefaultLogger().With("caller", "test").Warn("something else")
	if got := buf.String(); strings.Contains(got, negativeRef) || !strings.Contains(got, "something else") || !strings.Contains(got, "caller=test") {
		t.Errorf("the default log has:\n%s\nwant only the other warning, with its attributes", got)
	}
}
