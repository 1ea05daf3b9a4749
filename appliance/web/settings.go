package web

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"partyline/appliance/settings"
)

// settingsPage is the settings page. Its secrets, the accounts' passwords and the metrics
// token, are write-only: never shown, kept when a form leaves them empty, and exported
// only when asked to.
type settingsPage struct {
	frame
	SIP           formView
	Recordings    formView
	Accounts      []formView
	NewAccount    formView
	Handsets      []formView
	Conferences   []formView
	NewConference formView
	Bridges       []formView
	NewBridge     formView
	Buttons       formView
	Board         formView
	Pins          []formView
	Metrics       formView
	AdminHosts    formView
	Provisioning  formView
	// Managed holds the note of each section provisioning manages, by its export name:
	// the page shows the section read-only.
	Managed  map[string]string
	Password formView
	Export   formView
	Import   formView
}

// failure is a rejected settings form, drawn again with what the user typed
// and the error next to its input.
type failure struct {
	form   string     // the form's ID
	values url.Values // what was typed; nil keeps the stored values
	prefix string     // the path of what the form edits, e.g. "accounts[2]."
	err    *settings.FieldError
	more   []*settings.FieldError // further errors of the form, shown with err at once
	shown  bool                   // set once a form on the page shows the error
}

// apply shows f in form if it is the form that failed.
func (f *failure) apply(form *formView) {
	if f == nil || f.form != form.ID {
		return
	}
	if f.values != nil {
		form.refill(f.values)
	}
	for _, fe := range append([]*settings.FieldError{f.err}, f.more...) {
		form.setError(f.prefix, fe)
	}
	form.focusFirstError()
	form.Open = true
	f.shown = true
}

// savedNotices are what the settings page says after a redirect, by the
// value of its "saved" query: the section saved and whether the backend
// said that part of the change waits for a restart (see savedNotice).
var savedNotices = map[string]string{
	"sip-restart":      "Saved. The SIP listener moves to the new address when the appliance restarts.",
	"sip-live":         "Saved. Calls use it from the next one, bridged callers from the next that calls.",
	"account-live":     "Saved. Calls use it from the next one; its registration changes at once.",
	"handset-live":     "Saved. The levels and the automatic gain apply at once; the rest from the handset's next call, and a call in progress keeps going.",
	"conference-live":  "Saved. Handsets use it from their next call, the recorder and the announcer from when the next handset joins; calls in progress keep going.",
	"bridge-live":      "Saved. It applies from the next incoming call; bridged calls in progress keep going.",
	"recordings-live":  "Saved. Recordings that start from now on keep this much space free; one in progress keeps the reserve it started with.",
	"buttons-live":     "Saved. Every handset uses the new button mapping from its next press or flash; a press under way and calls in progress keep going.",
	"pins-restart":     "Saved. The appliance opens the new pins when it restarts.",
	"board-live":       "Saved; nothing changed.",
	"board-restart":    "Saved. The appliance runs on the new board profile when it restarts.",
	"metrics-live":     "Saved. /metrics answers as configured from now on.",
	"admin-live":       "Saved. The admin page answers to these names from now on.",
	"password-live":    "The admin password is changed. Other browsers logged in with the old one are logged out.",
	"imported-live":    "Settings imported. Handsets use them from their next call, their levels and the metrics access at once, the button mapping from their next press or flash; calls in progress keep going.",
	"imported-restart": "Settings imported. Part of them (the SIP listener, handset IDs and channels, the board or pins) take effect when the appliance restarts.",
}

// savedNotice is the notice for the "saved" query q, "" for none. A section without its
// own notice gets a general one.
func savedNotice(q string) string {
	if n, ok := savedNotices[q]; ok {
		return n
	}
	switch {
	case q == "":
		return ""
	case strings.HasSuffix(q, "-restart"):
		return "Saved. Part of the change takes effect when the appliance restarts."
	case strings.HasSuffix(q, "-live"):
		return "Saved; nothing changed that waits for a restart."
	}
	return ""
}

func (s *server) settings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.renderSettings(w, http.StatusOK, nil, saved{form: q.Get("at"), text: savedNotice(q.Get("saved"))})
}

// saved is the notice the settings page shows after a save: inside the form
// called form, where the redirect's anchor has put the user, or at the top of
// the page when no form has that ID (one deleted, say).
type saved struct{ form, text string }

// savedURL is where a save of form redirects: to the form's anchor, with the
// notice for what (see savedNotices) shown in that form.
func savedURL(what, form string) string {
	return "/settings?" + url.Values{"saved": {what}, "at": {form}}.Encode() + "#" + form
}

