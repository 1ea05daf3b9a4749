package provision

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/update"
)

// Config is what a Provisioner needs.
type Config struct {
	// Current returns the saved settings and a channel closed when they next change.
	Current func() (settings.Settings, <-chan struct{})
	// Update changes the settings as the admin page does: validated, all or nothing.
	Update func(change func(*settings.Settings) error) (restart bool, err error)
	Device Device     // whose document to fetch
	DHCP   DHCPSource // where the URL comes from when the settings name none
	// Roots are the CAs trusted when the settings pin none; nil means the system's.
	Roots *x509.CertPool
	// Version is the firmware's, sent in the User-Agent.
	Version string
	// StatePath is the file that remembers which document was applied and which sections
	// it manages, across restarts.
	StatePath string
	// Interval, when not zero, replaces the settings' interval (tests).
	Interval time.Duration
	// OnResult, when set, is told each round's outcome, for the page's events.
	OnResult func(Status)
	// Firmware, when set, is given the firmware a document fetched and checked names
	// (after its settings applied), with the public key of the settings (nil: none) and
	// a fetch of the same server trust and credentials as the document's.
	Firmware func(ctx context.Context, fw update.Firmware, key ed25519.PublicKey, fetch update.Fetch)
	// Note, when set, returns what the User-Agent adds in its comment after the board
	// ("update 2.0 rolled back"), "" for nothing.
	Note func() string
	Log  *slog.Logger
}

// The results of a round.
const (
	ResultApplied     = "applied"      // the document changed the settings
	ResultUnchanged   = "unchanged"    // the same document as the one applied last
	ResultNotModified = "not_modified" // the server answered 304
	ResultFailed      = "failed"       // see Status.Reason and Status.Error
	ResultNoURL       = "no_url"       // no URL in the settings, none from DHCP
	ResultOff         = "off"          // provisioning is off in the settings
)

// Status is what the page and the metrics show of provisioning.
type Status struct {
	URL         string    `json:"url,omitempty"`    // the document's URL, last fetched
	Source      string    `json:"source,omitempty"` // where the URL came from
	Result      string    `json:"result,omitempty"` // the last round's, one of the Result… constants
	Reason      string    `json:"reason,omitempty"` // why it failed, one of Reasons
	Error       string    `json:"error,omitempty"`  // what failed, for people
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"` // the last round that reached the document
	Applied     time.Time `json:"applied,omitzero"`     // when the document applied last changed the settings
	// Managed are the sections the document applied manages: the page does not change
	// them. Overridable are those it applied that the page may change.
	Managed     []string `json:"managed,omitempty"`
	Overridable []string `json:"overridable,omitempty"`
	// Failures counts the failed rounds since start, by reason.
	Failures map[string]uint64 `json:"failures,omitempty"`
	// Restart says that some of what the document changed applies at the next restart.
	Restart bool `json:"restart,omitempty"`
}

// state is what the state file keeps.
type state struct {
	SHA256      string    `json:"sha256"`
	URL         string    `json:"url"`
	Applied     time.Time `json:"applied"`
	Managed     []string  `json:"managed"`
	Overridable []string  `json:"overridable"`
}

// A Provisioner fetches and applies the provisioning document. Make one with New.
type Provisioner struct {
	cfg Config
	mu  sync.Mutex
	st  Status
	// The validators of the last document reached, for its URL.
	etag, lastMod, validURL string
	applied                 state
}

// New returns a provisioner that has read its state file; a missing file is a device
// never provisioned.
func New(cfg Config) *Provisioner {
	p := &Provisioner{cfg: cfg, st: Status{Failures: map[string]uint64{}}}
	b, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		cfg.Log.Warn("read the provisioning state", "err", err)
	default:
		if err := json.Unmarshal(b, &p.applied); err != nil {
			cfg.Log.Warn("read the provisioning state", "file", cfg.StatePath, "err", err)
		}
	}
	p.st.Managed, p.st.Overridable, p.st.Applied = p.applied.Managed, p.applied.Overridable, p.applied.Applied
	return p
}

// Status returns what the page and the metrics show.
func (p *Provisioner) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Managed, st.Overridable = slices.Clone(st.Managed), slices.Clone(st.Overridable)
	st.Failures = make(map[string]uint64, len(p.st.Failures))
	for k, v := range p.st.Failures {
		st.Failures[k] = v
	}
	return st
}

