package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/media"
	"partyline/sip"
)

func TestNeedsTLS(t *testing.T) {
	for _, tt := range []struct {
		addr      string
		plainHTTP bool
		want      bool
	}{
		{DefaultAdminAddr, false, false},
		{"127.0.0.2:8080", false, false},
		{"[::1]:8080", false, false},
		{"localhost:8080", false, false},
		{"0.0.0.0:8080", false, true},
		{":8080", false, true},
		{"[::]:443", false, true},
		{"192.168.1.20:443", false, true},
		{"[fe80::1%eth0]:443", false, true},
		{"partyline.local:443", false, true},
		{"not an address", false, true},
		{"0.0.0.0:8080", true, false},
		{"192.168.1.20:80", true, false},
	} {
		if got := needsTLS(tt.addr, tt.plainHTTP); got != tt.want {
			t.Errorf("needsTLS(%q, %v) = %v, want %v", tt.addr, tt.plainHTTP, got, tt.want)
		}
	}
}

func TestCertificateHosts(t *testing.T) {
	for addr, want := range map[string]string{
		"192.168.1.20:443": "192.168.1.20",
		"0.0.0.0:443":      "",
		":443":             "",
		"[::]:443":         "",
		"partyline.lan:80": "partyline.lan",
	} {
		hosts := certificateHosts(addr)
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			if !strings.Contains(strings.Join(hosts, " "), h) {
				t.Errorf("certificateHosts(%q) = %q lacks %s", addr, hosts, h)
			}
		}
		if last := hosts[len(hosts)-1]; (want == "" && last != "::1") || (want != "" && last != want) {
			t.Errorf("certificateHosts(%q) = %q, want it to end with %q", addr, hosts, want)
		}
	}
}

// syncBuffer is a log destination the appliance's goroutines can share.
type syncBuffer struct {
	mu  sync.Mutex // guards following
	buf strings.Builder
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

// newSimAppliance makes an appliance on the sim board with everything on loopback, and
// stops it at the end of the test if it was started.
func newSimAppliance(t *testing.T, logs io.Writer) *Appliance {
	t.Helper()
	if logs == nil {
		logs = t.Output()
	}
	a, err := New(Config{Board: "sim", DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// run runs a until the end of the test.
func run(t *testing.T, a *Appliance) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(failsafe):
			t.Errorf("the appliance did not stop within %v", failsafe)
		}
	})
}

// TestAdminOverHTTPS serves the admin page with the certificate a non-loopback listen
// address gets, and checks what a browser would: the handshake shows the certificate whose
// fingerprint the appliance logged and the page shows, it is the same one after a restart,
// the session cookie is Secure, and the key is never logged.
func TestAdminOverHTTPS(t *testing.T) {
	var logs syncBuffer
	a := newSimAppliance(t, &logs)
	if a.adminTLS != nil || !strings.HasPrefix(a.adminURL(), "http://") {
		t.Fatalf("on loopback the page is served over HTTPS: %s", a.adminURL())
	}
	if err := a.store.SetAdminPassword("https-admin-password"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&logs, nil))
	lan := Config{AdminAddr: "192.0.2.10:443"}
	var err error
	a.adminTLS, a.adminFingerprint, err = adminTLSConfig(lan, a.store, log)
	if err != nil || a.adminTLS == nil {
		t.Fatalf("adminTLSConfig for %s: %v, %v", lan.AdminAddr, a.adminTLS, err)
	}
	if _, again, err := adminTLSConfig(lan, a.store, log); err != nil || again != a.adminFingerprint {
		t.Errorf("second start: fingerprint %q, %v; want the first one, %q", again, err, a.adminFingerprint)
	}
	run(t, a)

	var seen string
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, Timeout: failsafe, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		// A self-signed certificate: trusted here, as a user does, by its fingerprint.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = web.Fingerprint(cs.PeerCertificates[0].Raw)
			if seen != a.adminFingerprint {
				return errors.New("the certificate is not the one the appliance logged")
			}
			return cs.PeerCertificates[0].VerifyHostname("192.0.2.10")
		},
	}}}
	defer client.CloseIdleConnections()
	if !strings.HasPrefix(a.adminURL(), "https://") {
		t.Fatalf("admin URL %s, want https", a.adminURL())
	}
	res, err := client.Get(a.adminURL() + "/login")
	if err != nil {
		t.Fatalf("GET /login over HTTPS: %v", err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.TLS == nil {
		t.Fatalf("GET /login: %s, TLS %v", res.Status, res.TLS != nil)
	}
	if seen != a.adminFingerprint || !strings.Contains(string(page), a.adminFingerprint) {
		t.Errorf("handshake showed %q; the page shows it: %v; want %q", seen, strings.Contains(string(page), a.adminFingerprint), a.adminFingerprint)
	}

	// No redirects: the cookie is in the login's own answer.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err = client.PostForm(a.adminURL()+"/login", url.Values{"password": {"https-admin-password"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Errorf("session cookie over HTTPS: %v, want Secure and HttpOnly", session)
	}

	if !strings.Contains(logs.String(), a.adminFingerprint) {
		t.Errorf("the log does not show the fingerprint:\n%s", logs.String())
	}
	_, key, err := a.store.TLSCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"PRIVATE KEY", string(key)} {
		if strings.Contains(logs.String(), secret) || strings.Contains(string(page), secret) {
			t.Errorf("the log or the page has the certificate's key")
		}
	}
}

