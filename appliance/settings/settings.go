// Package settings is the one schema of what the appliance stores: the settings the user
// configures, with their validation, and the records of the call history. It imports only
// the standard library, so that the store (appliance/config) and the admin page
// (appliance/web) share these types rather than copies of them; it knows nothing of bbolt,
// SIP, audio or HTTP.
package settings

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Settings is everything the user configures.
type Settings struct {
	SIP         SIPSettings   `json:"sip"`
	Accounts    []Account     `json:"accounts"`
	Handsets    []Handset     `json:"handsets"`
	Conferences []Conference  `json:"conferences"`
	Recordings  Recordings    `json:"recordings"`
	Bridges     []Bridge      `json:"bridges"`
	Pins        []PinOverride `json:"pins"` // changes to the board's pin map
	// Buttons maps the handsets' gestures to actions; empty means the default mapping.
	// The appliance checks the names: this package does not know them.
	Buttons []ButtonMapping `json:"buttons"`
	Metrics MetricsSettings `json:"metrics"` // who may read /metrics
	// AdminPage says which host names the admin page answers to.
	AdminPage AdminPageSettings `json:"admin_page"`
	// Board is the name of the board profile to run on, "" to detect it at start. The
	// appliance checks the name: this package does not know the profiles.
	Board string `json:"board"`
	// Log is what the appliance logs.
	Log LogSettings `json:"log"`
	// Provisioning says where the appliance fetches its settings from, if anywhere.
	Provisioning ProvisioningSettings `json:"provisioning"`
}

// LogSettings says what the appliance logs.
type LogSettings struct {
	// Level is the least level logged: one of LogLevels, "" for "info".
	Level string `json:"level"`
	// Syslog is the remote syslog target the lines also go to, as "udp://host:port" or
	// "tcp://host:port" (see SyslogTarget); "" sends them nowhere.
	Syslog string `json:"syslog,omitempty"`
}

// LogLevels are the values of LogSettings.Level, most verbose first.
var LogLevels = []string{"debug", "info", "warn", "error"}

// A ButtonMapping says what one gesture on a handset's input does, e.g. trigger
// "mute:long-press", action "record".
type ButtonMapping struct {
	Trigger string `json:"trigger"`
	Action  string `json:"action"`
}

// Recordings configures where the recorder stops.
type Recordings struct {
	// ReserveMB is the free space, in megabytes (10^6 bytes), that a recording leaves on
	// the data directory's file system: it stops before it takes more. 0 means
	// DefaultReserveMB.
	ReserveMB int `json:"reserve_mb"`
}

// DefaultReserveMB is the free space a recording leaves when Recordings.ReserveMB is 0.
const DefaultReserveMB = 100

// maxReserveMB bounds Recordings.ReserveMB: a million megabytes is a terabyte.
const maxReserveMB = 1_000_000

// SIPSettings configures the SIP listener.
type SIPSettings struct {
	// ListenAddr is the UDP host:port to listen on, DefaultListenAddr by
	// default; port 0 picks a free port.
	ListenAddr string `json:"listen_addr"`
	// TLSListenAddr is the TCP host:port of SIP over TLS, for calls in: ""
	// means the host of ListenAddr with port DefaultTLSPort (a free port when
	// ListenAddr's port is 0), TLSOff none. SIP over TCP listens on
	// ListenAddr's port, always.
	TLSListenAddr string `json:"tls_listen_addr"`
	// MaxBridgedCalls bounds the callers bridged at once over all bridges; 0 means
	// DefaultMaxBridgedCalls.
	MaxBridgedCalls int `json:"max_bridged_calls"`
	// RTPTimeoutSeconds ends a handset's call that has had no audio from the conference
	// for this long while not on hold (the conference vanished, or the network is cut):
	// the handset shows it failed and why. 0 means DefaultRTPTimeoutSeconds.
	RTPTimeoutSeconds int `json:"rtp_timeout_seconds"`
}

// DefaultTLSPort is the port of SIP over TLS when SIPSettings.TLSListenAddr is "".
const DefaultTLSPort = 5061

