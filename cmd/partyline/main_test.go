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
	bin := filepath.Join(dir, "partyline")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

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
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-board", "sim", "-data", data, "-admin", admin)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("partyline output:\n%s", logs.String())
		}
	})

	// First start: the page asks for an admin password before anything else; once it is
	// set and the user has logged in, the dashboard shows the sim board's handsets.
	base := "http://" + admin
	if page := getWithin(t, base+"/", failsafe); !strings.Contains(page, "Admin password") {
		t.Fatalf("first start does not ask for an admin password:\n%s", page)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: failsafe}
	const password = "make-run-password"
	postForm(t, browser, base+"/setup", url.Values{"password": {password}, "confirm": {password}})
	page := postForm(t, browser, base+"/login", url.Values{"password": {password}})
	for _, want := range []string{"sim", "Handset 1", "Handset 2"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}

	interrupted := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("partyline exited with %v after SIGINT, want status 0", err)
		}
		t.Logf("stopped %v after SIGINT", time.Since(interrupted).Round(time.Millisecond))
	case <-time.After(failsafe):
		t.Fatalf("partyline still running %v after SIGINT", failsafe)
	}
	// The database was closed: it opens again without waiting for a lock.
	st, err = config.Open(db)
	if err != nil {
		t.Fatalf("reopen the database after stop: %v", err)
	}
	st.Close()
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
