package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// funcs are the templates' helpers. The page's script formats live values
// the same way (static/app.js).
var funcs = template.FuncMap{
	"level":    level,
	"elapsed":  func(from, now time.Time) string { return clockDuration(now.Sub(from)) },
	"duration": clockDuration,
	"clock":    func(t time.Time) string { return t.Format(time.TimeOnly) },
	"datetime": func(t time.Time) string { return t.Format(time.DateTime) },
	// iso is for machines (datetime attributes, the script): in UTC, so that
	// a page does not depend on the appliance's time zone.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	// until says how long until t: "in 4:05", or past once it has come.
	"until": func(t, now time.Time, past string) string {
		if !t.After(now) {
			return past
		}
		return "in " + clockDuration(t.Sub(now))
	},
	"token": token,
	"join":  strings.Join,
	// maxDigits is the most digits the digits forms take.
	"maxDigits": func() int { return MaxDigits },
	// when is a time of a table cell: its column's label, what to say once
	// it has come, the time, and now.
	"when": func(label, past string, t, now time.Time) whenCell { return whenCell{label, past, t, now} },
	"muteText": func(h HandsetStatus) string {
		switch {
		case !h.InCall:
			return "not in a call"
		case h.Muted:
			return "muted"
		}
		return "live"
	},
	// callerText says who calls the handset: the call that rings or is answered, and the
	// one that waits (app.js's callerText says the same).
	"callerText": func(h HandsetStatus) string {
		var parts []string
		if h.Caller != "" {
			what := "Call from "
			if h.State == "ringing" {
				what = "Ringing: call from "
			}
			parts = append(parts, what+h.Caller)
		}
		if h.Waiting != "" {
			parts = append(parts, "Waiting: "+h.Waiting)
		}
		return strings.Join(parts, " · ")
	},
	"fixed1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	// zoned is a time of the appliance's clock as the appliance reads it, in its own time
	// zone, which it names: not rewritten by the page's script into the browser's.
	"zoned": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	// megabytes says a size in whole megabytes (10^6 bytes): "20 MB".
	"megabytes": func(n int) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) },
	"reopens":   reopens,
}

// level says a meter's level in words: "-23 dBFS", or "silent".
func level(dbfs float64) string {
	if dbfs <= SilenceDBFS {
		return "silent"
	}
	return fmt.Sprintf("%.0f dBFS", dbfs)
}

// reopens says how often the audio device was reopened: "never", "once", "3 times".
func reopens(n uint64) string {
	switch n {
	case 0:
		return "never"
	case 1:
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// clockDuration writes d as m:ss, or h:mm:ss from an hour, rounded down to
// the second.
func clockDuration(d time.Duration) string {
	s := max(int64(d/time.Second), 0)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// token turns a state such as "in call" into a class name: "in-call".
func token(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

// whenCell is what the "when" template draws: a time, and how long until it.
type whenCell struct {
	Label, Past string
	T, Now      time.Time
}
