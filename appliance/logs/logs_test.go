package logs

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestJournalPriorities writes a record of each level as the journal takes them: every line
// starts with its sd-daemon priority, which `journalctl -p` selects by, and has no time of
// its own, since the journal records one.
func TestJournalPriorities(t *testing.T) {
	for _, format := range Formats {
		var out bytes.Buffer
		h, err := New(&out, Options{Format: format, Journal: true})
		if err != nil {
			t.Fatal(err)
		}
		h.SetLevel(slog.LevelDebug)
		log := slog.New(h).With("part", "sip")
		log.Debug("retransmit", "n", 2)
		log.Info("registered", "account", "alice")
		log.Warn("registration", "state", "failed", "detail", "no answer\nfrom the registrar")
		log.Error("SIP stopped", "err", "socket closed")
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("%s: %d lines, want one a record:\n%s", format, len(lines), out.String())
		}
		for i, prefix := range []string{"<7>", "<6>", "<4>", "<3>"} {
			line := lines[i]
			if !strings.HasPrefix(line, prefix) {
				t.Errorf("%s: line %d %q, want it to start with %s", format, i, line, prefix)
			}
			if strings.Contains(line, "time") {
				t.Errorf("%s: line %d %q has a time of its own", format, i, line)
			}
			if !strings.Contains(line, "sip") {
				t.Errorf("%s: line %d %q lacks the logger's attributes", format, i, line)
			}
			if format == FormatJSON {
				var v map[string]any
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, prefix)), &v); err != nil {
					t.Errorf("json: line %d is not JSON after its prefix: %v", i, err)
				}
			}
		}
	}
}

// TestOutsideTheJournal writes lines as slog does, with their time and no prefix.
func TestOutsideTheJournal(t *testing.T) {
	var out bytes.Buffer
	h, err := New(&out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Warn("registration", "state", "failed")
	if got := out.String(); !strings.HasPrefix(got, "time=") || !strings.Contains(got, "level=WARN") || strings.HasPrefix(got, "<") {
		t.Errorf("outside the journal: %q, want slog's text line with its time", got)
	}
	if _, err := New(&out, Options{Format: "xml"}); err == nil {
		t.Error("an unknown format: no error")
	}
}

// TestLevelAndLines changes the level while the handler runs, and reads back the lines it
// kept, by level, the oldest dropped once there are more than it keeps.
func TestLevelAndLines(t *testing.T) {
	var out bytes.Buffer
	h, err := New(&out, Options{Lines: 3})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	log.Debug("hidden")
	if out.Len() != 0 || len(h.Lines(slog.LevelDebug)) != 0 {
		t.Fatalf("a debug record at the info level went through: %q", out.String())
	}
	h.SetLevel(slog.LevelDebug)
	log.Debug("one")
	log.Info("two")
	log.Warn("three")
	log.Error("four")
	var texts []string
	for _, l := range h.Lines(slog.LevelDebug) {
		texts = append(texts, l.Text)
	}
	if got := strings.Join(texts, "|"); strings.Contains(got, "one") || !strings.Contains(got, "msg=two") || !strings.Contains(got, "msg=four") {
		t.Errorf("the lines kept: %q, want the last three", got)
	}
	if got := h.Lines(slog.LevelWarn); len(got) != 2 || got[0].Level != slog.LevelWarn {
		t.Errorf("warnings and errors kept: %+v", got)
	}
	if !strings.Contains(out.String(), "msg=one") {
		t.Errorf("a debug record after SetLevel(debug) did not go out: %q", out.String())
	}
}

// TestJournald tells the journal's stream from a file: the one JOURNAL_STREAM names, by
// device and inode, is the journal; any other is not.
func TestJournald(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(st.Ino, 10))
	if !Journald(f) {
		t.Error("the stream JOURNAL_STREAM names is not taken for the journal")
	}
	if Journald(os.Stdin) {
		t.Error("another stream is taken for the journal")
	}
	t.Setenv("JOURNAL_STREAM", "")
	if Journald(f) {
		t.Error("without JOURNAL_STREAM the stream is taken for the journal")
	}
}
