package web

import (
	"html/template"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

// TestSettingsRefused posts every kind of invalid value the settings forms
// can carry: each is refused with 400, its error next to the input it is
// about (or at the top of the form when it is about something else), what
// was typed shown again, and nothing saved.
func TestSettingsRefused(t *testing.T) {
	handset := func(name, display, account, conference string) url.Values {
		return url.Values{"name": {name}, "display_name": {display}, "account": {account}, "conference": {conference}}
	}
	account := func(change func(url.Values)) url.Values {
		v := url.Values{"user": {"alice"}, "domain": {"example.org"}, "proxy": {"127.0.0.1:5060"}}
		change(v)
		return v
	}
	conference := func(name, uri, pin string) url.Values {
		return url.Values{"name": {name}, "uri": {uri}, "pin": {pin}}
	}
	newConference := func(id, uri string) url.Values {
		v := conference("Side", uri, "")
		v.Set("id", id)
		return v
	}
	tests := []struct {
		name  string
		path  string
		form  url.Values
		input string // id of the input the error is next to; "" = at the top of form
		form_ string // with input "", the id of the form showing the error; "" = the page
		msg   string
	}{
		{"listen address without port", "/settings/sip", url.Values{"listen_addr": {"0.0.0.0"}}, "sip-listen_addr", "", "is not host:port"},
		{"listen port out of range", "/settings/sip", url.Values{"listen_addr": {"0.0.0.0:70000"}}, "sip-listen_addr", "", "70000"},
		{"new account without ID", "/settings/accounts", account(func(v url.Values) {}), "new-account-id", "", "must not be empty"},
		{"new account ID upper case", "/settings/accounts", account(func(v url.Values) { v.Set("id", "Bob") }), "new-account-id", "", "may contain only"},
		{"new account ID taken", "/settings/accounts", account(func(v url.Values) { v.Set("id", "alice") }), "new-account-id", "", "used twice"},
		{"new account without user", "/settings/accounts", account(func(v url.Values) { v.Set("id", "bob"); v.Del("user") }), "new-account-user", "", "must not be empty"},
		{"user with a space", "/settings/accounts/alice", account(func(v url.Values) { v.Set("user", "al ice") }), "account-alice-user", "", "not allowed in a SIP user"},
		{"auth user with a space", "/settings/accounts/alice", account(func(v url.Values) { v.Set("auth_user", "a b") }), "account-alice-auth_user", "", "not allowed"},
		{"bad domain", "/settings/accounts/alice", account(func(v url.Values) { v.Set("domain", "exa mple.org") }), "account-alice-domain", "", "not a host name"},
		{"codec the appliance lacks", "/settings/accounts/alice", account(func(v url.Values) { v.Set("codecs", "PCMA, SPEEX") }), "account-alice-codecs", "", `"SPEEX" is not a codec of the appliance (opus, G722, PCMU, PCMA)`},
		{"codec twice", "/settings/accounts/alice", account(func(v url.Values) { v.Set("codecs", "PCMA,pcma") }), "account-alice-codecs", "", "PCMA is listed twice"},
		{"DTMF mode unknown", "/settings/accounts/alice", account(func(v url.Values) { v.Set("dtmf", "inband") }), "account-alice-dtmf", "", `"inband" is not auto, rfc4733 or info`},
		{"no domain", "/settings/accounts/alice", account(func(v url.Values) { v.Del("domain") }), "account-alice-domain", "", "not a host name"},
		{"proxy without port", "/settings/accounts/alice", account(func(v url.Values) { v.Set("proxy", "proxy.example.org") }), "account-alice-proxy", "", "port"},
		{"lifetime not a number", "/settings/accounts/alice", account(func(v url.Values) { v.Set("expires_seconds", "soon") }), "account-alice-expires_seconds", "", "not a whole number"},
		{"lifetime too long", "/settings/accounts/alice", account(func(v url.Values) { v.Set("expires_seconds", "86401") }), "account-alice-expires_seconds", "", "86401"},
		{"deleting an account in use", "/settings/accounts/alice/delete", nil, "", "account-alice", "handsets[0].account"},
		{"unknown account", "/settings/accounts/zed", account(func(v url.Values) {}), "", "", `accounts: there is no "zed"`},
		{"handset without name", "/settings/handsets/h1", handset(" ", "", "alice", "main"), "handset-h1-name", "", "must not be empty"},
		{"display name with a newline", "/settings/handsets/h1", handset("Kitchen", "a\nb", "alice", "main"), "handset-h1-display_name", "", "control characters"},
		{"no such account", "/settings/handsets/h2", handset("Garden", "", "carol", ""), "handset-h2-account", "", `no account "carol"`},
		{"impersonate without a URI", "/settings/handsets/h1", func() url.Values {
			v := handset("Kitchen", "", "alice", "main")
			v.Set("identity", "impersonate")
			return v
		}(), "handset-h1-identity_uri", "", "impersonate needs"},
		{"a gain that is not a number", "/settings/handsets/h1", func() url.Values {
			v := handset("Kitchen", "", "alice", "main")
			v.Set("mic_gain_db", "loud")
			return v
		}(), "handset-h1-mic_gain_db", "", "not a number"},
		{"an earpiece gain too high", "/settings/handsets/h1", func() url.Values {
			v := handset("Kitchen", "", "alice", "main")
			v.Set("ear_gain_db", "30")
			return v
		}(), "handset-h1-ear_gain_db", "", "not in -40..20 dB"},
		{"an unknown transport", "/settings/accounts/alice", account(func(v url.Values) { v.Set("transport", "sctp") }), "account-alice-transport", "", "not udp, tcp or tls"},
		{"generated prefix with a slash", "/settings/handsets/h1", func() url.Values {
			v := handset("Kitchen", "", "alice", "main")
			v.Set("identity", "generated")
			v.Set("identity_prefix", "rec/1")
			return v
		}(), "handset-h1-identity_prefix", "", "may contain only"},
		{"no such conference", "/settings/handsets/h2", handset("Garden", "", "", "side"), "handset-h2-conference", "", `no conference "side"`},
		{"not a SIP URI", "/settings/conferences/main", conference("Main", "http://example.org", ""), "conference-main-uri", "", "not a sip: or sips: URI"},
		{"URI without user", "/settings/conferences/main", conference("Main", "sip:example.org", ""), "conference-main-uri", "", "not a sip: or sips: URI"},
		{"PIN with a letter", "/settings/conferences/main", conference("Main", "", "12a"), "conference-main-pin", "", "only digits"},
		{"name with a control character", "/settings/conferences/main", conference("Ma\x01in", "", ""), "conference-main-name", "", "control characters"},
		{"new conference ID taken", "/settings/conferences", newConference("main", ""), "new-conference-id", "", "used twice"},
		{"new conference with a bad URI", "/settings/conferences", newConference("side", "sip:side"), "new-conference-uri", "", "not a sip: or sips: URI"},
		{"deleting a conference in use", "/settings/conferences/main/delete", nil, "", "conference-main", "handsets[0].conference"},
		{"announcement not a WAV file", "/settings/conferences/main", withConference(conference("Main", "", ""), "announce", "tone:440:1s, hello.mp3"),
			"conference-main-announce", "", `prompt "hello.mp3": not a .wav file`},
		{"announcement tone without duration", "/settings/conferences/main", withConference(conference("Main", "", ""), "announce", "tone:440"),
			"conference-main-announce", "", "want tone:<Hz>:<duration>"},
		{"service account unknown", "/settings/conferences/main", withConference(conference("Main", "", ""), "service_account", "carol"),
			"conference-main-service_account", "", `no account "carol"`},
		{"recorder prefix with a slash", "/settings/conferences/main", withConference(conference("Main", "", ""), "recorder_prefix", "rec/1"),
			"conference-main-recorder_prefix", "", "may contain only"},
		{"announcer prefix as the recorder's", "/settings/conferences/main", withConference(conference("Main", "", ""), "announcer_prefix", "rec"),
			"conference-main-announcer_prefix", "", "must differ from the recorder's"},
		{"reserve not a number", "/settings/recordings", url.Values{"reserve_mb": {"lots"}}, "recordings-reserve_mb", "", "not a whole number"},
		{"reserve negative", "/settings/recordings", url.Values{"reserve_mb": {"-1"}}, "recordings-reserve_mb", "", "is not 0 (default)"},
		{"button mapped to an unknown action", "/settings/buttons", url.Values{"button:short-press": {"join-leave"}, "mute:long-press": {"dance"}},
			"buttons-mute-long-press", "", `unknown action "dance"`},
		{"no gesture mapped", "/settings/buttons", url.Values{"hook:flash": {""}, "mute:short-press": {""}}, "", "buttons", "map at least one gesture"},
		{"pin not a line", "/settings/pins/1", url.Values{"hook": {"pin 5"}}, "pins-1-hook", "", "is not a GPIO line"},
		{"second pin not a line", "/settings/pins/0", url.Values{"hook": {"GPIO5"}, "mute_led": {"mcp23017:0x20:C9"}}, "pins-0-mute_led", "", "is not a GPIO line"},
		{"metrics access unknown", "/settings/metrics", url.Values{"access": {"public"}}, "metrics-access", "", "is not loopback, token or off"},
		{"metrics token missing", "/settings/metrics", url.Values{"access": {"token"}}, "metrics-token", "", "token access needs a token"},
		{"metrics token short", "/settings/metrics", url.Values{"access": {"token"}, "token": {"short"}}, "metrics-token", "", "must have 16 to 256 characters"},
		{"metrics token with a space", "/settings/metrics", url.Values{"access": {"token"}, "token": {"a token with spaces 123"}}, "metrics-token", "", "may contain only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := loggedIn(t, f)
			before, err := f.Settings()
			if err != nil {
				t.Fatal(err)
			}
			rec := c.post(tt.path, tt.form)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("got %d, want 400 (Location %q)", rec.Code, rec.Header().Get("Location"))
			}
			body := rec.Body.String()
			if strings.HasPrefix(tt.input, "new-") && !strings.Contains(body, "<details open>") {
				t.Errorf("the folded form %s is not unfolded to show its error", tt.input)
			}
			switch {
			case tt.input != "":
				checkFieldError(t, body, tt.input, tt.msg)
				// What was typed is there to correct, unless it is a select or a password.
				// Input ids end in "-" and the input's name.
				typed := tt.form.Get(tt.input[strings.LastIndex(tt.input, "-")+1:])
				if tag, _ := inputTag(body, tt.input); typed != "" && !strings.HasPrefix(tag, "<select") && !strings.Contains(tag, `type="password"`) &&
					!strings.Contains(tag, `value="`+template.HTMLEscapeString(typed)+`"`) {
					t.Errorf("input %s does not show what was typed (%q): %s", tt.input, typed, tag)
				}
			case tt.form_ != "":
				formText, ok := elementText(body[strings.Index(body, `id="`+tt.form_+`"`):], `class="error"`)
				if !ok || !strings.Contains(formText, tt.msg) {
					t.Errorf("form %s: error %q, want it to say %q", tt.form_, formText, tt.msg)
				}
			default:
				if text, _ := elementText(body, `class="error" role="alert"`); !strings.Contains(text, tt.msg) {
					t.Errorf("page error %q, want it to say %q", text, tt.msg)
				}
			}
			after, err := f.Settings()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("a refused form changed the settings:\n got %+v\nwant %+v", after, before)
			}
		})
	}
}

