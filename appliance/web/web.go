// Package web serves the appliance's admin page: a live dashboard of the
// handsets (state, call, levels, RTP quality, with buttons to join, leave,
// mute, send digits and move virtual hooks), the audio device's health, the SIP registrations, the
// conferences' rosters and the recent events; the call history; the settings pages with backup and restore;
// the login that guards them all; and Prometheus metrics. It reads and
// changes the appliance only through a Backend and knows nothing of SIP,
// audio or the settings store. It also makes the self-signed certificate
// the page is served with over HTTPS (NewCertificate, Fingerprint); the
// appliance decides when to use it. A Backend that is also a Recorder gets
// the recordings page: play, download and delete the recordings, and start
// and stop recording each conference. One that is also a System gets the System
// page: the firmware, the host and its clock, a packet capture of the
// appliance's own SIP and RTP, and restart, reboot and factory reset behind
// confirmations.
//
// Access: the page answers only requests whose Host names the appliance (an
// address of the machine, localhost, its host name, or a name in the settings'
// AdminPage.Hosts) and refuses the rest with 421, which keeps other sites out
// through DNS rebinding. Until an admin password is set, every page sends the
// browser to /setup to choose one, which needs the one-time setup code the
// appliance made at start; the browser that sets it is logged in. After that
// every page but /login needs a session: POST /login with the form field
// "password" answers with a session cookie (HttpOnly, SameSite=Strict, and
// Secure over HTTPS) that lasts SessionLifetime or until POST /logout. Sessions
// live in memory, so a restart logs everyone out. The settings page changes the
// password, given the current one, and ends the other sessions. Failed password
// checks (logins, setup codes, current passwords) are limited per client
// network, /24 or /64 (MaxLoginFailures per LoginWindow, then 429 Too Many
// Requests with Retry-After), and at most MaxPasswordChecks hashes run at once
// (then 503). Request bodies are bounded, and the password forms take only
// urlencoded bodies. Requests from other sites that change anything are refused
// with 403 (http.CrossOriginProtection). /metrics answers as the metrics
// settings say: loopback clients without a session and others only with one
// (the default), any client with the bearer token, or nobody. NewServer and
// LimitConnections bound how long and how many connections a client may hold.
//
// Scripts: GET /api/status, GET /api/history and GET /api/recordings answer
// JSON; GET /events
// streams server-sent events, the Status as unnamed events whenever it
// changes and new Events as "log" events; and the buttons' POSTs answer
// 204, or their error as JSON, to a request that accepts application/json.
package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"partyline/appliance/settings"
)

