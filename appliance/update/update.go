// Package update installs firmware updates and rolls back those that do not prove
// healthy (issue 15's item 2). A provisioning document's firmware section names the
// version to run; the Updater downloads and checks its package, records the pending
// update in a marker file and hands the package to an Installer; every start settles
// the marker (appliance/updates.go), and the installing helper guards it.
//
// The flow:
//
//  1. Updater.Update (the running version): skip the running version, the one rolled
//     back last and any while an update is pending; download the package into the kept
//     packages, check its SHA-256 and ed25519 signature; write the marker (Pending: the
//     new version, the previous one and its kept package, the deadline, the accounts
//     registered); Installer.Install, which restarts partyline into the new version.
//  2. Settler.Settle (every start, the new version): count the start (a package that
//     crashes after it started is given up after MaxStarts), wait for the health check
//     (SIP listening, admin page serving, audio device open, every account that
//     registered before registered again) until the deadline. Healthy, the marker is
//     removed: the update is confirmed. Not healthy in time, the previous package is
//     installed again, the outcome is written to the rollback file (for the page, the
//     log, a metric and the next provisioning request's User-Agent) and the caller
//     restarts into the previous version, whose settings are the same file.
//  3. Settler.Guard (the installing helper, partyline update-install, outside the
//     service): a new version that exits at start or hangs never settles the marker; a
//     grace after its deadline the guard rolls it back as Settle would and restarts.
//
// Not built yet: a preinst that writes the marker for an update installed by hand with
// apt or dpkg (naming apt's cached package of the version replaced).
package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// An Installer installs package files and says which version is installed.
type Installer interface {
	// Install installs the package file deb, replacing the installed version.
	Install(ctx context.Context, deb string) error
	// Version returns the installed version of the package, "" when none is.
	Version(ctx context.Context) (string, error)
}

// Dpkg installs with dpkg: into the system, or into the root directory Root (tests).
type Dpkg struct {
	Package string // the package's name, "partyline"
	Root    string // "" = the system's root
}

func (d Dpkg) rootArgs() []string {
	if d.Root == "" {
		return nil
	}
	return []string{"--root=" + d.Root}
}

// Install implements Installer: dpkg -i, in Root if set, keeping a configuration file the
// administrator changed (/etc/default/partyline) without asking: no one is there to answer.
func (d Dpkg) Install(ctx context.Context, deb string) error {
	args := append(d.rootArgs(), "--force-downgrade", "--force-confdef", "--force-confold", "--install", deb)
	out, err := exec.CommandContext(ctx, "dpkg", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("dpkg --install %s: %w: %s", filepath.Base(deb), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Version implements Installer, with dpkg-query.
func (d Dpkg) Version(ctx context.Context) (string, error) {
	var args []string
	if d.Root != "" {
		args = append(args, "--admindir="+filepath.Join(d.Root, "var/lib/dpkg"))
	}
	args = append(args, "--show", "--showformat=${db:Status-Abbrev}${Version}", d.Package)
	out, err := exec.CommandContext(ctx, "dpkg-query", args...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "", nil // dpkg-query exits 1 for a package it does not know
	}
	if err != nil {
		return "", fmt.Errorf("dpkg-query %s: %w", d.Package, err)
	}
	status, version, _ := strings.Cut(string(out), " ")
	if !strings.HasPrefix(status, "ii") {
		return "", nil
	}
	return strings.TrimSpace(version), nil
}

// Pending is the marker of an update installed and not yet confirmed.
type Pending struct {
	Version  string `json:"version"`  // the version installed
	Previous string `json:"previous"` // the version it replaced
	// PreviousDeb is the package file of Previous, installed again on rollback; "" when
	// none was kept (Previous was installed by hand): the update cannot be rolled back.
	PreviousDeb string    `json:"previous_deb"`
	Deadline    time.Time `json:"deadline"` // when the new version must be healthy by
	Starts      int       `json:"starts"`   // how many times the new version has started
	// Registered are the accounts registered before the update: each must register again.
	Registered []string `json:"registered,omitempty"`
}

// MaxStarts is how many starts a pending update gets: a package that exits at start is
// started again by systemd, and rolled back at the start after these.
const MaxStarts = 3

// DefaultDeadline is how long a new version has to prove itself healthy.
const DefaultDeadline = 5 * time.Minute

// WritePending writes the marker file path, atomically.
func WritePending(path string, p Pending) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("write the update marker: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the update marker: %w", err)
	}
	return nil
}

// readPending reads the marker file; ok is false when there is none.
func readPending(path string) (p Pending, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read the update marker: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, false, fmt.Errorf("read the update marker %s: %w", path, err)
	}
	return p, true, nil
}

// The outcomes of Settle.
const (
	NoUpdate   = "none"        // no update was pending
	Confirmed  = "confirmed"   // the new version proved healthy: it stays
	RolledBack = "rolled_back" // it did not: the previous version is installed again
	// Stuck: it did not, and no package of the previous version was kept (it was
	// installed by hand): it stays, and the record says so.
	Stuck = "stuck"
)

