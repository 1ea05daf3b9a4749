package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/board"
	"partyline/media"
	"partyline/sip/peertest"
)

// failsafe bounds every wait for a process to get somewhere (start, register, answer): only
// a step that never happens takes that long, however busy the machine is.
const failsafe = 2 * time.Minute

// The SIP side of the runs: Kamailio's domain and realm, and the password of every account.
const (
	domain        = "partyline.test"
	realm         = "auth.partyline.test"
	password      = "bench-s3cret"
	adminPassword = "bench-admin-password"
)

// Config is what a run measures and how.
type Config struct {
	Bin    string        // the partyline binary
	Window time.Duration // how long each figure is measured over
	Settle time.Duration // how long calls run before their window starts
	Legs   []int         // the numbers of calls, ascending
	Runs   []string      // the runs to make (runNames); none for the default ones
	Scale  int           // callers of the scale run
	// ProfileDir, when set, gets a CPU profile of each partyline run (PARTYLINE_CPUPROFILE).
	ProfileDir string
	Log        io.Writer // progress
}

// Row is one figure of the table: a process under one load, measured over a window net of
// the same process idle.
type Row struct {
	Process string // partyline, baresip, sipp
	Load    string // what it did, e.g. "sim board, handsets in call"
	Calls   int    // calls set up
	Legs    int    // RTP streams the process handles: a bridged caller is two
	// IdleCPU and BusyCPU are CPU seconds per minute, idle and with the calls.
	IdleCPU, BusyCPU float64
	RSS              int64 // resident set with the calls, bytes
	RSSAnon          int64 // its anonymous part: heap, stacks, buffers
	// HeapPerLeg is the Go heap in use with the calls, less that idle, per leg (partyline).
	HeapPerLeg int64
	Scale      *ScaleStats // the scale run's figures, nil in other runs
}

// NetPerLeg is the row's CPU seconds per minute per leg, net of idle.
func (r Row) NetPerLeg() float64 {
	if r.Legs == 0 {
		return 0
	}
	return (r.BusyCPU - r.IdleCPU) / float64(r.Legs)
}

// watched is a process whose CPU a window measures.
type watched struct {
	pid  int
	idle float64 // CPU seconds per minute with no calls
}

// window measures the CPU of each of procs over d and returns each one's CPU seconds per
// minute.
func window(ctx context.Context, d time.Duration, pids ...int) ([]float64, error) {
	start := make([]time.Duration, len(pids))
	for i, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		start[i] = c
	}
	began := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	elapsed := time.Since(began)
	perMin := make([]float64, len(pids))
	for i, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		perMin[i] = (c - start[i]).Seconds() / elapsed.Minutes()
	}
	return perMin, nil
}

// tone is d of a 600 Hz tone at 8 kHz, what the callers say.
func tone(d time.Duration) []int16 {
	pcm := make([]int16, int(d.Seconds()*8000))
	media.NewTone(8000, 600, -17).Generate(pcm)
	return pcm
}

// sourceLength is how long the callers' audio must last: through every stage of a run.
func (c Config) sourceLength() time.Duration {
	return time.Duration(len(c.Legs)+1) * (c.Window + c.Settle + failsafe)
}

