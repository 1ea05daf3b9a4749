package appliance_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/update"
	"partyline/appliance/web"
	"partyline/hw/sim"
)

// monitoringDir holds the example Prometheus configuration, alerting rules and Grafana
// dashboard the repository ships for fleets.
var monitoringDir = filepath.Join("..", "board", "monitoring")

// TestMonitoringFilesPassPromtool has Prometheus's own checker read the example scrape
// configuration (with its rule file) and the alerting rules.
func TestMonitoringFilesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; make test installs it)")
	}
	// promtool checks that the token file exists: a copy names one of the test's.
	dir := t.TempDir()
	token := filepath.Join(dir, "partyline-token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"prometheus.yml", "partyline-alerts.yml"} {
		b, err := os.ReadFile(filepath.Join(monitoringDir, name))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/etc/prometheus/partyline-token", token))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"check", "config", filepath.Join(dir, "prometheus.yml")},
		{"check", "rules", filepath.Join(dir, "partyline-alerts.yml")},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMonitoringFilesUseRealMetrics scrapes a running appliance that has what every
// series needs (an account, an ALSA audio device, a provisioning document, an update
// rolled back), and checks
// that every partyline_* name the alerting rules and the Grafana dashboard use is among
// those it exports: a renamed metric would leave an alert that never fires.
func TestMonitoringFilesUseRealMetrics(t *testing.T) {
	dir := t.TempDir()
	alsaFileDevice(t, dir)
	srv := startProvServer(t, `{"recordings": {"reserve_mb": 50}}`)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9", func(s *settings.Settings) {
		s.Provisioning.URL = srv.URL + "/partyline/{mac}.json"
	})
	// An update rolled back before this start.
	rolledBack, err := json.Marshal(update.Outcome{Result: update.RolledBack, Version: "2.0", Running: "1.0", Reason: "never registered", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "update-rolled-back.json"), rolledBack, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runAppliance(t, dir, sim.New(2), useALSAFileDevice, func(c *appliance.Config) {
		c.Fleet = appliance.FleetConfig{
			FS:    piWithLease(""),
			NMCLI: func(context.Context) ([]byte, error) { return nil, nil },
			Roots: roots, Interval: time.Minute,
		}
	})
	r.waitFor("the document applied, the audio device and the account reported", func(s web.Status) bool {
		return s.Provisioning != nil && s.Provisioning.Result == "applied" && s.Audio != nil && len(s.Registrations) == 1
	})

	exported := map[string]bool{}
	for line := range strings.Lines(r.metrics()) {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = true
		}
	}
	name := regexp.MustCompile(`partyline_[a-z0-9_]+`)
	for _, file := range []string{"partyline-alerts.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(monitoringDir, file))
		if err != nil {
			t.Fatal(err)
		}
		used := slices.Compact(slices.Sorted(slices.Values(name.FindAllString(string(b), -1))))
		if len(used) < 4 {
			t.Errorf("%s uses only %v", file, used)
		}
		for _, n := range used {
			if !exported[n] {
				t.Errorf("%s uses %s, which /metrics does not export", file, n)
			}
		}
	}
}