// TestRecordCall checks how each way a call can end lands in the call history.
func TestRecordCall(t *testing.T) {
	a := newSimAppliance(t, nil)
	defer a.store.Close()
	answered := time.Now().Add(-90 * time.Second)
	inCall := handset.Status{State: handset.InCall, CallStart: answered, Quality: media.Stats{PacketsReceived: 990, Lost: 10, MOS: 4.256}}
	for _, tt := range []struct {
		name string
		st   handset.Status
		err  error
		want settings.CallRecord
	}{
		{"we hung up", inCall, nil, settings.CallRecord{End: settings.EndLocal, Duration: 90 * time.Second, MOS: 4.26, LossPercent: 1}},
		{"the far end hung up", inCall, sip.ErrRemoteHangup, settings.CallRecord{End: settings.EndRemote, Duration: 90 * time.Second, MOS: 4.26, LossPercent: 1}},
		{"the media broke", inCall, errors.New("RTP socket closed"), settings.CallRecord{End: settings.EndFailed, Duration: 90 * time.Second, Detail: "RTP socket closed", MOS: 4.26, LossPercent: 1}},
		{"refused", handset.Status{State: handset.Joining}, &sip.JoinError{Status: 486, Reason: "Busy Here"}, settings.CallRecord{End: settings.EndFailed, Status: 486, Detail: "486 Busy Here"}},
		{"refused, wrapped", handset.Status{State: handset.Joining}, errors.Join(errors.New("join"), &sip.JoinError{Status: 403, Reason: "Forbidden"}), settings.CallRecord{End: settings.EndFailed, Status: 403, Detail: "403 Forbidden"}},
		{"given up", handset.Status{State: handset.Joining}, nil, settings.CallRecord{End: settings.EndCancelled}},
		{"given up, cancelled", handset.Status{State: handset.Joining}, context.Canceled, settings.CallRecord{End: settings.EndCancelled}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			a.recordCall(0, tt.st, tt.err)
			got, err := a.store.History(1)
			if err != nil || len(got) != 1 {
				t.Fatalf("History: %v, %v", got, err)
			}
			rec := got[0]
			if tt.st.CallStart.IsZero() {
				if rec.Start.Before(before) || rec.Start.After(time.Now()) {
					t.Errorf("start of a call never answered: %v, want now", rec.Start)
				}
			} else if !rec.Start.Equal(answered) {
				t.Errorf("start: %v, want the answer at %v", rec.Start, answered)
			}
			want := tt.want
			want.Handset, want.Conference, want.Start = "Handset 1", "", rec.Start
			if rec != want {
				t.Errorf("recorded\n %+v\nwant\n %+v", rec, want)
			}
		})
	}
	events := a.events.Events()
	if last := events[len(events)-1]; last.Source != "Handset 1" || !strings.Contains(last.Text, "call ended") {
		t.Errorf("last event: %+v, want the call's end", last)
	}
}

