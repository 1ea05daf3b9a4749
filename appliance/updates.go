package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"partyline/appliance/update"
	"partyline/appliance/web"
	"partyline/sip"
)

// The update files in the data directory: the pending update's marker and the record
// of the last rollback.
const (
	updatePendingFile    = "update-pending.json"
	updateRolledBackFile = "update-rolled-back.json"
)

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
	}
}

// settleUpdate confirms or rolls back a pending update (see update.Settler), reporting
// the outcome; after a rollback it restarts the appliance, into the previous version.
func (a *Appliance) settleUpdate(ctx context.Context) {
	log := a.log.With("part", "update")
	out, err := a.updates.Settle(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		log.Error("settle the pending update", "err", err)
		a.events.Add(slog.LevelError, "update", "the pending update could not be settled: "+err.Error())
	case out.Result == update.Confirmed:
		log.Info("update confirmed: the new version is healthy", "version", out.Version)
		a.rolledBack.Store(nil)
		a.events.Add(slog.LevelInfo, "update", "version "+out.Version+" is healthy: update confirmed")
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
