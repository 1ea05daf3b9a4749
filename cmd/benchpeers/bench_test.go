package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchPeersSmoke runs make bench-peers in small (1 call, 5 s windows), so that it
// cannot rot: every run gives its rows, each with a resident set and legs, and the table
// and CSV have them all. It asserts nothing of the figures, which a busy machine skews.
func TestBenchPeersSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs partyline, Kamailio, SIPp and baresip")
	}
	bin := filepath.Join(t.TempDir(), "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, "partyline/cmd/partyline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	c := Config{Bin: bin, Window: 5 * time.Second, Settle: time.Second, Legs: []int{1}, Log: &progress}
	rows, err := Run(t.Context(), c, func(run func(testing.TB)) error {
		t.Run("", func(t *testing.T) { run(t) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.Fatalf("a run failed; progress:\n%s", progress.String())
	}
	want := map[string]int{"partyline": 2, "baresip": 1, "sipp": 3}
	got := map[string]int{}
	for _, r := range rows {
		got[r.Process]++
		if r.Calls != 1 || r.Legs < 1 || r.RSS <= 0 || r.IdleCPU < 0 || r.BusyCPU < 0 {
			t.Errorf("row %+v: want 1 call, legs, a resident set and CPU figures", r)
		}
	}
	for p, n := range want {
		if got[p] != n {
			t.Errorf("%d rows of %s, want %d; rows: %+v", got[p], p, n, rows)
		}
	}
	var table, csv bytes.Buffer
	printTable(&table, rows)
	if err := writeCSV(&csv, rows); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(table.String(), "\n"); lines != len(rows)+2 {
		t.Errorf("table of %d lines for %d rows:\n%s", lines, len(rows), table.String())
	}
	if !strings.Contains(table.String(), "partyline, callers bridged into a conference | 1 | 2 |") {
		t.Errorf("table lacks the bridge's row of 1 call on 2 legs:\n%s", table.String())
	}
	if lines := strings.Count(csv.String(), "\n"); lines != len(rows)+1 {
		t.Errorf("CSV of %d lines for %d rows:\n%s", lines, len(rows), csv.String())
	}
	t.Logf("\n%s", table.String())
}