// Managed returns the sections the page may not change.
func (p *Provisioner) Managed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.st.Managed)
}

// Run fetches the document at once, then every interval with up to a tenth of it added
// or taken at random (so that a fleet started together spreads out), and again as soon as
// the provisioning settings change, until ctx is done.
func (p *Provisioner) Run(ctx context.Context) {
	for {
		set, changed := p.cfg.Current()
		p.round(ctx)
		interval := cmpOr(p.cfg.Interval, set.Provisioning.Interval())
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(interval))
		timer := time.NewTimer(interval + jitter)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
				break wait
			case <-changed:
				var next settings.Settings
				next, changed = p.cfg.Current()
				if next.Provisioning != set.Provisioning {
					timer.Stop()
					break wait
				}
			}
		}
	}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// round fetches the document once and applies it if it is new, and valid.
func (p *Provisioner) round(ctx context.Context) {
	set, _ := p.cfg.Current()
	st := Status{LastAttempt: time.Now()}
	u, source, err := p.url(ctx, set.Provisioning)
	st.URL, st.Source = u, source
	switch {
	case err != nil:
		st.Result, st.Reason, st.Error = ResultFailed, ReasonFetch, err.Error()
	case set.Provisioning.URL == settings.ProvisioningOff:
		st.Result = ResultOff
	case u == "":
		st.Result = ResultNoURL
	default:
		var fw *update.Firmware
		fw, err = p.fetchAndApply(ctx, set.Provisioning, u, &st)
		if err == nil && fw != nil && p.cfg.Firmware != nil {
			p.firmware(ctx, set.Provisioning, u, *fw)
		}
		var f *Failure
		switch {
		case errors.As(err, &f):
			st.Result, st.Reason, st.Error = ResultFailed, f.Reason, f.Error()
		case err != nil:
			st.Result, st.Reason, st.Error = ResultFailed, ReasonInvalid, err.Error()
		}
	}
	if ctx.Err() != nil {
		return // stopping: the round was cut short, not failed
	}
	p.finish(st)
}

// url returns the document's URL: the settings' template, else DHCP's, filled in.
func (p *Provisioner) url(ctx context.Context, ps settings.ProvisioningSettings) (u, source string, err error) {
	template, source := ps.URL, "settings"
	switch template {
	case settings.ProvisioningOff:
		return "", "", nil
	case "":
		template, source, err = p.cfg.DHCP.LeaseURL(ctx)
		if template == "" {
			// A device nobody provisions has no option either: that is not a failure.
			if err != nil {
				p.cfg.Log.Debug("no provisioning URL from DHCP", "err", err)
			}
			return "", "", nil
		}
		if err := settings.CheckProvisioningURL(template); err != nil {
			return "", source, fmt.Errorf("the URL %s from %s: %w", template, source, err)
		}
	}
	u, err = Fill(template, p.cfg.Device)
	return u, source, err
}

// firmware hands the firmware fw of the document at doc to Config.Firmware, with a fetch
// of ps's trust, and of its credentials for the document's host only.
func (p *Provisioner) firmware(ctx context.Context, ps settings.ProvisioningSettings, doc string, fw update.Firmware) {
	c, err := client(ps, p.cfg.Roots)
	if err != nil {
		p.cfg.Log.Warn("firmware", "err", err) // the document's fetch had the same client
		return
	}
	defer c.CloseIdleConnections()
	c.Timeout = downloadTimeout
	var key ed25519.PublicKey
	if ps.PublicKey != "" {
		if key, err = settings.ParsePublicKey(ps.PublicKey); err != nil {
			p.cfg.Log.Warn("firmware", "err", err)
			return
		}
	}
	ua := p.userAgent()
	p.cfg.Firmware(ctx, fw, key, func(ctx context.Context, u string) (io.ReadCloser, error) {
		creds := ps
		if host(u) != host(doc) {
			creds.User, creds.Password, creds.Token = "", "", ""
		}
		return open(ctx, c, u, creds, ua)
	})
}

// userAgent is the User-Agent of the requests: the version, the board, and Config.Note.
func (p *Provisioner) userAgent() string {
	comment := cmpOrString(p.cfg.Device.Model, "unknown board")
	if p.cfg.Note != nil {
		if n := p.cfg.Note(); n != "" {
			comment += "; " + n
		}
	}
	return fmt.Sprintf("partyline/%s (%s)", cmpOrString(p.cfg.Version, "dev"), comment)
}

