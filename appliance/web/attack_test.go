package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"partyline/appliance/settings"
)

// The tests in this file replay the attacks on the admin page that issue 13 lists,
// against a real server on loopback sockets, served as the appliance serves it
// (NewServer, LimitConnections), and check that each is refused and changed nothing.

// serve serves h as the appliance does, on a loopback socket, until the test ends, and
// returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	return serveWith(t, h, func(*http.Server) {})
}

// serveWith is serve with the server changed by change first.
func serveWith(t *testing.T, h http.Handler, change func(*http.Server)) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config = NewServer(t.Context(), h, slog.New(slog.NewTextHandler(t.Output(), nil)))
	change(ts.Config)
	ts.Listener = LimitConnections(ts.Listener, MaxConnsPerClient)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

// from returns a client whose connections come from the loopback address src, so that
// a test can be many networks at once: all of 127.0.0.0/8 is this machine's.
func from(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// postForm posts form to base+path with c and returns the status and body.
func postForm(t *testing.T, c *http.Client, base, path string, form url.Values, header ...string) (int, string) {
	t.Helper()
	code, body, err := tryPost(c, base, path, form, header...)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// tryPost is postForm for a goroutine other than the test's: it returns its error.
func tryPost(c *http.Client, base, path string, form url.Values, header ...string) (int, string, error) {
	req, err := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", path, err)
	}
	return res.StatusCode, string(b), nil
}

// get GETs base+path with c, naming host in the Host header unless it is "".
func get(t *testing.T, c *http.Client, base, path, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return res.StatusCode, string(b)
}

// ownerLogsIn checks that the admin password logs in from src.
func ownerLogsIn(t *testing.T, base, src string) {
	t.Helper()
	code, body := postForm(t, from(src), base, "/login", url.Values{"password": {adminPassword}})
	if code != http.StatusSeeOther {
		t.Fatalf("the owner logging in from %s: got %d, want 303\n%s", src, code, body)
	}
}

// TestDNSRebindingRefused: a page of another site whose name resolves to the appliance
// (DNS rebinding) makes the owner's browser send requests that name that site. They can
// neither set the first password nor read /metrics, which loopback clients may read
// without a session; the same requests naming the appliance work.
func TestDNSRebindingRefused(t *testing.T) {
	f := newFakeFirstStart(t)
	base := serve(t, newHandler(f))
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	c := from("127.0.0.1")
	before, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}

	for _, host := range []string{"attacker.example:" + port, "attacker.example", "0.0.0.0:" + port, "192.0.2.1", ""} {
		form := url.Values{"code": {f.setupCode}, "password": {adminPassword}, "confirm": {adminPassword}}
		// Go sends the URL's host when Host is empty: send one that names nobody.
		h := host
		if h == "" {
			h = "."
		}
		code, body := postForm(t, c, base, "/setup", form, "Host", h)
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "DNS rebinding") {
			t.Errorf("POST /setup as %q: got %d, want 421 with an explanation\n%s", h, code, body)
		}
		code, body = get(t, c, base, "/metrics", h)
		if code != http.StatusMisdirectedRequest || strings.Contains(body, "Kitchen") {
			t.Errorf("GET /metrics as %q: got %d, want 421 without the metrics\n%s", h, code, body)
		}
	}
	if set, _ := f.AdminPasswordSet(); set {
		t.Fatal("a rebound page set the admin password")
	}
	if after, err := f.Settings(); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("settings changed: %+v, %v", after, err)
	}

	// The appliance's own names work: its address, localhost, its host name, and a name
	// the settings add.
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, strings.ToUpper(name), name + ".local:" + port, "example.com"} {
		if code, body := get(t, c, base, "/metrics", host); code != http.StatusOK || !strings.Contains(body, "Kitchen") {
			t.Errorf("GET /metrics as %q: got %d, want 200 with the metrics", host, code)
		}
	}
	if code, _ := get(t, c, base, "/metrics", "partyline.example.org"); code != http.StatusMisdirectedRequest {
		t.Fatalf("GET /metrics as a name not configured yet: got %d, want 421", code)
	}
	if _, err := f.UpdateSettings(func(s *settings.Settings) error {
		s.AdminPage.Hosts = append(s.AdminPage.Hosts, "partyline.example.org")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, c, base, "/metrics", "partyline.example.org:"+port); code != http.StatusOK {
		t.Errorf("GET /metrics as a configured name: got %d, want 200", code)
	}
	form := url.Values{"code": {f.setupCode}, "password": {adminPassword}, "confirm": {adminPassword}}
	if code, body := postForm(t, c, base, "/setup", form); code != http.StatusSeeOther {
		t.Errorf("POST /setup naming the appliance: got %d, want 303\n%s", code, body)
	}
}

