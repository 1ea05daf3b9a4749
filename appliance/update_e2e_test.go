package appliance_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/update"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// recordingInstaller stands for dpkg: it records the packages it installs.
type recordingInstaller struct {
	mu        sync.Mutex
	installed []string
}

func (r *recordingInstaller) Install(_ context.Context, deb string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.installed = append(r.installed, deb)
	return nil
}

func (r *recordingInstaller) Version(context.Context) (string, error) { return "1.0", nil }

func (r *recordingInstaller) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.installed...)
}

// pendingUpdate writes the marker of an update to 2.0 from 1.0 into dir, which alice's
// account registered before, with the deadline.
func pendingUpdate(t *testing.T, dir string, deadline time.Time) {
	t.Helper()
	err := update.WritePending(filepath.Join(dir, "update-pending.json"), update.Pending{
		Version: "2.0", Previous: "1.0", PreviousDeb: "/var/cache/partyline/partyline_1.0_arm64.deb",
		Deadline: deadline, Registered: []string{"alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpdateThatNeverRegistersIsRolledBack: after an update, alice's account (registered
// before it) does not register again within the deadline: the previous package is
// installed again and the appliance restarts; the next start reports the rollback in the
// metrics, with the settings as they were.
func TestUpdateThatNeverRegistersIsRolledBack(t *testing.T) {
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9") // no registrar there
	pendingUpdate(t, dir, time.Now().Add(5*time.Second))
	inst := &recordingInstaller{}
	withInstaller := func(c *appliance.Config) { c.Installer = inst }
	r := runAppliance(t, dir, sim.New(2), withInstaller)

	deadline := time.Now().Add(failsafe)
	for {
		res, err := r.http.Get(r.admin + "/api/status")
		if err != nil {
			break // Run returned: the appliance restarts
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the appliance did not roll back within %v", failsafe)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Errorf("Run returned %v, want ErrRestart to start the previous version", err)
	}
	if got := inst.list(); len(got) != 1 || got[0] != "/var/cache/partyline/partyline_1.0_arm64.deb" {
		t.Errorf("installed %v, want the previous package", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "update-pending.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending update's marker stays: %v", err)
	}

	// The previous version starts: it says the update was rolled back, and why.
	again := runAppliance(t, dir, sim.New(2), withInstaller)
	st := again.status()
	if u := st.UpdateRolledBack; u == nil || u.Version != "2.0" || u.Running != "1.0" || !strings.Contains(u.Reason, "alice") {
		t.Errorf("status of the rolled back update: %+v", u)
	}
	if m := again.metrics(); !strings.Contains(m, `partyline_update_rolled_back{running="1.0",version="2.0"} 1`) {
		t.Errorf("metrics lack the rollback")
	}
	if len(st.Handsets) == 0 || st.Handsets[0].Identity == "" || len(st.Registrations) != 1 {
		t.Errorf("the settings did not survive: %+v", st)
	}
}

// TestHealthyUpdateIsConfirmed: after an update alice registers again, the admin page
// answers and SIP listens: the update is confirmed, nothing is installed.
func TestHealthyUpdateIsConfirmed(t *testing.T) {
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String())
	pendingUpdate(t, dir, time.Now().Add(failsafe))
	inst := &recordingInstaller{}
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) { c.Installer = inst })
	r.waitForText("update confirmed")
	if _, err := os.Stat(filepath.Join(dir, "update-pending.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker stays after the confirmation: %v", err)
	}
	if got := inst.list(); len(got) != 0 {
		t.Errorf("installed %v after a healthy update", got)
	}
	if st := r.status(); st.UpdateRolledBack != nil {
		t.Errorf("a confirmed update reports a rollback: %+v", st.UpdateRolledBack)
	}
}

// fwServer is a provisioning server over HTTPS (its own CA) whose document names only
// firmware, and which serves that firmware's packages.
type fwServer struct {
	*httptest.Server
	mu     sync.Mutex
	doc    string
	debs   map[string][]byte // by path
	agents []string          // the User-Agents of the document's requests
}

func startFWServer(t *testing.T) *fwServer {
	s := &fwServer{debs: map[string][]byte{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.URL.Path == "/doc.json" {
			s.agents = append(s.agents, r.UserAgent())
			io.WriteString(w, s.doc)
			return
		}
		deb, ok := s.debs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(deb)
	}))
	t.Cleanup(s.Close)
	return s
}

// name has the document name version v, whose package is served with body.
func (s *fwServer) name(v, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := "/fw/partyline_" + v + ".deb"
	s.debs[path] = []byte(body)
	sum := sha256.Sum256([]byte(body))
	s.doc = fmt.Sprintf(`{"firmware": {"version": %q, "url": %q, "sha256": %q}}`, v, s.URL+path, hex.EncodeToString(sum[:]))
}

// requests returns how many times the document was asked for, and the last User-Agent.
func (s *fwServer) requests() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.agents) == 0 {
		return 0, ""
	}
	return len(s.agents), s.agents[len(s.agents)-1]
}

