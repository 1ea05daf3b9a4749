package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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

// ErrWrongSetupCode is what Backend.InitAdminPassword returns (wrapped) when the
// setup code is not the one the appliance made at start.
var ErrWrongSetupCode = errors.New("wrong setup code")

// Bounds on the tables below, so that no client can make them grow without
// limit, and on the password checks, so that guessing cannot take the CPU.
const (
	maxSessions      = 64
	maxLoginPrefixes = 1024
	sessionTokenSize = 32 // bytes of randomness in a session token
	// MaxPasswordChecks is how many password hashes (logins, the first
	// password, password changes) run at once; more wait for a turn.
	MaxPasswordChecks = 2
	// maxPasswordWaiters is how many more may wait for a turn in each of
	// hashGate's queues; past them, and after passwordWait, the answer is
	// 503 with Retry-After.
	maxPasswordWaiters = 16
	passwordWait       = 5 * time.Second
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

// endOthers ends every session but keep's, after the password changed.
func (ss *sessions) endOthers(keep string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for t := range ss.expires {
		if t != keep {
			delete(ss.expires, t)
		}
	}
}

// limiter counts failed password checks (logins, setup codes, password
// changes) per network prefix of the client (see clientPrefix). Its table
// is bounded: when it is full, the prefix whose last failure is oldest
// makes room, so that many guessers can make it forget each other but never
// lock out a prefix that has not failed.
type limiter struct {
	mu    sync.Mutex                   // guards following
	fails map[netip.Prefix][]time.Time // by prefix, oldest first, all within LoginWindow
}

// attempt counts a check from p as failed until succeeded or undo says
// otherwise, so that guesses sent in parallel count too; clean says that p
// had no failures before. If p has failed MaxLoginFailures times within
// LoginWindow, it counts nothing and returns false with how long p must
// wait.
func (l *limiter) attempt(p netip.Prefix) (wait time.Duration, clean, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = make(map[netip.Prefix][]time.Time)
	}
	recent := l.recent(p, now)
	if len(recent) >= MaxLoginFailures {
		return recent[0].Add(LoginWindow).Sub(now), false, false
	}
	if len(recent) == 0 && len(l.fails) >= maxLoginPrefixes {
		l.evict(now)
	}
	l.fails[p] = append(recent, now)
	return 0, len(recent) == 0, true
}

// evict makes room for one more prefix: it drops the expired ones, or else
// the one whose last failure is oldest.
func (l *limiter) evict(now time.Time) {
	var oldest netip.Prefix
	var oldestLast time.Time
	for p := range l.fails {
		ts := l.recent(p, now)
		if len(ts) == 0 {
			continue
		}
		if last := ts[len(ts)-1]; oldestLast.IsZero() || last.Before(oldestLast) {
			oldest, oldestLast = p, last
		}
	}
	if len(l.fails) >= maxLoginPrefixes {
		delete(l.fails, oldest)
	}
}

// recent drops p's failures older than LoginWindow and returns the rest.
func (l *limiter) recent(p netip.Prefix, now time.Time) []time.Time {
	ts := l.fails[p]
	for len(ts) > 0 && now.Sub(ts[0]) >= LoginWindow {
		ts = ts[1:]
	}
	if len(ts) == 0 {
		delete(l.fails, p)
		return nil
	}
	l.fails[p] = ts
	return ts
}

// undo takes back p's last attempt: it was not checked after all.
func (l *limiter) undo(p netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.fails[p]; len(ts) > 1 {
		l.fails[p] = ts[:len(ts)-1]
	} else {
		delete(l.fails, p)
	}
}

// succeeded forgets p's failures after a successful check.
func (l *limiter) succeeded(p netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, p)
}

// clientPrefix is the network a client address is counted in: its /24 for
// IPv4 and its /64 for IPv6, what one host can easily change its address
// within.
func clientPrefix(a netip.Addr) netip.Prefix {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil { // no address: all such clients count together
		return netip.Prefix{}
	}
	return p
}

// hashGate bounds how many password hashes run at once. Callers wait for a
// turn in two queues, each first come first served: checks from networks
// that have not failed lately go first, so that guesses queued from
// failing networks cannot hold up the owner.
type hashGate struct {
	mu      sync.Mutex // guards following
	running int
	queues  [2][]chan struct{} // [0] from networks without recent failures, [1] the rest; closed = your turn
}