// forms returns every form of the page.
func (p *settingsPage) forms() []*formView {
	all := []*formView{&p.SIP, &p.Recordings}
	for i := range p.Accounts {
		all = append(all, &p.Accounts[i])
	}
	all = append(all, &p.NewAccount)
	for i := range p.Handsets {
		all = append(all, &p.Handsets[i])
	}
	for i := range p.Conferences {
		all = append(all, &p.Conferences[i])
	}
	all = append(all, &p.NewConference)
	for i := range p.Bridges {
		all = append(all, &p.Bridges[i])
	}
	all = append(all, &p.NewBridge, &p.Buttons, &p.Board)
	for i := range p.Pins {
		all = append(all, &p.Pins[i])
	}
	return append(all, &p.Metrics, &p.AdminHosts, &p.Provisioning, &p.Password, &p.Export, &p.Import)
}

// sipNote says where the SIP listener is now and when a change to it applies.
func sipNote(st SIPStatus) string {
	if st.FromFlag {
		return fmt.Sprintf("Listening on %s, as the -sip command-line flag says; this setting applies when the appliance is restarted without that flag.", st.Listening)
	}
	note := "The SIP listener changes when the appliance restarts."
	if st.Listening == "" {
		return note
	}
	return fmt.Sprintf("Listening on %s. %s", st.Listening, note)
}

