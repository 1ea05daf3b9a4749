package main

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/config"
)

// TestBinaryRestarts asks the real binary to restart, as the admin page's Restart button
// does: outside systemd the same process runs partyline again (the same pid, a second
// start in its log, everyone logged out); under systemd (INVOCATION_ID set) it exits with
// appliance.ExitRestart for the unit to start it again.
func TestBinaryRestarts(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const password = "restart-password"
	for _, systemd := range []bool{false, true} {
		data := filepath.Join(dir, map[bool]string{false: "plain", true: "systemd"}[systemd])
		prepareData(t, data, password)
		admin := freeTCPAddr(t)
		p := &binary{logs: &syncBuffer{}, exited: make(chan error, 1)}
		p.cmd = exec.Command(bin, "-board", "sim", "-data", data, "-admin", admin)
		p.cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool {
			return strings.HasPrefix(v, "INVOCATION_ID=") || strings.HasPrefix(v, "NOTIFY_SOCKET=")
		})
		if systemd {
			p.cmd.Env = append(p.cmd.Env, "INVOCATION_ID=0123456789abcdef0123456789abcdef")
		}
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

		base := "http://" + admin
		getWithin(t, base+"/login", failsafe)
		browser := newBrowser(t)
		postForm(t, browser, base+"/login", url.Values{"password": {password}})
		postForm(t, browser, base+"/restart", nil)

		if systemd {
			select {
			case err := <-p.exited:
				p.exited <- err
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != appliance.ExitRestart {
					t.Errorf("under systemd, after Restart: %v, want exit status %d", err, appliance.ExitRestart)
				}
			case <-time.After(failsafe):
				t.Fatal("under systemd, partyline did not exit for the restart")
			}
			continue
		}
		deadline := time.Now().Add(failsafe)
		for strings.Count(p.logs.String(), "partyline running") < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("partyline did not start again after Restart")
			}
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case err := <-p.exited:
			t.Fatalf("the process exited (%v) instead of running partyline again", err)
		default:
		}
		res, err := browser.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/login" {
			t.Errorf("after the restart the dashboard leads to %s (%s), want /login", res.Request.URL.Path, res.Status)
		}
		p.stop(t, syscall.SIGINT)
	}
}

// prepareData writes settings for two sim handsets with SIP on a free loopback port and
// the admin password set.
func prepareData(t *testing.T, data, password string) {
	t.Helper()
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := config.Open(filepath.Join(data, "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	if err := st.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
}