// enter waits for a turn, for at most passwordWait and while ctx lasts, and
// reports whether it got one; clean says the client's network has no
// recent failures. With maxPasswordWaiters waiting in its queue already,
// it does not wait. A caller that got a turn calls leave.
func (g *hashGate) enter(ctx context.Context, clean bool) bool {
	q := 1
	if clean {
		q = 0
	}
	g.mu.Lock()
	if g.running < MaxPasswordChecks && len(g.queues[0]) == 0 && len(g.queues[1]) == 0 {
		g.running++
		g.mu.Unlock()
		return true
	}
	if len(g.queues[q]) >= maxPasswordWaiters {
		g.mu.Unlock()
		return false
	}
	turn := make(chan struct{})
	g.queues[q] = append(g.queues[q], turn)
	g.mu.Unlock()

	t := time.NewTimer(passwordWait)
	defer t.Stop()
	select {
	case <-turn:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.queues[q], turn); i >= 0 {
		g.queues[q] = slices.Delete(g.queues[q], i, i+1)
		return false
	}
	return true // the turn came as the wait ended
}

// leave hands the turn to the first waiter, if any.
func (g *hashGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for q := range g.queues {
		if len(g.queues[q]) > 0 {
			close(g.queues[q][0])
			g.queues[q] = g.queues[q][1:]
			return
		}
	}
	g.running--
}

// checkGate is how a password check starts, once the form is read: it
// counts the attempt against the client's network (see limiter) and waits
// for a turn to hash (see hashGate). When it returns ok, the caller checks,
// calls done when it is through with the hash, and tells the limiter how the
// check went; otherwise it has answered through refuse. Refusals are logged
// at debug level only, so that a storm of them cannot flood the log; the
// failed checks before them are logged as warnings.
func (s *server) checkGate(w http.ResponseWriter, r *http.Request, what string, refuse func(code int, fe *settings.FieldError)) (prefix netip.Prefix, done func(), ok bool) {
	client := clientAddr(r)
	prefix = clientPrefix(client)
	wait, clean, ok := s.logins.attempt(prefix)
	if !ok {
		secs := int(math.Ceil(wait.Seconds()))
		s.log.Debug(what+" refused", "client", client, "reason", "too many failures", "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		refuse(http.StatusTooManyRequests, &settings.FieldError{Field: "password",
			Msg: fmt.Sprintf("Too many failed attempts from your network. Try again in %d seconds.", secs)})
		return prefix, nil, false
	}
	if !s.hashes.enter(r.Context(), clean) {
		s.logins.undo(prefix)
		s.log.Debug(what+" refused", "client", client, "reason", "too many password checks at once")
		w.Header().Set("Retry-After", "1")
		refuse(http.StatusServiceUnavailable, &settings.FieldError{Field: "password",
			Msg: "The appliance is busy checking other passwords. Try again in a moment."})
		return prefix, nil, false
	}
	return prefix, s.hashes.leave, true
}

// maxFormBytes bounds the body of every request but a settings import.
const maxFormBytes = 64 << 10

// limitBodies bounds every request's body to maxFormBytes, except the
// settings import's, which sets its own bound.
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != importPath {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// readForm reads a urlencoded form, what the password forms send, into
// r.PostForm; anything else, a multipart body in particular, is refused
// before it is read. It answers a refusal itself and returns false.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "send the form as application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return false
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "form too large", http.StatusRequestEntityTooLarge)
			return false
		}
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
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
			{ID: "setup-code", Name: "code", Label: "Setup code", Type: "text", Mode: "numeric",
				Required: true, Autocomplete: "off", Autofocus: true,
				Hint: "The appliance wrote it to its log when it started, and `partyline setup-code` shows it on the device."},
			{ID: "setup-password", Name: "password", Label: "Admin password", Type: "password",
				Required: true, Autocomplete: "new-password",
				Hint: fmt.Sprintf("At least %d characters.", MinPasswordLength)},
			{ID: "setup-confirm", Name: "confirm", Label: "Admin password again", Type: "password",
				Required: true, Autocomplete: "new-password"},
		},
	}
}