func (s *server) renderSettings(w http.ResponseWriter, code int, f *failure, notice saved) {
	set, err := s.backend.Settings()
	if err != nil {
		s.fail(w, "read settings", err)
		return
	}
	st := s.backend.Status()
	p := settingsPage{frame: frame{Title: "Settings", Nav: "settings", LoggedIn: true}}
	var accountIDs, conferenceIDs []string
	for _, a := range set.Accounts {
		accountIDs = append(accountIDs, a.ID)
	}
	for _, c := range set.Conferences {
		conferenceIDs = append(conferenceIDs, c.ID)
	}

	p.SIP = formView{ID: "sip", Method: "post", Action: "/settings/sip", Submit: "Save",
		Note: sipNote(st.SIP),
		Inputs: []inputView{func() inputView {
			in := input("sip", "listen_addr", "Listen address (UDP host:port)", set.SIP.ListenAddr)
			in.Required = true
			in.Hint = "For example 0.0.0.0:5060; port 0 picks a free port. SIP over TCP listens on the same port."
			return in
		}(), func() inputView {
			in := input("sip", "tls_listen_addr", "SIP over TLS (TCP host:port)", set.SIP.TLSListenAddr)
			in.Hint = fmt.Sprintf("For calls in over TLS, with the admin page's certificate. Empty = the listen address's host, port %d; %q = none.", settings.DefaultTLSPort, settings.TLSOff)
			return in
		}(), numberInput("sip", "rtp_timeout_seconds", "End a call with no audio after (seconds)", set.SIP.RTPTimeoutSeconds,
			fmt.Sprintf("A call whose far end sends no audio this long (not on hold) is ended, and the handset says why. Empty = %d. From the next call.", settings.DefaultRTPTimeoutSeconds)),
			numberInput("sip", "max_bridged_calls", "Bridged callers at once, all bridges", set.SIP.MaxBridgedCalls,
				fmt.Sprintf("More callers hear 503 and are asked to try again later. Empty = %d. From the next incoming call.", settings.DefaultMaxBridgedCalls)),
		},
	}
	f.apply(&p.SIP)
	p.Recordings = formView{ID: "recordings", Method: "post", Action: "/settings/recordings", Submit: "Save",
		Note: "Recordings that start from now on use it; one in progress keeps the reserve it started with.",
		Inputs: []inputView{func() inputView {
			in := input("recordings", "reserve_mb", "Space kept free (MB)", "")
			if set.Recordings.ReserveMB != 0 {
				in.Value = strconv.Itoa(set.Recordings.ReserveMB)
			}
			in.Mode = "numeric"
			in.Hint = fmt.Sprintf("A recording stops before the disk has less free space than this; empty = %d MB.", settings.DefaultReserveMB)
			return in
		}()},
	}
	f.apply(&p.Recordings)
	for _, a := range set.Accounts {
		form := accountForm("account-"+a.ID, a)
		form.Legend = "Account " + a.ID
		form.Action = "/settings/accounts/" + a.ID
		form.Delete = "/settings/accounts/" + a.ID + "/delete"
		form.Confirm = "Delete account " + a.ID + "?"
		f.apply(&form)
		p.Accounts = append(p.Accounts, form)
	}
	p.NewAccount = accountForm("new-account", settings.Account{})
	p.NewAccount.Legend = "New account"
	p.NewAccount.Summary = "Add an account"
	p.NewAccount.Action = "/settings/accounts"
	p.NewAccount.Submit = "Add account"
	p.NewAccount.Inputs = slices.Insert(p.NewAccount.Inputs, 0, func() inputView {
		in := input("new-account", "id", "ID", "")
		in.Required = true
		in.Hint = "Lower-case letters, digits, - and _; handsets refer to it."
		return in
	}())
	f.apply(&p.NewAccount)

	for n, h := range set.Handsets {
		id := "handset-" + h.ID
		form := formView{ID: id, Method: "post", Action: "/settings/handsets/" + h.ID, Submit: "Save",
			Legend: fmt.Sprintf("%s (handset %d, ID %s, channel %d)", h.Name, n+1, h.ID, h.Channel),
			Inputs: []inputView{
				input(id, "name", "Name", h.Name),
				input(id, "display_name", "Display name", h.DisplayName),
				selection(id, "account", "Account", h.Account, "none", accountIDs),
				selection(id, "conference", "Conference", h.Conference, "none", conferenceIDs),
				identitySelection(id, h.Identity),
				input(id, "identity_uri", "SIP URI to present", h.IdentityURI),
				input(id, "identity_prefix", "Prefix of generated identities", h.IdentityPrefix),
				checkbox(id, "assert_identity", "Send P-Asserted-Identity", h.AssertIdentity),
				checkbox(id, "private", "Ask the server to hide the identity (Privacy: id)", h.Private),
				input(id, "mic_gain_db", "Microphone gain (dB)", number(h.MicGainDB)),
				input(id, "ear_gain_db", "Earpiece gain (dB)", number(h.EarGainDB)),
				input(id, "sidetone_percent", "Sidetone (%)", number(float64(h.SidetonePercent))),
				checkbox(id, "mic_agc", "Automatic microphone gain", h.MicAGC),
			},
		}
		for k := 9; k <= 11; k++ {
			form.Inputs[k].Mode = "decimal"
		}
		form.Inputs[9].Hint = "-40 to 20; empty = 0 dB."
		form.Inputs[11].Hint = "How much of their own voice the user hears, 0 (off) to 50."
		form.Inputs[0].Required = true
		form.Inputs[1].Hint = "What the other participants see; empty = the name."
		form.Inputs[4].Hint = "Own account: the account's address. Impersonate: the account authenticates, the call presents the URI below. Generated: a new address for every call."
		form.Inputs[5].Hint = "Impersonate only, e.g. sip:desk4@example.com."
		form.Inputs[6].Hint = "Generated only; empty = pl."
		form.Inputs = append(form.Inputs, callsInInputs(id, h.CallsIn)...)
		f.apply(&form)
		p.Handsets = append(p.Handsets, form)
	}

	for _, c := range set.Conferences {
		form := conferenceForm("conference-"+c.ID, c, accountIDs)
		form.Legend = "Conference " + c.ID
		form.Action = "/settings/conferences/" + c.ID
		form.Delete = "/settings/conferences/" + c.ID + "/delete"
		form.Confirm = "Delete conference " + c.ID + "?"
		f.apply(&form)
		p.Conferences = append(p.Conferences, form)
	}
	p.NewConference = conferenceForm("new-conference", settings.Conference{}, accountIDs)
	p.NewConference.Legend = "New conference"
	p.NewConference.Summary = "Add a conference"
	p.NewConference.Action = "/settings/conferences"
	p.NewConference.Submit = "Add conference"
	p.NewConference.Inputs = slices.Insert(p.NewConference.Inputs, 0, func() inputView {
		in := input("new-conference", "id", "ID", "")
		in.Required = true
		in.Hint = "Lower-case letters, digits, - and _; handsets refer to it."
		return in
	}())
	f.apply(&p.NewConference)

	for _, b := range set.Bridges {
		form := bridgeForm("bridge-"+b.ID, b, conferenceIDs, accountIDs)
		form.Legend = "Bridge " + b.ID
		form.Action = "/settings/bridges/" + b.ID
		form.Delete = "/settings/bridges/" + b.ID + "/delete"
		form.Confirm = "Delete bridge " + b.ID + "?"
		f.apply(&form)
		p.Bridges = append(p.Bridges, form)
	}
	p.NewBridge = bridgeForm("new-bridge", settings.Bridge{}, conferenceIDs, accountIDs)
	p.NewBridge.Legend = "New bridge"
	p.NewBridge.Summary = "Add a bridge"
	p.NewBridge.Action = "/settings/bridges"
	p.NewBridge.Submit = "Add bridge"
	p.NewBridge.Inputs = slices.Insert(p.NewBridge.Inputs, 0, func() inputView {
		in := input("new-bridge", "id", "ID", "")
		in.Required = true
		in.Hint = "Lower-case letters, digits, - and _."
		return in
	}())
	f.apply(&p.NewBridge)

	p.Buttons = buttonsForm(set.Buttons, s.backend.ButtonChoices())
	f.apply(&p.Buttons)
	for i, h := range st.Handsets {
		form := pinsForm(i, h.Name, h.ID, set.Pins)
		f.apply(&form)
		p.Pins = append(p.Pins, form)
	}
	p.Metrics = metricsForm(set.Metrics)
	f.apply(&p.Metrics)
	p.AdminHosts = adminHostsForm(set.AdminPage)
	f.apply(&p.AdminHosts)
	p.Provisioning = provisioningForm(set.Provisioning, st.Provisioning, st.UpdateRolledBack)
	f.apply(&p.Provisioning)
	p.Managed = managedNotes(st.Provisioning)
	p.Password = passwordForm()
	f.apply(&p.Password)
	p.Board = boardForm(set.Board, s.backend.Boards(), st)
	f.apply(&p.Board)

	p.Export = formView{ID: "export", Method: "get", Action: "/settings/export", Submit: "Download settings",
		Note: "A JSON file of every setting. Without the secrets, importing it keeps the passwords stored for accounts of the same ID, and the stored metrics token.",
		Inputs: []inputView{{ID: "export-include_passwords", Name: "include_passwords", Label: "Include account passwords and the metrics token",
			Type: "checkbox", Value: "1"}},
	}
	p.Import = formView{ID: "import", Method: "post", Action: "/settings/import", Multipart: true, Submit: "Import settings",
		Note: "Replaces every setting with the file's. A file that is not valid changes nothing.",
		Inputs: []inputView{{ID: "import-file", Name: "file", Label: "Settings file", Type: "file",
			Required: true, Accept: "application/json,.json"}},
	}
	f.apply(&p.Import)

	if f != nil && !f.shown {
		p.Error = "Not saved: " + f.err.Error()
	}
	p.Notice = notice.text
	if i := slices.IndexFunc(p.forms(), func(form *formView) bool { return form.ID == notice.form }); i >= 0 && notice.text != "" {
		p.forms()[i].Notice, p.Notice = notice.text, ""
	}
	s.render(w, code, "settings.tmpl", &p)
}

