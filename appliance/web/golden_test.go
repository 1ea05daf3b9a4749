package web

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"partyline/appliance/settings"
)

var update = flag.Bool("update", false, "rewrite the golden pages in testdata")

// TestGoldenPages compares whole pages with testdata/*.golden; `go test -update` rewrites
// them after a deliberate change, to be reviewed in the diff. The pages are drawn on
// synctest's fake clock, so that times come out the same every run, and in UTC, so that
// they do not depend on the machine's time zone.
func TestGoldenPages(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		setup      func(*fakeBackend)
		recorder   bool // the backend has recordings (testRecordings)
	}{
		{"dashboard", "/", func(f *fakeBackend) {
			h := &f.status.Handsets[0]
			h.State, h.Busy, h.InCall, h.OffHook, h.LED = "in call", true, true, true, "on"
			h.CallStart = time.Now().Add(-65 * time.Second)
			h.MicDBFS, h.EarDBFS = -24, -14
			h.Quality = &CallQuality{PacketsSent: 3250, PacketsReceived: 3244, Lost: 6, LossPercent: 0.18, JitterMS: 1.7, RTTMS: 12.5, MOS: 4.38}
			h.EarpieceUnderruns, h.EarpieceDroppedSamples = 4, 960
			f.status.Audio = &AudioStatus{Overruns: 2, Underruns: 3, Restarts: 1, LastError: "reopen: init device: device or resource busy"}
			f.status.Registrations[0].Expires = time.Now().UTC().Add(4*time.Minute + 30*time.Second)
			f.status.Registrations[0].NextAttempt = time.Now().UTC().Add(4 * time.Minute)
		}, false},
		{"history", "/history", func(f *fakeBackend) {
			start := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
			for _, r := range []settings.CallRecord{
				{Handset: "Kitchen", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org",
					Start: start, Duration: 12*time.Minute + 31*time.Second, End: settings.EndRemote, MOS: 4.28, LossPercent: 0.4},
				{Handset: "Garden", Conference: "sip:conf@example.org", Start: start.Add(20 * time.Minute), End: settings.EndFailed,
					Status: 486, Detail: "486 Busy Here"},
			} {
				if err := f.store.AppendHistory(r); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
		{"recordings", "/recordings", func(*fakeBackend) {}, true},
		{"settings", "/settings", func(f *fakeBackend) {
			if _, err := f.UpdateSettings(func(s *settings.Settings) error {
				s.Buttons = []settings.ButtonMapping{{Trigger: "button:short-press", Action: "join-leave"}, {Trigger: "mute:long-press", Action: "record"}}
				s.Pins = []settings.PinOverride{{Handset: 1, Hook: "GPIO5", MuteLED: "mcp23017:0x20:B7"}}
				s.Metrics = settings.MetricsSettings{Access: settings.MetricsToken, Token: metricsSecret}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t)
				tt.setup(f)
				var b Backend = f
				if tt.recorder {
					r := newFakeRecorder(t)
					r.fakeBackend = f
					b = r
				}
				rec := loggedIn(t, b).get(tt.path)
				golden := filepath.Join("testdata", tt.name+".golden")
				if *update {
					if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to write it)", err)
				}
				if got := rec.Body.String(); got != string(want) {
					t.Errorf("GET %s differs from %s (go test -update rewrites it; review the diff):\n%s", tt.path, golden, got)
				}
			})
		})
	}
}
