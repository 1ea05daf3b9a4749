package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// A System is what the System page reads and does besides a Backend: a Backend that also
// implements it gets the page (GET /system) and its actions. Its methods are called
// concurrently.
type System interface {
	// SystemInfo returns the firmware, the host and its clock as they are now.
	SystemInfo() SystemInfo
	// RestartService makes the appliance stop and start again (see the restart banner); it
	// returns before the restart.
	RestartService() error
	// Reboot reboots the device; it fails where the appliance may not (SystemInfo.RebootNote).
	Reboot() error
	// FactoryReset replaces every setting with the first-start ones and forgets the call
	// history, keeping the admin password only if keepPassword, and then restarts as
	// RestartService does (or, outside a service manager, stops). Recordings stay.
	FactoryReset(keepPassword bool) error

	// Packet capture: see the capture controls of the page.

	// StartCapture starts capturing the appliance's own SIP and RTP, dropping the last
	// capture; it stops by itself at the capture's bounds.
	StartCapture()
	// StopCapture stops the capture; its file stays for WriteCapture.
	StopCapture()
	// CaptureStatus says what the capture is doing.
	CaptureStatus() CaptureStatus
	// WriteCapture writes the pcap file of the capture, as far as it got; an error
	// wrapping ErrNoCapture before the first.
	WriteCapture(w io.Writer) error
}

// ErrNoCapture is what System.WriteCapture's error wraps before the first capture.
var ErrNoCapture = errors.New("no packet capture yet")

// SystemInfo is what the System page shows of the firmware, the host and its clock.
type SystemInfo struct {
	Version   string    // the firmware's version
	Build     string    // its build (commit)
	Started   time.Time // when the appliance started
	HostUp    time.Time // when the host booted; zero when unknown
	HostName  string
	Addresses []string // the host's IP addresses, loopback left out
	Now       time.Time
	// Synchronized says whether the OS's clock is synchronised (NTP); SyncKnown is false
	// when the appliance cannot tell.
	Synchronized, SyncKnown bool
	// RebootNote, when not "", says why the device cannot be rebooted from the page (e.g.
	// partyline not run by systemd).
	RebootNote string
}

// CaptureStatus is what the packet capture is doing.
type CaptureStatus struct {
	Running bool      `json:"running"`
	Started time.Time `json:"started,omitzero"` // of the last capture; zero before any
	Ended   time.Time `json:"ended,omitzero"`   // zero while running
	Packets int       `json:"packets"`
	Bytes   int       `json:"bytes"`
	Stopped string    `json:"stopped"` // why the last capture stopped, e.g. "time limit (60 s) reached"
	// MaxSeconds and MaxBytes bound a capture.
	MaxSeconds int `json:"maxSeconds"`
	MaxBytes   int `json:"maxBytes"`
}

type systemPage struct {
	frame
	Info    SystemInfo
	Capture CaptureStatus
	Uptime  string // how long the appliance has run
	HostUp  string // how long the host has run; "" when unknown
}

// systemNotices are what the System page says after a redirect, by its "done" query.
var systemNotices = map[string]string{
	"capture-started": "Capture started: it records this appliance's SIP and RTP until you stop it or it reaches its bounds.",
	"capture-stopped": "Capture stopped: download it below.",
	"restarting":      "The service is restarting: this page answers again in a few seconds.",
	"rebooting":       "The device is rebooting: this page answers again once it is up.",
	"reset":           "Factory reset done: the appliance restarts with the first-start settings.",
}

func (s *server) systemPage(w http.ResponseWriter, r *http.Request) {
	s.renderSystem(w, http.StatusOK, "", systemNotices[r.URL.Query().Get("done")])
}

func (s *server) renderSystem(w http.ResponseWriter, code int, problem, notice string) {
	info := s.system.SystemInfo()
	p := &systemPage{
		frame:   frame{Title: "System", Nav: "system", LoggedIn: true, Error: problem, Notice: notice},
		Info:    info,
		Capture: s.system.CaptureStatus(),
		Uptime:  roughDuration(info.Now.Sub(info.Started)),
	}
	if !info.HostUp.IsZero() {
		p.HostUp = roughDuration(info.Now.Sub(info.HostUp))
	}
	s.render(w, code, "system.tmpl", p)
}