func (s *server) renderSetup(w http.ResponseWriter, code int, fe *settings.FieldError) {
	form := setupForm()
	intro := "This appliance has no admin password yet. Choose one: it guards every page, and there is no default. " +
		"To show that the appliance is yours, enter the setup code it made when it started: it is in its log " +
		"(journalctl -u partyline), and `partyline setup-code` run on the device prints it. " +
		"Or hold a handset's call button for a second: then no code is needed for five minutes."
	if until := s.backend.PresenceUntil(); time.Now().Before(until) {
		by := until.Format("15:04")
		codeInput := &form.Inputs[0]
		codeInput.Required, codeInput.Autofocus = false, false
		codeInput.Hint = "Not needed until " + by + ": a handset's call button was held at the device."
		form.Inputs[1].Autofocus = true
		intro = "This appliance has no admin password yet. Choose one: it guards every page, and there is no default. " +
			"A handset's call button was held at the device, which shows that the appliance is yours: until " + by +
			" the password can be set without the setup code."
	}
	form.setError("", fe)
	s.render(w, code, "form.tmpl", &formPage{
		frame: frame{Title: "Set the admin password"},
		Intro: intro,
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

// checkNewPassword checks the new password and its confirmation as the
// forms call them, before anything is hashed.
func checkNewPassword(form url.Values) *settings.FieldError {
	password := form.Get("password")
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		return &settings.FieldError{Field: "password", Msg: fmt.Sprintf("Too short: %d characters, at least %d needed.", n, MinPasswordLength)}
	}
	if form.Get("confirm") != password {
		return &settings.FieldError{Field: "confirm", Msg: "Does not match the password above."}
	}
	return nil
}

// setup sets the first admin password, if the setup code is right, and
// logs the browser in with it.
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
	if !readForm(w, r) {
		return
	}
	if fe := checkNewPassword(r.PostForm); fe != nil {
		s.renderSetup(w, http.StatusBadRequest, fe)
		return
	}
	prefix, done, ok := s.checkGate(w, r, "setup", func(code int, fe *settings.FieldError) {
		fe.Field = "code"
		s.renderSetup(w, code, fe)
	})
	if !ok {
		return
	}
	err = s.backend.InitAdminPassword(r.PostForm.Get("code"), r.PostForm.Get("password"))
	done()
	var fe *settings.FieldError
	switch {
	case errors.Is(err, ErrPasswordSet):
		s.logins.undo(prefix)
		s.passwordSet.Store(true)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	case errors.Is(err, ErrWrongSetupCode):
		s.log.Warn("setup refused", "client", clientAddr(r), "reason", "wrong setup code")
		s.renderSetup(w, http.StatusForbidden, &settings.FieldError{Field: "code",
			Msg: "Wrong setup code. It is in the appliance's log, and `partyline setup-code` shows it on the device."})
	case errors.As(err, &fe):
		s.logins.undo(prefix)
		s.renderSetup(w, http.StatusBadRequest, &settings.FieldError{Field: "password", Msg: fe.Msg})
	case err != nil:
		s.logins.undo(prefix)
		s.fail(w, "set admin password", err)
	default:
		s.logins.succeeded(prefix)
		s.passwordSet.Store(true)
		s.log.Info("admin password set", "client", clientAddr(r))
		s.startSession(w, r)
		http.Redirect(w, r, "/?set", http.StatusSeeOther)
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
	if !readForm(w, r) {
		return
	}
	prefix, done, ok := s.checkGate(w, r, "login", func(code int, fe *settings.FieldError) { s.renderLogin(w, code, "", fe) })
	if !ok {
		return
	}
	ok, err = s.backend.CheckAdminPassword(r.PostForm.Get("password"))
	done()
	if err != nil {
		s.logins.undo(prefix)
		s.fail(w, "check admin password", err)
		return
	}
	if !ok {
		s.log.Warn("login failed", "client", clientAddr(r))
		s.renderLogin(w, http.StatusUnauthorized, "", &settings.FieldError{Field: "password", Msg: "Wrong password."})
		return
	}
	s.logins.succeeded(prefix)
	s.startSession(w, r)
	s.log.Info("logged in", "client", clientAddr(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// startSession starts a session and gives the browser its cookie.
func (s *server) startSession(w http.ResponseWriter, r *http.Request) {
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
