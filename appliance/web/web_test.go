package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeBackend records SetHook calls and returns a status the test sets.
type fakeBackend struct {
	mu      sync.Mutex // guards following
	status  Status
	calls   []string
	hookErr error
}

func (f *fakeBackend) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Handsets = slices.Clone(st.Handsets)
	st.Registrations = slices.Clone(st.Registrations)
	return st
}

func (f *fakeBackend) SetHook(i int, offHook bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hookErr != nil {
		return f.hookErr
	}
	f.calls = append(f.calls, hookCall(i, offHook))
	f.status.Handsets[i].OffHook = offHook
	return nil
}

func (f *fakeBackend) setState(i int, state, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Handsets[i].State = state
	f.status.Handsets[i].Detail = detail
}

func (f *fakeBackend) hookCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func hookCall(i int, offHook bool) string {
	if offHook {
		return fmt.Sprintf("lift %d", i)
	}
	return fmt.Sprintf("replace %d", i)
}

func newFake() *fakeBackend {
	return &fakeBackend{status: Status{
		Board: "sim",
		Handsets: []HandsetStatus{
			{Index: 0, Name: "Kitchen", State: "on hook", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org", LED: "off", Virtual: true},
			{Index: 1, Name: "Garden", State: "ended", Detail: "486 Busy Here", OffHook: true, LED: "off", Virtual: true},
		},
		Registrations: []RegistrationStatus{
			{Account: "alice", AOR: "sip:alice@example.org", State: "registered", Expires: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		},
	}}
}

func newHandler(b Backend) http.Handler {
	return Handler(b, slog.New(slog.DiscardHandler))
}

func TestPage(t *testing.T) {
	f := newFake()
	rec := httptest.NewRecorder()
	newHandler(f).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
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
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestStatic(t *testing.T) {
	for _, path := range []string{"/static/app.js", "/static/style.css"} {
		rec := httptest.NewRecorder()
		newHandler(newFake()).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: got %d with %d bytes, want 200 with content", path, rec.Code, rec.Body.Len())
		}
	}
}

func TestHook(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		form      url.Values
		header    map[string]string
		hookErr   error
		wantCode  int
		wantCalls []string
		wantBody  string
	}{
		{"lift", "/handsets/0/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusSeeOther, []string{"lift 0"}, ""},
		{"replace", "/handsets/1/hook", url.Values{"offhook": {"0"}}, nil, nil, http.StatusSeeOther, []string{"replace 1"}, ""},
		{"same origin", "/handsets/0/hook", url.Values{"offhook": {"1"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, nil, http.StatusSeeOther, []string{"lift 0"}, ""},
		{"index out of range", "/handsets/2/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"negative index", "/handsets/-1/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"index not a number", "/handsets/x/hook", url.Values{"offhook": {"1"}}, nil, nil, http.StatusBadRequest, nil, "no handset"},
		{"bad value", "/handsets/0/hook", url.Values{"offhook": {"yes"}}, nil, nil, http.StatusBadRequest, nil, "offhook must be"},
		{"missing value", "/handsets/0/hook", nil, nil, nil, http.StatusBadRequest, nil, "offhook must be"},
		{"cross-site", "/handsets/0/hook", url.Values{"offhook": {"1"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, nil, http.StatusForbidden, nil, ""},
		{"backend error shown", "/handsets/0/hook", url.Values{"offhook": {"1"}}, nil, errors.New("no virtual hook"), http.StatusConflict, nil, "no virtual hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.hookErr = tt.hookErr
			req := httptest.NewRequest("POST", tt.path, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			newHandler(f).ServeHTTP(rec, req)
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
	f := newFake()
	rec := httptest.NewRecorder()
	newHandler(f).ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var got Status
	if err := json.NewDecoder(rec.Body).Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if want := f.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestEventsSendChanges(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(newHandler(f))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	events := bufio.NewScanner(res.Body)
	next := func() Status {
		t.Helper()
		for events.Scan() {
			data, ok := strings.CutPrefix(events.Text(), "data: ")
			if !ok {
				continue
			}
			var st Status
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				t.Fatalf("decode event %q: %v", data, err)
			}
			return st
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return Status{}
	}

	if got := next(); got.Handsets[0].State != "on hook" {
		t.Errorf("first event: state %q, want \"on hook\"", got.Handsets[0].State)
	}
	f.setState(0, "in call", "")
	if got := next(); got.Handsets[0].State != "in call" {
		t.Errorf("after the change: state %q, want \"in call\"", got.Handsets[0].State)
	}
	f.setState(0, "ended", "486 Busy Here")
	if got := next(); got.Handsets[0].Detail != "486 Busy Here" {
		t.Errorf("after the failure: detail %q, want \"486 Busy Here\"", got.Handsets[0].Detail)
	}
}

func TestEventsStopWithClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		ctx, cancel := context.WithCancel(t.Context())
		req := httptest.NewRequestWithContext(ctx, "GET", "/events", nil)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			newHandler(f).ServeHTTP(rec, req)
			close(done)
		}()
		time.Sleep(time.Minute) // fake clock: many polls, no change
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