// waitRequests waits until the document was asked for n more times, and returns the last
// User-Agent.
func (s *fwServer) waitRequests(t *testing.T, n int) string {
	t.Helper()
	start, _ := s.requests()
	deadline := time.Now().Add(failsafe)
	for {
		got, ua := s.requests()
		if got >= start+n {
			return ua
		}
		if time.Now().After(deadline) {
			t.Fatalf("the document was not asked for %d times within %v", n, failsafe)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRestart waits until the appliance of r ends its Run to restart.
func waitRestart(t *testing.T, r *rig) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		res, err := r.http.Get(r.admin + "/api/status")
		if err != nil {
			break // Run returned
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the appliance did not restart within %v", failsafe)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Fatalf("Run returned %v, want ErrRestart", err)
	}
}

// provisionedUpdate runs the update loop's first half: an appliance running 1.0 (whose
// package it kept) registers alice at kam, then its provisioning document names 2.0: the
// package is downloaded, checked, installed and the appliance restarts. It returns the
// data directory, the installer and the server.
func provisionedUpdate(t *testing.T, kam *peertest.Kamailio) (string, *recordingInstaller, *fwServer, func(*appliance.Config)) {
	t.Helper()
	srv := startFWServer(t)
	srv.name("1.0", "package 1.0")
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String(), func(s *settings.Settings) {
		s.Provisioning.URL = srv.URL + "/doc.json"
	})
	if err := os.MkdirAll(filepath.Join(dir, "packages"), 0o750); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "packages", "partyline_1.0.deb")
	if err := os.WriteFile(kept, []byte("package 1.0"), 0o640); err != nil {
		t.Fatal(err)
	}
	inst := &recordingInstaller{}
	fleet := func(c *appliance.Config) {
		c.Installer = inst
		c.UpdateDeadline = 5 * time.Second
		c.Fleet = appliance.FleetConfig{FS: piWithLease("unused"), NMCLI: func(context.Context) ([]byte, error) { return nil, nil },
			Roots: roots, Interval: 200 * time.Millisecond}
	}
	r := runAppliance(t, dir, sim.New(2), fleet, func(c *appliance.Config) { c.Version = "1.0" })
	r.waitFor("alice to register", registered)
	srv.waitRequests(t, 2) // 1.0 named: nothing to do
	if got := inst.list(); len(got) != 0 {
		t.Fatalf("installed %v while the document names the running version", got)
	}

	srv.name("2.0", "package 2.0")
	waitRestart(t, r)
	if got := inst.list(); len(got) != 1 || got[0] != filepath.Join(dir, "packages", "partyline_2.0.deb") {
		t.Fatalf("installed %v, want the downloaded 2.0", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "update-pending.json"))
	if err != nil || !strings.Contains(string(b), `"previous_deb": "`+kept+`"`) || !strings.Contains(string(b), `"alice"`) {
		t.Fatalf("the marker: %s, %v; want 1.0's package and alice", b, err)
	}
	return dir, inst, srv, fleet
}