func accountForm(id string, a settings.Account) formView {
	form := formView{ID: id, Method: "post", Submit: "Save",
		Note: "Calls use it from the next one (its codecs and DTMF mode too); the registration changes at once.",
		Inputs: []inputView{
			input(id, "user", "User", a.User),
			input(id, "auth_user", "Authentication user", a.AuthUser),
			{ID: id + "-password", Name: "password", Label: "Password", Type: "password", Autocomplete: "new-password"},
			input(id, "domain", "Domain", a.Domain),
			input(id, "proxy", "Outbound proxy (host:port)", a.Proxy),
			input(id, "expires_seconds", "Registration lifetime (seconds)", ""),
			transportSelection(id, a.Transport),
			input(id, "ca_file", "CA file (TLS)", a.CAFile),
			srtpSelection(id, a.SRTP),
			input(id, "codecs", "Codecs, in order of preference", a.Codecs),
			dtmfSelection(id, a.DTMF),
		},
	}
	form.Inputs[9].Hint = "Of " + strings.Join(settings.DefaultCodecs, ", ") + ", separated by commas: calls offer these, in this order, and no others. Empty = " + strings.Join(settings.DefaultCodecs, ",") + "."
	form.Inputs[7].Hint = "Absolute path of the PEM file of the CAs to trust; empty = the system's."
	form.Inputs[8].Hint = "Offered: encrypted when the far end answers with keys. Required: encrypted, or the call fails. The keys travel in the signalling: only TLS keeps them secret. Bridges relay plain RTP only."
	form.Inputs[0].Required = true
	form.Inputs[1].Hint = "Empty = the user."
	if a.ID != "" {
		form.Inputs[2].Hint = "Leave empty to keep the stored password."
	}
	form.Inputs[3].Required = true
	form.Inputs[4].Hint = "Empty = the domain."
	if a.ExpiresSeconds != 0 {
		form.Inputs[5].Value = strconv.Itoa(a.ExpiresSeconds)
	}
	form.Inputs[5].Mode = "numeric"
	form.Inputs[5].Hint = fmt.Sprintf("Empty = %d.", settings.DefaultExpiresSeconds)
	return form
}

