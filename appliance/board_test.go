package appliance

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance/config"
	"partyline/appliance/settings"
)

// storeSettings writes the first-start settings of a two-handset board into dir, changed by
// change, as an earlier run of the appliance would have left them.
func storeSettings(t *testing.T, dir string, change func(*settings.Settings)) {
	t.Helper()
	st, err := config.Open(filepath.Join(dir, databaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(s *settings.Settings) error { change(s); return nil }); err != nil {
		t.Fatal(err)
	}
}

// startFrom starts and runs an appliance on dir with the -board flag board ("" for none).
func startFrom(t *testing.T, dir, board string) *Appliance {
	t.Helper()
	a, err := New(Config{Board: board, DataDir: dir, AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, a)
	return a
}

// TestBoardFromTheSettings: without the -board flag the settings' board runs; the flag
// overrides it; a board name the backend does not know is refused, naming the profiles.
func TestBoardFromTheSettings(t *testing.T) {
	dir := t.TempDir()
	storeSettings(t, dir, func(s *settings.Settings) { s.Board = "sim" })
	a := startFrom(t, dir, "")
	if st := (backend{a}).Status(); st.Board != "sim" || st.BoardChosen != "chosen in the settings" || st.BoardFromFlag {
		t.Errorf("status: board %q, %q, from the flag %v; want sim, chosen in the settings", st.Board, st.BoardChosen, st.BoardFromFlag)
	}
	b := backend{a}
	_, err := b.UpdateSettings(func(s *settings.Settings) error { s.Board = "pi-zero-hat"; return nil })
	var fe *settings.FieldError
	if !errors.As(err, &fe) || fe.Field != "board" || !strings.Contains(fe.Msg, "pi-wm8960") {
		t.Errorf("an unknown board: %v, want an error on board listing the profiles", err)
	}
	if restart, err := b.UpdateSettings(func(s *settings.Settings) error { s.Board = "pi-octo"; return nil }); err != nil || !restart {
		t.Errorf("choose pi-octo: restart %v, %v; want a restart", restart, err)
	}

	flagged := startFrom(t, t.TempDir(), "sim")
	if st := (backend{flagged}).Status(); st.BoardChosen != "chosen with -board" || !st.BoardFromFlag {
		t.Errorf("with -board sim: %q, from the flag %v", st.BoardChosen, st.BoardFromFlag)
	}
}

// TestSimBoardWithSixHandsets: "sim:6" on a fresh data directory gives six handsets, each
// with its settings, and the settings may name "sim:6" too.
func TestSimBoardWithSixHandsets(t *testing.T) {
	a := startFrom(t, t.TempDir(), "sim:6")
	b := backend{a}
	if st := b.Status(); st.Board != "sim" || len(st.Handsets) != 6 {
		t.Errorf("status: board %q with %d handsets; want sim with 6", st.Board, len(st.Handsets))
	}
	if set := a.store.Current().Settings; len(set.Handsets) != 6 || set.Handsets[5].Channel != 5 {
		t.Errorf("settings: %d handsets; want 6, the last on channel 5", len(set.Handsets))
	}
	if _, err := b.UpdateSettings(func(s *settings.Settings) error { s.Board = "sim:6"; return nil }); err != nil {
		t.Errorf("board sim:6 in the settings: %v", err)
	}
	_, err := b.UpdateSettings(func(s *settings.Settings) error { s.Board = "sim:40"; return nil })
	var fe *settings.FieldError
	if !errors.As(err, &fe) || fe.Field != "board" || !strings.Contains(fe.Msg, "sim:N") {
		t.Errorf("board sim:40: %v, want an error on board naming sim:N", err)
	}
}

// TestBadBoardSettingsDoNotStopTheAppliance stores a board this machine does not have and,
// separately, a pin override the board cannot take: each time the appliance starts on the
// board detection finds, without them, and says why.
func TestBadBoardSettingsDoNotStopTheAppliance(t *testing.T) {
	for _, tt := range []struct {
		name   string
		flag   string
		change func(*settings.Settings)
	}{
		{"a board not fitted", "", func(s *settings.Settings) { s.Board = "pi-octo" }},
		{"pins of a handset the board lacks", "sim", func(s *settings.Settings) {
			s.Pins = []settings.PinOverride{{Handset: 5, Hook: "GPIO5"}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			storeSettings(t, dir, tt.change)
			a := startFrom(t, dir, tt.flag)
			st := (backend{a}).Status()
			if st.Board != "sim" || !strings.Contains(st.BoardChosen, "because the board or pins in the settings failed") {
				t.Errorf("status: board %q, %q; want sim, saying the settings failed", st.Board, st.BoardChosen)
			}
			if len(st.Handsets) != 2 {
				t.Errorf("%d handsets, want the sim board's 2", len(st.Handsets))
			}
			// The settings are kept for the user to fix.
			set, err := a.store.Settings()
			if err != nil {
				t.Fatal(err)
			}
			want := settings.Settings{}
			tt.change(&want)
			if set.Board != want.Board || len(set.Pins) != len(want.Pins) {
				t.Errorf("settings after the fallback: board %q, pins %v; want them kept", set.Board, set.Pins)
			}
		})
	}
}
