package update

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildDeb builds a package "partyline-test" of version v, architecture all, without
// maintainer scripts, whose one file /usr/share/partyline-test/version says v.
func buildDeb(t *testing.T, v string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pkg")
	for name, body := range map[string]string{
		"DEBIAN/control":                   fmt.Sprintf("Package: partyline-test\nVersion: %s\nArchitecture: all\nMaintainer: Partyline Test <test@partyline.invalid>\nDescription: rollback test package\n", v),
		"usr/share/partyline-test/version": v + "\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(t.TempDir(), "partyline-test_"+v+"_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", dir, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// dpkgRoot makes an empty root with a dpkg database.
func dpkgRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestDpkgRollbackToThePreviousPackage installs version 1 and then version 2 with dpkg
// into a test root, as an update would, and has Settle roll back a version 2 that never
// becomes healthy: version 1 is installed again, its file back, and the rollback recorded.
func TestDpkgRollbackToThePreviousPackage(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root installs files owned by root: run as root")
	}
	root := dpkgRoot(t)
	d := Dpkg{Package: "partyline-test", Root: root}
	v1, v2 := buildDeb(t, "1.0"), buildDeb(t, "2.0")
	ctx := t.Context()
	installed := func() string {
		t.Helper()
		v, err := d.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(root, "usr/share/partyline-test/version"))
		return v + " " + strings.TrimSpace(string(b))
	}
	if got := installed(); got != " " {
		t.Fatalf("an empty root has %q installed", got)
	}
	if err := d.Install(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if got := installed(); got != "1.0 1.0" {
		t.Fatalf("after installing 1.0: %q", got)
	}

	// The update: marker first, then the new package.
	state := t.TempDir()
	marker := filepath.Join(state, "update-pending.json")
	if err := WritePending(marker, Pending{Version: "2.0", Previous: "1.0", PreviousDeb: v1, Deadline: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Install(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if got := installed(); got != "2.0 2.0" {
		t.Fatalf("after the update to 2.0: %q", got)
	}

	// Version 2 never registers; its deadline passes.
	s := Settler{Marker: marker, Record: filepath.Join(state, "update-rolled-back.json"), Installer: d, Poll: 10 * time.Millisecond,
		Healthy: func(context.Context, Pending) error { return errors.New("account alice has not registered again") }}
	p, _, _ := readPending(marker)
	p.Deadline = time.Now().Add(200 * time.Millisecond)
	if err := WritePending(marker, p); err != nil {
		t.Fatal(err)
	}
	out, err := s.Settle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result != RolledBack || out.Running != "1.0" || !strings.Contains(out.Reason, "alice") {
		t.Errorf("Settle = %+v, want rolled back to 1.0 because alice did not register", out)
	}
	if got := installed(); got != "1.0 1.0" {
		t.Errorf("after the rollback: %q installed, want 1.0 again", got)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker is still there after the rollback: %v", err)
	}
	if o, ok, err := LastRollback(s.Record); err != nil || !ok || o.Version != "2.0" || o.Running != "1.0" {
		t.Errorf("the rollback record: %+v, %v, %v", o, ok, err)
	}
}

// fakeInstaller records what it installs.
type fakeInstaller struct{ installed []string }

func (f *fakeInstaller) Install(_ context.Context, deb string) error {
	f.installed = append(f.installed, deb)
	return nil
}

func (f *fakeInstaller) Version(context.Context) (string, error) { return "1.0", nil }

// TestHealthyUpdateIsConfirmed: a version that becomes healthy before its deadline stays,
// and its marker goes; nothing is installed.
func TestHealthyUpdateIsConfirmed(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pending.json")
	if err := WritePending(marker, Pending{Version: "2.0", Previous: "1.0", PreviousDeb: "old.deb", Deadline: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	inst := &fakeInstaller{}
	checks := 0
	s := Settler{Marker: marker, Record: filepath.Join(dir, "record.json"), Installer: inst, Poll: time.Millisecond,
		Healthy: func(context.Context, Pending) error {
			if checks++; checks < 3 {
				return errors.New("SIP not listening yet")
			}
			return nil
		}}
	out, err := s.Settle(t.Context())
	if err != nil || out.Result != Confirmed || len(inst.installed) != 0 {
		t.Errorf("Settle = %+v, %v, installed %v; want confirmed, nothing installed", out, err, inst.installed)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker stays after the confirmation")
	}
	// Without a marker there is nothing to settle.
	if out, err := s.Settle(t.Context()); err != nil || out.Result != NoUpdate {
		t.Errorf("Settle without a marker = %+v, %v", out, err)
	}
}

// TestCrashingUpdateIsRolledBack: a version that exits at start never reaches the health
// check; the start after MaxStarts rolls it back at once.
func TestCrashingUpdateIsRolledBack(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pending.json")
	if err := WritePending(marker, Pending{Version: "2.0", Previous: "1.0", PreviousDeb: "old.deb", Deadline: time.Now().Add(time.Hour), Starts: MaxStarts}); err != nil {
		t.Fatal(err)
	}
	inst := &fakeInstaller{}
	s := Settler{Marker: marker, Record: filepath.Join(dir, "record.json"), Installer: inst,
		Healthy: func(context.Context, Pending) error { t.Error("the health check ran for a crash loop"); return nil }}
	out, err := s.Settle(t.Context())
	if err != nil || out.Result != RolledBack || len(inst.installed) != 1 || inst.installed[0] != "old.deb" {
		t.Errorf("Settle = %+v, %v, installed %v; want old.deb installed again", out, err, inst.installed)
	}
}

// handOverInstaller hands the install over and returns before it ran, as the package's
// update-helper does: the version installed is still the one rolled back.
type handOverInstaller struct{ fakeInstaller }

func (h *handOverInstaller) Version(context.Context) (string, error) { return "2.0", nil }

// TestRollbackHandedOverRecordsThePreviousVersion: a rollback through an installer that
// hands the install over records the previous version as the one running next, so that the
// page and the User-Agent say "rolled back", not "no rollback".
func TestRollbackHandedOverRecordsThePreviousVersion(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pending.json")
	if err := WritePending(marker, Pending{Version: "2.0", Previous: "1.0", PreviousDeb: "old.deb", Deadline: time.Now().Add(time.Hour), Starts: MaxStarts}); err != nil {
		t.Fatal(err)
	}
	inst := &handOverInstaller{}
	s := Settler{Marker: marker, Record: filepath.Join(dir, "record.json"), Installer: inst,
		Healthy: func(context.Context, Pending) error { return errors.New("never healthy") }}
	if out, err := s.Settle(t.Context()); err != nil || out.Result != RolledBack || out.Running != "1.0" {
		t.Errorf("Settle = %+v, %v; want rolled back, 1.0 running", out, err)
	}
	if o, ok, err := LastRollback(s.Record); err != nil || !ok || o.Version != "2.0" || o.Running != "1.0" {
		t.Errorf("LastRollback = %+v, %v, %v; want 2.0 rolled back to 1.0", o, ok, err)
	}
}
