package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"partyline/appliance/settings"
)

// A LogSource is a Backend that keeps its last log lines: a Backend that also implements
// it gets the Logs page (GET /logs, filterable by level), the download of the lines (GET
// /logs/download) and the log level setting on that page (POST /settings/log).
type LogSource interface {
	// LogLines returns the lines kept of level min and above, oldest first.
	LogLines(min slog.Level) []LogLine
}

// A LogLine is one line of the appliance's log.
type LogLine struct {
	Time  time.Time
	Level slog.Level
	Text  string // the whole line, time and level included
}

// MaxLogLinesShown is how many lines the Logs page shows: the newest. The download has all.
const MaxLogLinesShown = 500

type logsPage struct {
	frame
	Filter  string    // the level shown and above: one of settings.LogLevels
	Levels  []string  // settings.LogLevels
	Lines   []LogLine // newest first
	More    int       // lines kept but not shown
	Setting formView  // the log level setting
}

// logFilter is the level the query's "level" asks to show, and its name; "" shows all.
func logFilter(r *http.Request) (slog.Level, string, error) {
	name := r.URL.Query().Get("level")
	if name == "" {
		return slog.LevelDebug, "debug", nil
	}
	var l slog.Level
	if !slices.Contains(settings.LogLevels, name) || l.UnmarshalText([]byte(name)) != nil {
		return 0, "", fmt.Errorf("no log level %q: the levels are %s", name, strings.Join(settings.LogLevels, ", "))
	}
	return l, name, nil
}

// logs shows the last lines of the log, newest first, of the level asked for and above.
func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	s.renderLogs(w, r, http.StatusOK, nil)
}

// renderLogs renders the Logs page; refused, if not empty, is why the log settings the user
// sent (r.PostForm) were not saved.
func (s *server) renderLogs(w http.ResponseWriter, r *http.Request, code int, refused []*settings.FieldError) {
	min, name, err := logFilter(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	set, err := s.backend.Settings()
	if err != nil {
		s.fail(w, "read settings", err)
		return
	}
	p := &logsPage{
		frame:  frame{Title: "Logs", Nav: "logs", LoggedIn: true},
		Filter: name,
		Levels: settings.LogLevels,
	}
	lines := s.logSource.LogLines(min)
	if n := len(lines); n > MaxLogLinesShown {
		p.More, lines = n-MaxLogLinesShown, lines[n-MaxLogLinesShown:]
	}
	p.Lines = slices.Clone(lines)
	slices.Reverse(p.Lines)
	level := set.Log.Level
	if level == "" {
		level = "info"
	}
	p.Setting = formView{ID: "log-level", Method: "post", Action: "/settings/log", Submit: "Save",
		Legend: "Log level and remote syslog",
		Note:   "Applies at once: the appliance logs this level and above from now on. Debug shows the SIP and media details.",
		Inputs: []inputView{{ID: "log-level-level", Name: "level", Label: "Least level logged", Type: "select", Options: levelOptions(level)},
			{ID: "log-level-syslog", Name: "syslog", Label: "Remote syslog target", Type: "text", Value: set.Log.Syslog,
				Hint: "udp://host:514 or tcp://host:514: the lines also go there, as RFC 5424 messages (facility daemon), from now on. " +
					"Empty = none. Lines that a slow or unreachable target cannot take are dropped, and counted in the next line sent."}},
	}
	if len(refused) > 0 {
		p.Setting.refill(r.PostForm)
		for _, fe := range refused {
			p.Setting.setError("log.", fe)
		}
		p.Setting.focusFirstError()
	}
	if r.URL.Query().Has("saved") {
		p.Setting.Notice = "Saved. The appliance logs at this level, and to this syslog target, from now on."
	}
	s.render(w, code, "logs.tmpl", p)
}

func levelOptions(selected string) []optionView {
	var o []optionView
	for _, l := range settings.LogLevels {
		o = append(o, optionView{Value: l, Label: l, Selected: l == selected})
	}
	return o
}

// downloadLogs sends every line kept of the level asked for and above, oldest first, as a
// text file.
func (s *server) downloadLogs(w http.ResponseWriter, r *http.Request) {
	min, _, err := logFilter(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b strings.Builder
	for _, l := range s.logSource.LogLines(min) {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="partyline-%s.log"`, time.Now().UTC().Format("20060102T150405Z")))
	fmt.Fprint(w, b.String())
}

// saveLogLevel saves the log level setting, which applies at once.
func (s *server) saveLogLevel(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	level, target := r.PostForm.Get("level"), formText(r.PostForm, "syslog")
	_, err := s.backend.UpdateSettings(func(set *settings.Settings) error {
		set.Log.Level = level
		if r.PostForm.Has("syslog") { // a post without the field keeps the target
			set.Log.Syslog = target
		}
		return nil
	})
	var fe *settings.FieldError
	switch {
	case errors.As(err, &fe):
		all := settings.FieldErrors(err) // every field refused, fe first
		if len(all) == 0 || all[0] != fe {
			all = []*settings.FieldError{fe}
		}
		s.renderLogs(w, r, http.StatusBadRequest, all)
	case err != nil:
		s.fail(w, "save settings", err)
	default:
		s.log.Info("settings saved", "form", "log-level", "syslog", target)
		http.Redirect(w, r, "/logs?saved#log-level", http.StatusSeeOther)
	}
}