// TLSOff is SIPSettings.TLSListenAddr for no SIP over TLS.
const TLSOff = "off"

// DefaultRTPTimeoutSeconds is SIPSettings.RTPTimeoutSeconds when it is 0.
const DefaultRTPTimeoutSeconds = 30

// maxRTPTimeoutSeconds bounds SIPSettings.RTPTimeoutSeconds: an hour.
const maxRTPTimeoutSeconds = 3600

// RTPTimeout returns the RTP timeout in force.
func (s SIPSettings) RTPTimeout() time.Duration {
	if s.RTPTimeoutSeconds == 0 {
		return DefaultRTPTimeoutSeconds * time.Second
	}
	return time.Duration(s.RTPTimeoutSeconds) * time.Second
}

// BridgedCalls returns the limit of callers bridged at once over all bridges.
func (s SIPSettings) BridgedCalls() int {
	if s.MaxBridgedCalls == 0 {
		return DefaultMaxBridgedCalls
	}
	return s.MaxBridgedCalls
}

// An Account is a SIP account the handsets call from.
type Account struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	AuthUser string `json:"auth_user"` // "" = User
	Password string `json:"password"`
	Domain   string `json:"domain"` // host of the address of record
	Proxy    string `json:"proxy"`  // outbound proxy "host:port", "" = Domain
	// ExpiresSeconds is the registration lifetime; 0 means DefaultExpiresSeconds.
	ExpiresSeconds int `json:"expires_seconds"`
	// Transport is "udp" (also ""), "tcp" or "tls"; TLS verifies the server's certificate
	// against the system's CAs, or those in CAFile.
	Transport string `json:"transport"`
	CAFile    string `json:"ca_file"`
	// SRTP is whether the account's calls are encrypted: "off" (also ""), "offered" (if the
	// far end answers with keys) or "required" (or the call fails). The keys travel in the
	// SDP, so only TLS keeps them secret.
	SRTP string `json:"srtp"`
	// Codecs are the voice codecs the account's calls offer and accept, in order of
	// preference, comma-separated ("PCMA,G722"); "" means DefaultCodecs. See CodecList.
	Codecs string `json:"codecs"`
	// DTMF is how the account's calls send digits (the PIN, the dashboard's keypad):
	// DTMFAuto (also "": RFC 4733 telephone events where the call negotiated them, else
	// SIP INFO), DTMFRFC4733 (telephone events only) or DTMFInfo (SIP INFO only; the calls
	// then offer no telephone-event).
	DTMF string `json:"dtmf"`
}

// The voice codecs an account may choose, and the order its calls offer them in without a
// choice: Opus, then wideband G.722, then G.711.
const (
	CodecOpus = "opus"
	CodecG722 = "G722"
	CodecPCMU = "PCMU"
	CodecPCMA = "PCMA"
)

// DefaultCodecs are the codecs of an account whose Codecs is "".
var DefaultCodecs = []string{CodecOpus, CodecG722, CodecPCMU, CodecPCMA}

// The DTMF modes of an account.
const (
	DTMFAuto    = "auto"
	DTMFRFC4733 = "rfc4733"
	DTMFInfo    = "info"
)

// codecNamed returns the codec of DefaultCodecs called name, in any case.
func codecNamed(name string) (string, bool) {
	i := slices.IndexFunc(DefaultCodecs, func(c string) bool { return strings.EqualFold(c, name) })
	if i < 0 {
		return "", false
	}
	return DefaultCodecs[i], true
}

// CodecList returns the account's codecs in order of preference, as DefaultCodecs names
// them: Codecs split at the commas, or DefaultCodecs when it is "". Validate has checked
// them.
func (a Account) CodecList() []string {
	if strings.TrimSpace(a.Codecs) == "" {
		return slices.Clone(DefaultCodecs)
	}
	var list []string
	for c := range strings.SplitSeq(a.Codecs, ",") {
		if name, ok := codecNamed(strings.TrimSpace(c)); ok {
			list = append(list, name)
		}
	}
	return list
}

