package appliance

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"partyline/appliance/settings"
)

// ErrRestart is what Run returns, after stopping cleanly, when the admin page asked for a
// restart: the caller starts partyline again with Restart.
var ErrRestart = errors.New("restart asked for on the admin page")

// ExitRestart is the exit status with which partyline, under systemd, asks to be started
// again (EX_TEMPFAIL): the unit's Restart=on-failure does it.
const ExitRestart = 75

// Restart starts partyline again once Run has returned ErrRestart. Under systemd (which sets
// INVOCATION_ID) it returns ExitRestart for the process to exit with, so that systemd, which
// watches the process and its notifications, starts a new one. Elsewhere it replaces the
// process with a new run of the same executable, arguments and environment (execve), and
// returns only when that fails.
func Restart() (exitStatus int, err error) {
	if os.Getenv("INVOCATION_ID") != "" {
		return ExitRestart, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return 1, fmt.Errorf("restart: find the executable: %w", err)
	}
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return 1, fmt.Errorf("restart: run %s again: %w", exe, err)
	}
	return 0, nil // not reached: Exec does not return when it succeeds
}

// requestRestart asks Run to stop and return ErrRestart. It returns at once; a second
// request while the first is under way changes nothing.
func (a *Appliance) requestRestart() {
	a.restartOnce.Do(func() { close(a.restart) })
}

// pendingRestart lists what of the settings saved since the appliance started applies only
// at its next restart; nil when nothing does. What a command-line flag overrides (-sip,
// -board) is left out: a restart would not apply it either.
func (a *Appliance) pendingRestart() []string {
	why := settings.RestartReasons(a.started, a.store.Current().Settings)
	return slices.DeleteFunc(why, func(r string) bool {
		return r == settings.RestartSIPListen && a.sipFlag || r == settings.RestartBoard && a.boardFlag
	})
}
