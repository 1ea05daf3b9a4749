package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStartsUntilOptions times one start of partyline, fresh and again on its own data
// directory, and of baresip until each answers SIP OPTIONS, and one run of each that only
// starts and exits, as make bench-peers does; it asserts only that all answered or said
// what they were asked.
func TestStartsUntilOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs partyline and baresip")
	}
	bin := filepath.Join(t.TempDir(), "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, "partyline/cmd/partyline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := measureStarts(t.Context(), bin, t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Partyline <= 0 || st.Restart <= 0 || st.Baresip <= 0 || st.Exec <= 0 || st.BaresipExec <= 0 {
		t.Errorf("starts %+v, want all five timed", st)
	}
	t.Logf("partyline %v, again %v, baresip %v; exec to exit: partyline %v, baresip %v", st.Partyline, st.Restart, st.Baresip, st.Exec, st.BaresipExec)
}
