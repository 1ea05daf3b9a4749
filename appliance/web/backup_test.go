package web

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

// upload posts data as the import form's file.
func (c *client) upload(data []byte) *httptest.ResponseRecorder {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "partyline-settings.json")
	if err != nil {
		c.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req := httptest.NewRequest("POST", "/settings/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func TestExportImport(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	setMetrics(t, f, settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret})
	want, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}

	rec := c.get("/settings/export")
	if rec.Code != http.StatusOK {
		t.Fatalf("export: got %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") {
		t.Errorf("Content-Disposition: got %q, want an attachment", got)
	}
	exported := rec.Body.Bytes()
	if bytes.Contains(exported, []byte(accountSecret)) || bytes.Contains(exported, []byte(metricsSecret)) {
		t.Fatalf("export without the box ticked has a secret:\n%s", exported)
	}
	var file settings.Settings
	if err := json.Unmarshal(exported, &file); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	withoutPasswords := want
	withoutPasswords.Accounts = []settings.Account{want.Accounts[0]}
	withoutPasswords.Accounts[0].Password = ""
	withoutPasswords.Metrics.Token = ""
	if !reflect.DeepEqual(file, withoutPasswords) {
		t.Errorf("exported:\n%+v\nwant\n%+v", file, withoutPasswords)
	}

	// Change something, then restore the export: the settings are back,
	// the password and the metrics token kept although the file has neither.
	if rec := c.post("/settings/sip", map[string][]string{"listen_addr": {"127.0.0.1:5999"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("change: got %d", rec.Code)
	}
	rec = c.upload(exported)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings?at=import&saved=imported-restart#import" {
		t.Fatalf("import: got %d to %q, want 303 to /settings?saved=imported-restart#import; body:\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if got, _ := f.Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("after import:\n%+v\nwant\n%+v", got, want)
	}

	// With the box ticked, the passwords come along, and an import sets them.
	rec = c.get("/settings/export?include_passwords=1")
	if !bytes.Contains(rec.Body.Bytes(), []byte(accountSecret)) || !bytes.Contains(rec.Body.Bytes(), []byte(`"token": "`+metricsSecret+`"`)) {
		t.Fatalf("export with passwords lacks the password or the metrics token:\n%s", rec.Body)
	}
	changed := bytes.ReplaceAll(rec.Body.Bytes(), []byte(accountSecret), []byte("rotated"))
	changed = bytes.ReplaceAll(changed, []byte(metricsSecret), []byte("rotated-metrics-token"))
	if rec := c.upload(changed); rec.Code != http.StatusSeeOther {
		t.Fatalf("import with a password: got %d; body:\n%s", rec.Code, rec.Body)
	}
	if got, _ := f.Settings(); got.Accounts[0].Password != "rotated" {
		t.Errorf("password after importing a new one: got %q, want \"rotated\"", got.Accounts[0].Password)
	}
	if got, _ := f.Settings(); got.Metrics.Token != "rotated-metrics-token" {
		t.Errorf("metrics token after importing a new one: got %q", got.Metrics.Token)
	}
}

func TestImportRefused(t *testing.T) {
	valid, err := json.Marshal(seedSettings())
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(valid, []byte(old)) {
			t.Fatalf("export lacks %q", old)
		}
		return bytes.Replace(valid, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "not valid JSON (line 1)"},
		{"not JSON", []byte("sip: {}\n"), "not valid JSON (line 1): invalid character"},
		{"cut off", valid[:len(valid)/2], "not valid JSON"},
		{"trailing data", append(append([]byte(nil), valid...), "{}"...), "not valid JSON"},
		{"an array", []byte("[]"), "line 1: "},
		{"a section missing", replace(`"handsets":`, `"handset":`), `no "handsets" section`},
		{"an empty object", []byte("{}"), `no "sip" section`},
		{"an unknown field", replace(`"pin":`, `"pin_code":"1","pin":`), `unknown field "pin_code"`},
		{"a wrong type", replace(`"channel":1`, `"channel":"one"`), "handsets.channel must be int, not string"},
		{"invalid settings", replace(`"uri":"sip:conf@example.org"`, `"uri":"http://example.org"`), "conferences[0].uri: "},
		{"a dangling reference", replace(`"conference":"main"`, `"conference":"side"`), `handsets[0].conference: no conference "side"`},
		{"too large", bytes.Repeat([]byte(" "), maxImportBytes+1), "larger than 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := loggedIn(t, f)
			before, err := f.Settings()
			if err != nil {
				t.Fatal(err)
			}
			rec := c.upload(tt.data)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("got %d, want 400", rec.Code)
			}
			checkFieldError(t, rec.Body.String(), "import-file", tt.msg)
			if after, _ := f.Settings(); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused import changed the settings:\n got %+v\nwant %+v", after, before)
			}
		})
	}

	t.Run("no file", func(t *testing.T) {
		c := loggedIn(t, newFake(t))
		rec := c.post("/settings/import", nil)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("got %d, want 400", rec.Code)
		}
		checkFieldError(t, rec.Body.String(), "import-file", "Choose a settings file")
	})
}

// TestImportFromAnOlderRelease imports a file with only the sections of the first
// release: it is accepted, and the sections added since are empty.
func TestImportFromAnOlderRelease(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	seed := seedSettings()
	if _, err := f.UpdateSettings(func(s *settings.Settings) error {
		s.Bridges = []settings.Bridge{{ID: "b", User: "bridge", Conference: s.Conferences[0].ID, Account: s.Accounts[0].ID}}
		s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old := map[string]any{
		"sip":         seed.SIP,
		"accounts":    seed.Accounts,
		"handsets":    seed.Handsets,
		"conferences": seed.Conferences,
	}
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if rec := c.upload(data); rec.Code != http.StatusSeeOther {
		t.Fatalf("import of an older release's file: got %d; body:\n%s", rec.Code, rec.Body)
	}
	got, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Conferences, seed.Conferences) || len(got.Handsets) != len(seed.Handsets) {
		t.Errorf("after import: conferences %+v, %d handsets; want %+v, %d", got.Conferences, len(got.Handsets), seed.Conferences, len(seed.Handsets))
	}
	if len(got.Bridges) != 0 || len(got.Pins) != 0 || len(got.Buttons) != 0 {
		t.Errorf("sections the file lacks were not emptied: bridges %v, pins %v, buttons %v", got.Bridges, got.Pins, got.Buttons)
	}
}