// checkCodecs checks a comma-separated list of codecs: each one known, none twice, not
// empty when given.
func checkCodecs(field, codecs string) error {
	if strings.TrimSpace(codecs) == "" {
		return nil
	}
	var seen []string
	for c := range strings.SplitSeq(codecs, ",") {
		name, known := codecNamed(strings.TrimSpace(c))
		switch {
		case strings.TrimSpace(c) == "":
			return fieldErr(field, "%q has an empty entry: list codecs separated by commas, e.g. G722,PCMU", codecs)
		case !known:
			return fieldErr(field, "%q is not a codec of the appliance (%s)", strings.TrimSpace(c), strings.Join(DefaultCodecs, ", "))
		case slices.Contains(seen, name):
			return fieldErr(field, "%s is listed twice", name)
		}
		seen = append(seen, name)
	}
	return nil
}

// DefaultExpiresSeconds is the registration lifetime used when Account.ExpiresSeconds is 0.
const DefaultExpiresSeconds = 300

// LogValue implements slog.LogValuer; it leaves the password out.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("user", a.User),
		slog.String("auth_user", a.AuthUser),
		slog.String("domain", a.Domain),
		slog.String("proxy", a.Proxy),
		slog.Int("expires_seconds", a.ExpiresSeconds),
	)
}

// A Handset is one telephone handset on the board.
type Handset struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Channel     int    `json:"channel"`      // audio channel and switch index, 0..15
	Account     string `json:"account"`      // Account.ID, "" = none
	DisplayName string `json:"display_name"` // shown to the other participants
	Conference  string `json:"conference"`   // Conference.ID, "" = none

	// Identity is how the handset appears in its conference: IdentityAccount (its own
	// account, the default ""), IdentityImpersonate (the account authenticates, the call
	// presents IdentityURI) or IdentityGenerated (a fresh URI per call, starting with
	// IdentityPrefix).
	Identity       string `json:"identity"`
	IdentityURI    string `json:"identity_uri"`
	IdentityPrefix string `json:"identity_prefix"`
	AssertIdentity bool   `json:"assert_identity"` // send P-Asserted-Identity
	Private        bool   `json:"private"`         // send Privacy: id

	// Levels: the microphone's gain into the call and the earpiece's gain, in dB
	// (MinGainDB..MaxGainDB), and the sidetone, the share of the handset's own microphone
	// mixed into its earpiece, in percent (0 = off). MicAGC turns on the automatic gain
	// control of the microphone (media.AGC), after MicGainDB.
	MicGainDB       float64 `json:"mic_gain_db"`
	EarGainDB       float64 `json:"ear_gain_db"`
	SidetonePercent int     `json:"sidetone_percent"`
	MicAGC          bool    `json:"mic_agc"`

	// Calls in to the handset: see HandsetCallsIn.
	CallsIn HandsetCallsIn `json:"calls_in"`
}

// Limits of the handset levels.
const (
	MinGainDB   = -40
	MaxGainDB   = 20
	MaxSidetone = 50
)

// The identity modes of a handset.
const (
	IdentityAccount     = "account"
	IdentityImpersonate = "impersonate"
	IdentityGenerated   = "generated"
)

// A Conference is a conference bridge the handsets join, and what the appliance's own
// service legs do in it: the recorder and the announcer join with generated identities
// (RecorderPrefix-…, AnnouncerPrefix-… at the service account's domain) and Privacy: id.
type Conference struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URI  string `json:"uri"` // sip: or sips: URI, "" = not set up yet
	PIN  string `json:"pin"` // digits, * and #

	// Record records the conference while any handset of ours is in it.
	Record bool `json:"record"`
	// Announce is what the announcer plays when the first handset of ours joins: prompt
	// files in the data directory's prompts folder ("welcome.wav") and tones
	// ("tone:440:1s"), in order; see ParsePrompt.
	Announce []string `json:"announce"`
	// AnnounceLoop plays Announce again and again while handsets of ours are in the
	// conference, rather than once.
	AnnounceLoop bool `json:"announce_loop"`
	// ServiceAccount is the Account.ID the recorder and the announcer call through;
	// "" = the first account.
	ServiceAccount string `json:"service_account"`
	// RecorderPrefix and AnnouncerPrefix start the users of the service legs' generated
	// identities; "" = DefaultRecorderPrefix and DefaultAnnouncerPrefix.
	RecorderPrefix  string `json:"recorder_prefix"`
	AnnouncerPrefix string `json:"announcer_prefix"`

	// LocalFallbackOff keeps the handsets of this conference out of the local mix: while
	// the conference cannot be reached (no answer, 408, a 5xx) a lifted handset shows
	// failed. Off the zero value, local fallback is on: such handsets talk to the other
	// lifted handsets of the same conference through the appliance's own mix, and move into
	// the conference once it answers again (see the README, "When the server is gone").
	LocalFallbackOff bool `json:"local_fallback_off"`
}

