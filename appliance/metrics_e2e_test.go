package appliance_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// TestMetricsPassPromtool reads /metrics of a running appliance, after a call, and has
// Prometheus's own linter (promtool check metrics) check it; then looks for the series a
// dashboard needs: the build, the calls by result, every state of every handset and
// account keyed by its stable ID.
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; make test installs it)")
	}
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String())
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) { c.Version, c.Build = "1.2.3+git20261206.abc", "abcdef123456" })
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))

	m := r.metrics()
	file := filepath.Join(t.TempDir(), "metrics.txt")
	if err := os.WriteFile(file, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nof:\n%s", err, out, m)
	}

	for _, want := range []string{
		`partyline_build_info{board="sim",build="abcdef123456",version="1.2.3+git20261206.abc"} 1`,
		`partyline_calls_total{result="local"} 1`,
		`partyline_calls_total{result="failed"} 0`,
		`partyline_handset_info{handset="handset-1",name="Handset 1",number="1"} 1`,
		`partyline_handset_state{handset="handset-1",state="idle"} 1`,
		`partyline_handset_state{handset="handset-1",state="in_call"} 0`,
		`partyline_handset_state{handset="handset-2",state="failed"} 0`,
		`partyline_registration_state{account="alice",state="registered"} 1`,
		`partyline_registration_state{account="alice",state="failed"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for line := range strings.Lines(m) {
		if strings.HasPrefix(line, "partyline_") && strings.Contains(line, ` `) && strings.Contains(line[:strings.LastIndex(line, " ")], " ") &&
			!strings.HasPrefix(line, "partyline_handset_info") {
			t.Errorf("a label value has a space: %s", line)
		}
	}
}
