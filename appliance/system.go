package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"partyline/appliance/capture"
	"partyline/appliance/web"
)

// underSystemd reports whether systemd runs the appliance as a service, which starts it
// again after ErrRestart: systemd sets INVOCATION_ID for every unit it runs.
func underSystemd() bool { return os.Getenv("INVOCATION_ID") != "" }

// notUnderSystemd is why the page cannot reboot the device outside systemd.
const notUnderSystemd = "partyline is not run by systemd here (it was started by hand), so it does not reboot the device: reboot it where partyline was started"

// systemctlReboot reboots the device through systemd; the package's polkit rule lets the
// service's user do it.
func systemctlReboot() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "reboot").CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl reboot: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// SystemInfo implements web.System.
func (b backend) SystemInfo() web.SystemInfo {
	a := b.a
	info := web.SystemInfo{Version: a.version, Build: a.build, Started: a.startedAt, Now: time.Now(), HostUp: hostBoot()}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Build == "" {
		info.Build = "unknown"
	}
	info.HostName, _ = os.Hostname()
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
				info.Addresses = append(info.Addresses, ipn.IP.String())
			}
		}
	}
	info.Synchronized, info.SyncKnown = clockSynchronized()
	if !underSystemd() {
		info.RebootNote = notUnderSystemd + "."
	}
	return info
}

// hostBoot is when the host booted, from /proc/uptime; zero when unknown.
func hostBoot() time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}
	}
	first, _, _ := strings.Cut(string(b), " ")
	secs, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(secs * float64(time.Second)))
}

// clockSynchronized reports whether the kernel's clock is synchronised (NTP), as adjtimex
// tells it, or else timedatectl; known is false when neither can tell (the service's
// sandbox may deny adjtimex).
func clockSynchronized() (synced, known bool) {
	const (
		timeError = 5    // TIME_ERROR: the clock is not synchronised
		staUnsync = 0x40 // STA_UNSYNC
	)
	var tx syscall.Timex // modes 0: read only
	if state, err := syscall.Adjtimex(&tx); err == nil {
		return state != timeError && tx.Status&staUnsync == 0, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "timedatectl", "show", "-p", "NTPSynchronized", "--value").Output()
	if err != nil {
		return false, false
	}
	switch strings.TrimSpace(string(out)) {
	case "yes":
		return true, true
	case "no":
		return false, true
	}
	return false, false
}

// RestartService implements web.System: as the restart banner's button does, under
// systemd or not (see Restart).
func (b backend) RestartService() error { return b.Restart() }

// Reboot implements web.System.
func (b backend) Reboot() error {
	if !underSystemd() {
		return errors.New(notUnderSystemd)
	}
	b.a.log.Warn("rebooting the device: asked for on the admin page")
	return b.a.reboot()
}

// FactoryReset implements web.System: the first-start settings for the board's handsets,
// no call history, the admin password only if keepPassword; then the appliance restarts.
func (b backend) FactoryReset(keepPassword bool) error {
	a := b.a
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	if err := a.store.FactoryReset(len(a.lines)); err != nil {
		return err
	}
	if !keepPassword {
		if err := a.store.ClearAdminPassword(); err != nil {
			return fmt.Errorf("factory reset: %w", err)
		}
	}
	a.log.Warn("factory reset: restarting", "kept_admin_password", keepPassword)
	a.requestRestart()
	return nil
}

// StartCapture implements web.System.
func (b backend) StartCapture() { b.a.capture.Start() }

// StopCapture implements web.System.
func (b backend) StopCapture() { b.a.capture.Stop() }

// CaptureStatus implements web.System.
func (b backend) CaptureStatus() web.CaptureStatus {
	st := b.a.capture.Status()
	return web.CaptureStatus{Running: st.Running, Started: st.Started, Ended: st.Ended, Packets: st.Packets, Bytes: st.Bytes,
		Stopped: st.Stopped, MaxSeconds: int(capture.MaxDuration / time.Second), MaxBytes: capture.MaxBytes}
}

// WriteCapture implements web.System.
func (b backend) WriteCapture(w io.Writer) error {
	_, err := b.a.capture.WriteTo(w)
	if errors.Is(err, capture.ErrNoCapture) {
		return fmt.Errorf("%w", web.ErrNoCapture)
	}
	return err
}