// A Backend is what the admin page reads and changes. The appliance
// implements it; tests use a fake. Its methods are called concurrently.
type Backend interface {
	// Status returns a snapshot of the appliance's state. It must be
	// cheap: every event stream calls it whenever Subscribe says so.
	Status() Status
	// Events returns the recent events, oldest first, with increasing
	// Seq: what an EventLog returns. It must be cheap, like Status.
	Events() []Event
	// Subscribe returns a channel that receives a value whenever Status or
	// Events may have changed, until ctx is done: the event streams wait on
	// it rather than polling. Values may coalesce (see Changes), and one that
	// changes nothing is harmless, but a change must never go untold.
	Subscribe(ctx context.Context) <-chan struct{}
	// SetHook lifts (offHook) or replaces the virtual hook of handset i.
	SetHook(handset int, offHook bool) error
	// Control does what action says with handset i, as its buttons would.
	// Asking for what is so already (Join while joining or in a call,
	// Unmute while not muted, Resume while not held) succeeds and changes
	// nothing; Mute, Unmute, Hold and Resume outside a call are refused
	// with an error.
	Control(handset int, action Action) error
	// SendDigits sends DTMF digits (1 to MaxDigits of 0-9, *, # and A-D,
	// which the page checks) into handset i's call, as its keypad would.
	// It fails when the handset is not in a call.
	SendDigits(handset int, digits string) error
	// History returns the calls that have ended, newest first.
	History() ([]settings.CallRecord, error)
	// TLSFingerprint returns the SHA-256 fingerprint of the certificate
	// the page is served with (see Fingerprint), or "" when it is served
	// over plain HTTP.
	TLSFingerprint() string

	// Settings returns the saved settings, account passwords included:
	// the page never shows them, and exports them only when asked to.
	Settings() (settings.Settings, error)
	// UpdateSettings changes the settings atomically: it calls change with
	// the saved settings and saves what change leaves there. If change
	// returns an error, or the result is invalid (a *settings.FieldError), nothing
	// is saved and that error is returned. restart reports whether some of
	// the change takes effect only when the appliance restarts.
	UpdateSettings(change func(*settings.Settings) error) (restart bool, err error)
	// ButtonChoices returns what the button mapping can say: the
	// triggers, the actions and the mapping that applies without one.
	ButtonChoices() ButtonChoices
	// Boards returns the names of the board profiles the settings may choose.
	Boards() []string

	// AdminPasswordSet reports whether the admin password has been set.
	// Once it returns true it must not return false again.
	AdminPasswordSet() (bool, error)
	// InitAdminPassword sets the first admin password if setupCode is the
	// one-time code the appliance made at start; otherwise it changes
	// nothing and returns an error wrapping ErrWrongSetupCode. If a
	// password is set already it changes nothing and returns an error
	// wrapping ErrPasswordSet; a password it refuses is a *settings.FieldError.
	InitAdminPassword(setupCode, password string) error
	// PresenceUntil returns until when a proof of presence at the device (a
	// handset's call button held) lets InitAdminPassword go without the setup
	// code ("" for setupCode); before now, or zero, it does not.
	PresenceUntil() time.Time
	// SetAdminPassword replaces the admin password; a password it refuses
	// is a *settings.FieldError. The page calls it only after checking the current
	// one.
	SetAdminPassword(password string) error
	// CheckAdminPassword reports whether password is the admin password.
	// It may be slow (a password hash), which makes guessing slow too.
	CheckAdminPassword(password string) (bool, error)
}

// An Action is what the page's buttons ask a handset to do.
type Action string

// The actions of Backend.Control.
const (
	ActionJoin   Action = "join"   // join the handset's conference
	ActionLeave  Action = "leave"  // leave the call, or give up the join
	ActionMute   Action = "mute"   // mute the microphone in the call
	ActionUnmute Action = "unmute" // let the microphone through again
	ActionHold   Action = "hold"   // put the call on hold: no audio goes either way
	ActionResume Action = "resume" // take the call off hold
	ActionAnswer Action = "answer" // answer the call that rings, or the one that waits
)

// actions are the actions the page accepts.
var actions = []Action{ActionJoin, ActionLeave, ActionMute, ActionUnmute, ActionHold, ActionResume, ActionAnswer}

// Status is what the dashboard shows.
type Status struct {
	Version       string               `json:"version"`     // the firmware's version, e.g. "0.1.0+git20261206.1234abcd"
	Build         string               `json:"build"`       // the firmware's build: its commit
	Board         string               `json:"board"`       // the board profile running
	BoardChosen   string               `json:"boardChosen"` // how it was chosen, e.g. "chosen in the settings"
	BoardFromFlag bool                 `json:"boardFromFlag,omitempty"`
	Handsets      []HandsetStatus      `json:"handsets"`
	Registrations []RegistrationStatus `json:"registrations"`
	Rosters       []RosterStatus       `json:"rosters"`
	SIP           SIPStatus            `json:"sip"`
	// Audio is the health of the handsets' audio device; nil when the audio
	// is virtual, which keeps no such counters.
	Audio *AudioStatus `json:"audio,omitempty"`
	// Calls counts the handsets' calls that ended since the appliance started, by how
	// they ended (CallResults).
	Calls map[string]uint64 `json:"calls"`
	// ServerTime is the appliance's clock when the page sent the status,
	// so that the browser counts call times and expiries by it rather
	// than by its own clock. The page sets it; a Backend leaves it zero.
	ServerTime time.Time `json:"serverTime,omitzero"`
	// Device identifies the device in a fleet; Provisioning is nil when the backend
	// does no provisioning.
	Device       DeviceStatus        `json:"device"`
	Provisioning *ProvisioningStatus `json:"provisioning,omitempty"`
	// UpdateRolledBack is the last firmware update's rollback; nil when it was not
	// rolled back.
	UpdateRolledBack *UpdateStatus `json:"updateRolledBack,omitempty"`
}

