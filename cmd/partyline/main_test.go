package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"partyline/appliance/config"
)

// failsafe bounds the waits for the binary: only what never happens takes that long,
// however busy the machine is (the first start builds nothing, but hashes the admin
// password at the firmware's bcrypt cost).
const failsafe = time.Minute

// TestBinaryServesAdminPageAndStopsOnInterrupt runs the real binary the way `make run`
// does, on the sim board, then interrupts it as Ctrl-C would.
func TestBinaryServesAdminPageAndStopsOnInterrupt(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	// Keep SIP on loopback and an ephemeral port, so the test never collides with a real
	// SIP service on this machine; everything else is the embedded default.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "partyline.db")
	st, err := config.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.SIP.ListenAddr = "127.0.0.1:0"
	if err := st.Save(set); err != nil {
		t.Fatal(err)
	}
	st.Close()

	admin := freeTCPAddr(t)
	proc := startBinary(t, bin, data, admin)

	// First start: the page asks for an admin password and the setup code before anything
	// else; the code is in the log and `partyline setup-code` prints it. A wrong code
	// sets nothing; with the right one the user is logged in at once and the dashboard
	// shows the sim board's handsets.
	base := "http://" + admin
	if page := getWithin(t, base+"/", failsafe); !strings.Contains(page, "Admin password") || !strings.Contains(page, "Setup code") {
		t.Fatalf("first start does not ask for an admin password and the setup code:\n%s", page)
	}
	code := runOK(t, bin, "setup-code", "-data", data)
	if !strings.Contains(proc.logs.String(), "setup_code="+code) {
		t.Errorf("the log lacks the setup code %s:\n%s", code, proc.logs.String())
	}
	browser := newBrowser(t)
	const password = "make-run-password"
	res, err := browser.PostForm(base+"/setup", url.Values{"code": {"0000-0000-0000"}, "password": {password}, "confirm": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("setup with a wrong code: got %s, want 403", res.Status)
	}
	page := postForm(t, browser, base+"/setup", url.Values{"code": {code}, "password": {password}, "confirm": {password}})
	for _, want := range []string{"sim", "Handset 1", "Handset 2"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "setup-code")); !os.IsNotExist(err) {
		t.Errorf("the used setup code file is still there: %v", err)
	}
	if out, err := exec.Command(bin, "setup-code", "-data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "password is set already") {
		t.Errorf("setup-code with a password set: %v, %s; want a failure that says why", err, out)
	}

	// While partyline runs, reset-password refuses and says why.
	if out, err := exec.Command(bin, "reset-password", "-data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "stop it first") {
		t.Errorf("reset-password while running: %v, %s; want a failure that says to stop partyline first", err, out)
	}

	proc.stop(t, syscall.SIGINT)
	// The database was closed: it opens again without waiting for a lock.
	st, err = config.Open(db)
	if err != nil {
		t.Fatalf("reopen the database after stop: %v", err)
	}
	st.Close()

	// With partyline stopped, reset-password clears the password: the next start asks
	// for a new one with a new code, and the old password no longer logs in.
	runOK(t, bin, "reset-password", "-data", data)
	startBinary(t, bin, data, admin)
	if page := getWithin(t, base+"/", failsafe); !strings.Contains(page, "Setup code") {
		t.Fatalf("after reset-password the page does not ask for a new password:\n%s", page)
	}
	if fresh := runOK(t, bin, "setup-code", "-data", data); fresh == code {
		t.Errorf("the start after a reset reused the old setup code")
	}
	res, err = newBrowser(t).PostForm(base+"/login", url.Values{"password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/setup" {
		t.Errorf("the old password after a reset: ended at %s, want /setup", res.Request.URL.Path)
	}
}

// binary is a running partyline.
type binary struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

// startBinary runs bin on the sim board with its data in data and the admin page on
// admin; the test's end kills it if it still runs.
func startBinary(t *testing.T, bin, data, admin string) *binary {
	t.Helper()
	p := &binary{logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "-board", "sim", "-data", data, "-admin", admin)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("partyline output:\n%s", p.logs.String())
		}
	})
	return p
}

// stop sends p sig, as Ctrl-C (SIGINT) or systemd (SIGTERM) would, and checks that it
// exits with status 0.
func (p *binary) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("partyline exited with %v after %v, want status 0", err, sig)
		}
		t.Logf("stopped %v after %v", time.Since(sent).Round(time.Millisecond), sig)
	case <-time.After(failsafe):
		t.Fatalf("partyline still running %v after %v", failsafe, sig)
	}
}

// syncBuffer is a bytes.Buffer that the process writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runOK runs bin with args, expects success and returns its output, trimmed.
func runOK(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("partyline %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}

// newBrowser returns an HTTP client that keeps cookies, as a browser does.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: failsafe}
}

// postForm posts a form as a browser would, follows the redirect and returns the page.
func postForm(t *testing.T, c *http.Client, target string, form url.Values) string {
	t.Helper()
	res, err := c.PostForm(target, form)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s, %v\n%s", target, res.Status, err, b)
	}
	return string(b)
}

// freeTCPAddr returns a loopback address with a port that was free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// getWithin GETs url until it answers 200, for at most limit, and returns the body.
func getWithin(t *testing.T, url string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && rerr == nil {
				return string(b)
			}
			err = fmt.Errorf("status %s", res.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s did not answer within %v: %v", url, limit, last)
	return ""
}