// fetchAndApply fetches u, and applies the document if it is new; it fills in st and
// returns the firmware the document names, if any.
func (p *Provisioner) fetchAndApply(ctx context.Context, ps settings.ProvisioningSettings, u string, st *Status) (*update.Firmware, error) {
	c, err := client(ps, p.cfg.Roots)
	if err != nil {
		return nil, &Failure{ReasonCertificate, err}
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 2*fetchTimeout)
	defer cancel()
	ua := p.userAgent()
	p.mu.Lock()
	etag, lastMod := p.etag, p.lastMod
	if p.validURL != u {
		etag, lastMod = "", ""
	}
	p.mu.Unlock()
	res, err := get(ctx, c, u, ps, ua, etag, lastMod)
	if err != nil {
		return nil, err
	}
	st.LastSuccess = time.Now()
	if res.notModified {
		st.Result = ResultNotModified
		return nil, nil
	}
	if ps.PublicKey != "" {
		key, err := settings.ParsePublicKey(ps.PublicKey)
		if err != nil {
			return nil, &Failure{ReasonSignature, err}
		}
		if err := verify(ctx, c, u, ps, ua, key, res.body); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(res.body)
	digest := hex.EncodeToString(sum[:])
	remember := func() {
		p.mu.Lock()
		p.etag, p.lastMod, p.validURL = res.etag, res.lastMo, u
		p.mu.Unlock()
	}
	doc, err := Parse(res.body)
	if err != nil {
		return nil, &Failure{ReasonInvalid, fmt.Errorf("the document %s: %w", redact(u), err)}
	}
	if digest == p.applied.SHA256 && u == p.applied.URL {
		// The document applied already: the sections the page may change keep what was
		// changed there, and the managed ones are put back if something else (a factory
		// reset, say) changed them.
		doc = doc.only(doc.Managed())
		cur, _ := p.cfg.Current()
		next := cur.Clone()
		if err := doc.Apply(&next); err != nil || len(Changed(cur, next)) == 0 {
			st.Result = ResultUnchanged
			remember()
			return doc.Firmware, nil
		}
	}
	restart, err := p.cfg.Update(func(set *settings.Settings) error { return doc.Apply(set) })
	if err != nil {
		return nil, &Failure{ReasonInvalid, fmt.Errorf("the document %s is not valid settings, and changed nothing: %w", redact(u), err)}
	}
	if digest != p.applied.SHA256 || u != p.applied.URL {
		p.applied = state{SHA256: digest, URL: u, Managed: doc.Managed(), Overridable: doc.Overridable}
	}
	p.applied.Applied = time.Now()
	if err := p.save(); err != nil {
		p.cfg.Log.Warn("save the provisioning state", "err", err)
	}
	remember()
	st.Result, st.Restart = ResultApplied, restart
	return doc.Firmware, nil
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// save writes the state file, atomically.
func (p *Provisioner) save() error {
	b, err := json.MarshalIndent(p.applied, "", "  ")
	if err != nil {
		return err
	}
	tmp := p.cfg.StatePath + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p.cfg.StatePath); err != nil {
		return fmt.Errorf("replace %s: %w", filepath.Base(p.cfg.StatePath), err)
	}
	return nil
}

// finish records the round's outcome, logs it and tells OnResult.
func (p *Provisioner) finish(st Status) {
	p.mu.Lock()
	prev := p.st
	st.Failures = prev.Failures
	if st.Result == ResultFailed {
		st.Failures[st.Reason]++
	}
	if st.LastSuccess.IsZero() {
		st.LastSuccess = prev.LastSuccess
	}
	st.Managed, st.Overridable, st.Applied = p.applied.Managed, p.applied.Overridable, p.applied.Applied
	p.st = st
	p.mu.Unlock()

	log := p.cfg.Log.With("url", redact(st.URL), "source", st.Source)
	switch st.Result {
	case ResultApplied:
		log.Info("provisioning document applied", "managed", st.Managed, "overridable", st.Overridable, "restart", st.Restart)
	case ResultFailed:
		log.Warn("provisioning failed; the settings are unchanged", "reason", st.Reason, "err", st.Error)
	default:
		if st.Result != prev.Result {
			log.Info("provisioning", "result", st.Result)
		}
	}
	if p.cfg.OnResult != nil {
		p.cfg.OnResult(p.Status())
	}
}
