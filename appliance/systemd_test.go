package appliance

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestTellSystemd listens where systemd would and checks that the appliance reports
// READY=1, feeds the watchdog and reports STOPPING=1.
func TestTellSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "30000") // 30 ms: fed every 10 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tellSystemd(ctx, slog.New(slog.DiscardHandler)); close(done) }()

	read := func() string {
		t.Helper()
		buf := make([]byte, 256)
		_ = conn.SetReadDeadline(time.Now().Add(failsafe))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("first notification = %q, want READY=1", got)
	}
	for range 2 {
		if got := read(); got != "WATCHDOG=1" {
			t.Fatalf("notification = %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	<-done
	for { // watchdog pings sent before the cancel may still be queued
		got := read()
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("notification = %q, want STOPPING=1", got)
		}
	}
}
