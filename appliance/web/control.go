package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// The handsets' buttons on the dashboard: virtual hooks and remote control.
// Each is a form that posts and is redirected back to the dashboard, so it
// works without script; the page's script posts the same form asking for
// JSON and gets 204, or its error as JSON, and the event stream shows the
// result.

// hook moves a handset's virtual hook.
func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	i, ok := s.handsetIndex(w, r)
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
		s.log.Warn("set hook", "handset", i, "offhook", offHook, "err", err)
		s.buttonFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	buttonDone(w, r)
}

// control asks a handset to join, leave, mute or unmute (the form's
// "action", an Action).
func (s *server) control(w http.ResponseWriter, r *http.Request) {
	i, ok := s.handsetIndex(w, r)
	if !ok {
		return
	}
	a := Action(r.PostFormValue("action"))
	if !slices.Contains(actions, a) {
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("action must be join, leave, mute or unmute, not %q", a))
		return
	}
	if err := s.backend.Control(i, a); err != nil {
		s.log.Warn("control", "handset", i, "action", a, "err", err)
		s.buttonFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	s.log.Info("control", "handset", i, "action", a, "client", clientAddr(r))
	buttonDone(w, r)
}

// handsetIndex returns the handset the path names, or answers 400.
func (s *server) handsetIndex(w http.ResponseWriter, r *http.Request) (int, bool) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= len(s.backend.Status().Handsets) {
		s.buttonFailed(w, r, http.StatusBadRequest, fmt.Sprintf("no handset %q", r.PathValue("i")))
		return 0, false
	}
	return i, true
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
		s.renderDashboard(w, code, msg)
	default:
		http.Error(w, msg, code)
	}
}
