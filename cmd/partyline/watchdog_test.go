package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryFeedsTheWatchdog runs the real binary as systemd runs the unit (a notify
// service with a watchdog, here of 600 ms so that it is checked every 200 ms): it says
// READY=1, then WATCHDOG=1 again and again, which it does only while the SIP agent, both
// sim handsets' loops and the audio answer (appliance's TestWatchdogStopsWhileAHandsetIsStuck
// blocks one), and it logs no stuck loop.
func TestBinaryFeedsTheWatchdog(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cmd := exec.Command(bin, "-board", "sim", "-data", filepath.Join(dir, "data"), "-admin", "127.0.0.1:0", "-sip", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=600000")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("partyline output:\n%s", logs.String())
		}
	}()

	want := []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"}
	deadline := time.Now().Add(failsafe)
	buf := make([]byte, 256)
	for len(want) > 0 {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want[0], err)
		}
		if got := string(buf[:n]); got == want[0] {
			want = want[1:]
		} else if got != "WATCHDOG=1" {
			t.Errorf("notification %q, want %s", got, want[0])
		}
	}
	if strings.Contains(logs.String(), "stuck") {
		t.Errorf("a loop was logged stuck:\n%s", logs.String())
	}
}