// TestLoginFailuresFromManyNetworks: guesses from 2000 networks, more than the table of
// failures holds, fill it; the owner still logs in from a network that has not failed,
// and a network that keeps guessing is still held up.
func TestLoginFailuresFromManyNetworks(t *testing.T) {
	f := newFake(t)
	base := serve(t, newHandler(f))
	const networks = 2000
	src := func(i int) string { return fmt.Sprintf("127.%d.%d.1", 1+i/256, i%256) } // one per /24

	var wg sync.WaitGroup
	work := make(chan int)
	var unexpected atomic.Int32
	for range 8 {
		wg.Go(func() {
			for i := range work {
				code, _, err := tryPost(from(src(i)), base, "/login", url.Values{"password": {"guess"}})
				if err != nil || code != http.StatusUnauthorized {
					t.Log(code, err)
					unexpected.Add(1)
				}
			}
		})
	}
	for i := range networks {
		work <- i
	}
	close(work)
	wg.Wait()
	if n := unexpected.Load(); n > 0 {
		t.Errorf("%d guesses were not answered 401", n)
	}
	// A network that goes on guessing is held up: the table did not just forget.
	last := from(src(networks - 1))
	for range MaxLoginFailures - 1 {
		if code, _ := postForm(t, last, base, "/login", url.Values{"password": {"guess"}}); code != http.StatusUnauthorized {
			t.Errorf("a further guess: got %d, want 401", code)
		}
	}
	if code, _ := postForm(t, last, base, "/login", url.Values{"password": {adminPassword}}); code != http.StatusTooManyRequests {
		t.Errorf("the network that kept guessing, with the right password: got %d, want 429", code)
	}
	ownerLogsIn(t, base, "127.250.0.1")
}

// TestPasswordStorm: many networks guess at once; no more than MaxPasswordChecks
// password checks run at a time, the guesses beyond the limits are answered at once
// with 429 or 503, and the owner logs in from a network that has not failed while the
// storm goes on.
func TestPasswordStorm(t *testing.T) {
	f := newFake(t)
	f.checkDelay = 20 * time.Millisecond // a bcrypt's worth
	base := serve(t, newHandler(f))
	const guessers = 40

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var failedOnce sync.WaitGroup
	failedOnce.Add(guessers)
	codes := make(map[int]int)
	var mu sync.Mutex
	for g := range guessers {
		wg.Go(func() {
			c := from(fmt.Sprintf("127.9.%d.1", g))
			first := true
			for ctx.Err() == nil {
				code, _, err := tryPost(c, base, "/login", url.Values{"password": {"guess"}})
				if err != nil {
					t.Errorf("a guess: %v", err)
					break
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
				if first && code == http.StatusUnauthorized {
					failedOnce.Done()
					first = false
				}
			}
			if first {
				failedOnce.Done()
			}
		})
	}
	failedOnce.Wait() // every guesser's network is failing now
	ownerLogsIn(t, base, "127.10.0.1")
	stop()
	wg.Wait()

	if m := f.maxChecking.Load(); m > MaxPasswordChecks || m < 1 {
		t.Errorf("up to %d password checks ran at once, want 1 to %d", m, MaxPasswordChecks)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers to the guesses: %v", codes)
	for code := range codes {
		switch code {
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("a guess got %d", code)
		}
	}
	if codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable] == 0 {
		t.Error("no guess was refused without a check")
	}
}

// countingReader is n bytes of 'a', made as they are read, counting what was read.
type countingReader struct {
	n    int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	read := r.read.Load()
	if read >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-read)]
	for i := range p {
		p[i] = 'a'
	}
	r.read.Add(int64(len(p)))
	return len(p), nil
}