func conferenceForm(id string, c settings.Conference, accountIDs []string) formView {
	form := formView{ID: id, Method: "post", Submit: "Save",
		Note: "Handsets use changes from their next call; the recorder and the announcer from when the next handset joins.",
		Inputs: []inputView{
			input(id, "name", "Name", c.Name),
			input(id, "uri", "SIP URI", c.URI),
			input(id, "pin", "PIN", c.PIN),
			checkbox(id, "record", "Record while a handset is in it", c.Record),
			input(id, "announce", "Announcement", strings.Join(c.Announce, ", ")),
			checkbox(id, "announce_loop", "Repeat the announcement while a handset is in it", c.AnnounceLoop),
			selection(id, "service_account", "Account of the recorder and the announcer", c.ServiceAccount, "the first account", accountIDs),
			input(id, "recorder_prefix", "Prefix of the recorder's identities", c.RecorderPrefix),
			input(id, "announcer_prefix", "Prefix of the announcer's identities", c.AnnouncerPrefix),
			checkbox(id, "local_fallback", "Local fallback while the conference cannot be reached", !c.LocalFallbackOff),
		},
	}
	form.Inputs[9].Hint = "Lifted handsets of this conference talk to each other through the appliance and move into the conference when it answers again; off = they show failed."

	form.Inputs[1].Hint = "For example sip:conference@example.org; empty = not set up yet."
	form.Inputs[2].Mode = "tel"
	form.Inputs[2].Hint = "Digits, * and #; empty = none."
	form.Inputs[4].Hint = "Played when the first handset joins: WAV files in the prompts folder of the data directory (mono 16-bit PCM at 8, 16 or 48 kHz) and tones such as tone:440:1s (tone:0:1s is a pause), separated by commas; empty = none."
	form.Inputs[7].Hint = "The recorder and the announcer join under new generated identities with Privacy: id; empty = rec."
	form.Inputs[8].Hint = "Empty = ann."
	return form
}

func bridgeForm(id string, b settings.Bridge, conferenceIDs, accountIDs []string) formView {
	identity := input(id, "identity", "Identity in the conference", "")
	identity.Type = "select"
	identity.Options = []optionView{
		{Value: "caller", Label: "the caller's"},
		{Value: "generated", Label: "generated for each call"},
	}
	identity.selectValue(cmp.Or(b.Identity, "caller"))
	untrusted := input(id, "untrusted", "Callers who are not trusted", "")
	untrusted.Type = "select"
	untrusted.Options = []optionView{
		{Value: "generated", Label: "join under a generated identity"},
		{Value: "refuse", Label: "are refused"},
	}
	untrusted.selectValue(cmp.Or(b.Untrusted, "generated"))
	form := formView{ID: id, Method: "post", Submit: "Save",
		Note: "Changes apply from the next incoming call; a bridged call in progress keeps going.",
		Inputs: []inputView{
			input(id, "user", "User callers dial", b.User),
			selection(id, "conference", "Conference", b.Conference, "none", conferenceIDs),
			identity,
			input(id, "identity_prefix", "Prefix of generated identities", b.IdentityPrefix),
			checkbox(id, "assert_identity", "Send P-Asserted-Identity", b.AssertIdentity),
			selection(id, "account", "Trusted account that joins", b.Account, "none", accountIDs),
			input(id, "allow_networks", "Callers from these networks", strings.Join(b.AllowNetworks, ", ")),
			checkbox(id, "allow_proxy", "Calls relayed by the account's registrar or proxy", b.AllowProxy),
			input(id, "auth_user", "Callers with this user name", b.AuthUser),
			{ID: id + "-auth_password", Name: "auth_password", Label: "and this password", Type: "password", Autocomplete: "new-password"},
			untrusted,
			input(id, "max_calls", "Callers at once", ""),
		},
	}
	form.Inputs[0].Required = true
	form.Inputs[0].Hint = "The user part of the address callers dial, such as an account's user or a number."
	form.Inputs[1].Required = true
	form.Inputs[2].Hint = "The caller's: the conference sees the caller's address and name, if the caller is trusted (below). Generated: a new address for every call."
	form.Inputs[3].Hint = "Generated only."
	form.Inputs[5].Required = true
	form.Inputs[5].Hint = "Authenticates the bridged calls; the server must let it present other identities."
	form.Inputs[6].Hint = "Who may call: nobody until one of these three is set. Networks such as 192.0.2.0/24 or single addresses, separated by commas. Anyone there can claim any address, so these callers are not trusted."
	form.Inputs[7].Hint = "The account's proxy (else its domain) authenticated the caller: trusted."
	form.Inputs[8].Hint = "Callers are asked for these credentials (digest): those who give them are trusted."
	form.Inputs[9].Hint = "Never shown; empty keeps the stored one."
	form.Inputs[10].Hint = "A caller who is not trusted, or who claims the address of one of our handsets."
	if b.MaxCalls != 0 {
		form.Inputs[11].Value = strconv.Itoa(b.MaxCalls)
	}
	form.Inputs[11].Mode = "numeric"
	form.Inputs[11].Hint = fmt.Sprintf("Empty = %d. More callers hear 503 and are asked to try again later.", defaultBridgeCalls)
	return form
}

