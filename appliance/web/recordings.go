package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"time"

	"partyline/appliance/settings"
)

// A Recorder is what the recordings page reads and changes besides a
// Backend: a Backend that also implements it gets the page (GET /recordings,
// GET /api/recordings) and its actions. Its methods are called concurrently.
type Recorder interface {
	// Recordings returns every recording, newest first.
	Recordings() ([]settings.Recording, error)
	// Recorders returns the recorder of each conference, in the order of
	// the settings.
	Recorders() ([]ConferenceRecorder, error)
	// SetRecording starts (on) or stops recording the conference of ID
	// conference. Asking for what is so already succeeds and changes
	// nothing; an error says why a recording cannot start.
	SetRecording(ctx context.Context, conference string, on bool) error
	// OpenRecording opens the WAV file of recording name; one it does not
	// know is an error wrapping ErrNoRecording.
	OpenRecording(name string) (*os.File, error)
	// DeleteRecording removes recording name, its file and its record; one
	// it does not know is an error wrapping ErrNoRecording, one being
	// recorded is refused.
	DeleteRecording(name string) error
}

// ErrNoRecording is what a Recorder's errors wrap for a recording it does not know.
var ErrNoRecording = errors.New("no such recording")

// ConferenceRecorder is the recorder of one conference.
type ConferenceRecorder struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URI  string `json:"uri"`
	// Auto says that the conference is recorded while a handset is in it.
	Auto      bool      `json:"auto"`
	Recording bool      `json:"recording"`
	File      string    `json:"file,omitempty"`   // the recording in progress
	Since     time.Time `json:"since,omitzero"`   // when it started
	Detail    string    `json:"detail,omitempty"` // why the last recording stopped or did not start
}

type recordingsPage struct {
	frame
	Conferences []ConferenceRecorder
	Recordings  []settings.Recording
	Now         time.Time
}

// recordingNotices are what the recordings page says after a redirect, by
// the value of its "done" query.
var recordingNotices = map[string]string{
	"started": "Recording started: the recorder joins the conference.",
	"stopped": "Recording stopped.",
	"deleted": "Recording deleted.",
}

func (s *server) recordingsPage(w http.ResponseWriter, r *http.Request) {
	s.renderRecordings(w, http.StatusOK, "", recordingNotices[r.URL.Query().Get("done")])
}

func (s *server) renderRecordings(w http.ResponseWriter, code int, problem, notice string) {
	confs, err := s.recorder.Recorders()
	if err != nil {
		s.fail(w, "read recorders", err)
		return
	}
	recs, err := s.recorder.Recordings()
	if err != nil {
		s.fail(w, "read recordings", err)
		return
	}
	s.render(w, code, "recordings.tmpl", &recordingsPage{
		frame:       frame{Title: "Recordings", Nav: "recordings", LoggedIn: true, Error: problem, Notice: notice},
		Conferences: confs,
		Recordings:  recs,
		Now:         time.Now(),
	})
}

// recordingsJSON sends the recorders and the recordings as JSON.
func (s *server) recordingsJSON(w http.ResponseWriter, r *http.Request) {
	confs, err := s.recorder.Recorders()
	if err != nil {
		s.fail(w, "read recorders", err)
		return
	}
	recs, err := s.recorder.Recordings()
	if err != nil {
		s.fail(w, "read recordings", err)
		return
	}
	s.writeJSON(w, struct {
		Conferences []ConferenceRecorder `json:"conferences"`
		Recordings  []settings.Recording `json:"recordings"`
	}{nonNil(confs), nonNil(recs)})
}

// recording sends a recording's WAV file: to play in the page, or with
// ?download=1 as an attachment. Range requests work, so that the player can
// seek.
func (s *server) recording(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, err := s.recorder.OpenRecording(name)
	switch {
	case errors.Is(err, ErrNoRecording):
		http.Error(w, "no such recording", http.StatusNotFound)
		return
	case err != nil:
		s.fail(w, "open recording", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, "open recording", err)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	// A long recording may take longer than WriteTimeout to download.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("recording download: clear write deadline", "err", err)
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// deleteRecording removes a recording.
func (s *server) deleteRecording(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := s.recorder.DeleteRecording(name)
	switch {
	case errors.Is(err, ErrNoRecording):
		s.recordingFailed(w, r, http.StatusNotFound, fmt.Sprintf("There is no recording %q (any more?).", name))
	case err != nil:
		s.log.Warn("delete recording", "recording", name, "err", err)
		s.recordingFailed(w, r, http.StatusConflict, "Not deleted: "+err.Error())
	default:
		s.log.Info("recording deleted", "recording", name, "client", clientAddr(r))
		recordingDone(w, r, "deleted")
	}
}

// setRecording starts or stops recording a conference: the form's "action"
// is "start" or "stop".
func (s *server) setRecording(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var on bool
	switch a := r.PostFormValue("action"); a {
	case "start":
		on = true
	case "stop":
	default:
		s.recordingFailed(w, r, http.StatusBadRequest, fmt.Sprintf("action must be start or stop, not %q", a))
		return
	}
	if err := s.recorder.SetRecording(r.Context(), id, on); err != nil {
		s.log.Warn("set recording", "conference", id, "on", on, "err", err)
		s.recordingFailed(w, r, http.StatusConflict, fmt.Sprintf("Conference %s: %v", id, err))
		return
	}
	s.log.Info("set recording", "conference", id, "on", on, "client", clientAddr(r))
	recordingDone(w, r, map[bool]string{true: "started", false: "stopped"}[on])
}

// recordingDone answers a recordings page button that did its work: 204 to
// a script, or back to the page with a notice.
func recordingDone(w http.ResponseWriter, r *http.Request, done string) {
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/recordings?done="+done, http.StatusSeeOther)
}

// recordingFailed answers a recordings page button that could not do its
// work: its error as JSON to a script, or the page again with the error.
func (s *server) recordingFailed(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(struct {
			Error string `json:"error"`
		}{msg})
		return
	}
	s.renderRecordings(w, code, msg, "")
}
