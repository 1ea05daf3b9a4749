package appliance

import (
	"path/filepath"
	"testing"

	"partyline/appliance/config"
)

// newTestStore opens a settings store in the test's directory, with the first-start
// settings of a two-handset board, until the test ends.
func newTestStore(t *testing.T) *config.Store {
	t.Helper()
	st, err := config.Open(filepath.Join(t.TempDir(), "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	return st
}
