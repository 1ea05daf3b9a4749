// Package web serves the appliance's admin page: the board, each handset's
// state with a virtual hook, and the SIP registrations, live over
// server-sent events. It reads and changes the appliance only through a
// Backend and knows nothing of SIP, audio or the settings store.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// A Backend is what the admin page reads and changes. The appliance
// implements it; tests use a fake.
type Backend interface {
	// Status returns a snapshot of the appliance's state. It must be
	// cheap: the event stream calls it every PollInterval.
	Status() Status
	// SetHook lifts (offHook) or replaces the virtual hook of handset i.
	SetHook(handset int, offHook bool) error
}

// Status is what the admin page shows.
type Status struct {
	Board         string               `json:"board"`
	Handsets      []HandsetStatus      `json:"handsets"`
	Registrations []RegistrationStatus `json:"registrations"`
}

// HandsetStatus is one handset's state.
type HandsetStatus struct {
	Index      int    `json:"index"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Identity   string `json:"identity"`   // who the handset calls as
	Conference string `json:"conference"` // what it joins
	Detail     string `json:"detail"`     // e.g. why the last join failed: "486 Busy Here"
	OffHook    bool   `json:"offHook"`
	LED        string `json:"led"`
	Virtual    bool   `json:"virtual"` // has a virtual hook that SetHook moves
}

// RegistrationStatus is one SIP account's registration.
type RegistrationStatus struct {
	Account string    `json:"account"`
	AOR     string    `json:"aor"`
	State   string    `json:"state"`
	Detail  string    `json:"detail"`
	Expires time.Time `json:"expires"`
}

// PollInterval is how often the event stream checks Backend.Status for changes.
const PollInterval = 250 * time.Millisecond

//go:embed templates static
var content embed.FS

var templates = template.Must(template.ParseFS(content, "templates/*.tmpl"))

type server struct {
	backend Backend
	log     *slog.Logger
}

// Handler returns the admin page's HTTP handler. Cross-origin unsafe
// requests (POSTs from other sites) are refused with 403.
func Handler(b Backend, log *slog.Logger) http.Handler {
	s := &server{backend: b, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(content))
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/status", s.status)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("POST /handsets/{i}/hook", s.hook)
	return http.NewCrossOriginProtection().Handler(mux)
}

type page struct {
	Status
	Error string // shown at the top, from a failed action
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, page{Status: s.backend.Status()})
}

// render executes the page into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, code int, p page) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "index.tmpl", p); err != nil {
		s.log.Error("render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	buf.WriteTo(w)
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(s.backend.Status()); err != nil {
		s.log.Debug("write status", "err", err)
	}
}

// hook moves a handset's virtual hook and redirects back to the page.
func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= len(s.backend.Status().Handsets) {
		http.Error(w, fmt.Sprintf("no handset %q", r.PathValue("i")), http.StatusBadRequest)
		return
	}
	var offHook bool
	switch v := r.PostFormValue("offhook"); v {
	case "1":
		offHook = true
	case "0":
	default:
		http.Error(w, fmt.Sprintf("offhook must be 1 (lift) or 0 (replace), not %q", v), http.StatusBadRequest)
		return
	}
	if err := s.backend.SetHook(i, offHook); err != nil {
		s.log.Warn("set hook", "handset", i, "offhook", offHook, "err", err)
		// Show the page again with the error, rather than redirecting it away.
		s.render(w, http.StatusConflict, page{Status: s.backend.Status(), Error: fmt.Sprintf("handset %d: %v", i+1, err)})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// events streams the status as server-sent events: one at once, then one
// whenever it changes, until the client goes away.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	var last []byte
	for {
		b, err := json.Marshal(s.backend.Status())
		if err != nil {
			s.log.Error("encode status", "err", err)
			return
		}
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last = b
		}
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
		}
	}
}
