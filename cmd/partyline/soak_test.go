//go:build soak

package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/sip"
	"partyline/sip/peertest/focus"
)

// The soak's settings, from the environment that make soak passes on.
const (
	soakDurationEnv = "SOAK_DURATION" // how long the appliance runs, e.g. 1h
	soakIntervalEnv = "SOAK_INTERVAL" // how often its figures are taken, e.g. 1m
	soakCSVEnv      = "SOAK_CSV"      // where they are written
)

// soakMetric is a figure of the soak's CSV that must not trend upward: over the second half
// of the run, the least-squares line through it may rise by at most max(abs, rel × its mean).
type soakMetric struct {
	name     string
	abs, rel float64
}

// soakMetrics are the CSV's figures after its first column (seconds since the start), in
// order. The heap is the Go heap in use at the moment of sampling, garbage included: it
// is noisier than the resident set, so it gets more room.
var soakMetrics = []soakMetric{
	{"rss_bytes", 2 << 20, 0.05},
	{"heap_bytes", 4 << 20, 0.20},
	{"goroutines", 5, 0.10},
	{"open_fds", 3, 0.10},
	{"cpu_percent", 5, 0.25},
}

// TestSoak is make soak: it runs the real binary on the sim board for SOAK_DURATION with
// calls coming and going, and takes its figures every SOAK_INTERVAL from /metrics (the
// process's resident set, Go heap, goroutines, open files and CPU time) into the CSV at
// SOAK_CSV. It fails when any of them trends upward over the second half of the run.
//
// The traffic, over and over until the time is up: both sim handsets are lifted from the
// dashboard and join the conference (a peertest focus, in this process), which records
// while they are in it (the recorder comes and goes with them); a caller (a SIP agent in
// this process) calls the appliance's bridge into the same conference; after two seconds
// of talk the caller hangs up and both handsets are replaced.
func TestSoak(t *testing.T) {
	duration, interval := soakDuration(t, soakDurationEnv, time.Hour), soakDuration(t, soakIntervalEnv, time.Minute)
	csvPath := os.Getenv(soakCSVEnv)
	if csvPath == "" {
		csvPath = filepath.Join(t.TempDir(), "soak.csv")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f := focus.Start(t, focus.Config{RecordLimit: 20 * time.Millisecond})
	data := filepath.Join(dir, "data")
	seedSoak(t, data, f.Addr())

	admin := freeTCPAddr(t)
	logPath := filepath.Join(filepath.Dir(csvPath), "soak.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-board", "sim", "-data", data, "-admin", admin, "-sip", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	base := "http://" + admin
	getWithin(t, base+"/login", failsafe)
	browser := newBrowser(t)
	postForm(t, browser, base+"/login", url.Values{"password": {soakPassword}})
	sipAddr := soakSIPAddr(t, logPath)
	t.Logf("partyline pid %d, admin %s, SIP %s, log %s; %v, figures every %v into %s",
		cmd.Process.Pid, base, sipAddr, logPath, duration, interval, csvPath)

	out, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sampler := newSoakSampler(t, base, out)
	sampler.take()
	ctx, cancel := context.WithTimeout(context.Background(), duration+interval/2) // the last sample is due at duration
	defer cancel()
	rounds := soakTraffic(ctx, t, browser, base, sipAddr, sampler, interval)
	t.Logf("%d rounds of calls, %d samples in %s", rounds, len(sampler.rows), csvPath)
	checkTrends(t, sampler.rows)
}

// soakPassword is the admin password the soak logs in with.
const soakPassword = "soak-admin-password"

// soakDuration reads a duration from the environment variable name, def when unset.
func soakDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 30m", name, v)
	}
	return d
}

// seedSoak writes the settings of the soak: handsets 1 and 2 as alice and bob, both
// through the focus, into its conference "main", which records; the bridge "lobby" into it
// for callers who know its password; and the admin password.
func seedSoak(t *testing.T, data string, focusAddr netip.AddrPort) {
	t.Helper()
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	seed(t, filepath.Join(data, "partyline.db"), soakPassword, func(set *settings.Settings) {
		proxy := focusAddr.String()
		set.Accounts = []settings.Account{
			{ID: "alice", User: "alice", Password: "alice-s3cret", Domain: "partyline.test", Proxy: proxy},
			{ID: "bob", User: "bob", Password: "bob-s3cret", Domain: "partyline.test", Proxy: proxy},
		}
		set.Handsets[0].Account, set.Handsets[1].Account = "alice", "bob"
		set.Conferences[0].URI = "sip:main@partyline.test"
		set.Conferences[0].Record = true
		set.Bridges = []settings.Bridge{{ID: "lobby", User: "lobby", Conference: set.Conferences[0].ID, Account: "alice",
			AuthUser: soakCallerUser, AuthPassword: soakCallerSecret}}
	})
}

// The bridged caller's credentials.
const soakCallerUser, soakCallerSecret = "carol", "carol-s3cret"

