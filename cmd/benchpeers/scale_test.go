package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestIntervalsP99 checks the scale run's figure of how evenly a stream is sent: a stream
// every 20 ms deviates by nothing (two of three streams: the median); its last packet 8 ms early makes one interval 8 ms short,
// which the 99th percentile of 100 intervals shows.
func TestIntervalsP99(t *testing.T) {
	iv := intervals{}
	even, even2, early := [2]uint16{1, 2}, [2]uint16{5, 6}, [2]uint16{3, 4}
	for i := range 101 {
		at := time.Duration(i) * 20 * time.Millisecond
		iv.add(even, at)
		iv.add(even2, at)
		if i == 100 {
			at -= 8 * time.Millisecond
		}
		iv.add(early, at)
	}
	n, median, most := iv.p99s()
	if n != 3 || median != 0 || most != 8*time.Millisecond {
		t.Errorf("p99s: %d streams, median %v, worst %v; want 3 streams, median 0, worst 8ms", n, median, most)
	}
}

// TestScaleSmoke runs the scale run in small (2 callers, 3 s window), so that it cannot
// rot: partyline relays each caller's stream both ways, so it sends 4 streams, and sends
// on what it takes in. It asserts nothing of the timing, which a busy machine skews.
func TestScaleSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs partyline, Kamailio, SIPp and dumpcap")
	}
	bin := filepath.Join(t.TempDir(), "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, "partyline/cmd/partyline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	c := Config{Bin: bin, Window: 3 * time.Second, Settle: time.Second, Scale: 2, Log: &progress}
	rows := runScale(t.Context(), t, c)
	if len(rows) != 1 || rows[0].Scale == nil {
		t.Fatalf("rows %+v, want one with the scale figures", rows)
	}
	s := rows[0].Scale
	// Out against in only roughly: on a busy machine the relay may still hold some of
	// what came in when the capture ends.
	if s.Streams != 4 || s.In == 0 || s.Out < s.In/2 {
		t.Errorf("scale figures %+v: want 4 streams sent, and most packets that came in sent on", *s)
	}
	var out bytes.Buffer
	printScale(&out, rows)
	t.Logf("\n%s", out.String())
}
