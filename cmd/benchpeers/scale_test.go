package main

import (
	"bytes"
	"cmp"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestIntervalsP99 checks the scale run's figure of how evenly a stream is sent: a stream
// every 20 ms deviates by nothing (two of three streams: the median); its last packet 8 ms
// early makes one interval 8 ms short, which the 99th percentile of 100 intervals shows.
// Packets partyline received do not count among those it sent.
func TestIntervalsP99(t *testing.T) {
	var pkts []packet
	for i := range 101 {
		at := time.Duration(i) * 20 * time.Millisecond
		pkts = append(pkts, packet{at: at, src: 1, dst: 2, sent: true}, packet{at: at, src: 5, dst: 6, sent: true},
			packet{at: at + time.Duration(i%3)*time.Millisecond, src: 7, dst: 1})
		if i == 100 {
			at -= 8 * time.Millisecond
		}
		pkts = append(pkts, packet{at: at, src: 3, dst: 4, sent: true})
	}
	n, median, most := p99s(intervals(pkts, true))
	if n != 3 || median != 0 || most != 8*time.Millisecond {
		t.Errorf("p99s: %d streams, median %v, worst %v; want 3 streams, median 0, worst 8ms", n, median, most)
	}
}

// TestHeldMatchesRelayedPackets checks the figure of how long partyline holds a relayed
// packet on a made-up capture of two bridged callers, the second one packet (20 ms)
// behind the first with the same audio, as the scale run places them: each payload also
// arrives on the other call's port, within the time looked back.
// Caller c sends to partyline's port 5000+2c, which sends on from 5001+2c to the
// conference; the conference echoes it back 1 ms later, and partyline sends it on from
// 5000+2c to the caller. Partyline holds packet i for (i mod 5) ms + 0.5 ms one way and
// 3 ms the other way.
func TestHeldMatchesRelayedPackets(t *testing.T) {
	var pkts []packet
	const packets = 200
	for c := range uint16(2) {
		for i := range packets {
			at := time.Duration(c)*20*time.Millisecond + time.Duration(i)*20*time.Millisecond
			payload := uint64(i % 100)
			hold := time.Duration(i%5)*time.Millisecond + 500*time.Microsecond
			pkts = append(pkts,
				packet{at: at, src: 1000 + c, dst: 5000 + 2*c, payload: payload},
				packet{at: at + hold, src: 5001 + 2*c, dst: 2000 + c, payload: payload, sent: true},
				packet{at: at + hold + time.Millisecond, src: 2000 + c, dst: 5001 + 2*c, payload: payload},
				packet{at: at + hold + 4*time.Millisecond, src: 5000 + 2*c, dst: 1000 + c, payload: payload, sent: true})
		}
	}
	slices.SortStableFunc(pkts, func(a, b packet) int { return cmp.Compare(a.at, b.at) })
	times := held(pkts)
	if len(times) != 4 {
		t.Fatalf("held: %d streams, want 4: %v", len(times), slices.Collect(maps.Keys(times)))
	}
	for s, ts := range times {
		want := 3 * time.Millisecond
		if s[1] >= 2000 {
			want = 4*time.Millisecond + 500*time.Microsecond
		}
		if len(ts) != packets || slices.Max(ts) != want {
			t.Errorf("stream %d→%d: %d packets held up to %v, want %d up to %v", s[0], s[1], len(ts), slices.Max(ts), packets, want)
		}
	}
	// Times held run 0.5, 1.5, … 4.5 ms and back to 0.5 towards the conference: moves of
	// 1 ms, and of 4 ms once in five; none towards the callers.
	n, median, most := p99s(moved(times))
	if n != 4 || median != 4*time.Millisecond || most != median {
		t.Errorf("p99s of moved: %d streams, median %v, worst %v; want 4, 4ms, 4ms", n, median, most)
	}
	n, median, most = p99s(times)
	if n != 4 || median != 4*time.Millisecond+500*time.Microsecond || most != median {
		t.Errorf("p99s of held: %d streams, median %v, worst %v; want 4, 4.5ms, 4.5ms", n, median, most)
	}
}

// TestNoisePacketsDiffer checks what the matching of relayed packets rests on: in the
// scale run's 10 s of noise, coded as the callers send it, no two 20 ms packets begin
// with the same 10 bytes, all of the payload that the capture's 64-byte snapshots keep.
func TestNoisePacketsDiffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "noise.ulaw")
	if err := writeULaw(path, noise(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i+160 <= len(b); i += 160 {
		k := string(b[i : i+10])
		if j, ok := seen[k]; ok {
			t.Fatalf("packets %d and %d begin alike", j, i/160)
		}
		seen[k] = i / 160
	}
	if len(seen) != 500 {
		t.Errorf("%d packets, want 500", len(seen))
	}
}

// TestScaleSmoke runs the scale run in small (2 callers, 3 s window), so that it cannot
// rot: partyline relays each caller's stream both ways, so it sends 4 streams, sends on
// what it takes in, and the capture finds what it sent among what it received. It
// asserts nothing of the timing, which a busy machine skews.
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
	// The relay passes the callers' noise through: most packets it sends are found
	// among those it received, so the time it held them is measured.
	if s.Relayed < s.Out/2 || s.HeldP99Max <= 0 {
		t.Errorf("scale figures %+v: want most packets sent matched to their arrival, and a time held", *s)
	}
	var out bytes.Buffer
	printScale(&out, rows)
	t.Logf("\n%s", out.String())
}