// SIPStatus is where the SIP agent listens.
type SIPStatus struct {
	Listening string `json:"listening"`          // the UDP host:port it is bound to
	FromFlag  bool   `json:"fromFlag,omitempty"` // set on the command line, not by the settings
	// Malformed counts the SIP messages dropped, or answered 400, since the
	// appliance started because they do not parse or lack what every request needs.
	Malformed uint64 `json:"malformed"`
}

// AudioStatus is the health of the handsets' audio device since it opened.
// It leaves out the periods processed, which grow all the time: the event
// stream sends the status only when it changes.
type AudioStatus struct {
	Overruns  uint64 `json:"overruns"`  // times captured microphone audio was lost
	Underruns uint64 `json:"underruns"` // times the earpieces' playback ran dry
	Restarts  uint64 `json:"restarts"`  // times the device was reopened after a failure
	LastError string `json:"lastError"` // the last failure or failed reopen; "" = none
}

// RosterStatus is the roster of one conference the appliance's legs are in.
type RosterStatus struct {
	Conference   string        `json:"conference"` // its URI
	Note         string        `json:"note"`       // e.g. why only our own legs are listed
	Participants []RosterEntry `json:"participants"`
}

// RosterEntry is one participant of a conference.
type RosterEntry struct {
	URI         string `json:"uri"`
	DisplayName string `json:"displayName"`
	Status      string `json:"status"` // e.g. "connected", "on-hold"
	Muted       bool   `json:"muted"`
	Ours        bool   `json:"ours"` // one of the appliance's own legs
}

// HandsetStatus is one handset's state.
type HandsetStatus struct {
	Index int `json:"index"` // its position, from 0
	// Number is its human number, Index+1, which the page shows; ID is its
	// stable ID in the settings, which the logs and the metrics use.
	Number     int    `json:"number"`
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Identity   string `json:"identity"`   // who the handset calls as
	Conference string `json:"conference"` // what it joins
	Detail     string `json:"detail"`     // e.g. why the last join failed: "486 Busy Here"
	OffHook    bool   `json:"offHook"`
	LED        string `json:"led"`
	Virtual    bool   `json:"virtual"` // has a virtual hook that SetHook moves

	// Busy reports a join or a call in progress: Leave ends it.
	Busy bool `json:"busy"`
	// InCall reports an answered call, whose microphone can be muted.
	InCall bool `json:"inCall"`
	Muted  bool `json:"muted"` // the microphone is muted in the call
	// Held reports a call we put on hold; its State is then "on hold".
	Held bool `json:"held"`
	// UnreachableSince is when the handset's conference was found unreachable, while it
	// talks in the local mix (State "local only"); zero otherwise. LocalOnly says so for
	// people: "local only: server unreachable since 15:04:05", "" otherwise.
	UnreachableSince time.Time `json:"unreachableSince,omitzero"`
	LocalOnly        string    `json:"localOnly,omitempty"`
	// Caller is who calls the handset, display name and URI, while the call rings or is
	// answered; Waiting who waits behind the call in progress (call waiting). Answerable
	// reports a call that Answer takes: one that rings or waits.
	Caller     string `json:"caller"`
	Waiting    string `json:"waiting"`
	Answerable bool   `json:"answerable"`
	// CallStart is when the call was answered; zero without one.
	CallStart time.Time `json:"callStart,omitzero"`
	// MicDBFS and EarDBFS are the microphone's and the earpiece's levels
	// over the last moment, in whole dBFS; SilenceDBFS or less is silence.
	MicDBFS float64 `json:"micDBFS"`
	EarDBFS float64 `json:"earDBFS"`
	// Quality is the call's RTP figures; nil without a call.
	Quality *CallQuality `json:"quality,omitempty"`
	// EarpieceUnderruns counts the audio device's periods in which the
	// handset's earpiece ran dry in calls because the call's audio came late
	// from the network side, since the appliance started.
	EarpieceUnderruns uint64 `json:"earpieceUnderruns"`
	// EarpieceDroppedSamples counts the earpiece samples dropped to catch up
	// with the call's audio after it came late in a burst, audio the handset
	// never played, since the appliance started.
	EarpieceDroppedSamples uint64 `json:"earpieceDroppedSamples"`
}

