package appliance

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"partyline/appliance/update"
	"partyline/appliance/web"
	"partyline/sip"
)

// The update files in the data directory: the pending update's marker, the record
// of the last rollback, and the directory of the packages kept to roll back to.
const (
	updatePendingFile    = "update-pending.json"
	updateRolledBackFile = "update-rolled-back.json"
	updatePackagesDir    = "packages"
)

// aptArchives is where apt keeps the packages it downloaded: that of a version installed
// by hand with apt may be there.
const aptArchives = "/var/cache/apt/archives"

// errNoInstaller is why a service without -installer installs no firmware.
var errNoInstaller = errors.New("partyline runs as a systemd service without -installer: dpkg run inside the service would be killed by the restart of the package's postinst, so firmware updates need the installing helper (-installer, see partyline update-install)")

// newUpdater returns the updater of the appliance a, which installs the firmware a
// provisioning document names.
func newUpdater(a *Appliance, cfg Config) update.Updater {
	installer := cfg.Installer
	if installer == nil {
		installer = update.Dpkg{Package: "partyline"}
		if underSystemd() {
			a.noInstaller = errNoInstaller
		}
	}
	return update.Updater{
		Packages:  filepath.Join(cfg.DataDir, updatePackagesDir),
		Marker:    filepath.Join(cfg.DataDir, updatePendingFile),
		Record:    filepath.Join(cfg.DataDir, updateRolledBackFile),
		Running:   cfg.Version,
		Installer: installer,
		Deadline:  cfg.UpdateDeadline,
		Archives:  aptArchives,
		Registered: func() []string {
			var accounts []string
			for _, r := range a.regs.snapshot() {
				if r.reg.State == sip.Registered {
					accounts = append(accounts, r.account)
				}
			}
			return accounts
		},
	}
}

// installFirmware installs the firmware fw a provisioning document names, unless it runs
// already, was rolled back or an update is being settled; once installed, the appliance
// restarts into it (the installer may have restarted it first).
func (a *Appliance) installFirmware(ctx context.Context, fw update.Firmware, key ed25519.PublicKey, fetch update.Fetch) {
	log := a.log.With("part", "update", "version", fw.Version)
	if a.noInstaller != nil && fw.Version != a.version {
		if prev := a.skipped.Swap(&fw.Version); prev == nil || *prev != fw.Version {
			log.Warn("firmware update not installed", "err", a.noInstaller)
			a.events.Add(slog.LevelWarn, "update", "version "+fw.Version+" not installed: "+a.noInstaller.Error())
		}
		return
	}
	u := a.updater
	u.Key = key
	err := u.Update(ctx, fw, fetch)
	switch {
	case errors.Is(err, update.ErrRunning), errors.Is(err, update.ErrPending), err != nil && ctx.Err() != nil:
	case errors.Is(err, update.ErrRolledBack):
		if prev := a.skipped.Swap(&fw.Version); prev != nil && *prev == fw.Version {
			return
		}
		log.Info("the provisioning document names the version rolled back last: not installed again", "err", err)
	case err != nil:
		log.Warn("firmware update failed; the running version stays", "err", err)
		a.events.Add(slog.LevelWarn, "update", "the update to "+fw.Version+" failed, nothing changed: "+err.Error())
	default:
		log.Info("firmware installed: restarting into it", "previous", a.version)
		a.events.Add(slog.LevelInfo, "update", "version "+fw.Version+" installed: restarting into it")
		a.requestRestart()
	}
}

// updateNote is what the provisioning requests' User-Agent says of the last update when
// it failed: "update 2.0 rolled back".
func (a *Appliance) updateNote() string {
	u := a.rolledBack.Load()
	switch {
	case u == nil:
		return ""
	case u.Running == u.Version:
		return "update " + u.Version + " unhealthy, no rollback"
	default:
		return "update " + u.Version + " rolled back"
	}
}

// newSettler returns the settler of a pending update of the appliance a: it installs the
// previous package with installer (nil: dpkg) and checks a's health.
func newSettler(a *Appliance, dataDir string, installer update.Installer) update.Settler {
	if installer == nil {
		installer = update.Dpkg{Package: "partyline"}
	}
	return update.Settler{
		Marker:    filepath.Join(dataDir, updatePendingFile),
		Record:    filepath.Join(dataDir, updateRolledBackFile),
		Installer: installer,
		Healthy:   a.healthy,
		Running:   a.version,
	}
}

