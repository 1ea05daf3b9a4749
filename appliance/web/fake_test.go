package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance/config"
	"partyline/appliance/settings"
)

// failsafe bounds the waits for the browser or the server to get somewhere: only what
// never happens takes that long, however busy the machine is.
const failsafe = time.Minute

// The secrets the tests look for in every response and log line.
const (
	accountSecret = "hunter2-secret"
	adminPassword = "admin-password-1"
	metricsSecret = "metrics-token-secret-42"
)

// fakeBackend keeps the settings in a real config.Store and fakes the rest:
// the status the test sets, hooks that move in memory, and (unless
// storePassword) an admin password in memory, which is quicker than bcrypt.
type fakeBackend struct {
	store         *config.Store
	storePassword bool

	events      EventLog
	changes     Changes // notified by the setters that change the status
	fingerprint string  // what TLSFingerprint returns

	setupCode string // the first password's code, made as the appliance makes it
	// checkDelay makes each password check take that long, so that a test sees how many
	// run at once: checking counts them, maxChecking is the most there were.
	checkDelay            time.Duration
	checking, maxChecking atomic.Int32

	mu       sync.Mutex // guards following
	status   Status
	calls    []string
	hookErr  error
	password string // "" = not set
	// presenceUntil is what PresenceUntil returns: until then, the first password needs
	// no setup code.
	presenceUntil time.Time
}

func (f *fakeBackend) PresenceUntil() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.presenceUntil
}

func (f *fakeBackend) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Handsets = slices.Clone(st.Handsets)
	st.Registrations = slices.Clone(st.Registrations)
	if st.Audio != nil {
		audio := *st.Audio
		st.Audio = &audio
	}
	return st
}