// values are what a browser posts for form as it is drawn: its text inputs and selects.
func (f formView) values() url.Values {
	v := url.Values{}
	for _, in := range f.inputs() {
		if in.Type == "text" || in.Type == "select" {
			v.Set(in.Name, in.Value)
		}
	}
	return v
}

// withConference sets a field of a conference form.
func withConference(v url.Values, name, value string) url.Values {
	v.Set(name, value)
	return v
}

func TestSettingsSaved(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	for _, tt := range []struct {
		name, path string
		form       url.Values
		location   string
		check      func(settings.Settings) bool
	}{
		{"handset conference", "/settings/handsets/h2",
			url.Values{"name": {" Garden "}, "display_name": {"Out back"}, "account": {"alice"}, "conference": {"main"}},
			"/settings?at=handset-h2&saved=handset-live#handset-h2",
			func(s settings.Settings) bool {
				return s.Handsets[1] == settings.Handset{ID: "h2", Name: "Garden", Channel: 1, Account: "alice", DisplayName: "Out back", Conference: "main"}
			}},
		{"handset levels", "/settings/handsets/h2",
			url.Values{"name": {"Garden"}, "mic_gain_db": {"-6.5"}, "ear_gain_db": {"3"}, "sidetone_percent": {"10"}, "mic_agc": {"on"}},
			"/settings?at=handset-h2&saved=handset-live#handset-h2",
			func(s settings.Settings) bool {
				h := s.Handsets[1]
				return h.MicGainDB == -6.5 && h.EarGainDB == 3 && h.SidetonePercent == 10 && h.MicAGC
			}},
		{"account over TLS", "/settings/accounts/alice",
			url.Values{"user": {"alice"}, "domain": {"example.org"}, "transport": {"tls"}, "ca_file": {"/etc/partyline/ca.pem"}},
			"/settings?at=account-alice&saved=account-live#account-alice",
			func(s settings.Settings) bool {
				return s.Accounts[0].Transport == "tls" && s.Accounts[0].CAFile == "/etc/partyline/ca.pem"
			}},
		{"handset identity", "/settings/handsets/h2",
			url.Values{"name": {"Garden"}, "account": {"alice"}, "conference": {"main"},
				"identity": {"generated"}, "identity_prefix": {"rec"}, "private": {"on"}, "assert_identity": {"on"}},
			"/settings?at=handset-h2&saved=handset-live#handset-h2",
			func(s settings.Settings) bool {
				h := s.Handsets[1]
				return h.Identity == "generated" && h.IdentityPrefix == "rec" && h.Private && h.AssertIdentity
			}},
		{"conference", "/settings/conferences/main",
			url.Values{"name": {"Main"}, "uri": {"sips:bridge@example.org:5061"}, "pin": {"42#"}},
			"/settings?at=conference-main&saved=conference-live#conference-main",
			func(s settings.Settings) bool {
				return s.Conferences[0].URI == "sips:bridge@example.org:5061" && s.Conferences[0].PIN == "42#"
			}},
		{"conference services", "/settings/conferences/main",
			url.Values{"name": {"Main"}, "uri": {"sip:conf@example.org"}, "record": {"on"}, "announce": {" tone:440:1s ,welcome.wav,, "},
				"announce_loop": {"on"}, "service_account": {"alice"}, "recorder_prefix": {"tape"}, "announcer_prefix": {"voice"}, "local_fallback": {"on"}},
			"/settings?at=conference-main&saved=conference-live#conference-main",
			func(s settings.Settings) bool {
				c := s.Conferences[0]
				return reflect.DeepEqual(c, settings.Conference{ID: "main", Name: "Main", URI: "sip:conf@example.org", Record: true,
					Announce: []string{"tone:440:1s", "welcome.wav"}, AnnounceLoop: true, ServiceAccount: "alice",
					RecorderPrefix: "tape", AnnouncerPrefix: "voice"})
			}},
		{"conference local fallback off", "/settings/conferences/main",
			url.Values{"name": {"Main"}, "uri": {"sip:conf@example.org"}},
			"/settings?at=conference-main&saved=conference-live#conference-main",
			func(s settings.Settings) bool { return s.Conferences[0].LocalFallbackOff }},
		{"reserve", "/settings/recordings", url.Values{"reserve_mb": {"250"}}, "/settings?at=recordings&saved=recordings-live#recordings",
			func(s settings.Settings) bool { return s.Recordings.ReserveMB == 250 }},
		{"listen address needs a restart", "/settings/sip", url.Values{"listen_addr": {"127.0.0.1:5070"}},
			"/settings?at=sip&saved=sip-restart#sip",
			func(s settings.Settings) bool { return s.SIP.ListenAddr == "127.0.0.1:5070" }},
		{"account edit with no password keeps it", "/settings/accounts/alice",
			url.Values{"user": {"alice2"}, "domain": {"example.org"}, "password": {""}, "expires_seconds": {"600"}},
			"/settings?at=account-alice&saved=account-live#account-alice",
			func(s settings.Settings) bool {
				a := s.Accounts[0]
				return a.User == "alice2" && a.Password == accountSecret && a.ExpiresSeconds == 600 && a.Proxy == ""
			}},
		{"account edit with a password replaces it", "/settings/accounts/alice",
			url.Values{"user": {"alice"}, "domain": {"example.org"}, "password": {"new secret"}},
			"/settings?at=account-alice&saved=account-live#account-alice",
			func(s settings.Settings) bool { return s.Accounts[0].Password == "new secret" }},
		{"new account", "/settings/accounts",
			url.Values{"id": {"bob"}, "user": {"bob"}, "domain": {"10.0.0.1"}, "password": {"bobs"}},
			"/settings?at=account-bob&saved=account-live#account-bob",
			func(s settings.Settings) bool {
				return len(s.Accounts) == 2 && s.Accounts[1] == settings.Account{ID: "bob", User: "bob", Password: "bobs", Domain: "10.0.0.1"}
			}},
		{"new conference", "/settings/conferences",
			url.Values{"id": {"side"}, "name": {"Side"}, "uri": {"sip:side@example.org"}},
			"/settings?at=conference-side&saved=conference-live#conference-side",
			func(s settings.Settings) bool { return len(s.Conferences) == 2 && s.Conferences[1].ID == "side" }},
		{"delete an unused conference", "/settings/conferences/side/delete", nil,
			"/settings?at=conference-side&saved=conference-live#conference-side",
			func(s settings.Settings) bool { return len(s.Conferences) == 1 }},
		{"delete an unused account", "/settings/accounts/bob/delete", nil,
			"/settings?at=account-bob&saved=account-live#account-bob",
			func(s settings.Settings) bool { return len(s.Accounts) == 1 }},
		{"default button mapping kept as the default", "/settings/buttons", buttonsForm(nil, (&fakeBackend{}).ButtonChoices()).values(),
			"/settings?at=buttons&saved=buttons-live#buttons",
			func(s settings.Settings) bool { return s.Buttons == nil }},
		{"button mapping", "/settings/buttons", url.Values{"mute:long-press": {"record"}, "button:short-press": {"join-leave"}, "hook:flash": {""}},
			"/settings?at=buttons&saved=buttons-live#buttons",
			func(s settings.Settings) bool {
				return reflect.DeepEqual(s.Buttons, []settings.ButtonMapping{{Trigger: "button:short-press", Action: "join-leave"}, {Trigger: "mute:long-press", Action: "record"}})
			}},
		{"pins", "/settings/pins/1", url.Values{"hook": {" GPIO5 "}, "mute_led": {"mcp23017:0x20:B7"}},
			"/settings?at=pins-1&saved=pins-restart#pins-1",
			func(s settings.Settings) bool {
				return reflect.DeepEqual(s.Pins, []settings.PinOverride{{Handset: 1, Hook: "GPIO5", MuteLED: "mcp23017:0x20:B7"}})
			}},
		{"pins of another handset", "/settings/pins/0", url.Values{"led": {"GPIO6"}},
			"/settings?at=pins-0&saved=pins-restart#pins-0",
			func(s settings.Settings) bool {
				return len(s.Pins) == 2 && s.Pins[1] == settings.PinOverride{Handset: 0, LED: "GPIO6"}
			}},
		{"pins emptied", "/settings/pins/1", url.Values{"hook": {""}},
			"/settings?at=pins-1&saved=pins-restart#pins-1",
			func(s settings.Settings) bool {
				return reflect.DeepEqual(s.Pins, []settings.PinOverride{{Handset: 0, LED: "GPIO6"}})
			}},
		{"metrics token", "/settings/metrics", url.Values{"access": {"token"}, "token": {metricsSecret}},
			"/settings?at=metrics&saved=metrics-live#metrics",
			func(s settings.Settings) bool {
				return s.Metrics == settings.MetricsSettings{Access: "token", Token: metricsSecret}
			}},
		{"metrics off keeps the token", "/settings/metrics", url.Values{"access": {"off"}, "token": {""}},
			"/settings?at=metrics&saved=metrics-live#metrics",
			func(s settings.Settings) bool {
				return s.Metrics == settings.MetricsSettings{Access: "off", Token: metricsSecret}
			}},
	} {
		rec := c.post(tt.path, tt.form)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tt.location {
			t.Errorf("%s: got %d to %q, want 303 to %q; body:\n%s", tt.name, rec.Code, rec.Header().Get("Location"), tt.location, rec.Body)
			continue
		}
		set, err := f.Settings()
		if err != nil {
			t.Fatal(err)
		}
		if !tt.check(set) {
			t.Errorf("%s: settings after saving: %+v", tt.name, set)
		}
	}

	for query, want := range map[string]string{
		"handset-live": "The levels and the automatic gain apply at once", "conference-live": "from their next call",
		"account-live": "its registration changes at once", "sip-restart": "when the appliance restarts",
		"buttons-live": "new button mapping from its next press", "pins-restart": "new pins when it restarts",
		"metrics-live": "from now on", "recordings-live": "one in progress keeps the reserve",
		"bridge-live": "next incoming call", "sip-live": "Calls use it from the next one", "new-thing-restart": "when the appliance restarts",
	} {
		if rec := c.get("/settings?saved=" + query); !strings.Contains(rec.Body.String(), want) {
			t.Errorf("settings page after saved=%s lacks %q", query, want)
		}
	}
}