// settleUpdate confirms or rolls back a pending update (see update.Settler), reporting
// the outcome; after a rollback it restarts the appliance, into the previous version.
func (a *Appliance) settleUpdate(ctx context.Context) {
	log := a.log.With("part", "update")
	out, err := a.updates.Settle(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
	case err == nil && out.Result == update.NoUpdate:
		if u := a.rolledBack.Load(); u != nil {
			log.Error("the last update failed", "version", u.Version, "running", u.Running, "reason", u.Reason, "at", u.At)
		}
	case err != nil:
		log.Error("settle the pending update", "err", err)
		a.events.Add(slog.LevelError, "update", "the pending update could not be settled: "+err.Error())
	case out.Result == update.Confirmed:
		log.Info("update confirmed: the new version is healthy", "version", out.Version)
		a.rolledBack.Store(nil)
		a.events.Add(slog.LevelInfo, "update", "version "+out.Version+" is healthy: update confirmed")
	case out.Result == update.Stuck:
		log.Error("update unhealthy and not rolled back", "version", out.Version, "reason", out.Reason)
		a.rolledBack.Store(a.readRollback())
		a.events.Add(slog.LevelError, "update", "update to "+out.Version+" is not healthy: "+out.Reason)
	case out.Result == update.RolledBack:
		log.Error("update rolled back", "version", out.Version, "running", out.Running, "reason", out.Reason)
		a.rolledBack.Store(a.readRollback())
		a.events.Add(slog.LevelError, "update", fmt.Sprintf("update to %s rolled back to %s: %s", out.Version, out.Running, out.Reason))
		a.requestRestart()
	}
}

// healthy returns nil when the appliance is healthy after the update p: SIP listening,
// the admin page serving, the audio device running, and every account that was
// registered before the update registered again.
func (a *Appliance) healthy(ctx context.Context, p update.Pending) error {
	var problems []string
	if !a.agent.Addr().IsValid() {
		problems = append(problems, "SIP is not listening")
	}
	if err := a.adminServing(ctx); err != nil {
		problems = append(problems, "the admin page does not answer: "+err.Error())
	}
	if st := a.AudioStats(); st.HasDevice && st.Device.Periods == 0 {
		problems = append(problems, "the audio device runs no periods")
	}
	registered := map[string]bool{}
	for _, r := range a.regs.snapshot() {
		registered[r.account] = r.reg.State == sip.Registered
	}
	for _, acc := range p.Registered {
		if !registered[acc] {
			problems = append(problems, "account "+acc+" has not registered again")
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// adminServing asks the admin page for its login page, as a browser would.
func (a *Appliance) adminServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.adminURL()+"/login", nil)
	if err != nil {
		return err
	}
	// Its own certificate, whose fingerprint it knows: the check is that it answers.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		return fmt.Errorf("GET /login: %s", res.Status)
	}
	return nil
}

// readRollback reads the record of the last update's rollback, if it was rolled back, for
// the page and the metrics: nil when it was not.
func (a *Appliance) readRollback() *web.UpdateStatus {
	o, ok, err := update.LastRollback(a.updates.Record)
	if err != nil {
		a.log.Warn("read the last update's outcome", "err", err)
	}
	if !ok {
		return nil
	}
	return &web.UpdateStatus{Version: o.Version, Running: o.Running, Reason: o.Reason, At: o.At}
}

// InstallUpdate is the installing helper's half of an update (partyline update-install,
// run outside partyline's service, as a user that may install): it installs the package
// deb with installer, whose restart of partyline (dpkg's postinst) starts the new version,
// then guards the update in the data directory dataDir: a new version that never settles
// it (it exits at start, or hangs) is rolled back grace after the deadline, and restart
// starts the previous version.
func InstallUpdate(ctx context.Context, dataDir, deb string, installer update.Installer, grace time.Duration, restart func(context.Context) error) (update.Outcome, error) {
	s := update.Settler{
		Marker:    filepath.Join(dataDir, updatePendingFile),
		Record:    filepath.Join(dataDir, updateRolledBackFile),
		Installer: installer,
	}
	if err := installer.Install(ctx, deb); err != nil {
		// Nothing to settle: the version running stays, and may update again.
		if rerr := os.Remove(s.Marker); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return update.Outcome{}, err
	}
	return s.Guard(ctx, grace, restart)
}