// The prefixes of the service legs' generated identities when a Conference names none.
const (
	DefaultRecorderPrefix  = "rec"
	DefaultAnnouncerPrefix = "ann"
)

// MaxAnnounce bounds how many prompts and tones a conference's announcement has.
const MaxAnnounce = 20

// A FieldError says which setting is invalid and why.
type FieldError struct {
	Field string // e.g. "handsets[1].channel"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// MaxChannel is the highest audio channel, and switch index, a handset can have.
const MaxChannel = 15

// maxExpires bounds Account.ExpiresSeconds: a day.
const maxExpires = 86400

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate reports the first invalid setting as a *FieldError, or nil; for the SIP settings,
// an account, a conference, a handset, a pin override, the log, the metrics or a bridge,
// every invalid field of it, joined (errors.Join), which errors.As (the first) and
// FieldErrors (all) take apart.
func (s Settings) Validate() error {
	if err := checkSIP(s.SIP); err != nil {
		return err
	}
	accounts := map[string]bool{}
	for i, a := range s.Accounts {
		if err := checkAccount(fmt.Sprintf("accounts[%d].", i), a, accounts); err != nil {
			return err
		}
	}
	conferences := map[string]bool{}
	for i, c := range s.Conferences {
		if err := checkConference(fmt.Sprintf("conferences[%d].", i), c, conferences, accounts); err != nil {
			return err
		}
	}
	if r := s.Recordings.ReserveMB; r < 0 || r > maxReserveMB {
		return fieldErr("recordings.reserve_mb", "%d is not 0 (default) or 1..%d", r, maxReserveMB)
	}
	handsets := map[string]bool{}
	channels := map[int]bool{}
	for i, h := range s.Handsets {
		if err := checkHandset(fmt.Sprintf("handsets[%d].", i), h, handsets, channels, accounts, conferences); err != nil {
			return err
		}
	}
	if err := validatePins(s.Pins); err != nil {
		return err
	}
	if err := checkLog(s.Log); err != nil {
		return err
	}
	if err := checkMetrics(s.Metrics); err != nil {
		return err
	}
	if err := checkAdminPage(s.AdminPage); err != nil {
		return err
	}
	if err := checkProvisioning(s.Provisioning); err != nil {
		return err
	}
	return checkBridges(s.Bridges, accounts, conferences)
}

// checkID checks that id is a non-empty, unused [a-z0-9_-] string and

// checkLog checks the log level and the syslog target, reporting both if both are
// invalid, joined.
func checkLog(l LogSettings) error {
	var errs []error
	if l.Level != "" && !slices.Contains(LogLevels, l.Level) {
		errs = append(errs, fieldErr("log.level", "%q is not one of %s", l.Level, strings.Join(LogLevels, ", ")))
	}
	if _, _, err := SyslogTarget(l.Syslog); err != nil {
		errs = append(errs, fieldErr("log.syslog", "%v", err))
	}
	return errors.Join(errs...)
}

// checkSIP checks the SIP settings, reporting every invalid field, joined.
func checkSIP(sip SIPSettings) error {
	var errs []error
	if err := checkHostPort("sip.listen_addr", sip.ListenAddr, true); err != nil {
		errs = append(errs, err)
	}
	if a := sip.TLSListenAddr; a != "" && a != TLSOff {
		if err := checkHostPort("sip.tls_listen_addr", a, true); err != nil {
			errs = append(errs, fieldErr("sip.tls_listen_addr", `%q is not host:port, "" (port %d) or %q`, a, DefaultTLSPort, TLSOff))
		}
	}
	if t := sip.RTPTimeoutSeconds; t != 0 && (t < 2 || t > maxRTPTimeoutSeconds) {
		errs = append(errs, fieldErr("sip.rtp_timeout_seconds", "%d is not 0 (the default, %d) or 2 to %d seconds", t, DefaultRTPTimeoutSeconds, maxRTPTimeoutSeconds))
	}
	if sip.MaxBridgedCalls < 0 || sip.MaxBridgedCalls > maxBridgeCalls {
		errs = append(errs, fieldErr("sip.max_bridged_calls", "%d is not 0 (the default, %d) to %d", sip.MaxBridgedCalls, DefaultMaxBridgedCalls, maxBridgeCalls))
	}
	return errors.Join(errs...)
}

// checkConference checks the conference c at the settings path f, whose ID must not be
// in seen, and adds it there; accounts are the accounts' IDs. It reports every invalid
// field of the conference's own, joined, then the first of its services (checkServices).
func checkConference(f string, c Conference, seen, accounts map[string]bool) error {
	var errs []error
	if err := checkID(f+"id", c.ID, seen); err != nil {
		errs = append(errs, err)
	}
	if hasControl(c.Name) {
		errs = append(errs, fieldErr(f+"name", "must not contain control characters"))
	}
	if c.URI != "" && !isSIPURI(c.URI) {
		errs = append(errs, fieldErr(f+"uri", "%q is not a sip: or sips: URI of the form user@host[:port]", c.URI))
	}
	if strings.Trim(c.PIN, "0123456789*#") != "" {
		errs = append(errs, fieldErr(f+"pin", "may contain only digits, * and #"))
	}
	if err := checkServices(f, c, accounts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkHandset checks the handset h at the settings path f, whose ID and channel must not
// be in handsets and channels, and adds them there; accounts and conferences are their
// IDs. It reports every invalid field, joined.
func checkHandset(f string, h Handset, handsets map[string]bool, channels map[int]bool, accounts, conferences map[string]bool) error {
	var errs []error
	if err := checkID(f+"id", h.ID, handsets); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(h.Name) == "" {
		errs = append(errs, fieldErr(f+"name", "must not be empty"))
	} else if hasControl(h.Name) {
		errs = append(errs, fieldErr(f+"name", "must not contain control characters"))
	}
	if h.Channel < 0 || h.Channel > MaxChannel {
		errs = append(errs, fieldErr(f+"channel", "%d is not in 0..%d", h.Channel, MaxChannel))
	} else if channels[h.Channel] {
		errs = append(errs, fieldErr(f+"channel", "%d is used by another handset", h.Channel))
	}
	channels[h.Channel] = true
	if h.Account != "" && !accounts[h.Account] {
		errs = append(errs, fieldErr(f+"account", "no account %q", h.Account))
	}
	if h.Conference != "" && !conferences[h.Conference] {
		errs = append(errs, fieldErr(f+"conference", "no conference %q", h.Conference))
	}
	// Quotes and backslashes are fine: the SIP layer escapes them.
	if hasControl(h.DisplayName) {
		errs = append(errs, fieldErr(f+"display_name", "must not contain control characters"))
	}
	if err := checkIdentity(f, h); err != nil {
		errs = append(errs, err)
	}
	if err := checkCallsIn(f+"calls_in.", h.CallsIn); err != nil {
		errs = append(errs, err)
	}
	for _, g := range []struct {
		field string
		dB    float64
	}{{"mic_gain_db", h.MicGainDB}, {"ear_gain_db", h.EarGainDB}} {
		if !(g.dB >= MinGainDB && g.dB <= MaxGainDB) {
			errs = append(errs, fieldErr(f+g.field, "%g dB is not in %d..%d dB", g.dB, MinGainDB, MaxGainDB))
		}
	}
	if h.SidetonePercent < 0 || h.SidetonePercent > MaxSidetone {
		errs = append(errs, fieldErr(f+"sidetone_percent", "%d%% is not in 0..%d%%", h.SidetonePercent, MaxSidetone))
	}
	return errors.Join(errs...)
}

// checkAccount checks the account a, at the settings path f ("accounts[2]."), whose ID
// must not be in seen, and adds it there. It reports every invalid field, in the order of
// the account's fields, joined (errors.Join): errors.As finds the first *FieldError.
func checkAccount(f string, a Account, seen map[string]bool) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkID(f+"id", a.ID, seen))
	switch {
	case a.User == "":
		add(fieldErr(f+"user", "must not be empty"))
	case !isSIPUser(a.User):
		add(fieldErr(f+"user", "%q has characters not allowed in a SIP user", a.User))
	}
	if a.AuthUser != "" && !isSIPUser(a.AuthUser) {
		add(fieldErr(f+"auth_user", "%q has characters not allowed in a SIP user", a.AuthUser))
	}
	if !isHost(a.Domain) {
		add(fieldErr(f+"domain", "%q is not a host name or IP address", a.Domain))
	}
	if a.Proxy != "" {
		add(checkHostPort(f+"proxy", a.Proxy, false))
	}
	switch a.Transport {
	case "", "udp", "tcp", "tls":
	default:
		add(fieldErr(f+"transport", "%q is not udp, tcp or tls", a.Transport))
	}
	switch a.SRTP {
	case "", "off", "offered", "required":
	default:
		add(fieldErr(f+"srtp", "%q is not off, offered or required", a.SRTP))
	}
	add(checkCodecs(f+"codecs", a.Codecs))
	switch a.DTMF {
	case "", DTMFAuto, DTMFRFC4733, DTMFInfo:
	default:
		add(fieldErr(f+"dtmf", "%q is not auto, rfc4733 or info", a.DTMF))
	}
	if a.CAFile != "" && (a.Transport != "tls" || !strings.HasPrefix(a.CAFile, "/") || hasControl(a.CAFile)) {
		add(fieldErr(f+"ca_file", "a CA file is for tls, and needs an absolute path"))
	}
	if a.ExpiresSeconds < 0 || a.ExpiresSeconds > maxExpires {
		add(fieldErr(f+"expires_seconds", "%d is not 0 (default) or 1..%d", a.ExpiresSeconds, maxExpires))
	}
	return errors.Join(errs...)
}

// records it in seen.
func checkID(field, id string, seen map[string]bool) error {
	if id == "" {
		return fieldErr(field, "must not be empty")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fieldErr(field, "%q may contain only a-z, 0-9, - and _", id)
		}
	}
	if seen[id] {
		return fieldErr(field, "%q is used twice", id)
	}
	seen[id] = true
	return nil
}

