package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"partyline/appliance/settings"
)

// Access defaults; the package documentation says how they are used.
const (
	// SessionCookie is the name of the session cookie POST /login sets.
	SessionCookie = "partyline_session"
	// SessionLifetime is how long a login lasts.
	SessionLifetime = 12 * time.Hour
	// MaxLoginFailures is how many failed logins a client may make within
	// LoginWindow; the next attempts are refused until the oldest failure
	// is LoginWindow old.
	MaxLoginFailures = 5
	// LoginWindow is the span over which failed logins are counted.
	LoginWindow = time.Minute
	// MinPasswordLength is the shortest admin password, in characters, the
	// first-start form accepts.
	MinPasswordLength = 10
)

// ErrPasswordSet is what Backend.InitAdminPassword returns (wrapped) when an
// admin password is set already.
var ErrPasswordSet = errors.New("the admin password is set already")

// Bounds on the tables below, so that no client can make them grow without
// limit.
const (
	maxSessions      = 64
	maxLoginClients  = 1024
	sessionTokenSize = 32 // bytes of randomness in a session token
)

// sessions is the table of logged-in browsers, in memory.
type sessions struct {
	ended Changes // notified when sessions end before their time: logout, or making room

	mu      sync.Mutex           // guards following
	expires map[string]time.Time // by token
}

// subscribe returns a channel that receives a value when sessions end before their
// expiry, until ctx is done.
func (ss *sessions) subscribe(ctx context.Context) <-chan struct{} { return ss.ended.Subscribe(ctx) }

// expiry returns when the session of token ends, and false if it has ended.
func (ss *sessions) expiry(token string) (time.Time, bool) {
	if !ss.valid(token) {
		return time.Time{}, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expires[token]
	return exp, ok
}

// create starts a session and returns its token and expiry. When the table
// is full, the session closest to its end makes room.
func (ss *sessions) create() (token string, expires time.Time) {
	var b [sessionTokenSize]byte
	rand.Read(b[:]) // never returns an error (crypto/rand documentation)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	now := time.Now()
	expires = now.Add(SessionLifetime)

	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.expires == nil {
		ss.expires = make(map[string]time.Time)
	}
	for t, exp := range ss.expires {
		if !now.Before(exp) {
			delete(ss.expires, t)
		}
	}
	if len(ss.expires) >= maxSessions {
		var oldest string
		for t, exp := range ss.expires {
			if oldest == "" || exp.Before(ss.expires[oldest]) {
				oldest = t
			}
		}
		delete(ss.expires, oldest)
		ss.ended.Notify() // its event streams end
	}
	ss.expires[token] = expires
	return token, expires
}

// valid reports whether token belongs to a session that has not ended.
func (ss *sessions) valid(token string) bool {
	if token == "" {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expires[token]
	if ok && !time.Now().Before(exp) {
		delete(ss.expires, token)
		return false
	}
	return ok
}

// end ends the session of token, if there is one.
func (ss *sessions) end(token string) {
	ss.mu.Lock()
	delete(ss.expires, token)
	ss.mu.Unlock()
	ss.ended.Notify()
}

// limiter counts failed logins per client address.
type limiter struct {
	mu    sync.Mutex             // guards following
	fails map[string][]time.Time // by client, oldest first, all within LoginWindow
}

// attempt counts a login by client as failed until succeeded says
// otherwise, so that guesses sent in parallel count too. If client has
// failed MaxLoginFailures times within LoginWindow, it counts nothing and
// returns false with how long the client must wait.
func (l *limiter) attempt(client string) (wait time.Duration, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = make(map[string][]time.Time)
	}
	recent := l.recent(client, now)
	if len(recent) >= MaxLoginFailures {
		return recent[0].Add(LoginWindow).Sub(now), false
	}
	if len(recent) == 0 && len(l.fails) >= maxLoginClients {
		for c := range l.fails {
			l.recent(c, now)
		}
		if len(l.fails) >= maxLoginClients {
			return LoginWindow, false // too many clients guessing at once
		}
	}
	l.fails[client] = append(recent, now)
	return 0, true
}

// recent drops client's failures older than LoginWindow and returns the rest.
func (l *limiter) recent(client string, now time.Time) []time.Time {
	ts := l.fails[client]
	for len(ts) > 0 && now.Sub(ts[0]) >= LoginWindow {
		ts = ts[1:]
	}
	if len(ts) == 0 {
		delete(l.fails, client)
		return nil
	}
	l.fails[client] = ts
	return ts
}

// succeeded forgets client's failures after a successful login.
func (l *limiter) succeeded(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, client)
}

// clientAddr is the address a request came from, without its port.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// adminPasswordSet asks the backend until the answer is yes, then
// remembers it.
func (s *server) adminPasswordSet() (bool, error) {
	if s.passwordSet.Load() {
		return true, nil
	}
	set, err := s.backend.AdminPasswordSet()
	if err != nil {
		return false, fmt.Errorf("read admin password: %w", err)
	}
	if set {
		s.passwordSet.Store(true)
	}
	return set, nil
}

// page serves h to a logged-in browser. Others are sent to /setup while no
// admin password is set, and to /login after that. A script asking for JSON
// gets 401 instead.
func (s *server) page(h http.HandlerFunc) http.Handler {
	return s.guard(false, h)
}

// api serves h to a logged-in client and answers others with 401.
func (s *server) api(h http.HandlerFunc) http.Handler {
	return s.guard(true, h)
}

