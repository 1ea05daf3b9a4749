package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// served is a fetch that serves body at any URL, counting the fetches.
type served struct {
	body    []byte
	fetches int
}

func (s *served) fetch(context.Context, string) (io.ReadCloser, error) {
	s.fetches++
	return io.NopCloser(bytes.NewReader(s.body)), nil
}

// firmware returns version v's firmware section for body, signed with key if set.
func firmware(v string, body []byte, key ed25519.PrivateKey) Firmware {
	sum := sha256.Sum256(body)
	fw := Firmware{Version: v, URL: "https://fw.test/partyline_" + v + ".deb", SHA256: hex.EncodeToString(sum[:])}
	if key != nil {
		fw.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, body))
	}
	return fw
}

// newUpdater returns an updater in a temporary data directory, running 1.0, whose
// package was kept.
func newUpdater(t *testing.T, key ed25519.PublicKey) (Updater, *fakeInstaller) {
	t.Helper()
	dir := t.TempDir()
	inst := &fakeInstaller{}
	u := Updater{
		Packages: filepath.Join(dir, "packages"), Marker: filepath.Join(dir, "update-pending.json"),
		Record: filepath.Join(dir, "update-rolled-back.json"), Running: "1.0", Key: key,
		Installer: inst, Deadline: time.Minute, Registered: func() []string { return []string{"alice"} },
	}
	if err := os.MkdirAll(u.Packages, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.Packages, "partyline_1.0.deb"), []byte("package 1.0"), 0o640); err != nil {
		t.Fatal(err)
	}
	return u, inst
}

// TestUpdateInstallsASignedPackage: a new version whose package has the document's
// SHA-256 and signature is installed, the marker names the running version's kept
// package, and another document naming it again installs nothing more.
func TestUpdateInstallsASignedPackage(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	u, inst := newUpdater(t, pub)
	srv := &served{body: []byte("package 2.0")}
	if err := u.Update(context.Background(), firmware("2.0", srv.body, priv), srv.fetch); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := filepath.Join(u.Packages, "partyline_2.0.deb")
	if len(inst.installed) != 1 || inst.installed[0] != want {
		t.Fatalf("installed %v, want %s", inst.installed, want)
	}
	if b, err := os.ReadFile(want); err != nil || string(b) != "package 2.0" {
		t.Errorf("the package kept: %q, %v", b, err)
	}
	p, ok, err := readPending(u.Marker)
	if err != nil || !ok {
		t.Fatalf("no marker: %v", err)
	}
	if p.Version != "2.0" || p.Previous != "1.0" || p.PreviousDeb != filepath.Join(u.Packages, "partyline_1.0.deb") ||
		len(p.Registered) != 1 || !p.Deadline.After(time.Now()) {
		t.Errorf("marker %+v", p)
	}
	// While it is being settled, the same document again does nothing.
	if err := u.Update(context.Background(), firmware("2.0", srv.body, priv), srv.fetch); !errors.Is(err, ErrPending) {
		t.Errorf("Update while pending: %v, want ErrPending", err)
	}
	// Once it runs, neither.
	u.Running = "2.0"
	if err := u.Update(context.Background(), firmware("2.0", srv.body, priv), srv.fetch); !errors.Is(err, ErrRunning) {
		t.Errorf("Update of the running version: %v, want ErrRunning", err)
	}
	if len(inst.installed) != 1 || srv.fetches != 1 {
		t.Errorf("installed %v, fetched %d times: want once", inst.installed, srv.fetches)
	}
}

// TestUpdateRefusesABadPackage: a package whose SHA-256 or signature is not the
// document's, or an unsigned one when the settings have a key, is not installed, not
// kept, and no marker is written.
func TestUpdateRefusesABadPackage(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	good := []byte("package 2.0")
	for name, tc := range map[string]struct {
		fw   Firmware
		body []byte
		want string
	}{
		"sha256":      {firmware("2.0", good, priv), []byte("package 2.0, tampered"), "SHA-256"},
		"signature":   {firmware("2.0", good, other), good, "signature"},
		"unsigned":    {firmware("2.0", good, nil), good, "no signature"},
		"bad version": {firmware("../2.0", good, priv), good, "not a package version"},
		"http":        {func() Firmware { f := firmware("2.0", good, priv); f.URL = "http://fw.test/p.deb"; return f }(), good, "https"},
	} {
		t.Run(name, func(t *testing.T) {
			u, inst := newUpdater(t, pub)
			srv := &served{body: tc.body}
			err := u.Update(context.Background(), tc.fw, srv.fetch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Update: %v, want an error about %s", err, tc.want)
			}
			if len(inst.installed) != 0 {
				t.Errorf("installed %v", inst.installed)
			}
			if _, ok, _ := readPending(u.Marker); ok {
				t.Error("a marker was written")
			}
			if m, _ := filepath.Glob(filepath.Join(u.Packages, "partyline_2.0*")); len(m) != 0 {
				t.Errorf("left %v", m)
			}
		})
	}
}