// checkHostPort checks a "host:port" address. A listen address may have
// an empty host and port 0.
func checkHostPort(field, addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(field, "%q is not host:port", addr)
	}
	if !(listen && host == "") && !isHost(host) {
		return fieldErr(field, "%q is not a host name or IP address", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fieldErr(field, "%q is not a valid port", port)
	}
	return nil
}

// isHost reports whether s is an IP address or a DNS host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// isSIPUser reports whether s uses only the characters RFC 3261 allows
// unescaped in the user part (unreserved and user-unreserved).
// https://datatracker.ietf.org/doc/html/rfc3261#section-25.1
func isSIPUser(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_.!~*'()&=+$,;?/", r)) {
			return false
		}
	}
	return true
}

// isSIPURI reports whether s is sip:user@host[:port] or sips:...
func isSIPURI(s string) bool {
	rest, ok := strings.CutPrefix(s, "sip:")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "sips:"); !ok {
			return false
		}
	}
	user, hostport, ok := strings.Cut(rest, "@")
	if !ok || !isSIPUser(user) {
		return false
	}
	if isHost(hostport) {
		return true
	}
	return checkHostPort("", hostport, false) == nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// maxIdentityPrefix bounds the user prefix of generated identities.
const maxIdentityPrefix = 32

// checkIdentity checks a handset's identity mode and what the mode needs.
func checkIdentity(f string, h Handset) error {
	switch h.Identity {
	case "", IdentityAccount:
	case IdentityImpersonate:
		if h.IdentityURI == "" {
			return fieldErr(f+"identity_uri", "impersonate needs the SIP URI the handset presents")
		}
		if !isSIPURI(h.IdentityURI) {
			return fieldErr(f+"identity_uri", "%q is not a sip: or sips: URI of the form user@host[:port]", h.IdentityURI)
		}
		if h.Account == "" {
			return fieldErr(f+"account", "impersonate needs the trusted account that authenticates the calls")
		}
	case IdentityGenerated:
		if err := checkPrefix(f+"identity_prefix", h.IdentityPrefix); err != nil {
			return err
		}
	default:
		return fieldErr(f+"identity", "%q is not account, impersonate or generated", h.Identity)
	}
	return nil
}