// TestHugeLoginBody: a 400 MiB login, as a form or as a multipart file, is refused
// before much of it is read: nothing lands in a temporary file and the memory in use
// stays small. The owner logs in afterwards.
func TestHugeLoginBody(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where multipart parsing would spill
	f := newFake(t)
	base := serve(t, newHandler(f))
	const size = 400 << 20
	const bound = 32 << 20 // what may be read before the refusal, socket buffers included

	for _, tt := range []struct {
		name string
		// body returns the body to send, its type, and a func that waits until
		// nothing reads r any more.
		body   func(r *countingReader) (io.ReadCloser, string, func())
		status int
	}{
		{"form", func(r *countingReader) (io.ReadCloser, string, func()) {
			return io.NopCloser(io.MultiReader(strings.NewReader("password="), r)), "application/x-www-form-urlencoded", func() {}
		}, http.StatusRequestEntityTooLarge},
		{"multipart", func(r *countingReader) (io.ReadCloser, string, func()) {
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			done := make(chan struct{})
			go func() {
				defer close(done)
				part, err := mw.CreateFormFile("password", "password.txt")
				if err == nil {
					_, err = io.Copy(part, r) // ends when the client closes pr
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			return pr, mw.FormDataContentType(), func() { pr.Close(); <-done }
		}, http.StatusUnsupportedMediaType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := &countingReader{n: size}
			body, ctype, wait := tt.body(r)
			req, err := http.NewRequest("POST", base+"/login", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ctype)
			res, err := from("127.0.0.1").Do(req)
			switch {
			case err != nil: // the server closed the connection while the body was still going
				t.Logf("POST: %v", err)
			default:
				res.Body.Close()
				if res.StatusCode != tt.status {
					t.Errorf("POST: got %s, want %d", res.Status, tt.status)
				}
			}
			wait()
			runtime.ReadMemStats(&after)
			if read := r.read.Load(); read > bound {
				t.Errorf("the server read %d MiB of the body before refusing it", read>>20)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > bound {
				t.Errorf("%d MiB allocated while the body was sent", grew>>20)
			}
			if entries, err := os.ReadDir(tmp); err != nil || len(entries) > 0 {
				t.Errorf("temporary files: %v, %v", entries, err)
			}
		})
	}
	ownerLogsIn(t, base, "127.0.0.1")
}

// TestSetupWithoutCode: at first start, a client that can reach the page but cannot read
// the appliance's log or files cannot set the password: wrong codes are refused, change
// nothing, and count as failures.
func TestSetupWithoutCode(t *testing.T) {
	f := newFakeFirstStart(t)
	base := serve(t, newHandler(f))
	before, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	c := from("127.0.0.1")
	for i := range MaxLoginFailures {
		form := url.Values{"code": {fmt.Sprintf("%012d", i)}, "password": {"attacker-password"}, "confirm": {"attacker-password"}}
		if code, body := postForm(t, c, base, "/setup", form); code != http.StatusForbidden {
			t.Fatalf("setup with a wrong code: got %d, want 403\n%s", code, body)
		}
	}
	form := url.Values{"code": {f.setupCode}, "password": {"attacker-password"}, "confirm": {"attacker-password"}}
	if code, _ := postForm(t, c, base, "/setup", form); code != http.StatusTooManyRequests {
		t.Errorf("after %d wrong codes: got %d, want 429", MaxLoginFailures, code)
	}
	if set, _ := f.AdminPasswordSet(); set {
		t.Fatal("the password was set without the code")
	}
	if after, err := f.Settings(); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("settings changed: %+v, %v", after, err)
	}
	// The owner, with the code, from another network, sets it and is logged in.
	owner := from("127.1.0.1")
	form = url.Values{"code": {f.setupCode}, "password": {adminPassword}, "confirm": {adminPassword}}
	req, _ := http.NewRequest("POST", base+"/setup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := owner.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == SessionCookie {
			cookie = ck
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("setup with the code: got %s and cookie %v, want 303 and a session", res.Status, cookie)
	}
	req, _ = http.NewRequest("GET", base+"/settings", nil)
	req.AddCookie(cookie)
	if res, err := owner.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the settings page right after setup: %v, %v; want 200", res, err)
	} else {
		res.Body.Close()
	}
}

// TestSetupByPresence: holding a handset's call button proves presence, and for the
// window it opens the first password needs no setup code; the page says so. Before it,
// and after it, a setup without the code is refused.
func TestSetupByPresence(t *testing.T) {
	f := newFakeFirstStart(t)
	base := serve(t, newHandler(f))
	c := from("127.0.0.1")
	form := url.Values{"code": {""}, "password": {adminPassword}, "confirm": {adminPassword}}
	f.mu.Lock()
	f.presenceUntil = time.Now().Add(-time.Second) // a window that has closed
	f.mu.Unlock()
	if code, body := postForm(t, c, base, "/setup", form); code != http.StatusForbidden {
		t.Fatalf("setup without a code, no presence: got %d, want 403\n%s", code, body)
	}

	f.mu.Lock()
	f.presenceUntil = time.Now().Add(5 * time.Minute)
	f.mu.Unlock()
	res, err := c.Get(base + "/setup")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "call button was held at the device") || strings.Contains(string(page), `name="code" type="text" value="" required`) {
		t.Errorf("the setup page does not say that no code is needed:\n%s", page)
	}
	if code, body := postForm(t, c, base, "/setup", form); code != http.StatusSeeOther {
		t.Fatalf("setup without a code after presence: got %d, want 303\n%s", code, body)
	}
	if set, _ := f.AdminPasswordSet(); !set {
		t.Error("the password was not set")
	}
	ownerLogsIn(t, base, "127.0.0.1")
}

