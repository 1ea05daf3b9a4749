package appliance_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance"
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
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(r.page(), "update confirmed") {
		if time.Now().After(deadline) {
			t.Fatalf("the update was not confirmed within %v", failsafe)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