// checkPrefix checks the user prefix of generated identities.
func checkPrefix(field, prefix string) error {
	if len(prefix) > maxIdentityPrefix {
		return fieldErr(field, "is longer than %d characters", maxIdentityPrefix)
	}
	if prefix != "" && (!isSIPUser(prefix) || strings.ContainsAny(prefix, "&=+$,;?/")) {
		return fieldErr(field, "%q may contain only letters, digits and - _ . ! ~ * ' ( )", prefix)
	}
	return nil
}

// checkServices checks what a conference's recorder and announcer are set to do. The
// prompt files are only checked for their names here: whether they exist and hold audio
// the announcer can play is for the appliance, which knows where they are.
func checkServices(f string, c Conference, accounts map[string]bool) error {
	if c.ServiceAccount != "" && !accounts[c.ServiceAccount] {
		return fieldErr(f+"service_account", "no account %q", c.ServiceAccount)
	}
	if (c.Record || len(c.Announce) > 0) && len(accounts) == 0 {
		return fieldErr(f+"service_account", "the recorder and the announcer need a SIP account to call through: add one")
	}
	if err := checkPrefix(f+"recorder_prefix", c.RecorderPrefix); err != nil {
		return err
	}
	if err := checkPrefix(f+"announcer_prefix", c.AnnouncerPrefix); err != nil {
		return err
	}
	if strings.EqualFold(cmp.Or(c.RecorderPrefix, DefaultRecorderPrefix), cmp.Or(c.AnnouncerPrefix, DefaultAnnouncerPrefix)) {
		return fieldErr(f+"announcer_prefix", "must differ from the recorder's prefix, so that the two legs can be told apart")
	}
	if len(c.Announce) > MaxAnnounce {
		return fieldErr(f+"announce", "has %d prompts and tones, more than %d", len(c.Announce), MaxAnnounce)
	}
	for _, p := range c.Announce {
		if _, err := ParsePrompt(p); err != nil {
			return fieldErr(f+"announce", "%v", err)
		}
	}
	return nil
}