// TestPinsOfNoHandset refuses pins for a handset the board does not have.
func TestPinsOfNoHandset(t *testing.T) {
	c := loggedIn(t, newFake(t))
	for _, path := range []string{"/settings/pins/2", "/settings/pins/-1", "/settings/pins/x"} {
		if rec := c.post(path, url.Values{"hook": {"GPIO5"}}); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s: got %d, want 404", path, rec.Code)
		}
	}
}

func TestSettingsPage(t *testing.T) {
	rec := loggedIn(t, newFake(t)).get("/settings")
	if rec.Code != http.StatusOK {
		t.Fatalf("got %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`action="/settings/sip"`, `value="0.0.0.0:5060"`, "when the appliance restarts",
		`action="/settings/accounts/alice"`, `formaction="/settings/accounts/alice/delete"`, "Leave empty to keep the stored password",
		`action="/settings/handsets/h1"`, "Kitchen (handset 1, ID h1, channel 0)", `<option value="main" selected>`,
		`action="/settings/conferences/main"`, `value="sip:conf@example.org"`,
		`action="/settings/export"`, `name="include_passwords"`,
		`action="/settings/import"`, `enctype="multipart/form-data"`,
		`<label for="conference-main-uri">`,
		`name="record" type="checkbox"`, `name="announce" type="text"`, `name="announce_loop" type="checkbox"`,
		`<select id="conference-main-service_account" name="service_account"`, `<option value="" selected>the first account</option>`,
		`name="recorder_prefix"`, `name="announcer_prefix"`, `action="/settings/recordings"`, `name="reserve_mb"`,
		"<details><summary>Add an account</summary>", "<details><summary>Add a conference</summary>",
		`action="/settings/buttons"`, "<legend>Hook switch</legend>", "<legend>Call button</legend>", "<legend>Mute button</legend>",
		`<label for="buttons-mute-long-press">Long press</label>`, `<select id="buttons-mute-long-press" name="mute:long-press">`,
		`<option value="send-pin" selected>send-pin</option>`, `<option value="">nothing</option>`, "This is the default mapping.",
		"Changes apply at once: every handset uses the new mapping from its next press or flash",
		`action="/settings/pins/0"`, `action="/settings/pins/1"`, "Garden (handset 2, ID h2)", `<label for="pins-1-mute_led">Mute LED</label>`,
		`action="/settings/metrics"`, `<option value="loopback" selected>`, `<input id="metrics-token" name="token" type="password"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
}

// TestSIPNoteSaysWhereItListens: the SIP form says where the listener is now, and when a
// command-line flag, not the setting, chose it.
func TestSIPNoteSaysWhereItListens(t *testing.T) {
	for _, tt := range []struct {
		st   SIPStatus
		want string
	}{
		{SIPStatus{Listening: "0.0.0.0:5060"}, "Listening on 0.0.0.0:5060. The SIP listener changes when the appliance restarts."},
		{SIPStatus{Listening: "127.0.0.1:5999", FromFlag: true}, "Listening on 127.0.0.1:5999, as the -sip command-line flag says"},
	} {
		f := newFake(t)
		f.mu.Lock()
		f.status.SIP = tt.st
		f.mu.Unlock()
		rec := loggedIn(t, f).get("/settings")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("settings page (%d) lacks %q", rec.Code, tt.want)
		}
	}
}

// TestBoardSetting saves a board profile, refuses an unknown one next to its field, and
// says which board runs and when the flag overrides the setting.
func TestBoardSetting(t *testing.T) {
	f := newFake(t)
	f.mu.Lock()
	f.status.Board, f.status.BoardChosen = "sim", "chosen in the settings"
	f.mu.Unlock()
	c := loggedIn(t, f)
	if rec := c.get("/settings"); !strings.Contains(rec.Body.String(), "Running on sim (chosen in the settings). A change applies when the appliance restarts.") {
		t.Errorf("the board form does not say which board runs")
	}
	rec := c.post("/settings/board", url.Values{"board": {"pi-octo"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings?at=board&saved=board-restart#board" {
		t.Fatalf("save pi-octo: got %d to %q, want 303 to /settings?saved=board-restart#board", rec.Code, rec.Header().Get("Location"))
	}
	if got, _ := f.Settings(); got.Board != "pi-octo" {
		t.Errorf("board after saving pi-octo: %q", got.Board)
	}
	if rec := c.get("/settings?saved=board-restart"); !strings.Contains(rec.Body.String(), "runs on the new board profile when it restarts") {
		t.Errorf("the saved notice does not say the board changes at the restart")
	}

	rec = c.post("/settings/board", url.Values{"board": {"pi-zero-hat"}})
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("save an unknown board: got %d, want 400", rec.Code)
	}
	checkFieldError(t, rec.Body.String(), "board-board", `no board profile "pi-zero-hat"`)
	if got, _ := f.Settings(); got.Board != "pi-octo" {
		t.Errorf("a refused board changed the setting to %q", got.Board)
	}

	// Back to detection.
	if rec := c.post("/settings/board", url.Values{"board": {""}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("save detection: got %d", rec.Code)
	}
	if got, _ := f.Settings(); got.Board != "" {
		t.Errorf("board after choosing detection: %q, want \"\"", got.Board)
	}

	f.mu.Lock()
	f.status.BoardFromFlag, f.status.BoardChosen = true, "chosen with -board"
	f.mu.Unlock()
	if rec := c.get("/settings"); !strings.Contains(rec.Body.String(), "unless it is started with the -board flag, which overrides this setting") {
		t.Errorf("the board form does not say the -board flag overrides it")
	}
}