// TestBackendControl drives the handsets through the admin page's backend on a running sim
// appliance: without a conference URI a join fails, with the reason on the dashboard and in
// the event log; mute, hold and resume need a call.
func TestBackendControl(t *testing.T) {
	a := newSimAppliance(t, nil)
	run(t, a)
	b := backend{a}
	if err := b.Control(0, web.ActionMute); err == nil || !strings.Contains(err.Error(), "not in a call") {
		t.Errorf("Mute outside a call: got %v, want a refusal", err)
	}
	for _, a := range []web.Action{web.ActionHold, web.ActionResume} {
		if err := b.Control(0, a); err == nil || !strings.Contains(err.Error(), "not in a call") {
			t.Errorf("%s outside a call: got %v, want a refusal", a, err)
		}
	}
	if err := b.Control(0, web.ActionLeave); err != nil {
		t.Errorf("Leave without a call: got %v, want nothing done", err)
	}
	if err := b.Control(5, web.ActionJoin); err == nil {
		t.Errorf("Join on handset 6 of 2: got nil, want an error")
	}
	if err := b.Control(0, web.ActionJoin); err != nil {
		t.Fatalf("Join: %v", err)
	}
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(b.Status().Handsets[0].Detail, "has no conference to join") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed join does not show: %+v", b.Status().Handsets[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The event log gets the start (logged by Run's goroutine, which may come late on a
	// busy machine), the join asked for and its failure.
	var texts []string
	for _, want := range []string{"appliance: started on the sim board", "Handset 1: join, asked on the admin page", "has no conference to join"} {
		for !strings.Contains(strings.Join(texts, "\n"), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the event log lacks %q: %q", want, texts)
			}
			time.Sleep(20 * time.Millisecond)
			texts = texts[:0]
			for _, e := range b.Events() {
				texts = append(texts, e.Source+": "+e.Text)
			}
		}
	}
	st := b.Status().Handsets[0]
	if st.Busy || st.InCall || st.Quality != nil || st.MicDBFS != math.Round(st.MicDBFS) || st.MicDBFS > 0 {
		t.Errorf("handset 1 after the failed join: %+v", st)
	}
}

func TestCallQuality(t *testing.T) {
	q := callQuality(media.Stats{PacketsSent: 500, PacketsReceived: 297, Lost: 3, Jitter: 2345 * time.Microsecond, RTT: 41 * time.Millisecond, MOS: 4.1234, Late: 2, Concealed: 7})
	want := web.CallQuality{PacketsSent: 500, PacketsReceived: 297, Lost: 3, LossPercent: 1, JitterMS: 2.3, RTTMS: 41, MOS: 4.12, Late: 2, Concealed: 7}
	if *q != want {
		t.Errorf("got %+v, want %+v", *q, want)
	}
	if got := lossPercent(media.Stats{}); got != 0 {
		t.Errorf("loss without packets: got %v, want 0", got)
	}
}

// TestStatusPushed follows the admin backend's change notifications, as an event stream
// does, on a running sim appliance: a saved setting, a lifted handset and an event each
// arrive as a notification after which the status or the event log shows them.
func TestStatusPushed(t *testing.T) {
	a := newSimAppliance(t, nil)
	run(t, a)
	b := backend{a}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changed := b.Subscribe(ctx)
	// waitFor waits for a notification after which ok says the change shows.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		failsafe := time.After(10 * time.Second)
		for {
			select {
			case <-changed:
				if ok() {
					return
				}
			case <-failsafe:
				t.Fatalf("%s: not told within 10 s", what)
			}
		}
	}
	// drain forgets a notification told before: the next must come from what the test does.
	drain := func() {
		select {
		case <-changed:
		default:
		}
	}
	drain()
	_, err := b.UpdateSettings(func(set *settings.Settings) error {
		set.Handsets[0].Name = "Kitchen"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the new name", func() bool { return b.Status().Handsets[0].Name == "Kitchen" })
	drain()
	if err := b.SetHook(1, true); err != nil {
		t.Fatal(err)
	}
	waitFor("the lifted handset", func() bool { return b.Status().Handsets[1].OffHook })
	drain()
	a.events.Add(slog.LevelInfo, "test", "pushed")
	waitFor("the event", func() bool {
		// Not necessarily the last: the lifted handset's join goes on beside.
		return slices.ContainsFunc(b.Events(), func(e web.Event) bool { return e.Text == "pushed" })
	})
}