// SilenceDBFS is the level a handset's meter reads for silence.
const SilenceDBFS = -120

// CallQuality is the RTP figures of a call so far.
type CallQuality struct {
	PacketsSent     uint64  `json:"packetsSent"`
	PacketsReceived uint64  `json:"packetsReceived"`
	Lost            uint64  `json:"lost"`        // the far end's packets that never arrived
	LossPercent     float64 `json:"lossPercent"` // Lost as a share of the packets expected
	JitterMS        float64 `json:"jitterMs"`    // interarrival jitter (RFC 3550 section 6.4.1)
	RTTMS           float64 `json:"rttMs"`       // round-trip time from RTCP; 0 = not measured
	MOS             float64 `json:"mos"`         // estimated mean opinion score of the last 10 s, 1 to 4.5; 0 = not known yet
	// Late counts the far end's packets that came after their time to play, dropped.
	Late uint64 `json:"late"`
	// Concealed counts the packet times the earpiece played concealment (or silence)
	// because no packet was there to play: lost, late, or the jitter buffer growing.
	Concealed uint64 `json:"concealed"`
	// Foreign counts the datagrams that came to the call's RTP port from anywhere but the
	// far end's address and port, and were dropped.
	Foreign uint64 `json:"foreign"`
}

// RegistrationStatus is one SIP account's registration.
type RegistrationStatus struct {
	Account string    `json:"account"`
	AOR     string    `json:"aor"`
	State   string    `json:"state"`
	Detail  string    `json:"detail"`
	Expires time.Time `json:"expires"` // when the binding runs out; zero unless registered
	// NextAttempt is when the next REGISTER goes out: the refresh, or the
	// retry after a failure; zero when none is due.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

//go:embed templates static
var content embed.FS

// templates are the pages' templates, parsed when the first page is drawn rather than
// when the program starts: parsing takes about as long as the rest of the start until
// the SIP agent answers.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(funcs).ParseFS(content, "templates/*.tmpl"))
})

type server struct {
	backend   Backend
	recorder  Recorder  // the backend's recordings; nil = it has none
	restarter Restarter // the backend's restart; nil = it has none
	logSource LogSource // the backend's log lines; nil = it keeps none
	system    System    // the backend's System page; nil = it has none
	log       *slog.Logger
	sessions  sessions
	logins    limiter
	hashes    hashGate
	hosts     hostCheck
	// passwordSet caches a true Backend.AdminPasswordSet, which stays true.
	passwordSet atomic.Bool
}

