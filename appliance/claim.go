package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"partyline/appliance/config"
)

// announceSetupCode makes the one-time setup code while no admin password is set, and
// logs it with the page's address: whoever sets the first password must give it, which
// proves that they can read the appliance's log or its data directory.
func announceSetupCode(store *config.Store, url string, log *slog.Logger) error {
	code, path, err := store.PrepareSetupCode()
	if err != nil {
		return err
	}
	if code != "" {
		log.Warn("no admin password yet: open the admin page and set one with this setup code",
			"url", url, "setup_code", code, "file", path, "command", "partyline setup-code")
	}
	return nil
}

// SetupCode returns the one-time setup code that the appliance running on dataDir made at
// start, for `partyline setup-code`.
func SetupCode(dataDir string) (string, error) {
	code, err := config.ReadSetupCode(dataDir)
	if err != nil {
		return "", fmt.Errorf("%w: an admin password is set already, or partyline has not started since it was reset", err)
	}
	return code, nil
}

// ResetAdminPassword clears the admin password in the settings of dataDir, for
// `partyline reset-password`: the next start makes a new setup code and the page asks
// for a new password. It needs the settings file to itself, so partyline must be stopped;
// ErrRunning says that it is not.
func ResetAdminPassword(dataDir string) error {
	path := filepath.Join(dataDir, databaseFile)
	if _, err := os.Stat(path); err != nil { // Open would make a new, empty file
		return fmt.Errorf("reset admin password: no settings here: %w", err)
	}
	store, err := config.Open(path)
	if errors.Is(err, config.ErrInUse) {
		return fmt.Errorf("%w: %w", ErrRunning, err)
	}
	if err != nil {
		return err
	}
	if err := store.ClearAdminPassword(); err != nil {
		store.Close()
		return err
	}
	return store.Close()
}

// ErrRunning is returned (wrapped) by ResetAdminPassword while partyline runs on the data
// directory.
var ErrRunning = errors.New("partyline is running on this data directory: stop it first (systemctl stop partyline)")