// Outcome is what Settle did, also written to the rollback file after a rollback.
type Outcome struct {
	Result  string    `json:"result"`
	Version string    `json:"version,omitempty"` // the update's version
	Running string    `json:"running,omitempty"` // the version installed now
	Reason  string    `json:"reason,omitempty"`  // why it was rolled back
	At      time.Time `json:"at,omitzero"`
}

// Settler settles a pending update at start.
type Settler struct {
	Marker    string    // the marker file
	Record    string    // the file the outcome of a rollback is written to
	Installer Installer // installs the previous package on rollback
	// Healthy returns nil once the running version is healthy, else what is not; it is
	// given the pending update.
	Healthy func(ctx context.Context, p Pending) error
	// Poll is how often Healthy is asked; 0 means a second.
	Poll time.Duration
	// Running, when set, is the version running: a marker of another version (the
	// package not installed yet, or never) is left to the version it names and the
	// installing helper's Guard.
	Running string
}

// Settle confirms or rolls back the pending update, if any. After RolledBack the caller
// restarts, into the previous version.
func (s Settler) Settle(ctx context.Context) (Outcome, error) {
	p, ok, err := readPending(s.Marker)
	if err != nil || !ok {
		return Outcome{Result: NoUpdate}, err
	}
	if s.Running != "" && s.Running != p.Version {
		return Outcome{Result: NoUpdate}, nil
	}
	p.Starts++
	if err := WritePending(s.Marker, p); err != nil {
		return Outcome{}, err
	}
	if p.Starts > MaxStarts {
		return s.rollback(ctx, p, fmt.Sprintf("version %s did not stay up: started %d times", p.Version, p.Starts-1))
	}
	if time.Now().After(p.Deadline) {
		return s.rollback(ctx, p, fmt.Sprintf("version %s was not healthy by %s", p.Version, p.Deadline.Format(time.RFC3339)))
	}
	check, cancel := context.WithDeadline(ctx, p.Deadline)
	defer cancel()
	poll := s.Poll
	if poll == 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		err := s.Healthy(check, p)
		if err == nil {
			if err := os.Remove(s.Marker); err != nil {
				return Outcome{}, fmt.Errorf("confirm the update: %w", err)
			}
			// A rollback recorded before is history now.
			if err := os.Remove(s.Record); err != nil && !errors.Is(err, os.ErrNotExist) {
				return Outcome{}, fmt.Errorf("confirm the update: %w", err)
			}
			return Outcome{Result: Confirmed, Version: p.Version, Running: p.Version, At: time.Now()}, nil
		}
		select {
		case <-tick.C:
		case <-check.Done():
			if ctx.Err() != nil {
				return Outcome{}, ctx.Err() // stopping: the next start settles it
			}
			return s.rollback(ctx, p, fmt.Sprintf("version %s was not healthy within the deadline: %v", p.Version, err))
		}
	}
}

// LastRollback returns the rollback recorded in the file path, if the last update failed
// (rolled back, or stuck for want of a package to roll back to); ok is false when it did
// not (or there was none).
func LastRollback(path string) (o Outcome, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("read the rollback record: %w", err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, false, fmt.Errorf("read the rollback record %s: %w", path, err)
	}
	return o, o.Result == RolledBack || o.Result == Stuck, nil
}

// rollback installs the previous package again and records why.
func (s Settler) rollback(ctx context.Context, p Pending, reason string) (Outcome, error) {
	out := Outcome{Result: RolledBack, Version: p.Version, Reason: reason, At: time.Now()}
	if p.PreviousDeb == "" {
		out.Result, out.Running = Stuck, p.Version
		out.Reason += fmt.Sprintf("; it cannot be rolled back: no package of %s was kept (it was installed by hand)", p.Previous)
	} else {
		if err := s.Installer.Install(ctx, p.PreviousDeb); err != nil {
			return Outcome{}, fmt.Errorf("roll back to %s: %w", p.Previous, err)
		}
		running, err := s.Installer.Version(ctx)
		if err != nil {
			return Outcome{}, fmt.Errorf("roll back to %s: %w", p.Previous, err)
		}
		if running == p.Version {
			// An installer that hands the install over (the package's update-helper
			// starts partyline-update.service and returns) has not installed it yet:
			// the version running next is the previous one.
			running = p.Previous
		}
		out.Running = running
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return Outcome{}, err
	}
	if err := os.WriteFile(s.Record, append(b, '\n'), 0o640); err != nil {
		return Outcome{}, fmt.Errorf("record the rollback: %w", err)
	}
	if err := ownLikeDir(s.Record); err != nil {
		return Outcome{}, fmt.Errorf("record the rollback: %w", err)
	}
	if err := os.Remove(s.Marker); err != nil {
		return Outcome{}, fmt.Errorf("roll back: %w", err)
	}
	return out, nil
}

// ownLikeDir gives the file path to the owner of its directory when run as root (the
// installing helper's Guard): partyline, which runs as that owner, must read it.
func ownLikeDir(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Chown(path, int(sys.Uid), int(sys.Gid))
}