// TestUpdateSkipsTheVersionRolledBack: the version rolled back last is not installed
// again (no update loop); another version is.
func TestUpdateSkipsTheVersionRolledBack(t *testing.T) {
	u, inst := newUpdater(t, nil)
	if err := os.WriteFile(u.Record, []byte(`{"result":"rolled_back","version":"2.0","running":"1.0","reason":"not healthy"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	srv := &served{body: []byte("package 2.0")}
	if err := u.Update(context.Background(), firmware("2.0", srv.body, nil), srv.fetch); !errors.Is(err, ErrRolledBack) {
		t.Errorf("Update of the version rolled back: %v, want ErrRolledBack", err)
	}
	srv.body = []byte("package 2.1")
	if err := u.Update(context.Background(), firmware("2.1", srv.body, nil), srv.fetch); err != nil {
		t.Errorf("Update to 2.1: %v", err)
	}
	if len(inst.installed) != 1 || filepath.Base(inst.installed[0]) != "partyline_2.1.deb" {
		t.Errorf("installed %v, want 2.1 only", inst.installed)
	}
}

// TestUpdateOfAHandInstalledVersionCannotRollBack: the running version was installed by
// hand and apt kept no package of it: the update installs, its marker names no package,
// and an unhealthy update is recorded as stuck rather than rolled back.
func TestUpdateOfAHandInstalledVersionCannotRollBack(t *testing.T) {
	u, inst := newUpdater(t, nil)
	if err := os.Remove(filepath.Join(u.Packages, "partyline_1.0.deb")); err != nil {
		t.Fatal(err)
	}
	u.Archives = t.TempDir()
	srv := &served{body: []byte("package 2.0")}
	if err := u.Update(context.Background(), firmware("2.0", srv.body, nil), srv.fetch); err != nil {
		t.Fatalf("Update: %v", err)
	}
	s := Settler{Marker: u.Marker, Record: u.Record, Installer: inst,
		Healthy: func(context.Context, Pending) error { return errors.New("SIP is not listening") }}
	if err := WritePending(u.Marker, func() Pending { p, _, _ := readPending(u.Marker); p.Deadline = time.Now(); return p }()); err != nil {
		t.Fatal(err)
	}
	out, err := s.Settle(context.Background())
	if err != nil || out.Result != Stuck || !strings.Contains(out.Reason, "no package of 1.0 was kept") {
		t.Errorf("Settle: %+v, %v; want stuck, saying why", out, err)
	}
	if len(inst.installed) != 1 {
		t.Errorf("installed %v: want only the update", inst.installed)
	}
	if o, ok, _ := LastRollback(u.Record); !ok || o.Result != Stuck {
		t.Errorf("record %+v", o)
	}
}

// TestUpdateKeepsAptsPackage: a version installed by hand whose package apt kept rolls
// back to apt's file.
func TestUpdateKeepsAptsPackage(t *testing.T) {
	u, _ := newUpdater(t, nil)
	if err := os.Remove(filepath.Join(u.Packages, "partyline_1.0.deb")); err != nil {
		t.Fatal(err)
	}
	u.Archives = t.TempDir()
	apt := filepath.Join(u.Archives, "partyline_1.0_arm64.deb")
	if err := os.WriteFile(apt, []byte("package 1.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := &served{body: []byte("package 2.0")}
	if err := u.Update(context.Background(), firmware("2.0", srv.body, nil), srv.fetch); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if p, _, _ := readPending(u.Marker); p.PreviousDeb != apt {
		t.Errorf("the previous package %q, want apt's %s", p.PreviousDeb, apt)
	}
}

// TestGuardRollsBackAVersionThatNeverSettles: a new version that exits at start never
// settles its marker: once grace has passed after the deadline, the guard installs the
// previous package again, records why and restarts. A marker the new version removed
// itself ends the guard with its outcome.
func TestGuardRollsBackAVersionThatNeverSettles(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 { // the installing helper runs as root, partyline as the data's owner
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	s := Settler{Marker: filepath.Join(dir, "pending.json"), Record: filepath.Join(dir, "record.json"), Poll: time.Millisecond}
	inst := &fakeInstaller{}
	s.Installer = inst
	if err := WritePending(s.Marker, Pending{Version: "2.0", Previous: "1.0", PreviousDeb: "old.deb", Deadline: time.Now().Add(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	restarts := 0
	out, err := s.Guard(t.Context(), 50*time.Millisecond, func(context.Context) error { restarts++; return nil })
	if err != nil || out.Result != RolledBack || !strings.Contains(out.Reason, "never settled") {
		t.Fatalf("Guard = %+v, %v; want rolled back, saying why", out, err)
	}
	if len(inst.installed) != 1 || inst.installed[0] != "old.deb" || restarts != 1 {
		t.Errorf("installed %v, restarted %d times; want old.deb, once", inst.installed, restarts)
	}
	if o, ok, _ := LastRollback(s.Record); !ok || o.Version != "2.0" {
		t.Errorf("record %+v", o)
	}
	if st, err := os.Stat(s.Record); err == nil && os.Geteuid() == 0 && st.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("the record written as root is owned by %d, not by the data directory's owner", st.Sys().(*syscall.Stat_t).Uid)
	}

	// The new version confirms it itself: the guard installs nothing.
	inst.installed = nil
	if err := WritePending(s.Marker, Pending{Version: "2.1", Previous: "1.0", PreviousDeb: "old.deb", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.Record); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.Remove(s.Marker)
	}()
	out, err = s.Guard(t.Context(), time.Hour, func(context.Context) error { t.Error("restarted"); return nil })
	if err != nil || out.Result != Confirmed || len(inst.installed) != 0 {
		t.Errorf("Guard = %+v, %v, installed %v; want confirmed, nothing installed", out, err, inst.installed)
	}
}