// defaultBridgeCalls is the appliance's limit of callers at once per bridge, for the
// form's hint.
const defaultBridgeCalls = 2

// save runs change on the saved settings and the posted form, and saves the
// result. A refusal draws the settings page again with the form that
// failed, what was typed in it, and the error next to its input; otherwise
// the browser goes back to the form. change returns the path of what the
// form edits (see failure.prefix).
func (s *server) save(w http.ResponseWriter, r *http.Request, form string, change func(*settings.Settings, url.Values) (prefix string, err error)) {
	s.saveLocal(w, r, form, change, nil)
}

// saveLocal is save for a form whose inputs are not named as the settings are: local,
// unless nil, turns the backend's field errors into the form's before they are shown.
func (s *server) saveLocal(w http.ResponseWriter, r *http.Request, form string,
	change func(*settings.Settings, url.Values) (prefix string, err error), local func(*settings.FieldError) *settings.FieldError) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	var prefix string
	restart, err := s.backend.UpdateSettings(func(set *settings.Settings) error {
		p, err := change(set, r.PostForm)
		prefix = p
		return err
	})
	var fe *settings.FieldError
	switch {
	case errors.As(err, &fe):
		all := settings.FieldErrors(err) // every field refused, fe first
		if len(all) == 0 || all[0] != fe {
			all = []*settings.FieldError{fe}
		}
		s.log.Info("settings refused", "form", form, "field", fe.Field, "reason", fe.Msg, "fields", len(all))
		if local != nil {
			for i := range all {
				all[i] = local(all[i])
			}
		}
		s.renderSettings(w, http.StatusBadRequest, &failure{form: form, values: r.PostForm, prefix: prefix, err: all[0], more: all[1:]}, saved{})
	case err != nil:
		s.fail(w, "save settings", err)
	default:
		s.log.Info("settings saved", "form", form, "restart", restart)
		at := form
		if strings.HasPrefix(form, "new-") { // the added item's own form, with the notice in it
			at = section(form) + "-" + formText(r.PostForm, "id")
		}
		http.Redirect(w, r, savedURL(appliesWhen(section(form)+"-", restart), at), http.StatusSeeOther)
	}
}

// section is the kind of settings the form called form edits, such as "account" for
// "account-alice" and "new-account".
func section(form string) string {
	kind, _, _ := strings.Cut(strings.TrimPrefix(form, "new-"), "-")
	return kind
}

// appliesWhen is the "saved" query that says when a change applies.
func appliesWhen(what string, restart bool) string {
	if restart {
		return what + "restart"
	}
	return what + "live"
}

// formText is a trimmed text field of a form.
func formText(v url.Values, name string) string { return strings.TrimSpace(v.Get(name)) }

// formNumber reads the number input name; empty means 0.
func formNumber(v url.Values, name, prefix string) (float64, error) {
	text := formText(v, name)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, &settings.FieldError{Field: prefix + name, Msg: fmt.Sprintf("%q is not a number", text)}
	}
	return n, nil
}

// withOthers joins bad, the errors of a form's inputs that could not be read (a number
// holding letters), to whatever else is invalid in set, the settings changed by the rest
// of the form, so that the form reports them all at once.
func withOthers(set *settings.Settings, bad error) error {
	if bad == nil {
		return nil
	}
	return errors.Join(set.Validate(), bad)
}

// number formats a level for its input: empty for 0.
func number(n float64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

func (s *server) saveSIP(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "sip", func(set *settings.Settings, v url.Values) (string, error) {
		set.SIP.ListenAddr = formText(v, "listen_addr")
		set.SIP.TLSListenAddr = formText(v, "tls_listen_addr")
		var bad []error
		for _, n := range []struct {
			name string
			to   *int
		}{{"rtp_timeout_seconds", &set.SIP.RTPTimeoutSeconds}, {"max_bridged_calls", &set.SIP.MaxBridgedCalls}} {
			*n.to = 0
			if e := formText(v, n.name); e != "" {
				i, err := strconv.Atoi(e)
				if err != nil {
					bad = append(bad, &settings.FieldError{Field: "sip." + n.name, Msg: fmt.Sprintf("%q is not a whole number", e)})
					continue
				}
				*n.to = i
			}
		}
		return "sip.", withOthers(set, errors.Join(bad...))
	})
}