// Handler returns the admin page's HTTP handler; the package documentation
// says who may reach what.
func Handler(b Backend, log *slog.Logger) http.Handler {
	s := &server{backend: b, log: log, hosts: hostCheck{settings: b.Settings}}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", noListing(http.FileServerFS(content)))
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
	mux.Handle("POST /handsets/{i}/control", s.page(s.control))
	mux.Handle("GET /history", s.page(s.history))
	mux.Handle("GET /api/history", s.api(s.historyJSON))

	mux.Handle("GET /settings", s.page(s.settings))
	mux.Handle("POST /settings/sip", s.page(s.saveSIP))
	mux.Handle("POST /settings/recordings", s.page(s.saveRecordings))
	mux.Handle("POST /settings/board", s.page(s.saveBoard))
	mux.Handle("POST /settings/accounts", s.page(s.addAccount))
	mux.Handle("POST /settings/accounts/{id}", s.page(s.saveAccount))
	mux.Handle("POST /settings/accounts/{id}/delete", s.page(s.deleteAccount))
	mux.Handle("POST /settings/handsets/{id}", s.page(s.saveHandset))
	mux.Handle("POST /settings/conferences", s.page(s.addConference))
	mux.Handle("POST /settings/conferences/{id}", s.page(s.saveConference))
	mux.Handle("POST /settings/conferences/{id}/delete", s.page(s.deleteConference))
	mux.Handle("POST /settings/bridges", s.page(s.addBridge))
	mux.Handle("POST /settings/bridges/{id}", s.page(s.saveBridge))
	mux.Handle("POST /settings/bridges/{id}/delete", s.page(s.deleteBridge))
	mux.Handle("POST /settings/buttons", s.page(s.saveButtons))
	mux.Handle("POST /settings/pins/{handset}", s.page(s.savePins))
	mux.Handle("POST /settings/metrics", s.page(s.saveMetrics))
	mux.Handle("POST /settings/admin-hosts", s.page(s.saveAdminHosts))
	mux.Handle("POST /settings/provisioning", s.page(s.saveProvisioning))
	mux.Handle("POST /settings/password", s.page(s.changePassword))
	mux.Handle("GET /settings/export", s.page(s.export))
	mux.Handle("POST "+importPath, s.page(s.importSettings))
	if ls, ok := b.(LogSource); ok {
		s.logSource = ls
		mux.Handle("GET /logs", s.page(s.logs))
		mux.Handle("GET /logs/download", s.page(s.downloadLogs))
		mux.Handle("POST /settings/log", s.page(s.saveLogLevel))
	}
	if rs, ok := b.(Restarter); ok {
		s.restarter = rs
		mux.Handle("POST /restart", s.page(s.restart))
	}
	if rec, ok := b.(Recorder); ok {
		s.recorder = rec
		mux.Handle("GET /recordings", s.page(s.recordingsPage))
		mux.Handle("GET /api/recordings", s.api(s.recordingsJSON))
		mux.Handle("GET /recordings/{name}", s.page(s.recording))
		mux.Handle("POST /recordings/{name}/delete", s.page(s.deleteRecording))
		mux.Handle("POST /conferences/{id}/recording", s.page(s.setRecording))
	}
	if sys, ok := b.(System); ok {
		s.system = sys
		mux.Handle("GET /system", s.page(s.systemPage))
		mux.Handle("POST /system/capture", s.page(s.capture))
		mux.Handle("GET /system/capture.pcap", s.page(s.captureFile))
		mux.Handle("POST /system/restart", s.page(s.restartService))
		mux.Handle("POST /system/reboot", s.page(s.reboot))
		mux.Handle("POST /system/factory-reset", s.page(s.factoryReset))
	}
	return secureHeaders(s.hosts.handler(limitBodies(http.NewCrossOriginProtection().Handler(mux))))
}

// importPath is where the settings import posts its file.
const importPath = "/settings/import"

// noListing answers 404 for a directory rather than listing its files.
func noListing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
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
	// HasRecordings shows the recordings page in the navigation; render
	// sets it.
	HasRecordings bool
	// HasLogs shows the logs page in the navigation; render sets it.
	HasLogs bool
	// HasSystem shows the System page in the navigation; render sets it.
	HasSystem bool
	// PendingRestart lists what of the saved settings waits for a restart,
	// shown with a Restart button on every page of a logged-in user;
	// render sets it.
	PendingRestart []string
	Error          string // a failure, at the top
	Notice         string // a confirmation, at the top
	// Fingerprint is the HTTPS certificate's, shown at the foot of every
	// page so that it can be compared with what the browser shows; render
	// sets it.
	Fingerprint string
}

// A view is a page's data: a struct that embeds frame, by pointer.
type view interface{ base() *frame }

func (f *frame) base() *frame { return f }