// Subscribe tells of the status's changes and of new events, as the appliance does.
func (f *fakeBackend) Subscribe(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	status, events := f.changes.Subscribe(ctx), f.events.Subscribe(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-status:
			case <-events:
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

// SetHook moves the hook, and the state with it, as a sim board would.
func (f *fakeBackend) SetHook(i int, offHook bool) error {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hookErr != nil {
		return f.hookErr
	}
	f.calls = append(f.calls, hookCall(i, offHook))
	f.status.Handsets[i].OffHook = offHook
	f.status.Handsets[i].State = map[bool]string{false: "on hook", true: "dialing"}[offHook]
	return nil
}

func (f *fakeBackend) Events() []Event { return f.events.Events() }

// Control acts as the appliance does: join and leave move the state, mute,
// unmute, hold and resume work only in a call.
func (f *fakeBackend) Control(i int, a Action) error {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hookErr != nil {
		return f.hookErr
	}
	h := &f.status.Handsets[i]
	switch {
	case a == ActionJoin && !h.Busy:
		h.State, h.Busy, h.InCall, h.CallStart = "in call", true, true, time.Now()
		h.Quality = &CallQuality{PacketsSent: 10, PacketsReceived: 9, Lost: 1, LossPercent: 10, JitterMS: 2.5, MOS: 4.1, Foreign: 42, Late: 2, Concealed: 5}
	case a == ActionLeave && h.Busy:
		h.State, h.Busy, h.InCall, h.Muted, h.Held, h.CallStart, h.Quality = "idle", false, false, false, false, time.Time{}, nil
	case (a == ActionMute || a == ActionUnmute || a == ActionHold || a == ActionResume) && !h.InCall:
		return errors.New("not in a call")
	case a == ActionMute || a == ActionUnmute:
		h.Muted = a == ActionMute
	case a == ActionHold || a == ActionResume:
		h.Held = a == ActionHold
		h.State = map[bool]string{true: "on hold", false: "in call"}[h.Held]
	}
	f.calls = append(f.calls, fmt.Sprintf("%s %d", a, i))
	f.events.Add(slog.LevelInfo, h.Name, string(a))
	return nil
}

// SendDigits acts as the appliance does: it works only in a call.
func (f *fakeBackend) SendDigits(i int, digits string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hookErr != nil {
		return f.hookErr
	}
	if !f.status.Handsets[i].InCall {
		return errors.New("the handset is not in a call")
	}
	f.calls = append(f.calls, fmt.Sprintf("digits %d %s", i, digits))
	return nil
}

// History reads the store's call history, as the appliance does.
func (f *fakeBackend) History() ([]settings.CallRecord, error) { return f.store.History(0) }

func (f *fakeBackend) TLSFingerprint() string { return f.fingerprint }

func (f *fakeBackend) Settings() (settings.Settings, error) { return f.store.Settings() }

// UpdateSettings checks the button mapping's triggers and actions against
// ButtonChoices and the board against Boards, and says when a restart is
// needed, as the appliance does.
func (f *fakeBackend) UpdateSettings(change func(*settings.Settings) error) (restart bool, err error) {
	err = f.store.Update(func(set *settings.Settings) error {
		old := set.Clone()
		if err := change(set); err != nil {
			return err
		}
		c := f.ButtonChoices()
		var errs []error
		for i, b := range set.Buttons {
			switch {
			case !slices.Contains(c.Triggers, b.Trigger):
				errs = append(errs, &settings.FieldError{Field: fmt.Sprintf("buttons[%d].trigger", i), Msg: fmt.Sprintf("unknown trigger %q", b.Trigger)})
			case !slices.Contains(c.Actions, b.Action):
				errs = append(errs, &settings.FieldError{Field: fmt.Sprintf("buttons[%d].action", i), Msg: fmt.Sprintf("unknown action %q", b.Action)})
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if set.Board != "" && !slices.Contains(f.Boards(), set.Board) {
			return &settings.FieldError{Field: "board", Msg: fmt.Sprintf("no board profile %q", set.Board)}
		}
		restart = settings.NeedsRestart(old, *set)
		return nil
	})
	return restart, toWebError(err)
}

// Boards offers the appliance's board profiles.
func (f *fakeBackend) Boards() []string { return []string{"sim", "pi-wm8960", "pi-octo", "usb"} }

// ButtonChoices offers what the appliance's gesture mapping has.
func (f *fakeBackend) ButtonChoices() ButtonChoices {
	return ButtonChoices{
		Triggers: []string{"hook:flash", "button:short-press", "button:long-press", "mute:short-press", "mute:long-press"},
		Actions:  []string{"join-leave", "mute", "next-conference", "volume-up", "volume-down", "send-pin", "record"},
		Default: []settings.ButtonMapping{{Trigger: "button:long-press", Action: "next-conference"}, {Trigger: "button:short-press", Action: "join-leave"},
			{Trigger: "hook:flash", Action: "mute"}, {Trigger: "mute:long-press", Action: "send-pin"}, {Trigger: "mute:short-press", Action: "mute"}},
	}
}

func (f *fakeBackend) AdminPasswordSet() (bool, error) {
	if f.storePassword {
		return f.store.AdminPasswordSet()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.password != "", nil
}

func (f *fakeBackend) InitAdminPassword(code, p string) error {
	defer f.checked()()
	present := code == "" && time.Now().Before(f.PresenceUntil())
	if f.storePassword {
		if present {
			return toWebError(f.store.InitAdminPasswordPresent(p))
		}
		return toWebError(f.store.InitAdminPassword(code, p))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.password != "" {
		return fmt.Errorf("init: %w", ErrPasswordSet)
	}
	if code != f.setupCode && !present {
		return fmt.Errorf("init: %w", ErrWrongSetupCode)
	}
	f.password = p
	return nil
}

func (f *fakeBackend) SetAdminPassword(p string) error {
	defer f.checked()()
	if f.storePassword {
		return toWebError(f.store.SetAdminPassword(p))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = p
	return nil
}

// checked counts a password check from its start to when the returned func is called,
// which it makes last at least checkDelay.
func (f *fakeBackend) checked() func() {
	n := f.checking.Add(1)
	for m := f.maxChecking.Load(); n > m && !f.maxChecking.CompareAndSwap(m, n); m = f.maxChecking.Load() {
	}
	time.Sleep(f.checkDelay)
	return func() { f.checking.Add(-1) }
}

func (f *fakeBackend) CheckAdminPassword(p string) (bool, error) {
	defer f.checked()()
	if f.storePassword {
		return f.store.CheckAdminPassword(p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.password != "" && p == f.password, nil
}

func (f *fakeBackend) setState(i int, state, detail string) {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Handsets[i].State = state
	f.status.Handsets[i].Detail = detail
}

// setLevels sets handset i's meters.
func (f *fakeBackend) setLevels(i int, mic, ear float64) {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Handsets[i].MicDBFS = mic
	f.status.Handsets[i].EarDBFS = ear
}

// setAudio sets the audio device's health, nil for virtual audio, and each handset's
// earpiece underruns, in order.
func (f *fakeBackend) setAudio(a *AudioStatus, earpieceUnderruns ...uint64) {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Audio = a
	for i, n := range earpieceUnderruns {
		f.status.Handsets[i].EarpieceUnderruns = n
	}
}

// setDropped sets each handset's earpiece samples dropped, in order.
func (f *fakeBackend) setDropped(dropped ...uint64) {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, n := range dropped {
		f.status.Handsets[i].EarpieceDroppedSamples = n
	}
}

// setRosters sets the conferences' rosters.
func (f *fakeBackend) setRosters(r []RosterStatus) {
	defer f.changes.Notify() // after the unlock
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Rosters = r
}

// hookCalls returns the hook moves and controls the backend was asked for.
func (f *fakeBackend) hookCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func hookCall(i int, offHook bool) string {
	if offHook {
		return fmt.Sprintf("lift %d", i)
	}
	return fmt.Sprintf("replace %d", i)
}

// toWebError turns the store's refusals of a first password into the page's.
func toWebError(err error) error {
	switch {
	case errors.Is(err, config.ErrAdminPasswordSet):
		return fmt.Errorf("%w", ErrPasswordSet)
	case errors.Is(err, config.ErrWrongSetupCode):
		return fmt.Errorf("%w", ErrWrongSetupCode)
	}
	return err
}

// seedSettings are the settings every test starts from: an account with a
// password to keep secret, two handsets, one conference.
func seedSettings() settings.Settings {
	return settings.Settings{
		SIP:      settings.SIPSettings{ListenAddr: "0.0.0.0:5060"},
		Accounts: []settings.Account{{ID: "alice", User: "alice", Password: accountSecret, Domain: "example.org", Proxy: "127.0.0.1:5060"}},
		Handsets: []settings.Handset{
			{ID: "h1", Name: "Kitchen", Channel: 0, Account: "alice", DisplayName: `"Kitchen"`, Conference: "main"},
			{ID: "h2", Name: "Garden", Channel: 1},
		},
		Conferences: []settings.Conference{{ID: "main", Name: "Main", URI: "sip:conf@example.org", PIN: "1234"}},
		// httptest.NewRequest names this host; the admin page answers only to names it knows.
		AdminPage: settings.AdminPageSettings{Hosts: []string{"example.com"}},
	}
}

// openStore opens a settings file in dir, seeding it with seedSettings if it is new. Its
// admin password hashes at bcrypt's least cost: logging in is not what is tested, and it
// stays quick under the race detector on a busy machine.
func openStore(t *testing.T, dir string) *config.Store {
	t.Helper()
	st, err := config.Open(filepath.Join(dir, "settings.db"), config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Settings(); errors.Is(err, config.ErrNoSettings) {
		if err := st.Save(seedSettings()); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// newFake returns a fake with the admin password set and seeded settings.
func newFake(t *testing.T) *fakeBackend {
	f := newFakeFirstStart(t)
	f.password = adminPassword
	return f
}

// newFakeFirstStart returns a fake with no admin password yet.
func newFakeFirstStart(t *testing.T) *fakeBackend {
	t.Helper()
	f := &fakeBackend{store: openStore(t, t.TempDir()), status: testStatus()}
	code, _, err := f.store.PrepareSetupCode()
	if err != nil {
		t.Fatal(err)
	}
	f.setupCode = code
	return f
}

// testStatus is the status a fake starts with.
func testStatus() Status {
	return Status{
		Version: "0.1.0+git20261206000000.abc", Build: "abcdef123456",
		Board: "sim",
		Calls: map[string]uint64{"local": 3, "failed": 1},
		Handsets: []HandsetStatus{
			{Index: 0, Number: 1, ID: "h1", Name: "Kitchen", State: "on hook", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org", LED: "off", Virtual: true,
				MicDBFS: SilenceDBFS, EarDBFS: SilenceDBFS},
			{Index: 1, Number: 2, ID: "h2", Name: "Garden", State: "ended", Detail: "486 Busy Here", OffHook: true, LED: "off", Virtual: true,
				MicDBFS: -31, EarDBFS: -18},
		},
		Registrations: []RegistrationStatus{
			{Account: "alice", AOR: "sip:alice@example.org", State: "registered", Expires: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		},
		SIP: SIPStatus{Malformed: 5000},
	}
}

func newHandler(b Backend) http.Handler {
	return Handler(b, slog.New(slog.DiscardHandler))
}

// client drives a handler as one browser: it keeps the session cookie.
type client struct {
	t      *testing.T
	h      http.Handler
	cookie *http.Cookie
	remote string // RemoteAddr, "" = httptest's default
}

// do sends req with the session cookie, if any.
func (c *client) do(req *http.Request) *httptest.ResponseRecorder {
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.remote != "" {
		req.RemoteAddr = c.remote
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec
}

func (c *client) get(path string) *httptest.ResponseRecorder {
	return c.do(httptest.NewRequest("GET", path, nil))
}

func (c *client) post(path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// login logs in with password and keeps the session cookie.
func (c *client) login(password string) *httptest.ResponseRecorder {
	c.t.Helper()
	rec := c.post("/login", url.Values{"password": {password}})
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == SessionCookie {
			c.cookie = ck
		}
	}
	return rec
}

// loggedIn returns a client logged in to a new handler for b.
func loggedIn(t *testing.T, b Backend) *client {
	t.Helper()
	c := &client{t: t, h: newHandler(b)}
	if rec := c.login(adminPassword); rec.Code != http.StatusSeeOther || c.cookie == nil {
		t.Fatalf("login: got %d and cookie %v, want 303 and a session cookie", rec.Code, c.cookie)
	}
	return c
}