func (s *server) saveRecordings(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "recordings", func(set *settings.Settings, v url.Values) (string, error) {
		const prefix = "recordings."
		set.Recordings.ReserveMB = 0
		if e := formText(v, "reserve_mb"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil {
				return prefix, &settings.FieldError{Field: prefix + "reserve_mb", Msg: fmt.Sprintf("%q is not a whole number of megabytes", e)}
			}
			set.Recordings.ReserveMB = n
		}
		return prefix, nil
	})
}

// fillAccount sets a from an account form. An empty password keeps the stored one. An
// input it cannot read is left at 0 and reported.
func fillAccount(a *settings.Account, v url.Values, prefix string) error {
	a.User = formText(v, "user")
	a.AuthUser = formText(v, "auth_user")
	if p := v.Get("password"); p != "" {
		a.Password = p
	}
	a.Domain = formText(v, "domain")
	a.Proxy = formText(v, "proxy")
	a.Transport = formText(v, "transport")
	a.SRTP = formText(v, "srtp")
	a.Codecs = formText(v, "codecs")
	a.DTMF = formText(v, "dtmf")
	a.CAFile = formText(v, "ca_file")
	a.ExpiresSeconds = 0
	if e := formText(v, "expires_seconds"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil {
			return &settings.FieldError{Field: prefix + "expires_seconds", Msg: fmt.Sprintf("%q is not a whole number of seconds", e)}
		}
		a.ExpiresSeconds = n
	}
	return nil
}

func (s *server) addAccount(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "new-account", func(set *settings.Settings, v url.Values) (string, error) {
		prefix := fmt.Sprintf("accounts[%d].", len(set.Accounts))
		a := settings.Account{ID: formText(v, "id")}
		bad := fillAccount(&a, v, prefix)
		set.Accounts = append(set.Accounts, a)
		return prefix, withOthers(set, bad)
	})
}

// find returns the index of the element of list whose ID is id, or a
// settings.FieldError naming what is missing.
func find[T any](list []T, what, id string, idOf func(T) string) (int, error) {
	i := slices.IndexFunc(list, func(e T) bool { return idOf(e) == id })
	if i < 0 {
		return -1, &settings.FieldError{Field: what, Msg: fmt.Sprintf("there is no %q (any more?)", id)}
	}
	return i, nil
}

func accountID(a settings.Account) string       { return a.ID }
func handsetID(h settings.Handset) string       { return h.ID }
func conferenceID(c settings.Conference) string { return c.ID }
func bridgeID(b settings.Bridge) string         { return b.ID }

func (s *server) saveAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "account-"+id, func(set *settings.Settings, v url.Values) (string, error) {
		i, err := find(set.Accounts, "accounts", id, accountID)
		if err != nil {
			return "", err
		}
		prefix := fmt.Sprintf("accounts[%d].", i)
		return prefix, withOthers(set, fillAccount(&set.Accounts[i], v, prefix))
	})
}

func (s *server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "account-"+id, func(set *settings.Settings, _ url.Values) (string, error) {
		i, err := find(set.Accounts, "accounts", id, accountID)
		if err != nil {
			return "", err
		}
		set.Accounts = slices.Delete(set.Accounts, i, i+1)
		// A handset still using it is an error about the handset: shown
		// at the top of this form.
		return fmt.Sprintf("accounts[%d].", i), nil
	})
}

func (s *server) saveHandset(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "handset-"+id, func(set *settings.Settings, v url.Values) (string, error) {
		i, err := find(set.Handsets, "handsets", id, handsetID)
		if err != nil {
			return "", err
		}
		h := &set.Handsets[i]
		h.Name = formText(v, "name")
		h.DisplayName = formText(v, "display_name")
		h.Account = formText(v, "account")
		h.Conference = formText(v, "conference")
		h.Identity = formText(v, "identity")
		h.IdentityURI = formText(v, "identity_uri")
		h.IdentityPrefix = formText(v, "identity_prefix")
		h.AssertIdentity = v.Get("assert_identity") == "on"
		h.Private = v.Get("private") == "on"
		h.MicAGC = v.Get("mic_agc") == "on"
		fillCallsIn(&h.CallsIn, v)
		prefix := fmt.Sprintf("handsets[%d].", i)
		var bad [3]error
		h.MicGainDB, bad[0] = formNumber(v, "mic_gain_db", prefix)
		h.EarGainDB, bad[1] = formNumber(v, "ear_gain_db", prefix)
		side, err := formNumber(v, "sidetone_percent", prefix)
		h.SidetonePercent, bad[2] = int(side), err
		return prefix, withOthers(set, errors.Join(bad[:]...))
	})
}

