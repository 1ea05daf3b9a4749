package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"partyline/appliance/settings"
)

// maxImportBytes bounds an uploaded settings file; real ones are a few KiB.
const maxImportBytes = 1 << 20

// requiredSections are the top-level names every exported file has had from the first
// release on. An import must have each, so that a cut-off or foreign file cannot pass
// for one that empties them. The sections added since (recordings, bridges, pins,
// buttons, metrics) may be missing from a file an older release exported; they import
// as empty, which is what that release ran with.
var requiredSections = []string{"sip", "accounts", "handsets", "conferences"}

// export sends the settings as a JSON file, with account passwords and the
// metrics token only if the form's "include_passwords" box was ticked.
func (s *server) export(w http.ResponseWriter, r *http.Request) {
	set, err := s.backend.Settings()
	if err != nil {
		s.fail(w, "read settings", err)
		return
	}
	withPasswords := r.URL.Query().Get("include_passwords") == "1"
	set.Accounts = slices.Clone(set.Accounts) // the backend's copy stays as it is
	set.Bridges = slices.Clone(set.Bridges)
	if !withPasswords {
		for i := range set.Accounts {
			set.Accounts[i].Password = ""
		}
		for i := range set.Bridges {
			set.Bridges[i].AuthPassword = ""
		}
		set.Handsets = slices.Clone(set.Handsets)
		for i := range set.Handsets {
			set.Handsets[i].CallsIn.AuthPassword = ""
		}
		set.Metrics.Token = ""
		set.Provisioning.Password, set.Provisioning.Token = "", ""
	}
	// Empty sections as [] rather than null, so the file reads as complete.
	set.Accounts = nonNil(set.Accounts)
	set.Handsets = nonNil(set.Handsets)
	set.Conferences = nonNil(set.Conferences)
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		s.fail(w, "encode settings", err)
		return
	}
	s.log.Info("settings exported", "client", clientAddr(r), "passwords", withPasswords)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="partyline-settings.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// importSettings replaces the settings with an uploaded file's, after
// checking all of it. Accounts and bridges the file has without a password
// keep the password stored for the one of the same ID, and a file without a
// metrics token keeps the stored token.
func (s *server) importSettings(w http.ResponseWriter, r *http.Request) {
	refuse := func(fe *settings.FieldError) {
		s.log.Info("import refused", "field", fe.Field, "reason", fe.Msg)
		s.renderSettings(w, http.StatusBadRequest, &failure{form: "import", err: fe}, saved{})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBytes)
	if err := r.ParseMultipartForm(maxImportBytes); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(&settings.FieldError{Field: "file", Msg: fmt.Sprintf("The file is larger than %d KiB: not a settings file.", maxImportBytes>>10)})
			return
		}
		refuse(&settings.FieldError{Field: "file", Msg: "Choose a settings file to import."})
		return
	}
	defer r.MultipartForm.RemoveAll()
	file, _, err := r.FormFile("file")
	if err != nil {
		refuse(&settings.FieldError{Field: "file", Msg: "Choose a settings file to import."})
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		s.fail(w, "read uploaded settings", err)
		return
	}
	imported, err := decodeSettings(data)
	if err != nil {
		refuse(&settings.FieldError{Field: "file", Msg: "Not imported: " + err.Error()})
		return
	}
	restart, err := s.backend.UpdateSettings(func(set *settings.Settings) error {
		for i, a := range imported.Accounts {
			if a.Password != "" {
				continue
			}
			if j := slices.IndexFunc(set.Accounts, func(b settings.Account) bool { return b.ID == a.ID }); j >= 0 {
				imported.Accounts[i].Password = set.Accounts[j].Password
			}
		}
		for i, b := range imported.Bridges {
			if b.AuthPassword != "" || b.AuthUser == "" {
				continue
			}
			if j := slices.IndexFunc(set.Bridges, func(c settings.Bridge) bool { return c.ID == b.ID }); j >= 0 {
				imported.Bridges[i].AuthPassword = set.Bridges[j].AuthPassword
			}
		}
		for i, h := range imported.Handsets {
			if h.CallsIn.AuthPassword != "" || h.CallsIn.AuthUser == "" {
				continue
			}
			if j := slices.IndexFunc(set.Handsets, func(g settings.Handset) bool { return g.ID == h.ID }); j >= 0 {
				imported.Handsets[i].CallsIn.AuthPassword = set.Handsets[j].CallsIn.AuthPassword
			}
		}
		if imported.Metrics.Token == "" {
			imported.Metrics.Token = set.Metrics.Token
		}
		if p := &imported.Provisioning; p.Password == "" && p.Token == "" && p.User == set.Provisioning.User {
			p.Password, p.Token = set.Provisioning.Password, set.Provisioning.Token
		}
		*set = imported
		return nil
	})
	var fe *settings.FieldError
	switch {
	case errors.As(err, &fe):
		refuse(&settings.FieldError{Field: "file", Msg: "Not imported: " + fe.Error()})
	case err != nil:
		s.fail(w, "import settings", err)
	default:
		s.log.Info("settings imported", "client", clientAddr(r), "restart", restart)
		http.Redirect(w, r, savedURL(appliesWhen("imported-", restart), "import"), http.StatusSeeOther)
	}
}

// decodeSettings reads an exported settings file strictly: one JSON object with
// every required section and no field Settings lacks.
func decodeSettings(data []byte) (settings.Settings, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return settings.Settings{}, jsonError(data, err)
	}
	for _, name := range requiredSections {
		if _, ok := top[name]; !ok {
			return settings.Settings{}, fmt.Errorf("the file has no %q section: is it a whole partyline settings export?", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var set settings.Settings
	if err := dec.Decode(&set); err != nil {
		return settings.Settings{}, jsonError(data, err)
	}
	return set, nil
}

// jsonError says what is wrong with a JSON file, and where.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("not valid JSON (line %d): %v", lineOf(data, syntax.Offset), syntax)
	case errors.As(err, &typ):
		return fmt.Errorf("line %d: %s must be %s, not %s", lineOf(data, typ.Offset), typ.Field, typ.Type, typ.Value)
	default:
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
}

// lineOf is the line, counted from 1, of byte offset off of data.
func lineOf(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