// Clone returns a deep copy of s: changing it leaves s as it is.
func (s Settings) Clone() Settings {
	c := s
	c.Accounts = slices.Clone(s.Accounts)
	c.Handsets = slices.Clone(s.Handsets)
	c.Conferences = slices.Clone(s.Conferences)
	for i := range c.Conferences {
		c.Conferences[i].Announce = slices.Clone(c.Conferences[i].Announce)
	}
	c.Bridges = slices.Clone(s.Bridges)
	for i := range c.Bridges {
		c.Bridges[i].AllowNetworks = slices.Clone(c.Bridges[i].AllowNetworks)
	}
	c.Pins = slices.Clone(s.Pins)
	c.Buttons = slices.Clone(s.Buttons)
	c.AdminPage.Hosts = slices.Clone(s.AdminPage.Hosts)
	return c
}

// FieldErrors returns the *FieldErrors in err, in the order they were joined, through
// errors that wrap them.
func FieldErrors(err error) []*FieldError {
	switch e := err.(type) {
	case *FieldError:
		return []*FieldError{e}
	case interface{ Unwrap() []error }:
		var all []*FieldError
		for _, inner := range e.Unwrap() {
			all = append(all, FieldErrors(inner)...)
		}
		return all
	case interface{ Unwrap() error }:
		return FieldErrors(e.Unwrap())
	}
	return nil
}
