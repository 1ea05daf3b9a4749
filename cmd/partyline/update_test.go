package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/web"
)

// service runs the installed partyline binary as systemd runs partyline.service:
// started again whenever it exits (Restart=always, under INVOCATION_ID), its pid in a
// file for the fake dpkg's postinst to restart it by.
type service struct {
	bin, pidFile string
	args         []string
	logs         *syncBuffer
	mu           sync.Mutex
	cur          *exec.Cmd
	done         chan struct{}
}

// run starts s and restarts the binary at each exit, until ctx is done; at most 200
// starts.
func (s *service) run(ctx context.Context) {
	defer close(s.done)
	env := append(slices.DeleteFunc(os.Environ(), func(v string) bool {
		return strings.HasPrefix(v, "INVOCATION_ID=") || strings.HasPrefix(v, "NOTIFY_SOCKET=")
	}), "INVOCATION_ID=0123456789abcdef0123456789abcdef")
	for range 200 {
		cmd := exec.Command(s.bin, s.args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = s.logs, s.logs
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		err := cmd.Start()
		if err == nil {
			s.cur = cmd
			os.WriteFile(s.pidFile, fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644)
		}
		s.mu.Unlock()
		if err == nil {
			cmd.Wait()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond): // RestartSec
		}
	}
}

// stop stops the service: the supervisor, then the binary running.
func (s *service) stop(cancel context.CancelFunc) {
	s.mu.Lock()
	cancel()
	if s.cur != nil && s.cur.ProcessState == nil {
		s.cur.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
	<-s.done
}

// restart has the running binary exit, as systemctl restart does.
func (s *service) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Process.Signal(syscall.SIGTERM)
	}
}

