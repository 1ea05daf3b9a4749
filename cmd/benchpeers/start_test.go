package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStartsUntilOptions times one start of partyline and of baresip until each answers
// SIP OPTIONS, as make bench-peers does; it asserts only that both answered.
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
	if st.Partyline <= 0 || st.Baresip <= 0 {
		t.Errorf("starts %+v, want both timed", st)
	}
	t.Logf("partyline %v, baresip %v", st.Partyline, st.Baresip)
}
