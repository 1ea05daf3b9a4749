// Command benchpeers measures partyline side by side with its peers, in one run on one
// machine: the partyline binary on the sim board with handsets in call, the same binary
// bridging callers into a conference, Debian's baresip calling the same conference, and
// the SIPp echo server of every run as the floor (moving the RTP with no codec work). All
// traffic stays on loopback; G.711 with 20 ms packets.
//
// Each process's CPU time (utime + stime of /proc/PID/stat, all threads) is measured over
// a window with no calls and then over a window at each number of calls, and the table
// gives CPU seconds per minute: idle, and per leg net of idle, with the resident set, the
// Go heap per leg (partyline) and the ratios partyline ÷ baresip and partyline ÷ floor.
// Absolute figures depend on the machine and its load; the ratios of one run compare.
//
//	benchpeers [-bin bin/partyline] [-window 60s] [-legs 1,10,50] [-runs handsets,bridge,baresip,scale] [-scale 250] [-starts 5] [-csv FILE] [-cpuprofile DIR]
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func main() {
	c := Config{Log: os.Stderr}
	flag.StringVar(&c.Bin, "bin", "bin/partyline", "the partyline `binary` to measure")
	flag.DurationVar(&c.Window, "window", time.Minute, "how long each figure is measured over")
	flag.DurationVar(&c.Settle, "settle", 3*time.Second, "how long the calls run before their window")
	legs := flag.String("legs", "1,10,50", "the numbers of calls, comma-separated")
	csvPath := flag.String("csv", "", "write the rows to this CSV `file` too")
	flag.StringVar(&c.ProfileDir, "cpuprofile", "", "write a CPU profile of each partyline run into this `directory`")
	runs := flag.String("runs", strings.Join(defaultRuns, ","), "the `runs` to make, comma-separated, of "+strings.Join(runNames, ","))
	starts := flag.Int("starts", 5, "time this many `starts` of partyline and of baresip until each answers SIP OPTIONS (0: none)")
	flag.IntVar(&c.Scale, "scale", 250, "the `callers` the scale run bridges (two legs each)")
	flag.Parse()
	for r := range strings.SplitSeq(*runs, ",") {
		if !slices.Contains(runNames, r) {
			fmt.Fprintf(os.Stderr, "benchpeers: -runs %q: no run %q, want some of %s\n", *runs, r, strings.Join(runNames, ","))
			os.Exit(2)
		}
		c.Runs = append(c.Runs, r)
	}
	var err error
	if c.Legs, err = parseLegs(*legs); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(2)
	}
	if c.Window <= 0 || c.Settle < 0 {
		fmt.Fprintln(os.Stderr, "benchpeers: -window must be positive, -settle not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := Run(ctx, c, func(run func(testing.TB)) error {
		r := &runner{log: os.Stderr}
		return r.run(run)
	})
	printTable(os.Stdout, rows)
	printScale(os.Stdout, rows)
	if err == nil && *starts > 0 {
		err = printStarts(ctx, os.Stdout, c.Bin, *starts)
	}
	if *csvPath != "" {
		if werr := writeCSVFile(*csvPath, rows); werr != nil {
			fmt.Fprintln(os.Stderr, "benchpeers:", werr)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(1)
	}
}

// parseLegs parses "1,10,50" into ascending numbers of calls.
func parseLegs(s string) ([]int, error) {
	var legs []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-legs %q: %q is not a number of calls (1 or more)", s, f)
		}
		legs = append(legs, n)
	}
	slices.Sort(legs)
	return slices.Compact(legs), nil
}

// runNames are the runs, in the order they are made: partyline's handsets, partyline's
// bridge, baresip, and partyline's bridge at scale (long, not a default run).
var runNames = []string{"handsets", "bridge", "baresip", "scale"}

// defaultRuns are the runs made unless -runs says otherwise.
var defaultRuns = runNames[:3]

// Run makes the runs c.Runs names (defaultRuns when none), each through with, which gives it a
// testing.TB whose cleanups stop its processes, and returns the rows of those that
// finished. It stops at the first that fails.
func Run(ctx context.Context, c Config, with func(func(testing.TB)) error) ([]Row, error) {
	want := c.Runs
	if len(want) == 0 {
		want = defaultRuns
	}
	var rows []Row
	for _, run := range []struct {
		name string
		f    func(context.Context, testing.TB, Config) []Row
	}{
		{"handsets", runHandsets},
		{"bridge", runBridge},
		{"baresip", runBaresip},
		{"scale", runScale},
	} {
		if !slices.Contains(want, run.name) {
			continue
		}
		err := with(func(t testing.TB) { rows = append(rows, run.f(ctx, t, c)...) })
		if err != nil {
			return rows, fmt.Errorf("%s: %w", run.name, err)
		}
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
	}
	return rows, nil
}

// compare finds, for a partyline row, the baresip row and the floor (SIPp echoing for
// baresip) with as many calls.
func compare(rows []Row, r Row) (baresip, floor *Row) {
	for i := range rows {
		if rows[i].Calls != r.Calls {
			continue
		}
		switch {
		case rows[i].Process == "baresip":
			baresip = &rows[i]
		case rows[i].Process == "sipp" && strings.Contains(rows[i].Load, "baresip"):
			floor = &rows[i]
		}
	}
	return baresip, floor
}

// ratio formats a ÷ b, or "—" when b is not positive.
func ratio(a float64, b *Row) string {
	if b == nil || b.NetPerLeg() <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", a/b.NetPerLeg())
}

// printTable prints the rows as the Markdown table: CPU in seconds per minute.
func printTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| process and load | calls | legs | idle CPU, s/min | net CPU per leg, s/min | RSS in calls (anonymous) | heap per leg | partyline ÷ baresip | partyline ÷ floor |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		heap, vsBaresip, vsFloor := "—", "—", "—"
		if r.Process == "partyline" {
			heap = fmt.Sprintf("%d KB", r.HeapPerLeg>>10)
			b, f := compare(rows, r)
			vsBaresip, vsFloor = ratio(r.NetPerLeg(), b), ratio(r.NetPerLeg(), f)
		}
		fmt.Fprintf(w, "| %s, %s | %d | %d | %.3f | %.4f | %.1f MB (%.1f MB) | %s | %s | %s |\n",
			r.Process, r.Load, r.Calls, r.Legs, r.IdleCPU, r.NetPerLeg(), float64(r.RSS)/(1<<20), float64(r.RSSAnon)/(1<<20),
			heap, vsBaresip, vsFloor)
	}
}

// csvHeader names the CSV's columns.
var csvHeader = []string{"process", "load", "calls", "legs", "idle_cpu_s_per_min", "busy_cpu_s_per_min",
	"net_cpu_per_leg_s_per_min", "rss_bytes", "rss_anon_bytes", "heap_per_leg_bytes"}

// writeCSV writes the rows, with a header line.
func writeCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range rows {
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 5, 64) }
		if err := cw.Write([]string{r.Process, r.Load, strconv.Itoa(r.Calls), strconv.Itoa(r.Legs), f(r.IdleCPU), f(r.BusyCPU),
			f(r.NetPerLeg()), strconv.FormatInt(r.RSS, 10), strconv.FormatInt(r.RSSAnon, 10), strconv.FormatInt(r.HeapPerLeg, 10)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeCSVFile(path string, rows []Row) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if err := writeCSV(f, rows); err != nil {
		f.Close()
		return fmt.Errorf("write csv %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write csv %s: %w", path, err)
	}
	return nil
}