// waitLog waits until the service's log has want n times.
func (s *service) waitLog(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * failsafe)
	for strings.Count(s.logs.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not have %q %d times after %v", want, n, 2*failsafe)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nset -e\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateWithRealRestarts: the whole update loop with the real binary, restarted for
// real. A supervisor stands for systemd, a script for dpkg (it puts the package, here the
// binary itself, in place and restarts the service as a postinst does) and another for
// the root helper that partyline's -installer starts (partyline update-install, in the
// background). The provisioning document names 2.0: 1.0 downloads it, hands it over,
// 2.0 runs and confirms it. Then it names 3.0, a package that exits at start: it never
// settles its update, and the helper's guard installs 2.0's kept package again after the
// deadline (10 s here) and its grace, and restarts the service; 2.0 runs again, says so
// in its log, its status and the User-Agent of its next provisioning request, and does
// not install 3.0 again.
func TestUpdateWithRealRestarts(t *testing.T) {
	dir := t.TempDir()
	build := func(v string) string {
		bin := filepath.Join(dir, "partyline-"+v)
		if out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+v, "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return bin
	}
	bin1, bin2 := build("1.0"), build("2.0")
	bad := filepath.Join(dir, "partyline-3.0")
	writeScript(t, bad, "echo 'partyline 3.0: cannot start' >&2\nexit 3\n")

	data, live := filepath.Join(dir, "data"), filepath.Join(dir, "live")
	pidFile, guardLog := filepath.Join(live, "pid"), filepath.Join(dir, "guard.log")
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	b1, err := os.ReadFile(bin1)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(live, "partyline"), b1, 0o755)
	os.WriteFile(filepath.Join(live, "version"), []byte("1.0\n"), 0o644)
	// 1.0 was installed by the appliance itself: its package is kept.
	os.MkdirAll(filepath.Join(data, "packages"), 0o750)
	os.WriteFile(filepath.Join(data, "packages", "partyline_1.0.deb"), b1, 0o640)

	dpkg, helper, restart := filepath.Join(dir, "dpkg.sh"), filepath.Join(dir, "helper.sh"), filepath.Join(dir, "restart.sh")
	writeScript(t, dpkg, fmt.Sprintf(`live=%q
case $1 in
install)
	v=$(basename "$2" .deb); v=${v#partyline_}
	cp "$2" "$live/partyline.new"; chmod +x "$live/partyline.new"; mv "$live/partyline.new" "$live/partyline"
	echo "$v" > "$live/version"
	kill "$(cat "$live/pid")" 2>/dev/null || true # postinst: systemctl restart partyline
	sleep 1 # dpkg's work after the postinst: the restarted version starts meanwhile
	;;
version) cat "$live/version" ;;
esac
`, live))
	// The guard's restart after a rollback (systemctl restart partyline). It matters: the
	// package's own restart comes before the guard has recorded the rollback, so the
	// version it starts may not see the record.
	writeScript(t, restart, fmt.Sprintf("kill \"$(cat %q)\" 2>/dev/null || true\n", pidFile))
	writeScript(t, helper, fmt.Sprintf(`case $1 in
install) setsid %q update-install -data %q -installer %q -restart %q -grace 2s "$2" >>%q 2>&1 </dev/null & ;;
version) exec %q version ;;
esac
`, bin1, data, dpkg, restart, guardLog, dpkg))

	// The provisioning server, with its own CA.
	var mu sync.Mutex
	var doc string
	var agents []string
	debs := map[string][]byte{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/doc.json" {
			agents = append(agents, r.UserAgent())
			w.Write([]byte(doc))
			return
		}
		if b, ok := debs[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	name := func(v, bin string) {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		mu.Lock()
		defer mu.Unlock()
		debs["/partyline_"+v+".deb"] = b
		doc = fmt.Sprintf(`{"firmware": {"version": %q, "url": %q, "sha256": %q}}`, v, srv.URL+"/partyline_"+v+".deb", hex.EncodeToString(sum[:]))
	}
	lastAgent := func() (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if len(agents) == 0 {
			return 0, ""
		}
		return len(agents), agents[len(agents)-1]
	}
	name("2.0", bin2)

	const password = "update-password"
	prepareData(t, data, password)
	st, err := config.Open(filepath.Join(data, "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.Provisioning.URL = srv.URL + "/doc.json"
	set.Provisioning.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	if err := st.Save(set); err != nil {
		t.Fatal(err)
	}
	st.Close()

	admin := freeTCPAddr(t)
	svc := &service{bin: filepath.Join(live, "partyline"), pidFile: pidFile, logs: &syncBuffer{}, done: make(chan struct{}),
		args: []string{"-board", "sim", "-data", data, "-admin", admin, "-installer", helper, "-update-deadline", "10s"}}
	ctx, cancel := context.WithCancel(context.Background())
	go svc.run(ctx)
	defer func() {
		svc.stop(cancel)
		if t.Failed() {
			g, _ := os.ReadFile(guardLog)
			t.Logf("partyline output:\n%s\nupdate-install output:\n%s", svc.logs.String(), g)
		}
	}()

	// 1.0 installs 2.0, which confirms it.
	svc.waitLog(t, "update confirmed: the new version is healthy", 1)
	if v, _ := os.ReadFile(filepath.Join(live, "version")); strings.TrimSpace(string(v)) != "2.0" {
		t.Fatalf("installed %q, want 2.0", v)
	}
	if _, err := os.Stat(filepath.Join(data, "update-pending.json")); err == nil {
		t.Errorf("the marker stays after the confirmation")
	}

	// The document names 3.0, which exits at start; the next start of 2.0 fetches it.
	name("3.0", bad)
	svc.restart()
	svc.waitLog(t, "partyline 3.0: cannot start", 1)
	svc.waitLog(t, "the last update failed", 1)
	if v, _ := os.ReadFile(filepath.Join(live, "version")); strings.TrimSpace(string(v)) != "2.0" {
		t.Fatalf("after the rollback %q is installed, want 2.0", v)
	}
	base := "http://" + admin
	getWithin(t, base+"/login", failsafe)
	browser := newBrowser(t)
	postForm(t, browser, base+"/login", url.Values{"password": {password}})
	res, err := browser.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var status web.Status
	err = json.NewDecoder(res.Body).Decode(&status)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if u := status.UpdateRolledBack; status.Version != "2.0" || u == nil || u.Version != "3.0" || u.Running != "2.0" || !strings.Contains(u.Reason, "never settled") {
		t.Errorf("version %s, rollback %+v; want 2.0 running, 3.0 rolled back", status.Version, u)
	}
	// The next provisioning request (at the next start) says so, and 3.0 stays out.
	n, _ := lastAgent()
	svc.restart()
	deadline := time.Now().Add(failsafe)
	for {
		got, ua := lastAgent()
		if got > n {
			if !strings.HasPrefix(ua, "partyline/2.0 ") || !strings.Contains(ua, "update 3.0 rolled back") {
				t.Errorf("User-Agent %q, want 2.0 and the rollback", ua)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provisioning request after the restart within %v", failsafe)
		}
		time.Sleep(50 * time.Millisecond)
	}
	svc.waitLog(t, "not installed again", 1)
	if v, _ := os.ReadFile(filepath.Join(live, "version")); strings.TrimSpace(string(v)) != "2.0" {
		t.Errorf("%q installed after the rollback, want 2.0", v)
	}
}
