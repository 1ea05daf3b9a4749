package update

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Firmware is the firmware section of a provisioning document: the version the appliance
// is to run and its package.
type Firmware struct {
	Version string `json:"version"` // the package's version, as dpkg says it
	URL     string `json:"url"`     // where its .deb is, https
	SHA256  string `json:"sha256"`  // the .deb's SHA-256, hex
	// Signature is the ed25519 signature of the .deb's bytes, base64, made with the key
	// whose public half the provisioning settings hold; needed when they hold one.
	Signature string `json:"signature,omitempty"`
}

// versionRE is what a package version may be (Debian policy's characters): it names a file.
var versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~-]*$`)

// Check returns what is wrong with f's form, nil when nothing is.
func (f Firmware) Check() error {
	switch {
	case !versionRE.MatchString(f.Version):
		return fmt.Errorf("firmware version %q is not a package version", f.Version)
	case !strings.HasPrefix(f.URL, "https://"):
		return fmt.Errorf("firmware url %q is not an https:// URL", f.URL)
	}
	if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("firmware sha256 %q is not a SHA-256 in hex", f.SHA256)
	}
	if f.Signature != "" {
		if b, err := base64.StdEncoding.DecodeString(f.Signature); err != nil || len(b) != ed25519.SignatureSize {
			return errors.New("firmware signature is not an ed25519 signature in base64")
		}
	}
	return nil
}

// MaxPackage bounds a downloaded package.
const MaxPackage = 64 << 20

// Fetch opens the body of the resource at url (the caller's HTTP client: the provisioning
// server's trust and credentials).
type Fetch func(ctx context.Context, url string) (io.ReadCloser, error)

// An Updater installs the firmware a provisioning document names.
type Updater struct {
	// Packages is the directory that keeps the package of every version the appliance
	// installed itself, the one to roll back to among them.
	Packages string
	Marker   string // the pending update's marker (as Settler's)
	Record   string // the last rollback's record (as Settler's)
	// Running is the version running now.
	Running string
	// Key, when set, must have signed every package.
	Key       ed25519.PublicKey
	Installer Installer
	// Deadline is how long the new version has to prove itself; 0 means DefaultDeadline.
	Deadline time.Duration
	// Registered returns the accounts registered now: each must register again.
	Registered func() []string
	// Archives are where apt keeps the packages it downloaded
	// (/var/cache/apt/archives): a version installed by hand may have its package there.
	Archives string
}

// The reasons Update does not install.
var (
	// ErrRunning: the firmware is the version running.
	ErrRunning = errors.New("the firmware is the version running")
	// ErrRolledBack: the firmware is the version rolled back last; it is not tried again
	// until a document names another.
	ErrRolledBack = errors.New("the firmware was rolled back; it is not installed again")
	// ErrPending: an update is being settled.
	ErrPending = errors.New("an update is pending")
)

// Update installs fw unless it is the version running, the one rolled back last or an
// update is pending (the errors above): it downloads the package with fetch into
// Packages, checks its SHA-256 and signature, writes the marker naming the running
// version's kept package (none, when it was installed by hand and apt kept none: the
// update then cannot be rolled back, and the marker says so) and installs it. The
// installer restarts partyline into the new version, or the caller does.
func (u Updater) Update(ctx context.Context, fw Firmware, fetch Fetch) error {
	if err := fw.Check(); err != nil {
		return err
	}
	if fw.Version == u.Running {
		return ErrRunning
	}
	if o, ok, err := LastRollback(u.Record); err != nil {
		return err
	} else if ok && o.Version == fw.Version {
		return fmt.Errorf("%w: %s (%s)", ErrRolledBack, fw.Version, o.Reason)
	}
	if _, ok, err := readPending(u.Marker); err != nil || ok {
		return cmpErr(err, ErrPending)
	}
	if u.Key == nil && fw.Signature != "" {
		return errors.New("the firmware is signed, and the provisioning settings have no public key to check it with")
	}
	if u.Key != nil && fw.Signature == "" {
		return errors.New("the provisioning settings have a public key, and the firmware has no signature")
	}
	if err := os.MkdirAll(u.Packages, 0o750); err != nil {
		return fmt.Errorf("keep packages: %w", err)
	}
	deb, err := u.download(ctx, fw, fetch)
	if err != nil {
		return err
	}
	p := Pending{Version: fw.Version, Previous: u.Running, PreviousDeb: u.kept(u.Running),
		Deadline: time.Now().Add(cmp(u.Deadline, DefaultDeadline))}
	if u.Registered != nil {
		p.Registered = u.Registered()
	}
	if err := WritePending(u.Marker, p); err != nil {
		return err
	}
	if err := u.Installer.Install(ctx, deb); err != nil {
		// Nothing was installed: nothing to settle.
		return errors.Join(fmt.Errorf("install %s: %w", fw.Version, err), removeIfThere(u.Marker))
	}
	u.prune(fw.Version, u.Running)
	return nil
}

// debName is the file a version's package is kept in.
func debName(version string) string { return "partyline_" + version + ".deb" }

// kept returns the package file of version: the one kept in Packages, else apt's, else "".
func (u Updater) kept(version string) string {
	if path := filepath.Join(u.Packages, debName(version)); fileExists(path) {
		return path
	}
	if u.Archives == "" {
		return ""
	}
	// apt names its files partyline_<version with : as %3a>_<arch>.deb.
	m, _ := filepath.Glob(filepath.Join(u.Archives, "partyline_"+strings.ReplaceAll(version, ":", "%3a")+"_*.deb"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// download fetches fw's package into Packages and checks it; it returns its file.
func (u Updater) download(ctx context.Context, fw Firmware, fetch Fetch) (string, error) {
	body, err := fetch(ctx, fw.URL)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", fw.Version, err)
	}
	defer body.Close()
	final := filepath.Join(u.Packages, debName(fw.Version))
	part := final + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", fw.Version, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, MaxPackage+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	fail := func(err error) (string, error) {
		return "", errors.Join(err, os.Remove(part))
	}
	switch {
	case err != nil:
		return fail(fmt.Errorf("download %s: %w", fw.Version, err))
	case n > MaxPackage:
		return fail(fmt.Errorf("the package of %s is larger than %d MiB", fw.Version, MaxPackage>>20))
	case hex.EncodeToString(h.Sum(nil)) != strings.ToLower(fw.SHA256):
		return fail(fmt.Errorf("the package of %s downloaded from %s does not have the SHA-256 the document names", fw.Version, fw.URL))
	}
	if u.Key != nil {
		sig, _ := base64.StdEncoding.DecodeString(fw.Signature) // Check passed
		data, err := os.ReadFile(part)
		if err != nil {
			return fail(fmt.Errorf("verify %s: %w", fw.Version, err))
		}
		if !ed25519.Verify(u.Key, data, sig) {
			return fail(fmt.Errorf("the signature of the package of %s does not verify with the public key in the settings", fw.Version))
		}
	}
	if err := os.Rename(part, final); err != nil {
		return fail(fmt.Errorf("download %s: %w", fw.Version, err))
	}
	return final, nil
}

// prune removes the kept packages but those of the versions keep.
func (u Updater) prune(keep ...string) {
	m, _ := filepath.Glob(filepath.Join(u.Packages, "partyline_*.deb"))
	for _, path := range m {
		drop := true
		for _, v := range keep {
			if filepath.Base(path) == debName(v) {
				drop = false
			}
		}
		if drop {
			_ = os.Remove(path) // a package left over costs disk only
		}
	}
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func cmp(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
