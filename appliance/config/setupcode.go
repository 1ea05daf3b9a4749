package config

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// SetupCodeFile is the file, in the directory of the settings file, that holds the
// one-time setup code while no admin password is set. Only its owner may read it.
const SetupCodeFile = "setup-code"

// ErrWrongSetupCode is returned (wrapped) by InitAdminPassword when the setup code given
// is not the one in SetupCodeFile, or there is none.
var ErrWrongSetupCode = errors.New("wrong setup code")

// setupCodeDigits is how many decimal digits a setup code has: 10^12 codes, against at
// most a few thousand guesses a minute that the admin page's limits let through.
const setupCodeDigits = 12

// setupCodePath is where the store keeps its setup code: next to the settings file.
func (s *Store) setupCodePath() string {
	return filepath.Join(filepath.Dir(s.db.Path()), SetupCodeFile)
}

// PrepareSetupCode is called at start. While no admin password is set, it makes a new
// one-time setup code, writes it to SetupCodeFile (mode 0600), and returns it with the
// file's path: whoever sets the first password must show it, which proves that they can
// read the appliance's log or files. With a password set it removes any stale code file
// and returns "".
func (s *Store) PrepareSetupCode() (code, path string, err error) {
	path = s.setupCodePath()
	set, err := s.AdminPasswordSet()
	if err != nil {
		return "", "", err
	}
	if set {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("remove stale setup code: %w", err)
		}
		return "", "", nil
	}
	code = newSetupCode()
	// Write a new file and rename it over the old one, so that the code is never
	// readable by others, not even for a moment, and never half written.
	tmp, err := os.CreateTemp(filepath.Dir(path), SetupCodeFile+".*")
	if err != nil {
		return "", "", fmt.Errorf("write setup code: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.WriteString(code + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path) // CreateTemp makes the file 0600
	}
	if err != nil {
		return "", "", fmt.Errorf("write setup code: %w", err)
	}
	return code, path, nil
}

// ReadSetupCode returns the setup code kept in dataDir (the directory of the settings
// file), for `partyline setup-code`. It fails when there is none: the admin password is
// set, or the appliance has not started since it was cleared.
func ReadSetupCode(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, SetupCodeFile))
	if err != nil {
		return "", fmt.Errorf("read setup code: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// checkSetupCode compares code with the one in the file, ignoring spaces and dashes, in
// constant time.
func (s *Store) checkSetupCode(code string) error {
	want, err := ReadSetupCode(filepath.Dir(s.db.Path()))
	if err != nil {
		return fmt.Errorf("%w: no code was made (%w); restart the appliance to make one", ErrWrongSetupCode, err)
	}
	clean := func(c string) string {
		return strings.NewReplacer(" ", "", "-", "").Replace(c)
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(clean(code)), []byte(clean(want))) != 1 {
		return ErrWrongSetupCode
	}
	return nil
}

// newSetupCode returns setupCodeDigits random decimal digits, in groups of four.
func newSetupCode() string {
	var b strings.Builder
	for i := range setupCodeDigits {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err) // crypto/rand never fails (its documentation)
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}