// TestProvisionedUpdateConfirmed: the whole loop of a good update: the document names
// 2.0, the appliance installs it and restarts; 2.0 starts, alice registers again, the
// update is confirmed, and the document naming 2.0 installs nothing more.
func TestProvisionedUpdateConfirmed(t *testing.T) {
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	dir, inst, srv, fleet := provisionedUpdate(t, kam)

	r := runAppliance(t, dir, sim.New(2), fleet, func(c *appliance.Config) { c.Version = "2.0" })
	r.waitForText("update confirmed")
	if _, err := os.Stat(filepath.Join(dir, "update-pending.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker stays after the confirmation: %v", err)
	}
	if ua := srv.waitRequests(t, 3); !strings.HasPrefix(ua, "partyline/2.0 ") || strings.Contains(ua, "rolled back") {
		t.Errorf("User-Agent %q after the update", ua)
	}
	if got := inst.list(); len(got) != 1 {
		t.Errorf("installed %v: the running version again", got)
	}
	if st := r.status(); st.Version != "2.0" || st.UpdateRolledBack != nil {
		t.Errorf("version %q, rollback %+v", st.Version, st.UpdateRolledBack)
	}
}

// TestProvisionedUpdateRolledBack: the whole loop of a bad update: 2.0 never registers
// alice within the deadline (5 s here): 1.0's kept package is installed again and the
// appliance restarts; 1.0 runs with its settings, registers, and the page, the metrics and
// the next provisioning request's User-Agent say 2.0 was rolled back; the document still
// naming 2.0 does not install it again.
func TestProvisionedUpdateRolledBack(t *testing.T) {
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{Domain: domain, Realm: realm, Users: map[string]string{"alice": password}})
	dir, inst, srv, fleet := provisionedUpdate(t, kam)

	kam.Stop() // 2.0 never registers
	r := runAppliance(t, dir, sim.New(2), fleet, func(c *appliance.Config) { c.Version = "2.0" })
	waitRestart(t, r)
	if got := inst.list(); len(got) != 2 || got[1] != filepath.Join(dir, "packages", "partyline_1.0.deb") {
		t.Fatalf("installed %v, want 2.0 then 1.0's kept package", got)
	}

	kam.Start(t)
	r = runAppliance(t, dir, sim.New(2), fleet, func(c *appliance.Config) { c.Version = "1.0" })
	st := r.waitFor("alice to register with the settings as they were", registered)
	if u := st.UpdateRolledBack; u == nil || u.Version != "2.0" || u.Running != "1.0" || !strings.Contains(u.Reason, "alice") {
		t.Errorf("status of the rolled back update: %+v", u)
	}
	if page := r.get("/settings"); !strings.Contains(page, "The firmware update to 2.0 was rolled back to 1.0") {
		t.Errorf("the settings page does not say the update was rolled back")
	}
	if m := r.metrics(); !strings.Contains(m, `partyline_update_rolled_back{running="1.0",version="2.0"} 1`) {
		t.Errorf("metrics lack the rollback")
	}
	if ua := srv.waitRequests(t, 3); !strings.HasPrefix(ua, "partyline/1.0 ") || !strings.Contains(ua, "update 2.0 rolled back") {
		t.Errorf("User-Agent %q, want the rollback in it", ua)
	}
	if got := inst.list(); len(got) != 2 {
		t.Errorf("installed %v: 2.0 again after its rollback", got)
	}
}

// TestServiceWithoutInstallerInstallsNothing: partyline run by systemd without
// -installer does not run dpkg inside its own service (the postinst's restart would kill
// it): a document naming another version downloads and installs nothing, and the page
// says why.
func TestServiceWithoutInstallerInstallsNothing(t *testing.T) {
	t.Setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
	srv := startFWServer(t)
	srv.name("2.0", "package 2.0")
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9", func(s *settings.Settings) {
		s.Provisioning.URL = srv.URL + "/doc.json"
	})
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
		c.Version = "1.0"
		c.Fleet = appliance.FleetConfig{FS: piWithLease("unused"), NMCLI: func(context.Context) ([]byte, error) { return nil, nil },
			Roots: roots, Interval: 200 * time.Millisecond}
	})
	r.waitForText("version 2.0 not installed")
	srv.waitRequests(t, 2)
	if m, _ := filepath.Glob(filepath.Join(dir, "packages", "*")); len(m) != 0 {
		t.Errorf("downloaded %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "update-pending.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a marker was written: %v", err)
	}
}

// waitForText waits until the dashboard says text; the failsafe only bounds the wait.
func (r *rig) waitForText(text string) {
	r.t.Helper()
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(r.page(), text) {
		if time.Now().After(deadline) {
			r.t.Fatalf("the admin page does not say %q within %v", text, failsafe)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
