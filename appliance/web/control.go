package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The handsets' buttons on the dashboard: virtual hooks, remote control and
// digits. Each is a form that posts and is redirected back to the dashboard, so it
// works without script; the page's script posts the same form asking for
// JSON and gets 204, or its error as JSON, and the event stream shows the
// result.

// hook moves a handset's virtual hook.
func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	i, id, ok := s.handsetIndex(w, r)
	if !ok {
		return
	}
	var offHook bool
	switch v := r.PostFormValue("offhook"); v {
	case "1":
		offHook = true
	case "0":
	default:
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("offhook must be 1 (lift) or 0 (replace), not %q", v))
		return
	}
	if err := s.backend.SetHook(i, offHook); err != nil {
		s.log.Warn("set hook", "handset", id, "offhook", offHook, "err", err)
		s.buttonFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	buttonDone(w, r)
}

// MaxDigits is the most DTMF digits the dashboard sends at once.
const MaxDigits = 32

// digitsAction is the control form's action that sends its "digits" into the call.
const digitsAction = "digits"

// validDigits reports whether digits is 1 to MaxDigits DTMF digits: 0-9, *, # and A-D.
func validDigits(digits string) bool {
	if digits == "" || len(digits) > MaxDigits {
		return false
	}
	for _, c := range digits {
		if !strings.ContainsRune("0123456789*#ABCD", c) {
			return false
		}
	}
	return true
}

// control asks a handset to join, leave, mute, unmute, hold or resume (the
// form's "action", an Action), or to send the form's "digits" into its
// call (action "digits").
func (s *server) control(w http.ResponseWriter, r *http.Request) {
	i, id, ok := s.handsetIndex(w, r)
	if !ok {
		return
	}
	a := Action(r.PostFormValue("action"))
	if a == digitsAction {
		s.sendDigits(w, r, i, id)
		return
	}
	if !slices.Contains(actions, a) {
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("action must be join, leave, mute, unmute, hold, resume or digits, not %q", a))
		return
	}
	if err := s.backend.Control(i, a); err != nil {
		s.log.Warn("control", "handset", id, "action", a, "err", err)
		s.buttonFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	s.log.Info("control", "handset", id, "action", a, "client", clientAddr(r))
	buttonDone(w, r)
}

// sendDigits sends the form's "digits" into the call of handset i, whose ID
// is id. The log says how many, not which: they may be a PIN.
func (s *server) sendDigits(w http.ResponseWriter, r *http.Request, i int, id string) {
	digits := strings.TrimSpace(r.PostFormValue("digits"))
	if !validDigits(digits) {
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("digits must be 1 to %d of 0-9, *, # and A-D", MaxDigits))
		return
	}
	if err := s.backend.SendDigits(i, digits); err != nil {
		s.log.Warn("send digits", "handset", id, "err", err)
		s.buttonFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	s.log.Info("send digits", "handset", id, "count", len(digits), "client", clientAddr(r))
	buttonDone(w, r)
}

// handsetIndex returns the handset the path names, or answers 400.
func (s *server) handsetIndex(w http.ResponseWriter, r *http.Request) (int, string, bool) {
	i, err := strconv.Atoi(r.PathValue("i"))
	handsets := s.backend.Status().Handsets
	if err != nil || i < 0 || i >= len(handsets) {
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("no handset %q", r.PathValue("i")))
		return 0, "", false
	}
	return i, handsets[i].ID, true
}

// buttonDone answers a button that did its work.
func buttonDone(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// buttonFailed answers a button that could not do its work.
func (s *server) buttonFailed(w http.ResponseWriter, r *http.Request, code int, msg string) {
	switch {
	case wantsJSON(r):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(struct {
			Error string `json:"error"`
		}{msg})
	case code == http.StatusConflict:
		// Show the dashboard again with the error, rather than redirecting it away.
		s.renderDashboard(w, code, msg, "")
	default:
		http.Error(w, msg, code)
	}
}