func (c Config) logf(format string, args ...any) {
	fmt.Fprintf(c.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// partyline is a running partyline binary, logged in to its admin page.
type partyline struct {
	t     testing.TB
	cmd   *exec.Cmd
	base  string
	http  *http.Client
	sip   string // its SIP address, host:port
	log   string
	heap0 int64 // the Go heap in use, idle
}

// startPartyline seeds the settings of a fresh data directory (edit changes the
// defaults for handsets handsets), runs the binary on boardName and logs in.
func startPartyline(t testing.TB, c Config, boardName string, handsets int, edit func(*settings.Settings)) *partyline {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	seed(t, data, handsets, edit)
	admin := freeTCPAddr(t)
	p := &partyline{t: t, base: "http://" + admin, log: filepath.Join(dir, "partyline.log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(c.Bin, "-board", boardName, "-data", data, "-admin", admin, "-sip", "127.0.0.1:0")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = os.Environ()
	if c.ProfileDir != "" {
		prof := filepath.Join(c.ProfileDir, fmt.Sprintf("partyline-%s-%d.pprof", strings.ReplaceAll(boardName, ":", ""), time.Now().UnixNano()))
		p.cmd.Env = append(p.cmd.Env, "PARTYLINE_CPUPROFILE="+prof)
		c.logf("partyline CPU profile: %s", prof)
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("run partyline: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(done)
	}()
	t.Cleanup(func() {
		// SIGTERM, as systemd stops it: it ends its calls and writes its profile.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(failsafe):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("partyline log:\n%s", tailString(string(b), 6000))
		}
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	p.http = &http.Client{Jar: jar, Timeout: failsafe}
	deadline := time.Now().Add(failsafe)
	for {
		res, err := p.http.PostForm(p.base+"/login", url.Values{"password": {adminPassword}})
		if err == nil {
			res.Body.Close()
			if res.Request.URL.Path == "/" {
				break
			}
			err = fmt.Errorf("ended at %s with %d", res.Request.URL, res.StatusCode)
		}
		select {
		case <-done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("partyline exited at start:\n%s", tailString(string(b), 4000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("log in to partyline's admin page: %v", err)
		}
	}
	p.sip = p.waitFor("its SIP address", func(st web.Status) bool { return st.SIP.Listening != "" }).SIP.Listening
	return p
}

// seed writes the settings of a fresh data directory: the defaults for handsets handsets,
// the admin password, changed by edit.
func seed(t testing.TB, data string, handsets int, edit func(*settings.Settings)) {
	t.Helper()
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := config.Open(filepath.Join(data, "partyline.db"), config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureDefaults(handsets); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(adminPassword); err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	edit(&set)
	if err := st.Save(set); err != nil {
		t.Fatalf("save settings: %v", err)
	}
}

// status reads the admin page's status API.
func (p *partyline) status() (web.Status, error) {
	var st web.Status
	res, err := p.http.Get(p.base + "/api/status")
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /api/status: %s", res.Status)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// waitFor polls the status until cond holds, for at most failsafe.
func (p *partyline) waitFor(what string, cond func(web.Status) bool) web.Status {
	p.t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		st, err := p.status()
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for %s; status: %+v (%v)", failsafe, what, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// heapInUse reads the Go heap in use from /metrics (go_memstats_heap_inuse_bytes).
func (p *partyline) heapInUse() (int64, error) {
	res, err := p.http.Get(p.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no go_memstats_heap_inuse_bytes in /metrics")
}

// startEcho starts the SIPp conference that echoes every call's RTP, for calls calls, with
// a global timeout (peertest's is a minute) that outlasts every stage of c.
func startEcho(t testing.TB, c Config, calls int) *peertest.SIPp {
	limit := fmt.Sprintf("%ds", int(c.sourceLength().Seconds())+60)
	return peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true, Calls: calls,
		Args: []string{"-timeout", limit}})
}

// stages measures procs over an idle window (into each one's idle), then, for each n of
// c.Legs, has grow set up calls up to n in all and hands after each process's CPU seconds
// per minute over a window with those calls.
func stages(ctx context.Context, t testing.TB, c Config, procs []*watched, grow func(n int), after func(n int, busy []float64)) {
	t.Helper()
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.pid
	}
	sleep(ctx, c.Settle)
	idle, err := window(ctx, c.Window, pids...)
	if err != nil {
		t.Fatalf("idle window: %v", err)
	}
	for i, p := range procs {
		p.idle = idle[i]
	}
	for _, n := range c.Legs {
		grow(n)
		sleep(ctx, c.Settle)
		busy, err := window(ctx, c.Window, pids...)
		if err != nil {
			t.Fatalf("window of %d calls: %v", n, err)
		}
		after(n, busy)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// runHandsets measures partyline on the sim board with handsets in call, each as its own
// account, through Kamailio into a SIPp echo conference: 48 kHz device, resampling,
// jitter buffer and G.711. The sim board has at most board.MaxSimHandsets handsets, so
// larger stages are left out.
func runHandsets(ctx context.Context, t testing.TB, c Config) []Row {
	var legs []int
	for _, n := range c.Legs {
		if n <= board.MaxSimHandsets {
			legs = append(legs, n)
		}
	}
	if len(legs) == 0 {
		return nil
	}
	c.Legs = legs
	handsets := legs[len(legs)-1]
	sipp := startEcho(t, c, handsets)
	users := map[string]string{}
	for i := range handsets {
		users[fmt.Sprintf("h%d", i+1)] = password
	}
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{Domain: domain, Realm: realm, Users: users,
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()}})
	boardName := "sim"
	if handsets > 2 {
		boardName = fmt.Sprintf("sim:%d", handsets)
	}
	c.logf("partyline, %s, handsets in call: %v", boardName, legs)
	p := startPartyline(t, c, boardName, max(handsets, 2), func(set *settings.Settings) {
		set.Accounts = nil
		for i := range handsets {
			id := fmt.Sprintf("h%d", i+1)
			set.Accounts = append(set.Accounts, settings.Account{ID: id, User: id, Password: password, Domain: domain, Proxy: kam.Addr().String()})
			set.Handsets[i].Account = id
		}
		set.Conferences[0].URI = "sip:conf@" + domain
	})
	p.waitFor("every account to register", func(st web.Status) bool {
		for _, r := range st.Registrations {
			if r.State != "registered" {
				return false
			}
		}
		return len(st.Registrations) == handsets
	})
	procs := []*watched{{pid: p.cmd.Process.Pid}, {pid: sipp.Pid()}}
	p.heap0 = p.mustHeap()
	var rows []Row
	lifted := 0
	stages(ctx, t, c, procs, func(n int) {
		for ; lifted < n; lifted++ {
			res, err := p.http.PostForm(fmt.Sprintf("%s/handsets/%d/hook", p.base, lifted), url.Values{"offhook": {"1"}})
			if err != nil {
				t.Fatalf("lift handset %d: %v", lifted+1, err)
			}
			res.Body.Close()
		}
		p.waitFor(fmt.Sprintf("%d handsets in call", n), func(st web.Status) bool {
			in := 0
			for _, h := range st.Handsets {
				if h.State == "in call" {
					in++
				}
			}
			return in == n
		})
	}, func(n int, busy []float64) {
		rows = append(rows, p.row("sim board, handsets in call", n, n, procs[0], busy[0]),
			sippRow("echo for the handsets", n, procs[1], busy[1]))
	})
	return rows
}

func (p *partyline) mustHeap() int64 {
	h, err := p.heapInUse()
	if err != nil {
		p.t.Fatalf("partyline's heap: %v", err)
	}
	return h
}

// row is partyline's figure for calls calls on legs legs.
func (p *partyline) row(load string, calls, legs int, w *watched, busy float64) Row {
	size, anon, err := rss(w.pid)
	if err != nil {
		p.t.Fatal(err)
	}
	return Row{Process: "partyline", Load: load, Calls: calls, Legs: legs, IdleCPU: w.idle, BusyCPU: busy, RSS: size, RSSAnon: anon,
		HeapPerLeg: (p.mustHeap() - p.heap0) / int64(legs)}
}

// sippRow is the SIPp echo's figure for n streams: the floor.
func sippRow(load string, n int, w *watched, busy float64) Row {
	size, anon, _ := rss(w.pid)
	return Row{Process: "sipp", Load: load, Calls: n, Legs: n, IdleCPU: w.idle, BusyCPU: busy, RSS: size, RSSAnon: anon}
}

// runBridge measures partyline bridging callers into a conference: baresip calls the
// bridge n times, and each call is bridged through Kamailio into a SIPp echo conference,
// G.711 on both sides: two legs per caller.
func runBridge(ctx context.Context, t testing.TB, c Config) []Row {
	most := c.Legs[len(c.Legs)-1]
	c.logf("partyline, sim, bridged callers: %v", c.Legs)
	p, sipp, callers := startBridge(t, c, most)
	procs := []*watched{{pid: p.cmd.Process.Pid}, {pid: sipp.Pid()}}
	p.heap0 = p.mustHeap()
	var rows []Row
	dialled := 0
	stages(ctx, t, c, procs, func(n int) {
		for ; dialled < n; dialled++ {
			if err := callers.Dial("sip:lobby@" + p.sip); err != nil {
				t.Fatalf("baresip dial: %v", err)
			}
		}
		awaitEvents(ctx, t, callers, "CALL_ESTABLISHED", n)
	}, func(n int, busy []float64) {
		rows = append(rows, p.row("callers bridged into a conference", n, 2*n, procs[0], busy[0]),
			sippRow("echo for the bridge", n, procs[1], busy[1]))
	})
	return rows
}

// startBridge starts the room (startRoom) for most callers, and baresip to call it.
func startBridge(t testing.TB, c Config, most int) (*partyline, *peertest.SIPp, *peertest.Baresip) {
	t.Helper()
	p, sipp := startRoom(t, c, most)
	callers := peertest.StartBaresip(t, peertest.BaresipConfig{User: "caller", Source: tone(c.sourceLength()), MaxCalls: most, NoRecord: true})
	return p, sipp, callers
}

// startRoom starts the conference (a SIPp echo behind Kamailio) and partyline on the sim
// board with a bridge "lobby" into it for up to most callers from loopback, and returns
// once partyline's trunk account has registered.
func startRoom(t testing.TB, c Config, most int) (*partyline, *peertest.SIPp) {
	t.Helper()
	sipp := startEcho(t, c, most)
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{Domain: domain, Realm: realm,
		Users: map[string]string{"trunk": password}, Trusted: []string{"trunk"},
		Routes: map[string]netip.AddrPort{"room": sipp.Addr()}})
	p := startPartyline(t, c, "sim", 2, func(set *settings.Settings) {
		set.SIP.MaxBridgedCalls = most
		set.Accounts = []settings.Account{{ID: "trunk", User: "trunk", Password: password, Domain: domain, Proxy: kam.Addr().String()}}
		set.Conferences[0].URI = "sip:room@" + domain
		set.Bridges = []settings.Bridge{{ID: "lobby", User: "lobby", Conference: set.Conferences[0].ID, Account: "trunk",
			Identity: settings.BridgeGenerated, IdentityPrefix: "caller", AllowNetworks: []string{"127.0.0.1/32"}, MaxCalls: most}}
	})
	p.waitFor("the trunk to register", func(st web.Status) bool {
		return len(st.Registrations) == 1 && st.Registrations[0].State == "registered"
	})
	return p, sipp
}

// runBaresip measures baresip (Debian's) calling a SIPp echo conference n times, G.711,
// sending a tone from a file and recording nothing.
func runBaresip(ctx context.Context, t testing.TB, c Config) []Row {
	most := c.Legs[len(c.Legs)-1]
	sipp := startEcho(t, c, most)
	c.logf("baresip, calls: %v", c.Legs)
	b := peertest.StartBaresip(t, peertest.BaresipConfig{User: "caller", Source: tone(c.sourceLength()), MaxCalls: most, NoRecord: true})
	procs := []*watched{{pid: b.Pid()}, {pid: sipp.Pid()}}
	var rows []Row
	dialled := 0
	stages(ctx, t, c, procs, func(n int) {
		for ; dialled < n; dialled++ {
			if err := b.Dial("sip:conf@" + sipp.Addr().String()); err != nil {
				t.Fatalf("baresip dial: %v", err)
			}
		}
		awaitEvents(ctx, t, b, "CALL_ESTABLISHED", n)
	}, func(n int, busy []float64) {
		size, anon, err := rss(procs[0].pid)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, Row{Process: "baresip", Load: "calls into an echo conference", Calls: n, Legs: n,
			IdleCPU: procs[0].idle, BusyCPU: busy[0], RSS: size, RSSAnon: anon},
			sippRow("echo for baresip (the floor)", n, procs[1], busy[1]))
	})
	return rows
}

// awaitEvents waits until b reported n events of type typ, for at most failsafe.
func awaitEvents(ctx context.Context, t testing.TB, b *peertest.Baresip, typ string, n int) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		got := 0
		for _, e := range b.Events() {
			switch e.Type {
			case typ:
				got++
			case "CALL_CLOSED":
				t.Fatalf("a call of baresip's ended: %+v", e)
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("baresip has %d of %d %s events after %v", got, n, typ, failsafe)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// freeTCPAddr returns a 127.0.0.1 address whose TCP port was free a moment ago.
func freeTCPAddr(t testing.TB) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
