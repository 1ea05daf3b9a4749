package appliance

import (
	"context"
	"crypto/x509"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"partyline/appliance/handset"
	"partyline/appliance/provision"
	"partyline/appliance/settings"
	"partyline/appliance/web"
)

// FleetConfig is what provisioning reads of the device, for tests; the zero value reads
// the system's.
type FleetConfig struct {
	// FS is the root file system the device's MAC address, serial number and model, and
	// the DHCP leases, are read from; nil is the system's "/".
	FS fs.FS
	// NMCLI, when set, replaces running `nmcli -t -f DHCP4 device show`.
	NMCLI func(ctx context.Context) ([]byte, error)
	// Roots are the CAs trusted as the system's; nil is the system's own.
	Roots *x509.CertPool
	// Interval, when not zero, replaces the settings' provisioning interval.
	Interval time.Duration
}

// provisioningStateFile is the provisioner's state in the data directory.
const provisioningStateFile = "provisioning.json"

// newProvisioner makes the provisioner of the appliance a, whose data directory is dir;
// its changes to the settings go through update, as the admin page's do.
func newProvisioner(a *Appliance, cfg Config, update func(func(*settings.Settings) error) (bool, error)) (*provision.Provisioner, provision.Device) {
	fsys := cfg.Fleet.FS
	if fsys == nil {
		fsys = provision.System()
	}
	dev := provision.ReadDevice(fsys)
	log := a.log.With("part", "provisioning")
	log.Info("device", "mac", dev.MAC, "serial", dev.Serial, "model", dev.Model)
	// waiting is set once a document changed what applies only at a restart.
	var waiting atomic.Bool
	p := provision.New(provision.Config{
		Current: func() (settings.Settings, <-chan struct{}) {
			snap := a.store.Current()
			return snap.Settings, snap.Changed()
		},
		Update:    update,
		Device:    dev,
		DHCP:      provision.DHCPSource{FS: fsys, NMCLI: cfg.Fleet.NMCLI},
		Roots:     cfg.Fleet.Roots,
		Version:   cfg.Version,
		StatePath: filepath.Join(cfg.DataDir, provisioningStateFile),
		Interval:  cfg.Fleet.Interval,
		Log:       log,
		Firmware:  a.installFirmware,
		Note:      a.updateNote,
		OnResult: func(st provision.Status) {
			switch st.Result {
			case provision.ResultApplied:
				a.events.Add(slog.LevelInfo, "provisioning", "settings provisioned from "+st.URL)
			case provision.ResultFailed:
				a.events.Add(slog.LevelWarn, "provisioning", "provisioning failed, nothing changed: "+st.Error)
			}
			a.changes.Notify()
			if st.Result == provision.ResultApplied && st.Restart {
				waiting.Store(true)
			}
			if waiting.Load() && len(a.pendingRestart()) > 0 && a.idle() {
				log.Info("restarting: what the provisioning document changed applies at a restart, and no call is up")
				a.requestRestart()
			}
		},
	})
	return p, dev
}

// idle reports whether no handset is joining or in a call and no caller is bridged: a
// restart then ends no call.
func (a *Appliance) idle() bool {
	for _, l := range a.lines {
		if s := l.Status().State; s != handset.Idle && s != handset.Failed {
			return false
		}
	}
	_, bridged := a.bridges.queue.limits.InUse("")
	return bridged == 0
}

// provisioningStatus is the provisioner's status as the admin page shows it.
func (a *Appliance) provisioningStatus() *web.ProvisioningStatus {
	st := a.prov.Status()
	return &web.ProvisioningStatus{
		URL: st.URL, Source: st.Source, Result: st.Result, Reason: st.Reason, Error: st.Error,
		Reasons: provision.Reasons, Failures: st.Failures,
		LastAttempt: st.LastAttempt, LastSuccess: st.LastSuccess, Applied: st.Applied,
		Managed: st.Managed, Overridable: st.Overridable,
	}
}

// pageBackend is the backend the admin page gets: it refuses changes to the sections
// provisioning manages, which only the provisioning document changes.
type pageBackend struct{ serviceBackend }

// UpdateSettings implements web.Backend, as serviceBackend does, refusing to change a
// managed section.
func (b pageBackend) UpdateSettings(change func(*settings.Settings) error) (restart bool, err error) {
	managed := b.a.prov.Managed()
	return b.serviceBackend.UpdateSettings(func(set *settings.Settings) error {
		old := set.Clone()
		if err := change(set); err != nil {
			return err
		}
		touched := slices.DeleteFunc(provision.Changed(old, *set), func(s string) bool { return !slices.Contains(managed, s) })
		if len(touched) > 0 {
			return web.ManagedError(touched)
		}
		return nil
	})
}
