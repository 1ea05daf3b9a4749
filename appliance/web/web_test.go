package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestPage(t *testing.T) {
	c := loggedIn(t, newFake(t))
	rec := c.get("/")
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`name="viewport"`,
		"sim",
		"Kitchen", "Garden",
		"486 Busy Here",
		"&#34;Kitchen&#34; &lt;sip:alice@example.org&gt;", // escaped identity
		"sip:conf@example.org",
		`action="/handsets/0/hook"`, ">Lift<",
		`action="/handsets/1/hook"`, ">Replace<",
		"sip:alice@example.org", "registered",
		`action="/logout"`, `href="/settings"`, `href="/history"`,
		// Meters that say their level in words too.
		`<meter id="handset-0-mic" data-field="mic" min="-60" max="0" low="-40" high="-6" optimum="-20" value="-120" aria-valuetext="silent">silent</meter>`,
		`<meter id="handset-1-ear" data-field="ear" min="-60" max="0" low="-40" high="-6" optimum="-20" value="-18" aria-valuetext="-18 dBFS">-18 dBFS</meter>`,
		`<label for="handset-1-mic">Microphone level</label>`,
		// Remote control, as forms that work without script.
		`<input type="hidden" name="action" value="join">`,
		`<button type="submit" aria-label="Mute Kitchen" disabled>Mute</button>`,
		"not in a call",
		`data-server-time="`,
		`<p id="no-events">Nothing has happened yet.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for header, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := rec.Header().Get(header); !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want it to contain %q", header, got, want)
		}
	}
}

func TestStatic(t *testing.T) {
	c := &client{t: t, h: newHandler(newFake(t))} // no session needed
	for _, path := range []string{"/static/app.js", "/static/style.css"} {
		rec := c.get(path)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: got %d with %d bytes, want 200 with content", path, rec.Code, rec.Body.Len())
		}
	}
}

func TestHook(t *testing.T) {
	type header = []string
	json := header{"Accept", "application/json"}
	tests := []struct {
		name      string
		path      string
		form      url.Values
		header    header
		hookErr   error
		wantCode  int
		wantCalls []string
		wantBody  string
	}{
		{"lift", "/handsets/0/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusSeeOther, []string{"lift 0"}, ""},
		{"replace", "/handsets/1/hook", url.Values{"offhook": {"0"}}, nil, nil, http.StatusSeeOther, []string{"replace 1"}, ""},
		{"same origin", "/handsets/0/hook", url.Values{"offhook": {"1"}}, header{"Sec-Fetch-Site", "same-origin"}, nil, http.StatusSeeOther, []string{"lift 0"}, ""},
		{"script", "/handsets/0/hook", url.Values{"offhook": {"1"}}, json, nil, http.StatusNoContent, []string{"lift 0"}, ""},
		{"index out of range", "/handsets/2/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"negative index", "/handsets/-1/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"index not a number", "/handsets/x/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"bad value", "/handsets/0/hook", url.Values{"offhook": {"yes"}}, nil, nil, http.StatusBadRequest, nil, "offhook must be"},
		{"missing value", "/handsets/0/hook", nil, nil, nil, http.StatusBadRequest, nil, "offhook must be"},
		{"bad value, script", "/handsets/0/hook", url.Values{"offhook": {"yes"}}, json, nil, http.StatusBadRequest, nil, `{"error":"offhook must be`},
		{"cross-site", "/handsets/0/hook", url.Values{"offhook": {"1"}}, header{"Sec-Fetch-Site", "cross-site"}, nil, http.StatusForbidden, nil, ""},
		{"backend error shown", "/handsets/0/hook", url.Values{"offhook": {"1"}}, nil, errors.New("no virtual hook"), http.StatusConflict, nil, "no virtual hook"},
		{"backend error, script", "/handsets/0/hook", url.Values{"offhook": {"1"}}, json, errors.New("no virtual hook"), http.StatusConflict, nil, `{"error":"handset 1: no virtual hook"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.hookErr = tt.hookErr
			c := loggedIn(t, f)
			rec := c.post(tt.path, tt.form, tt.header...)
			if rec.Code != tt.wantCode {
				t.Errorf("status: got %d, want %d (body %q)", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == http.StatusSeeOther {
				if loc := rec.Header().Get("Location"); loc != "/" {
					t.Errorf("Location: got %q, want \"/\"", loc)
				}
			}
			if got := f.hookCalls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("backend calls: got %q, want %q", got, tt.wantCalls)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %q lacks %q", rec.Body, tt.wantBody)
			}
		})
	}
}

func TestAPIStatusRoundTrips(t *testing.T) {
	f := newFake(t)
	rec := loggedIn(t, f).get("/api/status")
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var got Status
	if err := json.NewDecoder(rec.Body).Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.ServerTime.IsZero() || time.Since(got.ServerTime) > time.Minute {
		t.Errorf("serverTime: got %v, want the time now", got.ServerTime)
	}
	got.ServerTime = time.Time{}
	if want := f.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestEventsSendChanges(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	srv := httptest.NewServer(c.h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c.cookie)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	stream := sseReader{bufio.NewScanner(res.Body)}
	next := func() Status {
		t.Helper()
		var st Status
		stream.next(t, "", &st)
		return st
	}

	if got := next(); got.Handsets[0].State != "on hook" || got.ServerTime.IsZero() {
		t.Errorf("first event: state %q at %v, want \"on hook\" and the server's time", got.Handsets[0].State, got.ServerTime)
	}
	f.setState(0, "in call", "")
	if got := next(); got.Handsets[0].State != "in call" {
		t.Errorf("after the change: state %q, want \"in call\"", got.Handsets[0].State)
	}
	f.setState(0, "ended", "486 Busy Here")
	if got := next(); got.Handsets[0].Detail != "486 Busy Here" {
		t.Errorf("after the failure: detail %q, want \"486 Busy Here\"", got.Handsets[0].Detail)
	}
	f.setLevels(0, -20, -30)
	if got := next(); got.Handsets[0].MicDBFS != -20 || got.Handsets[0].EarDBFS != -30 {
		t.Errorf("after the levels changed: mic %v, ear %v; want -20 and -30", got.Handsets[0].MicDBFS, got.Handsets[0].EarDBFS)
	}

	f.events.Add(slog.LevelWarn, "Kitchen", "join failed: 486 Busy Here")
	f.events.Add(slog.LevelInfo, "alice", "registered")
	// The stream may wake between the two Adds and send them as two "log" events; each
	// carries the entries after the previous one's id.
	var logged []Event
	for id := ""; id != "2" && len(logged) < 2; {
		var batch []Event
		id = stream.next(t, "log", &batch)
		logged = append(logged, batch...)
		if want := strconv.Itoa(len(logged)); id != want {
			t.Fatalf("log event id: got %q after %d entries, want %q", id, len(logged), want)
		}
	}
	if len(logged) != 2 || logged[0].Text != "join failed: 486 Busy Here" || logged[0].Level != "WARN" || logged[1].Source != "alice" {
		t.Errorf("log event: got %+v, want both events, oldest first", logged)
	}
}

// sseReader reads a text/event-stream.
type sseReader struct{ sc *bufio.Scanner }

// next decodes the data of the next event named name ("" = unnamed) into
// v and returns its id; it skips other events.
func (r sseReader) next(t *testing.T, name string, v any) (id string) {
	t.Helper()
	var event, data string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if data != "" && event == name {
				if err := json.Unmarshal([]byte(data), v); err != nil {
					t.Fatalf("decode event %q: %v", data, err)
				}
				return id
			}
			event, data, id = "", "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		}
	}
	t.Fatalf("event stream ended: %v", r.sc.Err())
	return ""
}

// streamEvents runs GET /events for c in the background (inside a synctest
// bubble) and returns the recorder and a channel closed when it returns.
func streamEvents(ctx context.Context, c *client) (*httptest.ResponseRecorder, chan struct{}) {
	req := httptest.NewRequestWithContext(ctx, "GET", "/events", nil)
	req.AddCookie(c.cookie)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		c.h.ServeHTTP(rec, req)
		close(done)
	}()
	return rec, done
}

func TestEventsStopWithClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := loggedIn(t, newFake(t))
		ctx, cancel := context.WithCancel(t.Context())
		rec, done := streamEvents(ctx, c)
		time.Sleep(time.Minute) // fake clock: a long while, no change
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("event stream still running after the client went away")
		}
		if got := strings.Count(rec.Body.String(), "data: "); got != 1 {
			t.Errorf("events for an unchanged status: got %d, want 1", got)
		}
	})
}

func TestEventsStopWithSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := loggedIn(t, newFake(t))
		_, done := streamEvents(t.Context(), c)
		time.Sleep(time.Second)
		if rec := c.post("/logout", nil); rec.Code != http.StatusSeeOther {
			t.Fatalf("logout: got %d, want 303", rec.Code)
		}
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("event stream still running after logout")
		}
	})
}

// TestEventsStopAtSessionEnd: a stream ends when its session runs out, though nothing
// changes to wake it.
func TestEventsStopAtSessionEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := loggedIn(t, newFake(t))
		_, done := streamEvents(t.Context(), c)
		time.Sleep(SessionLifetime - time.Second)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("event stream ended before its session")
		default:
		}
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("event stream still running after its session ended")
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	c := &client{t: t, h: newHandler(newFake(t))}
	for _, tt := range []struct {
		method, path string
		header       []string
		wantCode     int
		wantLocation string
	}{
		{"GET", "/", nil, http.StatusSeeOther, "/login"},
		{"GET", "/settings", nil, http.StatusSeeOther, "/login"},
		{"GET", "/settings/export", nil, http.StatusSeeOther, "/login"},
		{"POST", "/handsets/0/hook", nil, http.StatusSeeOther, "/login"},
		{"POST", "/handsets/0/hook", []string{"Accept", "application/json"}, http.StatusUnauthorized, ""},
		{"POST", "/handsets/0/control", nil, http.StatusSeeOther, "/login"},
		{"POST", "/handsets/0/control", []string{"Accept", "application/json"}, http.StatusUnauthorized, ""},
		{"GET", "/history", nil, http.StatusSeeOther, "/login"},
		{"GET", "/api/history", nil, http.StatusUnauthorized, ""},
		{"POST", "/settings/conferences/main", nil, http.StatusSeeOther, "/login"},
		{"GET", "/api/status", nil, http.StatusUnauthorized, ""},
		{"GET", "/events", nil, http.StatusUnauthorized, ""},
		{"GET", "/metrics", nil, http.StatusUnauthorized, ""}, // from 192.0.2.1, not loopback
	} {
		var rec *httptest.ResponseRecorder
		if tt.method == "GET" {
			rec = c.get(tt.path)
		} else {
			rec = c.post(tt.path, url.Values{"offhook": {"1"}, "action": {"join"}, "uri": {"sip:x@example.org"}}, tt.header...)
		}
		if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
			t.Errorf("%s %s %v: got %d to %q, want %d to %q", tt.method, tt.path, tt.header, rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation)
		}
	}
}

// TestScriptLogin follows the documented login of a script, or of a test
// of the whole appliance: POST /login with the password, keep the cookie.
func TestScriptLogin(t *testing.T) {
	srv := httptest.NewServer(newHandler(newFake(t)))
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: failsafe}
	res, err := c.PostForm(srv.URL+"/login", url.Values{"password": {adminPassword}})
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		t.Fatalf("POST /login: ended at %s with %d, want / with 200", res.Request.URL, res.StatusCode)
	}
	res, err = c.Get(srv.URL + "/api/status")
	if err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	defer res.Body.Close()
	var st Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || st.Board != "sim" {
		t.Errorf("GET /api/status: got %+v, %v; want the status", st, err)
	}
}