// soakSIPAddr reads the SIP address from the appliance's log line "partyline running".
func soakSIPAddr(t *testing.T, logPath string) string {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		for line := range strings.Lines(string(b)) {
			if _, rest, ok := strings.Cut(line, `msg="partyline running"`); ok {
				if _, addr, ok := strings.Cut(rest, " sip="); ok {
					return strings.Fields(addr)[0]
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no SIP address in %s within %v", logPath, failsafe)
	return ""
}

// soakTraffic makes calls come and go until ctx is done, and returns how many rounds it
// made. Between rounds, with every call ended, it has sampler take the figures every
// interval: always at the same point of the traffic, so that they compare. A round that
// goes wrong is logged, not fatal: the figures are what the soak checks.
func soakTraffic(ctx context.Context, t *testing.T, browser *http.Client, base, sipAddr string, sampler *soakSampler, interval time.Duration) int {
	caller, err := sip.NewAgent(sip.Config{ListenAddr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Errorf("caller: %v", err)
		return 0
	}
	callerCtx, stopCaller := context.WithCancel(context.Background())
	callerDone := make(chan error, 1)
	go func() { callerDone <- caller.Run(callerCtx) }()
	defer func() { stopCaller(); <-callerDone }()
	account := sip.Account{User: soakCallerUser, Password: soakCallerSecret, Domain: "127.0.0.1", Proxy: sipAddr}
	media := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9) // discard: the caller says nothing

	hook := func(h int, off string) {
		res, err := browser.PostForm(fmt.Sprintf("%s/handsets/%d/hook", base, h), url.Values{"offhook": {off}})
		if err != nil {
			t.Logf("handset %d hook %s: %v", h+1, off, err)
			return
		}
		res.Body.Close()
	}
	rounds := 0
	for ctx.Err() == nil {
		rounds++
		hook(0, "1")
		hook(1, "1")
		soakWaitStates(ctx, t, browser, base, "in call")
		cctx, cancel := context.WithTimeout(ctx, failsafe)
		call, err := caller.Join(cctx, sip.JoinRequest{Target: "sip:lobby@" + sipAddr, Account: account, LocalMedia: media})
		if err != nil {
			t.Logf("round %d: the bridged caller: %v", rounds, err)
		}
		sleepCtx(ctx, 2*time.Second)
		if call != nil {
			_ = call.Hangup(context.WithoutCancel(cctx))
		}
		cancel()
		hook(0, "0")
		hook(1, "0")
		soakWaitStates(ctx, t, browser, base, "idle")
		sleepCtx(ctx, time.Second)
		if ctx.Err() == nil && time.Since(sampler.start) >= time.Duration(len(sampler.rows)+1)*interval {
			sampler.take()
		}
	}
	return rounds
}

// soakWaitStates waits until both handsets are in state, for at most failsafe or until
// ctx is done.
func soakWaitStates(ctx context.Context, t *testing.T, browser *http.Client, base, state string) {
	deadline := time.Now().Add(failsafe)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		var st struct {
			Handsets []struct {
				State string `json:"state"`
			} `json:"handsets"`
		}
		if res, err := browser.Get(base + "/api/status"); err == nil {
			_ = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
		}
		if len(st.Handsets) == 2 && st.Handsets[0].State == state && st.Handsets[1].State == state {
			return
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	if ctx.Err() == nil {
		t.Logf("the handsets were not %s within %v", state, failsafe)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// A soakSampler takes the appliance's figures into the CSV and keeps them.
type soakSampler struct {
	t       *testing.T
	metrics string // the /metrics URL
	w       *csv.Writer
	start   time.Time
	rows    [][]float64 // the seconds since the start, then soakMetrics in order
	lastCPU float64
	lastAt  time.Time
	sampled bool // the first sample only starts the CPU count
}

func newSoakSampler(t *testing.T, base string, out *os.File) *soakSampler {
	s := &soakSampler{t: t, metrics: base + "/metrics", w: csv.NewWriter(out), start: time.Now()}
	header := []string{"seconds"}
	for _, m := range soakMetrics {
		header = append(header, m.name)
	}
	_ = s.w.Write(header)
	s.w.Flush()
	return s
}

// take reads /metrics and writes a row of the CSV, but for the first call, which only
// starts the count of the CPU time.
func (s *soakSampler) take() {
	m, err := scrape(s.metrics)
	if err != nil {
		s.t.Errorf("metrics: %v", err)
		return
	}
	now := time.Now()
	cpu := m["process_cpu_seconds_total"]
	percent := 100 * (cpu - s.lastCPU) / now.Sub(s.lastAt).Seconds()
	s.lastCPU, s.lastAt = cpu, now
	if !s.sampled {
		s.sampled = true
		return
	}
	row := []float64{now.Sub(s.start).Seconds(), m["process_resident_memory_bytes"], m["go_memstats_heap_alloc_bytes"],
		m["go_goroutines"], m["process_open_fds"], percent}
	s.rows = append(s.rows, row)
	record := make([]string, len(row))
	for i, v := range row {
		record[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	_ = s.w.Write(record)
	s.w.Flush()
	s.t.Logf("%s", strings.Join(record, ","))
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(target string) (map[string]float64, error) {
	res, err := http.Get(target)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", target, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", target, res.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// checkTrends fails the test for each figure whose least-squares line over the second
// half of the samples rises by more than its metric allows over that half.
func checkTrends(t *testing.T, rows [][]float64) {
	t.Helper()
	half := rows[len(rows)/2:]
	if len(half) < 3 {
		t.Fatalf("%d samples: too few to see a trend; run longer or sample more often", len(rows))
	}
	for i, m := range soakMetrics {
		var xs, ys []float64
		for _, r := range half {
			xs, ys = append(xs, r[0]), append(ys, r[i+1])
		}
		slope, mean := leastSquares(xs, ys)
		rise := slope * (xs[len(xs)-1] - xs[0])
		allowed := max(m.abs, m.rel*mean)
		t.Logf("%s: second half mean %.1f, rises %.1f over it (slope %.4g/s), allowed %.1f", m.name, mean, rise, slope, allowed)
		if rise > allowed {
			t.Errorf("%s trends upward: it rises %.1f over the second half, more than %.1f", m.name, rise, allowed)
		}
	}
}

// leastSquares returns the slope of the least-squares line through (xs, ys), and the mean
// of ys.
func leastSquares(xs, ys []float64) (slope, meanY float64) {
	n := float64(len(xs))
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my
	}
	return sxy / sxx, my
}