type dashboardPage struct {
	frame
	Status
	Events  []Event // newest first
	LastSeq uint64  // the Seq of the newest event, 0 = none: the event stream goes on after it
	// FirstSteps is what the device needs before its handsets can join: shown until
	// every step is done.
	FirstSteps []step
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	var notice string
	if r.URL.Query().Has("set") {
		notice = "The admin password is set, and this browser is logged in with it."
	}
	s.renderDashboard(w, http.StatusOK, "", notice)
}

func (s *server) renderDashboard(w http.ResponseWriter, code int, problem, notice string) {
	p := &dashboardPage{
		frame:  frame{Title: "Dashboard", Nav: "dashboard", LoggedIn: true, Error: problem, Notice: notice},
		Status: s.backend.Status(),
	}
	p.ServerTime = time.Now()
	if set, err := s.backend.Settings(); err != nil {
		s.log.Warn("read settings for the dashboard's checklist", "err", err)
	} else {
		p.FirstSteps = firstSteps(set)
	}
	events := s.backend.Events()
	if len(events) > 0 {
		p.LastSeq = events[len(events)-1].Seq
	}
	p.Events = slices.Clone(events)
	slices.Reverse(p.Events)
	s.render(w, code, "index.tmpl", p)
}

// render executes a page into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, code int, name string, data view) {
	data.base().Fingerprint = s.backend.TLSFingerprint()
	data.base().HasRecordings = s.recorder != nil
	data.base().HasLogs = s.logSource != nil
	data.base().HasSystem = s.system != nil
	if s.restarter != nil && data.base().LoggedIn {
		data.base().PendingRestart = s.restarter.PendingRestart()
	}
	var buf bytes.Buffer
	if err := templates().ExecuteTemplate(&buf, name, data); err != nil {
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

// writeJSON sends v as a JSON answer.
func (s *server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("write JSON", "err", err)
	}
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st := s.backend.Status()
	st.ServerTime = time.Now()
	s.writeJSON(w, st)
}

// wantsJSON reports whether a script asked for a JSON answer rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// events streams the status and the event log as server-sent events
// (https://html.spec.whatwg.org/multipage/server-sent-events.html), until
// the client goes away or its session ends. The status goes as unnamed
// events: one at once, then one whenever it changes. New entries of the
// event log go as "log" events, a JSON array oldest first, whose id is the
// Seq of the last one: those after Last-Event-ID (a reconnecting browser
// sends it) or else after the "after" query, which the dashboard sets to
// the newest entry it shows.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	token := sessionToken(r)
	expires, ok := s.sessions.expiry(token)
	if !ok {
		return // ended since the request was let in
	}
	after := lastEventID(r)
	rc := http.NewResponseController(w)
	// The stream outlasts the server's WriteTimeout; it ends with the session,
	// the client or the server instead.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("event stream: clear write deadline", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	changed := s.backend.Subscribe(ctx)
	ended := s.sessions.subscribe(ctx)
	expiry := time.NewTimer(time.Until(expires))
	defer expiry.Stop()
	var last []byte
	for {
		sent := false
		st := s.backend.Status()
		b, err := json.Marshal(st)
		if err != nil {
			s.log.Error("encode status", "err", err)
			return
		}
		if !bytes.Equal(b, last) {
			last = b
			st.ServerTime = time.Now()
			if b, err = json.Marshal(st); err != nil {
				s.log.Error("encode status", "err", err)
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			sent = true
		}
		if news := eventsAfter(s.backend.Events(), after); len(news) > 0 {
			b, err := json.Marshal(news)
			if err != nil {
				s.log.Error("encode events", "err", err)
				return
			}
			after = news[len(news)-1].Seq
			if _, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", after, b); err != nil {
				return
			}
			sent = true
		}
		if sent {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			return
		case <-ended:
		case <-changed:
		}
		if !s.sessions.valid(token) {
			return
		}
	}
}

// lastEventID is the Seq of the last event log entry the client has: its
// Last-Event-ID header, or else its "after" query, or 0.
func lastEventID(r *http.Request) uint64 {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
