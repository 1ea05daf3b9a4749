package appliance

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"partyline/appliance/logs"
)

// TestBrowserLogs runs a sim appliance whose log goes through a logs.Handler, as
// cmd/partyline's does, and checks the Logs page in chromium: it shows the last lines, the
// level filter leaves out what is below it, "Download logs" gives the lines, and the log
// level setting applies at once, with no restart.
func TestBrowserLogs(t *testing.T) {
	h, err := logs.New(t.Output(), logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	a, err := New(Config{Board: "sim", DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0", Logs: h}, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const password = "logs-test-password"
	if err := a.store.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	log.Warn("a warning for the logs page", "part", "test")
	base := a.adminURL()
	b := newBrowser(t)
	b.login(base, password)

	b.do("open the logs", chromedp.Navigate(base+"/"))
	if got := b.eval(`document.querySelector('nav a[href="/logs"]').textContent`); got != "Logs" {
		t.Fatalf("the navigation's Logs entry: %q", got)
	}
	b.do("open the logs", chromedp.Navigate(base+"/logs"))
	for _, want := range []string{"partyline running", "a warning for the logs page"} {
		if got := b.text("#log-lines"); !strings.Contains(got, want) {
			t.Errorf("the Logs page lacks %q:\n%s", want, got)
		}
	}
	b.do("choose warnings and above", chromedp.SetValue(chromedp.ID("log-filter-level"), "warn"))
	b.submit("filter", "log-filter")
	if got := b.text("#log-lines"); !strings.Contains(got, "a warning for the logs page") || strings.Contains(got, "partyline running") {
		t.Errorf("warnings and above:\n%s\nwant the warning and no INFO line", got)
	}
	download := b.fetch(`document.getElementById("log-download").href`)
	if !strings.Contains(download, "a warning for the logs page") || strings.Contains(download, "partyline running") {
		t.Errorf("the download of warnings and above:\n%s", download)
	}
	if !strings.Contains(download, "attachment") {
		t.Errorf("the download is not an attachment:\n%s", download)
	}

	// Debug is off until the setting says so, and on from the moment it is saved.
	log.Debug("a debug line before the setting")
	b.do("choose debug", chromedp.SetValue(chromedp.ID("log-level-level"), "debug"))
	b.submit("save the log level", "log-level")
	if got := b.text("[role=status]"); !strings.Contains(got, "Saved") {
		t.Errorf("after saving the log level: %q", got)
	}
	log.Debug("a debug line after the setting")
	b.do("show everything", chromedp.Navigate(base+"/logs?level=debug"))
	got := b.text("#log-lines")
	if strings.Contains(got, "a debug line before the setting") || !strings.Contains(got, "a debug line after the setting") {
		t.Errorf("debug lines around the setting:\n%s\nwant only the one after it", got)
	}
	if got := b.eval(`document.getElementById("log-level-level").value`); got != "debug" {
		t.Errorf("the log level shown after saving: %q", got)
	}

	// A remote syslog target is refused next to its field when it is not one, and applies
	// at once when it is.
	b.do("type a target without a port", chromedp.SetValue(chromedp.ID("log-level-syslog"), "udp://127.0.0.1"))
	b.submit("save the syslog target", "log-level")
	if got := b.text("#log-level-syslog-error"); !strings.Contains(got, "host and a port") {
		t.Errorf("the error next to the syslog target: %q", got)
	}
	if got := b.eval(`document.getElementById("log-level-syslog").value`); got != "udp://127.0.0.1" {
		t.Errorf("the refused target shows %q, want what was typed", got)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	b.do("type the target", chromedp.SetValue(chromedp.ID("log-level-syslog"), "udp://"+pc.LocalAddr().String()))
	b.submit("save the syslog target", "log-level")
	if got := b.text("[role=status]"); !strings.Contains(got, "Saved") {
		t.Errorf("after saving the syslog target: %q", got)
	}
	log.Warn("a warning for the syslog target")
	buf := make([]byte, 4096)
	found := false
	for range 1000 { // the appliance's own lines come first
		if err := pc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil { // failsafe
			t.Fatal(err)
		}
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no warning at the syslog target: %v", err)
		}
		if msg := string(buf[:n]); strings.Contains(msg, "a warning for the syslog target") {
			if !strings.HasPrefix(msg, "<28>1 ") {
				t.Errorf("the warning at the syslog target: %q, want PRI 28 (daemon.warning), version 1", msg)
			}
			found = true
			break
		}
	}
	if !found {
		t.Error("the warning did not reach the syslog target among the first 1000 messages")
	}
}
