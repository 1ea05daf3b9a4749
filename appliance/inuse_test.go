package appliance_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance"
	"partyline/appliance/config"
	"partyline/hw/sim"
)

// TestSecondInstanceSaysWhoHoldsTheData starts a second appliance on the data directory
// of a running one: it refuses with a message that names the running one's pid, instead
// of a database timeout. Once the first stops, its pid file is gone.
func TestSecondInstanceSaysWhoHoldsTheData(t *testing.T) {
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:5060")
	r := runAppliance(t, dir, sim.New(2))

	_, err := appliance.New(appliance.Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", Sim: sim.New(2)},
		slog.New(slog.DiscardHandler))
	want := fmt.Sprintf("already in use by another partyline (pid %d)", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, config.ErrInUse) {
		t.Fatalf("a second appliance on the same data: %v, want an error saying %q", err, want)
	}

	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "partyline.pid")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the pid file after the appliance stopped: %v, want it gone", err)
	}
}
