// Package web serves the appliance's admin page: a live dashboard of the
// handsets (with their virtual hooks) and the SIP registrations, the
// settings pages with backup and restore, the login that guards them all,
// and Prometheus metrics. It reads and changes the appliance only through a
// Backend and knows nothing of SIP, audio or the settings store.
//
// Access: until an admin password is set, every page sends the browser to
// /setup to choose one. After that every page but /login needs a session:
// POST /login with the form field "password" answers with a session cookie
// (HttpOnly, SameSite=Strict) that lasts SessionLifetime or until POST
// /logout. Sessions live in memory, so a restart logs everyone out. Failed
// logins are limited per client address (MaxLoginFailures per LoginWindow,
// then 429 Too Many Requests with Retry-After). Requests from other sites
// that change anything are refused with 403 (http.CrossOriginProtection).
// /metrics answers loopback clients without a session, and others only
// with one.
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
	"strings"
	"sync/atomic"
	"time"
)

// A Backend is what the admin page reads and changes. The appliance
// implements it; tests use a fake. Its methods are called concurrently.
type Backend interface {
	// Status returns a snapshot of the appliance's state. It must be
	// cheap: the event stream calls it every PollInterval.
	Status() Status
	// SetHook lifts (offHook) or replaces the virtual hook of handset i.
	SetHook(handset int, offHook bool) error

	// Settings returns the saved settings, account passwords included:
	// the page never shows them, and exports them only when asked to.
	Settings() (Settings, error)
	// UpdateSettings changes the settings atomically: it calls change with
	// the saved settings and saves what change leaves there. If change
	// returns an error, or the result is invalid (a *FieldError), nothing
	// is saved and that error is returned. restart reports whether some of
	// the change takes effect only when the appliance restarts.
	UpdateSettings(change func(*Settings) error) (restart bool, err error)

	// AdminPasswordSet reports whether the admin password has been set.
	// Once it returns true it must not return false again.
	AdminPasswordSet() (bool, error)
	// InitAdminPassword sets the first admin password. If one is set
	// already it changes nothing and returns an error wrapping
	// ErrPasswordSet; a password it refuses is a *FieldError.
	InitAdminPassword(password string) error
	// CheckAdminPassword reports whether password is the admin password.
	// It may be slow (a password hash), which makes guessing slow too.
	CheckAdminPassword(password string) (bool, error)
}

// Status is what the dashboard shows.
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
	backend  Backend
	log      *slog.Logger
	sessions sessions
	logins   limiter
	// passwordSet caches a true Backend.AdminPasswordSet, which stays true.
	passwordSet atomic.Bool
}

// Handler returns the admin page's HTTP handler; the package documentation
// says who may reach what.
func Handler(b Backend, log *slog.Logger) http.Handler {
	s := &server{backend: b, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(content))
	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("POST /setup", s.setup)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /logout", s.page(s.logout))
	mux.Handle("GET /metrics", s.metrics())

	mux.Handle("GET /{$}", s.page(s.index))
	mux.Handle("GET /api/status", s.api(s.status))
	mux.Handle("GET /events", s.api(s.events))
	mux.Handle("POST /handsets/{i}/hook", s.page(s.hook))

	mux.Handle("GET /settings", s.page(s.settings))
	mux.Handle("POST /settings/sip", s.page(s.saveSIP))
	mux.Handle("POST /settings/accounts", s.page(s.addAccount))
	mux.Handle("POST /settings/accounts/{id}", s.page(s.saveAccount))
	mux.Handle("POST /settings/accounts/{id}/delete", s.page(s.deleteAccount))
	mux.Handle("POST /settings/handsets/{id}", s.page(s.saveHandset))
	mux.Handle("POST /settings/conferences", s.page(s.addConference))
	mux.Handle("POST /settings/conferences/{id}", s.page(s.saveConference))
	mux.Handle("POST /settings/conferences/{id}/delete", s.page(s.deleteConference))
	mux.Handle("GET /settings/export", s.page(s.export))
	mux.Handle("POST /settings/import", s.page(s.importSettings))
	return secureHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// secureHeaders keeps the pages out of other sites' frames and scripts.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// frame is what every page shows around its content.
type frame struct {
	Title    string
	Nav      string // the navigation entry of this page, "" = none
	LoggedIn bool   // shows the navigation and the logout button
	Error    string // a failure, at the top
	Notice   string // a confirmation, at the top
}

type dashboardPage struct {
	frame
	Status
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	s.renderDashboard(w, http.StatusOK, "")
}

func (s *server) renderDashboard(w http.ResponseWriter, code int, problem string) {
	s.render(w, code, "index.tmpl", dashboardPage{
		frame:  frame{Title: "Dashboard", Nav: "dashboard", LoggedIn: true, Error: problem},
		Status: s.backend.Status(),
	})
}

// render executes a page into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf.WriteTo(w)
}

// fail logs err and tells the user only that something went wrong.
func (s *server) fail(w http.ResponseWriter, op string, err error) {
	s.log.Error(op, "err", err)
	http.Error(w, "internal error: see the appliance's log", http.StatusInternalServerError)
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(s.backend.Status()); err != nil {
		s.log.Debug("write status", "err", err)
	}
}

// wantsJSON reports whether a script asked for a JSON answer rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// hook moves a handset's virtual hook. A form post is redirected back to
// the dashboard; a script asking for JSON gets 204, or its error as JSON.
func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= len(s.backend.Status().Handsets) {
		s.hookFailed(w, r, http.StatusBadRequest, fmt.Sprintf("no handset %q", r.PathValue("i")))
		return
	}
	var offHook bool
	switch v := r.PostFormValue("offhook"); v {
	case "1":
		offHook = true
	case "0":
	default:
		s.hookFailed(w, r, http.StatusBadRequest, fmt.Sprintf("offhook must be 1 (lift) or 0 (replace), not %q", v))
		return
	}
	if err := s.backend.SetHook(i, offHook); err != nil {
		s.log.Warn("set hook", "handset", i, "offhook", offHook, "err", err)
		s.hookFailed(w, r, http.StatusConflict, fmt.Sprintf("handset %d: %v", i+1, err))
		return
	}
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) hookFailed(w http.ResponseWriter, r *http.Request, code int, msg string) {
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

// events streams the status as server-sent events: one at once, then one
// whenever it changes, until the client goes away or its session ends.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	token := sessionToken(r)
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
		if !s.sessions.valid(token) {
			return
		}
	}
}