func (s *server) guard(api bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := s.adminPasswordSet()
		if err != nil {
			s.fail(w, "check access", err)
			return
		}
		api := api || wantsJSON(r)
		switch loggedIn := set && s.sessions.valid(sessionToken(r)); {
		case loggedIn:
			h(w, r)
		case !set && api:
			http.Error(w, "no admin password set yet: open /setup in a browser", http.StatusUnauthorized)
		case !set:
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
		case api:
			http.Error(w, "not logged in: POST /login first", http.StatusUnauthorized)
		default:
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		}
	})
}

// formPage is the login and the setup page.
type formPage struct {
	frame
	Intro string
	Form  formView
}

func setupForm() formView {
	return formView{
		ID: "setup", Method: "post", Action: "/setup", Submit: "Set password",
		Inputs: []inputView{
			{ID: "setup-password", Name: "password", Label: "Admin password", Type: "password",
				Required: true, Autocomplete: "new-password", Autofocus: true,
				Hint: fmt.Sprintf("At least %d characters.", MinPasswordLength)},
			{ID: "setup-confirm", Name: "confirm", Label: "Admin password again", Type: "password",
				Required: true, Autocomplete: "new-password"},
		},
	}
}

func (s *server) renderSetup(w http.ResponseWriter, code int, fe *settings.FieldError) {
	form := setupForm()
	form.setError("", fe)
	s.render(w, code, "form.tmpl", &formPage{
		frame: frame{Title: "Set the admin password"},
		Intro: "This appliance has no admin password yet. Choose one: it guards every page, and there is no default.",
		Form:  form,
	})
}

func (s *server) setupPage(w http.ResponseWriter, r *http.Request) {
	set, err := s.adminPasswordSet()
	if err != nil {
		s.fail(w, "setup", err)
		return
	}
	if set {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.renderSetup(w, http.StatusOK, nil)
}

// setup sets the first admin password and sends the browser to log in with it.
func (s *server) setup(w http.ResponseWriter, r *http.Request) {
	set, err := s.adminPasswordSet()
	if err != nil {
		s.fail(w, "setup", err)
		return
	}
	if set {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	password := r.PostFormValue("password")
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		s.renderSetup(w, http.StatusBadRequest, &settings.FieldError{Field: "password",
			Msg: fmt.Sprintf("Too short: %d characters, at least %d needed.", n, MinPasswordLength)})
		return
	}
	if r.PostFormValue("confirm") != password {
		s.renderSetup(w, http.StatusBadRequest, &settings.FieldError{Field: "confirm", Msg: "Does not match the password above."})
		return
	}
	err = s.backend.InitAdminPassword(password)
	var fe *settings.FieldError
	switch {
	case errors.Is(err, ErrPasswordSet):
		s.passwordSet.Store(true)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	case errors.As(err, &fe):
		s.renderSetup(w, http.StatusBadRequest, &settings.FieldError{Field: "password", Msg: fe.Msg})
	case err != nil:
		s.fail(w, "set admin password", err)
	default:
		s.passwordSet.Store(true)
		s.log.Info("admin password set", "client", clientAddr(r))
		http.Redirect(w, r, "/login?set=1", http.StatusSeeOther)
	}
}

func loginForm() formView {
	return formView{
		ID: "login", Method: "post", Action: "/login", Submit: "Log in",
		Inputs: []inputView{{ID: "login-password", Name: "password", Label: "Admin password", Type: "password",
			Required: true, Autocomplete: "current-password", Autofocus: true}},
	}
}

func (s *server) renderLogin(w http.ResponseWriter, code int, notice string, fe *settings.FieldError) {
	form := loginForm()
	form.setError("", fe)
	s.render(w, code, "form.tmpl", &formPage{frame: frame{Title: "Log in", Notice: notice}, Form: form})
}

// loginNotices are what /login says after a redirect, by its query.
var loginNotices = map[string]string{
	"set": "The admin password is set. Log in with it.",
	"out": "Logged out.",
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	set, err := s.adminPasswordSet()
	if err != nil {
		s.fail(w, "login", err)
		return
	}
	switch {
	case !set:
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
	case s.sessions.valid(sessionToken(r)):
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		var notice string
		for q, n := range loginNotices {
			if r.URL.Query().Has(q) {
				notice = n
			}
		}
		s.renderLogin(w, http.StatusOK, notice, nil)
	}
}

// login checks the admin password and starts a session.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	set, err := s.adminPasswordSet()
	if err != nil {
		s.fail(w, "login", err)
		return
	}
	if !set {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	client := clientAddr(r)
	wait, ok := s.logins.attempt(client.String())
	if !ok {
		secs := int(math.Ceil(wait.Seconds()))
		s.log.Warn("login refused", "client", client, "reason", "too many failures", "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderLogin(w, http.StatusTooManyRequests, "", &settings.FieldError{Field: "password",
			Msg: fmt.Sprintf("Too many failed logins. Try again in %d seconds.", secs)})
		return
	}
	ok, err = s.backend.CheckAdminPassword(r.PostFormValue("password"))
	if err != nil {
		s.fail(w, "check admin password", err)
		return
	}
	if !ok {
		s.log.Warn("login failed", "client", client)
		s.renderLogin(w, http.StatusUnauthorized, "", &settings.FieldError{Field: "password", Msg: "Wrong password."})
		return
	}
	s.logins.succeeded(client.String())
	token, expires := s.sessions.create()
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(SessionLifetime / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
	})
	s.log.Info("logged in", "client", client)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session and sends the browser to the login page.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.end(sessionToken(r))
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
	})
	s.log.Info("logged out", "client", clientAddr(r))
	http.Redirect(w, r, "/login?out", http.StatusSeeOther)
}
