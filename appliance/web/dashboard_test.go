package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDashboardInCall draws a handset in a call: call time, quality, mute
// state and the buttons that fit.
func TestDashboardInCall(t *testing.T) {
	f := newFake(t)
	f.status.Handsets[0].State = "in call"
	f.status.Handsets[0].Busy = true
	f.status.Handsets[0].InCall = true
	f.status.Handsets[0].Muted = true
	f.status.Handsets[0].CallStart = time.Now().Add(-(65*time.Minute + 4*time.Second))
	f.status.Handsets[0].Quality = &CallQuality{PacketsSent: 1234, PacketsReceived: 1230, Lost: 4, LossPercent: 0.32, JitterMS: 2.14, MOS: 4.31}
	body := loggedIn(t, f).get("/").Body.String()
	for _, want := range []string{
		`<span class="state state-in-call" data-field="state">in call</span>`,
		">1:05:04<", // the call time at rendering
		`<dd data-field="mute">muted</dd>`,
		`<input type="hidden" name="action" value="leave">`,
		`<button type="submit" aria-label="Unmute Kitchen">Unmute</button>`,
		`<dd data-q="sent">1234</dd>`, `<dd data-q="received">1230</dd>`,
		`<dd data-q="lost">4 (0.3 %)</dd>`, `<dd data-q="jitter">2.1 ms</dd>`, `<dd data-q="mos">4.3</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The other handset has no call: its figures are hidden.
	if !strings.Contains(body, `<dl class="quality" data-field="quality" hidden>`) {
		t.Errorf("the quality of a handset without a call is not hidden")
	}
}

// TestDashboardAudio draws the audio device's health: none for virtual audio, the counters
// of a device, its reopens and its last error highlighted, and each earpiece's underruns.
func TestDashboardAudio(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	if body := c.get("/").Body.String(); strings.Contains(body, `id="audio"`) || strings.Contains(body, "Audio device") {
		t.Errorf("the page shows an audio device for virtual audio")
	}

	f.setAudio(&AudioStatus{Overruns: 12, Underruns: 11}, 0, 9)
	f.setDropped(0, 480)
	body := c.get("/").Body.String()
	for _, want := range []string{
		`<h2 id="audio-title">Audio device</h2>`,
		`<dd data-audio="overruns">12</dd>`,
		`<dd data-audio="underruns">11</dd>`,
		`<dd data-audio="restarts">never</dd>`,
		`<p class="error" data-audio="error" role="status" hidden>`,
		`<dd data-q="earpiece-underruns">0</dd>`,
		`<dd data-q="earpiece-underruns">9</dd>`,
		`<dd data-q="earpiece-dropped">0</dd>`,
		`<dd data-q="earpiece-dropped">480</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page with a healthy device lacks %q", want)
		}
	}

	f.setAudio(&AudioStatus{Restarts: 3, LastError: `start: <device> "busy"`})
	body = c.get("/").Body.String()
	for _, want := range []string{
		`<dd data-audio="restarts" class="alert">3 times</dd>`,
		`<p class="error" data-audio="error" role="status">Last error: <span data-audio="error-text">start: &lt;device&gt; &#34;busy&#34;</span></p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page with a failed device lacks %q", want)
		}
	}
}

func TestDashboardEvents(t *testing.T) {
	f := newFake(t)
	f.events.Add(slog.LevelInfo, "Kitchen", "joined sip:conf@example.org")
	f.events.Add(slog.LevelError, "alice", `registration failed: 403 <Forbidden>`)
	body := loggedIn(t, f).get("/").Body.String()
	first := strings.Index(body, "registration failed")
	second := strings.Index(body, "joined sip:conf@example.org")
	if first < 0 || second < 0 || first > second {
		t.Errorf("events: want both, newest first; got at %d and %d", first, second)
	}
	for _, want := range []string{`data-after="2"`, `class="event-error"`, "403 &lt;Forbidden&gt;", `<p id="no-events" hidden>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestFingerprintShown(t *testing.T) {
	f := newFake(t)
	if body := loggedIn(t, f).get("/").Body.String(); strings.Contains(body, "fingerprint") {
		t.Errorf("a page served over plain HTTP mentions a fingerprint")
	}
	f.fingerprint = "AB:CD:EF"
	c := &client{t: t, h: newHandler(f)}
	for _, path := range []string{"/login", "/"} {
		rec := c.get(path)
		if rec.Code == http.StatusSeeOther {
			c.login(adminPassword)
			rec = c.get(path)
		}
		if !strings.Contains(rec.Body.String(), `<code class="fingerprint">AB:CD:EF</code>`) {
			t.Errorf("GET %s lacks the fingerprint", path)
		}
	}
}

func TestControl(t *testing.T) {
	type header = []string
	json := header{"Accept", "application/json"}
	inCall := func(f *fakeBackend) {
		f.status.Handsets[0].State, f.status.Handsets[0].Busy, f.status.Handsets[0].InCall = "in call", true, true
	}
	tests := []struct {
		name      string
		setup     func(*fakeBackend)
		path      string
		action    string
		header    header
		err       error
		wantCode  int
		wantCalls []string
		wantBody  string
		wantMuted bool
	}{
		{"join", nil, "/handsets/0/control", "join", nil, nil, http.StatusSeeOther, []string{"join 0"}, "", false},
		{"join, script", nil, "/handsets/0/control", "join", json, nil, http.StatusNoContent, []string{"join 0"}, "", false},
		{"leave", inCall, "/handsets/0/control", "leave", nil, nil, http.StatusSeeOther, []string{"leave 0"}, "", false},
		{"mute", inCall, "/handsets/0/control", "mute", nil, nil, http.StatusSeeOther, []string{"mute 0"}, "", true},
		{"mute, script", inCall, "/handsets/0/control", "mute", json, nil, http.StatusNoContent, []string{"mute 0"}, "", true},
		{"unmute", func(f *fakeBackend) { inCall(f); f.status.Handsets[0].Muted = true }, "/handsets/0/control", "unmute", nil, nil, http.StatusSeeOther, []string{"unmute 0"}, "", false},
		{"mute outside a call", nil, "/handsets/0/control", "mute", nil, nil, http.StatusConflict, nil, "handset 1: not in a call", false},
		{"mute outside a call, script", nil, "/handsets/0/control", "mute", json, nil, http.StatusConflict, nil, `{"error":"handset 1: not in a call"}`, false},
		{"backend error", nil, "/handsets/1/control", "join", nil, errors.New("the handset is busy: try again"), http.StatusConflict, nil, "handset 2: the handset is busy", false},
		{"unknown action", nil, "/handsets/0/control", "explode", nil, nil, http.StatusBadRequest, nil, `action must be join, leave, mute, unmute, hold, resume or digits, not "explode"`, false},
		{"unknown action, script", nil, "/handsets/0/control", "explode", json, nil, http.StatusBadRequest, nil, `{"error":"action must be join, leave, mute, unmute, hold, resume or digits, not \"explode\""}`, false},
		{"no action", nil, "/handsets/0/control", "", nil, nil, http.StatusBadRequest, nil, "action must be", false},
		{"no such handset", nil, "/handsets/7/control", "join", nil, nil, http.StatusBadRequest, nil, "no handset", false},
		{"cross-site", nil, "/handsets/0/control", "join", header{"Sec-Fetch-Site", "cross-site"}, nil, http.StatusForbidden, nil, "", false},
		{"other origin", inCall, "/handsets/0/control", "mute", header{"Origin", "https://evil.example"}, nil, http.StatusForbidden, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			f.hookErr = tt.err
			c := loggedIn(t, f)
			form := url.Values{}
			if tt.action != "" {
				form.Set("action", tt.action)
			}
			rec := c.post(tt.path, form, tt.header...)
			if rec.Code != tt.wantCode {
				t.Errorf("status: got %d, want %d (body %q)", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == http.StatusSeeOther && rec.Header().Get("Location") != "/" {
				t.Errorf("Location: got %q, want \"/\"", rec.Header().Get("Location"))
			}
			if got := f.hookCalls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("backend calls: got %q, want %q", got, tt.wantCalls)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %q lacks %q", rec.Body, tt.wantBody)
			}
			if got := f.Status().Handsets[0].Muted; got != tt.wantMuted {
				t.Errorf("muted: got %v, want %v", got, tt.wantMuted)
			}
		})
	}
}

// TestEventsResume checks that the event stream sends only the log entries
// the page does not show yet: after its "after" query, or after the
// Last-Event-ID a reconnecting browser sends.
func TestEventsResume(t *testing.T) {
	f := newFake(t)
	for _, text := range []string{"one", "two", "three"} {
		f.events.Add(slog.LevelInfo, "appliance", text)
	}
	c := loggedIn(t, f)
	for _, tt := range []struct {
		name   string
		query  string
		header string
		want   []string
	}{
		{"everything", "", "", []string{"one", "two", "three"}},
		{"after the query", "?after=1", "", []string{"two", "three"}},
		{"after Last-Event-ID", "?after=1", "2", []string{"three"}},
		{"nothing new", "?after=3", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // one round, then the stream sees the client gone
			req := httptest.NewRequestWithContext(ctx, "GET", "/events"+tt.query, nil)
			if tt.header != "" {
				req.Header.Set("Last-Event-ID", tt.header)
			}
			rec := c.do(req)
			var got []string
			for block := range strings.SplitSeq(rec.Body.String(), "\n\n") {
				data, ok := strings.CutPrefix(block, "id: 3\nevent: log\ndata: ")
				if !ok {
					continue
				}
				var events []Event
				if err := json.Unmarshal([]byte(data), &events); err != nil {
					t.Fatalf("decode %q: %v", data, err)
				}
				for _, e := range events {
					got = append(got, e.Text)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("log events: got %q, want %q; stream:\n%s", got, tt.want, rec.Body)
			}
		})
	}
}

// TestControlHold puts a handset's call on hold from the dashboard and takes it off again:
// the backend is asked, the card says "on hold" and offers Resume, and outside a call the
// hold is refused.
func TestControlHold(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	hold := func(action string, want int) {
		t.Helper()
		rec := c.post("/handsets/0/control", url.Values{"action": {action}}, "Accept", "application/json")
		if rec.Code != want {
			t.Fatalf("%s: status %d (body %q), want %d", action, rec.Code, rec.Body, want)
		}
	}
	hold("hold", http.StatusConflict) // not in a call
	if got := f.hookCalls(); len(got) != 0 {
		t.Fatalf("backend calls %q outside a call, want none", got)
	}
	body := c.get("/").Body.String()
	if want := `<button type="submit" aria-label="Hold Kitchen" disabled>Hold</button>`; !strings.Contains(body, want) {
		t.Errorf("outside a call the page lacks %q", want)
	}

	f.mu.Lock()
	f.status.Handsets[0].State, f.status.Handsets[0].Busy, f.status.Handsets[0].InCall = "in call", true, true
	f.mu.Unlock()
	hold("hold", http.StatusNoContent)
	if h := f.Status().Handsets[0]; !h.Held || h.State != "on hold" {
		t.Errorf("after hold: held %v, state %q; want held, on hold", h.Held, h.State)
	}
	body = c.get("/").Body.String()
	for _, want := range []string{
		`<span class="state state-on-hold" data-field="state">on hold</span>`,
		`<input type="hidden" name="action" value="resume">`,
		`<button type="submit" aria-label="Resume Kitchen">Resume</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("held, the page lacks %q", want)
		}
	}
	hold("resume", http.StatusNoContent)
	if h := f.Status().Handsets[0]; h.Held || h.State != "in call" {
		t.Errorf("after resume: held %v, state %q; want in call", h.Held, h.State)
	}
	if got, want := f.hookCalls(), []string{"hold 0", "resume 0"}; !slices.Equal(got, want) {
		t.Errorf("backend calls %q, want %q", got, want)
	}
}