// TestSlowClientsCut: a connection that never finishes its request's headers is closed
// after ReadHeaderTimeout, and one client cannot hold more than MaxConnsPerClient
// connections, while another still gets served.
func TestSlowClientsCut(t *testing.T) {
	base := serve(t, newHandler(newFake(t)))
	addr := strings.TrimPrefix(base, "http://")
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports whether the server closes c within limit.
	closed := func(c net.Conn, limit time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(limit))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}

	slow := dial("127.0.0.1")
	if _, err := io.WriteString(slow, "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	hold := []net.Conn{slow}
	for len(hold) < MaxConnsPerClient {
		hold = append(hold, dial("127.0.0.1"))
	}
	start := time.Now()
	if over := dial("127.0.0.1"); !closed(over, time.Second) {
		t.Errorf("connection %d from one address was not closed at once", MaxConnsPerClient+1)
	}
	if code, _ := get(t, from("127.0.0.2"), base, "/login", ""); code != http.StatusOK {
		t.Errorf("another client while one holds %d connections: got %d, want 200", MaxConnsPerClient, code)
	}
	if !closed(slow, ReadHeaderTimeout+10*time.Second) {
		t.Fatalf("a connection that never finished its headers was still open after %v", time.Since(start))
	}
	t.Logf("unfinished request cut after %v", time.Since(start).Round(100*time.Millisecond))
	for _, c := range hold[1:] {
		if !closed(c, 10*time.Second) {
			t.Errorf("an idle connection was still open after %v", time.Since(start))
		}
	}
	// Closed connections give their places back.
	c := dial("127.0.0.1")
	if _, err := io.WriteString(c, "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("after the connections were cut: %v, %v; want 200", res, err)
	}
}

// TestStaticNoListing: /static/ serves its files but does not list them.
func TestStaticNoListing(t *testing.T) {
	base := serve(t, newHandler(newFake(t)))
	c := from("127.0.0.1")
	for _, path := range []string{"/static/", "/static"} {
		req, _ := http.NewRequest("GET", base+path, nil)
		res, err := (&http.Client{Transport: c.Transport}).Do(req) // follows redirects
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || strings.Contains(string(b), "app.js") {
			t.Errorf("GET %s: got %s, want 404 without a listing\n%s", path, res.Status, b)
		}
	}
	if code, body := get(t, c, base, "/static/app.js", ""); code != http.StatusOK || len(body) == 0 {
		t.Errorf("GET /static/app.js: got %d, want 200", code)
	}
}

// TestEventStreamOutlivesWriteTimeout: the dashboard's event stream keeps going past the
// server's WriteTimeout and ReadTimeout, which end every other exchange. The timeouts are
// shortened here so that the test need not wait a minute.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	const timeout = 300 * time.Millisecond
	base := serveWith(t, c.h, func(s *http.Server) { s.WriteTimeout, s.ReadTimeout = timeout, timeout })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c.cookie)
	res, err := from("127.0.0.1").Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer res.Body.Close()
	stream := sseReader{bufio.NewScanner(res.Body)}
	var st Status
	stream.next(t, "", &st)
	time.Sleep(3 * timeout)
	f.setState(0, "dialing", "")
	stream.next(t, "", &st)
	if st.Handsets[0].State != "dialing" {
		t.Errorf("event after the write timeout: state %q, want dialing", st.Handsets[0].State)
	}

	// Other answers are still bounded by it: a page is written before the timeout.
	if code, _ := get(t, from("127.0.0.1"), base, "/login", ""); code != http.StatusOK {
		t.Errorf("GET /login: got %d, want 200", code)
	}
}

// TestLimiterTableBounded: the table of failures never holds more than
// maxLoginPrefixes networks and makes room by forgetting the one whose last failure is
// oldest; IPv6 clients count by /64.
func TestLimiterTableBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l limiter
		p := func(i int) netip.Prefix {
			return clientPrefix(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}))
		}
		for i := range maxLoginPrefixes + 10 {
			if _, clean, ok := l.attempt(p(i)); !ok || !clean {
				t.Fatalf("first failure of network %d: ok %v, clean %v; want both", i, ok, clean)
			}
			time.Sleep(time.Millisecond)
		}
		if n := len(l.fails); n != maxLoginPrefixes {
			t.Errorf("table holds %d networks, want %d", n, maxLoginPrefixes)
		}
		if _, ok := l.fails[p(0)]; ok {
			t.Error("the oldest network was kept")
		}
		if _, ok := l.fails[p(maxLoginPrefixes+9)]; !ok {
			t.Error("the newest network was forgotten")
		}

		a := netip.MustParseAddr("2001:db8:1:2:aaaa::1")
		b := netip.MustParseAddr("2001:db8:1:2:bbbb::2")
		other := netip.MustParseAddr("2001:db8:1:3::1")
		if clientPrefix(a) != clientPrefix(b) || clientPrefix(a) == clientPrefix(other) || clientPrefix(a).Bits() != 64 {
			t.Errorf("IPv6 prefixes: %v %v %v, want the first two the same /64", clientPrefix(a), clientPrefix(b), clientPrefix(other))
		}
	})
}