// fillConference sets c from a conference form.
func fillConference(c *settings.Conference, v url.Values) {
	c.Name = formText(v, "name")
	c.URI = formText(v, "uri")
	c.PIN = formText(v, "pin")
	c.Record = v.Get("record") == "on"
	c.Announce = nil
	for p := range strings.SplitSeq(v.Get("announce"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Announce = append(c.Announce, p)
		}
	}
	c.AnnounceLoop = v.Get("announce_loop") == "on"
	c.ServiceAccount = formText(v, "service_account")
	c.RecorderPrefix = formText(v, "recorder_prefix")
	c.AnnouncerPrefix = formText(v, "announcer_prefix")
	c.LocalFallbackOff = v.Get("local_fallback") != "on"
}

func (s *server) addConference(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "new-conference", func(set *settings.Settings, v url.Values) (string, error) {
		c := settings.Conference{ID: formText(v, "id")}
		fillConference(&c, v)
		set.Conferences = append(set.Conferences, c)
		return fmt.Sprintf("conferences[%d].", len(set.Conferences)-1), nil
	})
}

func (s *server) saveConference(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "conference-"+id, func(set *settings.Settings, v url.Values) (string, error) {
		i, err := find(set.Conferences, "conferences", id, conferenceID)
		if err != nil {
			return "", err
		}
		fillConference(&set.Conferences[i], v)
		return fmt.Sprintf("conferences[%d].", i), nil
	})
}

func (s *server) deleteConference(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "conference-"+id, func(set *settings.Settings, _ url.Values) (string, error) {
		i, err := find(set.Conferences, "conferences", id, conferenceID)
		if err != nil {
			return "", err
		}
		set.Conferences = slices.Delete(set.Conferences, i, i+1)
		return fmt.Sprintf("conferences[%d].", i), nil
	})
}

// fillBridge sets b, whose fields are named with prefix, from a bridge form. An empty
// password keeps the stored one; an empty user name clears both. An input it cannot read is
// left at 0 and reported.
func fillBridge(b *settings.Bridge, v url.Values, prefix string) error {
	b.User = formText(v, "user")
	b.Conference = formText(v, "conference")
	b.Identity = formText(v, "identity")
	b.IdentityPrefix = formText(v, "identity_prefix")
	b.AssertIdentity = v.Get("assert_identity") == "on"
	b.Account = formText(v, "account")
	b.AllowNetworks = nil
	if nets := strings.Fields(strings.ReplaceAll(formText(v, "allow_networks"), ",", " ")); len(nets) > 0 {
		b.AllowNetworks = nets
	}
	b.AllowProxy = v.Get("allow_proxy") == "on"
	b.AuthUser = formText(v, "auth_user")
	if p := v.Get("auth_password"); p != "" {
		b.AuthPassword = p
	}
	if b.AuthUser == "" {
		b.AuthPassword = ""
	}
	b.Untrusted = formText(v, "untrusted")
	b.MaxCalls = 0
	if e := formText(v, "max_calls"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil {
			return &settings.FieldError{Field: prefix + "max_calls", Msg: fmt.Sprintf("%q is not a whole number of callers", e)}
		}
		b.MaxCalls = n
	}
	return nil
}

func (s *server) addBridge(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "new-bridge", func(set *settings.Settings, v url.Values) (string, error) {
		b := settings.Bridge{ID: formText(v, "id")}
		prefix := fmt.Sprintf("bridges[%d].", len(set.Bridges))
		bad := fillBridge(&b, v, prefix)
		set.Bridges = append(set.Bridges, b)
		return prefix, withOthers(set, bad)
	})
}

func (s *server) saveBridge(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "bridge-"+id, func(set *settings.Settings, v url.Values) (string, error) {
		i, err := find(set.Bridges, "bridges", id, bridgeID)
		if err != nil {
			return "", err
		}
		prefix := fmt.Sprintf("bridges[%d].", i)
		return prefix, withOthers(set, fillBridge(&set.Bridges[i], v, prefix))
	})
}

func (s *server) deleteBridge(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.save(w, r, "bridge-"+id, func(set *settings.Settings, _ url.Values) (string, error) {
		i, err := find(set.Bridges, "bridges", id, bridgeID)
		if err != nil {
			return "", err
		}
		set.Bridges = slices.Delete(set.Bridges, i, i+1)
		return fmt.Sprintf("bridges[%d].", i), nil
	})
}