// roughDuration says d in days, hours, minutes and seconds, leaving out the leading zeros:
// "3 d 4 h 5 min", "12 min 7 s".
func roughDuration(d time.Duration) string {
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, sec := d/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h %d min", days, h, m)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, sec)
	}
	return fmt.Sprintf("%d s", sec)
}

// systemDone answers a System page button that did its work.
func systemDone(w http.ResponseWriter, r *http.Request, done string) {
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/system?done="+done, http.StatusSeeOther)
}

// systemGoing answers a restart, a reboot or a factory reset that is under way: with the
// page itself rather than a redirect, which the appliance, going away, may not answer.
func (s *server) systemGoing(w http.ResponseWriter, r *http.Request, done string) {
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.renderSystem(w, http.StatusOK, "", systemNotices[done])
}

// systemFailed answers a System page button that could not do its work.
func (s *server) systemFailed(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		s.writeJSON(w, struct {
			Error string `json:"error"`
		}{msg})
		return
	}
	s.renderSystem(w, code, msg, "")
}

// capture starts or stops the packet capture: the form's "action" is "start" or "stop".
func (s *server) capture(w http.ResponseWriter, r *http.Request) {
	switch a := r.PostFormValue("action"); a {
	case "start":
		s.system.StartCapture()
		s.log.Info("packet capture started", "client", clientAddr(r))
		systemDone(w, r, "capture-started")
	case "stop":
		s.system.StopCapture()
		s.log.Info("packet capture stopped", "client", clientAddr(r))
		systemDone(w, r, "capture-stopped")
	default:
		s.systemFailed(w, r, http.StatusBadRequest, fmt.Sprintf("action must be start or stop, not %q", a))
	}
}

// captureFile sends the pcap file of the capture, as an attachment.
func (s *server) captureFile(w http.ResponseWriter, r *http.Request) {
	st := s.system.CaptureStatus()
	if st.Started.IsZero() {
		s.systemFailed(w, r, http.StatusNotFound, "There is no capture to download yet: start one first.")
		return
	}
	name := "partyline-" + st.Started.UTC().Format("20060102T150405Z") + ".pcap"
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("capture download: clear write deadline", "err", err)
	}
	if err := s.system.WriteCapture(w); err != nil {
		s.log.Debug("capture download", "err", err)
	}
}

// restartService restarts the service, once the form's "confirm" says so.
func (s *server) restartService(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		s.systemFailed(w, r, http.StatusBadRequest, "Not restarted: confirm the restart.")
		return
	}
	if err := s.system.RestartService(); err != nil {
		s.systemFailed(w, r, http.StatusConflict, "Not restarted: "+err.Error())
		return
	}
	s.log.Warn("service restart asked for on the admin page", "client", clientAddr(r))
	s.systemGoing(w, r, "restarting")
}

// reboot reboots the device, once the form's "confirm" says so.
func (s *server) reboot(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		s.systemFailed(w, r, http.StatusBadRequest, "Not rebooted: confirm the reboot.")
		return
	}
	if err := s.system.Reboot(); err != nil {
		s.systemFailed(w, r, http.StatusConflict, "Not rebooted: "+err.Error())
		return
	}
	s.log.Warn("reboot asked for on the admin page", "client", clientAddr(r))
	s.systemGoing(w, r, "rebooting")
}

// factoryReset resets the settings, once the form's "confirm" says so; the admin password
// stays only when "keep_password" is ticked.
func (s *server) factoryReset(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		s.systemFailed(w, r, http.StatusBadRequest, "Not reset: confirm the factory reset.")
		return
	}
	keep := r.PostFormValue("keep_password") == "on"
	if err := s.system.FactoryReset(keep); err != nil {
		s.systemFailed(w, r, http.StatusConflict, "Not reset: "+err.Error())
		return
	}
	s.log.Warn("factory reset on the admin page", "client", clientAddr(r), "kept_password", keep)
	s.systemGoing(w, r, "reset")
}
