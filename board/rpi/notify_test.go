package rpi

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket at name, as systemd's notification socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func receive(t *testing.T, l *net.UnixConn) string {
	t.Helper()
	if err := l.SetReadDeadline(time.Now().Add(time.Minute)); err != nil { // a failsafe
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l := listen(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	for _, state := range []string{"READY=1", "WATCHDOG=1", "STATUS=2 handsets\nREADY=1"} {
		if err := Notify(state); err != nil {
			t.Fatalf("Notify(%q): %v", state, err)
		}
		if got := receive(t, l); got != state {
			t.Errorf("systemd received %q, want %q", got, state)
		}
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	sock := "@partyline-test-" + strconv.Itoa(os.Getpid())
	l := listen(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, l); got != "READY=1" {
		t.Errorf("systemd received %q, want READY=1", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify("READY=1"); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	err := Notify("READY=1")
	if err == nil || !strings.HasPrefix(err.Error(), "notify systemd of READY=1: ") {
		t.Errorf("Notify to a missing socket = %v, want an error naming the state", err)
	}
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	err = Notify("STATUS=x\nREADY=1")
	if err == nil || err.Error() != `notify systemd of STATUS=x: unsupported NOTIFY_SOCKET "vsock:2:1234"` {
		t.Errorf("Notify to vsock = %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"30000000", pid, 30 * time.Second, true},
		{"30000000", "", 30 * time.Second, true},
		{"30000000", "1", 0, false},
		{"", "", 0, false},
		{"soon", pid, 0, false},
		{"0", pid, 0, false},
	} {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		if d, ok := WatchdogInterval(); d != tt.want || ok != tt.ok {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v; want %v, %v", tt.usec, tt.pid, d, ok, tt.want, tt.ok)
		}
	}
}

// TestNotifyDoesNotHangOnAStalledSocket: when nobody reads the socket, its queue fills and
// Notify fails after its timeout instead of blocking its caller (the watchdog's loop).
func TestNotifyDoesNotHangOnAStalledSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	listen(t, sock) // never read
	t.Setenv("NOTIFY_SOCKET", sock)
	failed := make(chan error, 1)
	go func() {
		for range 100000 { // a unix datagram queue holds far fewer
			if err := Notify("WATCHDOG=1"); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	}()
	select {
	case err := <-failed:
		if err == nil || !strings.Contains(err.Error(), "WATCHDOG=1") {
			t.Errorf("Notify into a full queue: %v, want an error naming the notification", err)
		}
	case <-time.After(time.Minute): // failsafe
		t.Fatal("Notify blocked on a socket nobody reads")
	}
}
