package appliance

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"partyline/hw/sim"
)

// notifySocket listens where systemd would, with the environment of a service that has a
// watchdog of timeout usec microseconds, and returns a reader of the notifications. It
// reads the socket all along, as systemd does: a sender to a full socket would block.
func notifySocket(t *testing.T, usec int) func(wait time.Duration) (string, error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(usec))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	got := make(chan string, 10000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // closed at the end of the test
			}
			select {
			case got <- string(buf[:n]):
			default: // the test stopped looking: systemd would have taken it all the same
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return func(wait time.Duration) (string, error) {
		select {
		case s := <-got:
			return s, nil
		case <-time.After(wait):
			return "", os.ErrDeadlineExceeded
		}
	}
}

// probedLoop is a loop that answers every probe at once, unless stuck.
type probedLoop struct {
	n     atomic.Uint64
	stuck atomic.Bool
}

func (l *probedLoop) probe() {
	if !l.stuck.Load() {
		l.n.Add(1)
	}
}

// TestTellSystemd listens where systemd would and checks that the appliance reports
// READY=1, feeds the watchdog while its loops answer, and reports STOPPING=1.
func TestTellSystemd(t *testing.T) {
	read := notifySocket(t, 30000) // 30 ms: checked and fed every 10 ms
	next := func() string {
		t.Helper()
		got, err := read(failsafe)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return got
	}
	var l probedLoop
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		tellSystemd(ctx, slog.New(slog.DiscardHandler), []watchedLoop{{name: "test", beats: l.n.Load, probe: l.probe}})
		close(done)
	}()

	if got := next(); got != "READY=1" {
		t.Fatalf("first notification = %q, want READY=1", got)
	}
	for range 2 {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("notification = %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	<-done
	for { // watchdog pings sent before the cancel may still be queued
		got := next()
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("notification = %q, want STOPPING=1", got)
		}
	}
}

// stuckSpeaker is an alert speaker whose Play does not return until released: the
// appliance plays the status tone on the handset's line, which it thereby blocks.
type stuckSpeaker struct {
	release chan struct{}
	once    sync.Once
}

func (s *stuckSpeaker) Play(int, []int16) error {
	<-s.release
	return nil
}

// free lets Play return, now and from then on.
func (s *stuckSpeaker) free() { s.once.Do(func() { close(s.release) }) }

// TestWatchdogStopsWhileAHandsetIsStuck runs the appliance under a watchdog, as systemd
// would with WatchdogSec, and blocks the loop of handset 1 in a test build: its alert
// speaker never returns from the status tone of the failed join that lifting the handset
// makes (no account is set). The watchdog must be fed while all is well, then no longer,
// with the log naming the stuck loop, and again once the loop is free.
func TestWatchdogStopsWhileAHandsetIsStuck(t *testing.T) {
	const usec = 600000 // 600 ms: a check every 200 ms
	read := notifySocket(t, usec)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	board := sim.New(2)
	a, err := New(Config{Board: "sim", DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0", Sim: board}, log)
	if err != nil {
		t.Fatal(err)
	}
	speaker := &stuckSpeaker{release: make(chan struct{})}
	a.hw.speaker = speaker
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- a.Run(ctx) }()
	defer func() {
		speaker.free() // the line stops only once it is free
		cancel()
		if err := <-result; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Log(logs.String())
		}
	}()

	// waitFor reads notifications until want comes.
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(failsafe)
		for {
			got, err := read(time.Until(deadline))
			if err != nil {
				t.Fatalf("waited for %s: %v", want, err)
			}
			if got == want {
				return
			}
		}
	}
	waitFor("READY=1")
	for range 3 {
		waitFor("WATCHDOG=1")
	}

	board.Hook(0).Set(true) // the join fails, and its status tone never returns
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(logs.String(), "a loop is stuck") {
		if time.Now().After(deadline) {
			t.Fatalf("no stuck loop logged within %v", failsafe)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if line := stuckLine(logs.String()); !strings.Contains(line, `loop="handset 1"`) {
		t.Errorf("the stuck loop is logged as %q, want handset 1 named", line)
	}
	waitFor("STATUS=stuck: handset 1")
	// Pings sent before the check found the loop stuck may be queued; after STATUS none.
	// Five checks' time without one is what systemd would see, and it would restart us.
	if got, err := read(5 * usec * time.Microsecond / 3); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("notification %q (%v) while handset 1 is stuck, want none", got, err)
	}

	speaker.free()
	waitFor("STATUS=")
	waitFor("WATCHDOG=1")
	if !strings.Contains(logs.String(), `a stuck loop runs again: feeding the systemd watchdog again" loop="handset 1"`) {
		t.Error("the recovery of handset 1 is not logged")
	}
}

// stuckLine returns the first log line that reports a stuck loop.
func stuckLine(logs string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "a loop is stuck") {
			return line
		}
	}
	return ""
}
