package main

import (
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
