// Package logs is the appliance's slog handler: it writes each record to the process's
// output, as text or JSON, and keeps the last lines in memory for the admin page. Under
// journald (see Journald) it leaves the time out, which the journal records itself, and
// starts every line with its sd-daemon priority prefix ("<4>" for a warning), so that
// `journalctl -p warning` selects by level. Its level can change while it runs (SetLevel),
// and it can also send its lines to a remote syslog target (SetSyslog).
package logs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The formats of the output.
const (
	FormatText = "text" // slog's key=value lines
	FormatJSON = "json" // one JSON object a line
)

// Formats lists the output formats, for the -log-format flag.
var Formats = []string{FormatText, FormatJSON}

// Options says how a Handler writes.
type Options struct {
	Format  string // FormatText ("" too) or FormatJSON
	Journal bool   // the output is the journal: no time, and sd-daemon priority prefixes
	// Lines is how many lines the handler keeps for the admin page; 0 means DefaultLines.
	Lines int
}

// DefaultLines is how many lines a Handler keeps when Options.Lines is 0.
const DefaultLines = 1000

// A Line is one record as the admin page shows it.
type Line struct {
	Time  time.Time  `json:"time"`
	Level slog.Level `json:"level"`
	Text  string     `json:"text"` // the record in the text format, time and level included
}

// A Handler is a slog.Handler that writes to the output and keeps the last lines. Make one
// with New; With and WithGroup give handlers that share its output, lines and level.
type Handler struct {
	s   *shared
	out slog.Handler // formats for the output, into s.buf
	txt slog.Handler // formats the kept line, into s.buf
	sys slog.Handler // formats the syslog message, into s.buf
}

// shared is what a Handler and those derived from it share.
type shared struct {
	w       io.Writer
	journal bool
	level   slog.LevelVar

	mu    sync.Mutex   // guards following, and serialises the writes
	buf   bytes.Buffer // what the inner handler being run writes
	lines []Line       // a ring of the last len(lines) lines
	next  int          // the index in lines of the next line to write
	full  bool         // lines has wrapped

	syslog atomic.Pointer[syslog] // where lines also go (SetSyslog); nil = nowhere
}

// New returns a handler that writes to w as opts says, at slog.LevelInfo and above until
// SetLevel says otherwise.
func New(w io.Writer, opts Options) (*Handler, error) {
	s := &shared{w: w, journal: opts.Journal, lines: make([]Line, max(opts.Lines, 0))}
	if len(s.lines) == 0 {
		s.lines = make([]Line, DefaultLines)
	}
	buf := writerFunc(func(p []byte) (int, error) { return s.buf.Write(p) })
	all := &slog.HandlerOptions{Level: slog.LevelDebug} // the Handler decides what goes through
	out := *all
	if opts.Journal {
		out.ReplaceAttr = dropTime
	}
	h := &Handler{s: s, txt: slog.NewTextHandler(buf, all),
		sys: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})}
	switch opts.Format {
	case "", FormatText:
		h.out = slog.NewTextHandler(buf, &out)
	case FormatJSON:
		h.out = slog.NewJSONHandler(buf, &out)
	default:
		return nil, fmt.Errorf("log format %q: want %s", opts.Format, strings.Join(Formats, " or "))
	}
	return h, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// dropTime leaves out the time of the record, which the journal records itself.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// SetLevel makes the handler, and those derived from it, let through the records at l and
// above, from now on.
func (h *Handler) SetLevel(l slog.Level) { h.s.level.Set(l) }

// Level is the level SetLevel set last.
func (h *Handler) Level() slog.Level { return h.s.level.Level() }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.s.level.Level() }

// Handle implements slog.Handler: it writes r to the output and keeps it as a line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
	if err := h.txt.Handle(ctx, r); err != nil {
		return err
	}
	s.lines[s.next] = Line{Time: r.Time, Level: r.Level, Text: strings.TrimSuffix(s.buf.String(), "\n")}
	s.next = (s.next + 1) % len(s.lines)
	s.full = s.full || s.next == 0

	s.buf.Reset()
	if s.journal {
		fmt.Fprintf(&s.buf, "<%d>", Priority(r.Level))
	}
	if err := h.out.Handle(ctx, r); err != nil {
		return err
	}
	_, err := s.w.Write(s.buf.Bytes())
	if sl := s.syslog.Load(); sl != nil {
		s.buf.Reset()
		if serr := h.sys.Handle(ctx, r); serr != nil {
			return serr
		}
		sl.send(r, s.buf.Bytes())
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{s: h.s, out: h.out.WithAttrs(attrs), txt: h.txt.WithAttrs(attrs), sys: h.sys.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{s: h.s, out: h.out.WithGroup(name), txt: h.txt.WithGroup(name), sys: h.sys.WithGroup(name)}
}

// Lines returns the lines kept, oldest first, of level min and above.
func (h *Handler) Lines(min slog.Level) []Line {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Line
	add := func(ls []Line) {
		for _, l := range ls {
			if l.Level >= min {
				out = append(out, l)
			}
		}
	}
	if s.full {
		add(s.lines[s.next:])
	}
	add(s.lines[:s.next])
	return out
}

// Priority is the syslog priority of level l, as the journal takes it in an sd-daemon
// prefix: 7 debug, 6 info, 4 warning, 3 error; a level between two is taken as the lower.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// Journald reports whether f is connected to the journal: systemd sets JOURNAL_STREAM to
// the device and inode of the stream it gives a service (systemd.exec(5)), which f must
// still be, not a file it was redirected to.
func Journald(f *os.File) bool {
	var dev, ino uint64
	if _, err := fmt.Sscanf(os.Getenv("JOURNAL_STREAM"), "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino // Dev is not a uint64 on every platform
}

// ParseLevel returns the level called name: "debug", "info", "warn" or "error"; "" is
// info.
func ParseLevel(name string) (slog.Level, error) {
	switch name {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", name)
}
