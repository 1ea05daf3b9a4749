package rpi

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// notifyTimeout bounds the write of one notification.
const notifyTimeout = 2 * time.Second

// Notify sends state to systemd, as sd_notify(3) does: "READY=1" once the appliance is up,
// "WATCHDOG=1" at least every half WatchdogInterval, "STOPPING=1" on the way out, "STATUS=…"
// for systemctl status; several assignments are separated by newlines. It writes one
// datagram to the unix socket in $NOTIFY_SOCKET (a path, or "@name" in the abstract
// namespace). Without NOTIFY_SOCKET, when systemd did not start the process as a notify
// service, it does nothing and returns nil.
func Notify(state string) error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	what, _, _ := strings.Cut(state, "\n")
	if sock[0] != '/' && sock[0] != '@' {
		return fmt.Errorf("notify systemd of %s: unsupported NOTIFY_SOCKET %q", what, sock)
	}
	// Go reads a leading '@' as the abstract namespace, as systemd means it.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd of %s: %w", what, err)
	}
	defer conn.Close()
	// systemd reads its socket at once; one that nobody reads must not hang the caller
	// (the watchdog's loop among them).
	if err := conn.SetWriteDeadline(time.Now().Add(notifyTimeout)); err != nil {
		return fmt.Errorf("notify systemd of %s: %w", what, err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd of %s: %w", what, err)
	}
	return nil
}

// WatchdogInterval reports the watchdog timeout systemd set for this process (the unit's
// WatchdogSec=, passed as $WATCHDOG_USEC and, for this process only, $WATCHDOG_PID). Send
// "WATCHDOG=1" at least twice within it. It reports false when there is no watchdog, or
// when the variables are malformed or meant for another process.
func WatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond, true
}
