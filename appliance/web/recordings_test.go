package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance/settings"
)

// fakeRecorder is a Backend with recordings: their files in a folder of the test's, their
// records and the conferences' recorders in memory.
type fakeRecorder struct {
	*fakeBackend
	dir string

	mu      sync.Mutex // guards following
	recs    []settings.Recording
	on      map[string]bool // conferences being recorded
	refuse  error           // SetRecording's answer, when set
	actions []string
}

// newFakeRecorder returns a fake whose recordings are those of testRecordings.
func newFakeRecorder(t *testing.T) *fakeRecorder {
	t.Helper()
	f := &fakeRecorder{fakeBackend: newFake(t), dir: t.TempDir(), on: map[string]bool{}}
	for _, r := range testRecordings() {
		f.add(t, r, []byte("RIFF"+strings.Repeat("x", 100)))
	}
	return f
}

// testRecordings are the recordings a fakeRecorder starts with, newest first.
func testRecordings() []settings.Recording {
	start := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	return []settings.Recording{
		{File: "main-20260302T150000Z.wav", Conference: "main", Start: start.Add(55 * time.Minute), SampleRate: 8000, State: settings.RecordingInProgress},
		{File: "main-20260302T141000Z.wav", Conference: "main", Start: start.Add(5 * time.Minute), Duration: 90 * time.Second, SampleRate: 8000,
			State: settings.RecordingDiskFull, Detail: "stopped: disk nearly full"},
		{File: "main-20260302T140500Z.wav", Conference: "main", Start: start, Duration: 12*time.Minute + 31*time.Second, SampleRate: 8000, State: settings.RecordingFinished},
	}
}

// add adds recording r with the file content b.
func (f *fakeRecorder) add(t *testing.T, r settings.Recording, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, r.File), b, 0o600); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, r)
}

func (f *fakeRecorder) Recordings() ([]settings.Recording, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.recs), nil
}

func (f *fakeRecorder) Recorders() ([]ConferenceRecorder, error) {
	set, err := f.Settings()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ConferenceRecorder
	for _, c := range set.Conferences {
		cr := ConferenceRecorder{ID: c.ID, Name: c.Name, URI: c.URI, Auto: c.Record, Recording: f.on[c.ID]}
		if cr.Recording {
			cr.File, cr.Since = "main-20260302T150000Z.wav", time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
		} else {
			cr.Detail = "stopped: disk nearly full"
		}
		out = append(out, cr)
	}
	return out, nil
}

func (f *fakeRecorder) SetRecording(ctx context.Context, conference string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.actions = append(f.actions, fmt.Sprintf("%s %v", conference, on))
	f.on[conference] = on
	return nil
}

func (f *fakeRecorder) find(name string) (int, error) {
	i := slices.IndexFunc(f.recs, func(r settings.Recording) bool { return r.File == name })
	if i < 0 {
		return -1, fmt.Errorf("recording %s: %w", name, ErrNoRecording)
	}
	return i, nil
}

func (f *fakeRecorder) OpenRecording(name string) (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(name); err != nil {
		return nil, err
	}
	return os.Open(filepath.Join(f.dir, name))
}

func (f *fakeRecorder) DeleteRecording(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(name)
	if err != nil {
		return err
	}
	if f.recs[i].State == settings.RecordingInProgress {
		return errors.New("it is being recorded: stop the recording first")
	}
	f.recs = slices.Delete(f.recs, i, i+1)
	f.actions = append(f.actions, "delete "+name)
	return os.Remove(filepath.Join(f.dir, name))
}

func (f *fakeRecorder) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.actions)
}

func TestRecordingsPage(t *testing.T) {
	f := newFakeRecorder(t)
	f.on["main"] = true
	c := loggedIn(t, f)
	rec := c.get("/recordings")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /recordings: got %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<a href="/recordings" aria-current="page">Recordings</a>`,
		`<tr id="recorder-main" class="recording">`, "while a handset is in it", "into main-20260302T150000Z.wav",
		`<form method="post" action="/conferences/main/recording">`, `<input type="hidden" name="action" value="stop">`,
		`<audio controls preload="none" src="/recordings/main-20260302T140500Z.wav"`,
		`<a href="/recordings/main-20260302T140500Z.wav?download=1" download="main-20260302T140500Z.wav">Download</a>`,
		`<form method="post" action="/recordings/main-20260302T140500Z.wav/delete" class="inline">`,
		`data-confirm="Delete the recording main-20260302T140500Z.wav?"`,
		"2026-03-02 14:05:00", "12:31", "finished", "stopped: disk nearly full", "being recorded",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the recordings page lacks %q", want)
		}
	}
	if strings.Index(body, "15:00:00") > strings.Index(body, "14:05:00") {
		t.Error("the recordings are not newest first")
	}
	// The recording in progress cannot be deleted from the page.
	if i := strings.Index(body, `action="/recordings/main-20260302T150000Z.wav/delete"`); i < 0 || !strings.Contains(body[i:i+300], " disabled>Delete") {
		t.Error("the recording in progress has a live delete button")
	}

	// Every page links to it.
	if !strings.Contains(c.get("/").Body.String(), `<a href="/recordings">Recordings</a>`) {
		t.Error("the dashboard does not link to the recordings")
	}

	var got struct {
		Conferences []ConferenceRecorder `json:"conferences"`
		Recordings  []settings.Recording `json:"recordings"`
	}
	if err := json.Unmarshal(c.get("/api/recordings").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Conferences) != 1 || !got.Conferences[0].Recording || !slices.Equal(got.Recordings, testRecordings()) {
		t.Errorf("GET /api/recordings: %+v", got)
	}
}

func TestRecordingsPageEmpty(t *testing.T) {
	f := &fakeRecorder{fakeBackend: newFake(t), dir: t.TempDir(), on: map[string]bool{}}
	body := loggedIn(t, f).get("/recordings").Body.String()
	for _, want := range []string{"No recordings yet.", `value="start"`, `<td data-label="Recorder">stopped: disk nearly full</td>`, "when asked"} {
		if !strings.Contains(body, want) {
			t.Errorf("the recordings page lacks %q", want)
		}
	}
}

// TestNoRecorder keeps the page away from a backend without recordings.
func TestNoRecorder(t *testing.T) {
	c := loggedIn(t, newFake(t))
	if rec := c.get("/recordings"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /recordings of a backend without recordings: got %d, want 404", rec.Code)
	}
	if strings.Contains(c.get("/").Body.String(), `href="/recordings"`) {
		t.Error("the dashboard links to recordings that are not there")
	}
}

func TestRecordingFile(t *testing.T) {
	f := newFakeRecorder(t)
	content := []byte("RIFF....WAVEfmt and some samples")
	f.add(t, settings.Recording{File: "side-20260303T090000Z.wav", Conference: "side", Start: time.Now(), SampleRate: 8000, State: settings.RecordingFinished}, content)
	c := loggedIn(t, f)

	rec := c.get("/recordings/side-20260303T090000Z.wav")
	if rec.Code != http.StatusOK || rec.Body.String() != string(content) || rec.Header().Get("Content-Type") != "audio/wav" {
		t.Errorf("play: got %d %q, %q; want 200 with the file as audio/wav", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	if cd := rec.Header().Get("Content-Disposition"); cd != "" {
		t.Errorf("play: Content-Disposition %q, want none", cd)
	}
	rec = c.get("/recordings/side-20260303T090000Z.wav?download=1")
	if cd := rec.Header().Get("Content-Disposition"); rec.Code != http.StatusOK || cd != "attachment; filename=side-20260303T090000Z.wav" {
		t.Errorf("download: got %d, Content-Disposition %q", rec.Code, cd)
	}
	// The player seeks with ranges.
	req := httptest.NewRequest("GET", "/recordings/side-20260303T090000Z.wav", nil)
	req.Header.Set("Range", "bytes=4-7")
	if rec := c.do(req); rec.Code != http.StatusPartialContent || rec.Body.String() != "...." {
		t.Errorf("range: got %d %q, want 206 ....", rec.Code, rec.Body)
	}
	for _, path := range []string{"/recordings/nothing.wav", "/recordings/..%2Fsettings.db"} {
		if rec := c.get(path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, rec.Code)
		}
	}
	// Not without a session.
	anon := &client{t: t, h: c.h}
	if rec := anon.get("/recordings/side-20260303T090000Z.wav"); rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), "samples") {
		t.Errorf("GET without a session: got %d with the file", rec.Code)
	}
}

func TestRecordingDelete(t *testing.T) {
	f := newFakeRecorder(t)
	c := loggedIn(t, f)
	const name = "main-20260302T140500Z.wav"
	for _, tt := range []struct {
		name, path string
		header     []string
		code       int
		body       string // in the answer
	}{
		{"cross-site", "/recordings/" + name + "/delete", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, ""},
		{"in progress", "/recordings/main-20260302T150000Z.wav/delete", nil, http.StatusConflict, "Not deleted: it is being recorded"},
		{"unknown", "/recordings/nothing.wav/delete", nil, http.StatusNotFound, `There is no recording &#34;nothing.wav&#34;`},
		{"finished", "/recordings/" + name + "/delete", nil, http.StatusSeeOther, ""},
		{"again", "/recordings/" + name + "/delete", []string{"Accept", "application/json"}, http.StatusNotFound, `"error":"There is no recording`},
	} {
		rec := c.post(tt.path, nil, tt.header...)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s: got %d %s, want %d saying %q", tt.name, rec.Code, rec.Body, tt.code, tt.body)
		}
	}
	if got, want := f.done(), []string{"delete " + name}; !slices.Equal(got, want) {
		t.Errorf("deleted %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.dir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still there: %v", err)
	}
	if body := c.get("/recordings?done=deleted").Body.String(); !strings.Contains(body, "Recording deleted.") {
		t.Error("no notice after deleting")
	}
}

func TestSetRecording(t *testing.T) {
	f := newFakeRecorder(t)
	c := loggedIn(t, f)
	start, stop := url.Values{"action": {"start"}}, url.Values{"action": {"stop"}}
	type header = []string
	for _, tt := range []struct {
		name   string
		form   url.Values
		header header
		refuse error
		code   int
		answer string // Location, or in the body
	}{
		{"start", start, nil, nil, http.StatusSeeOther, "/recordings?done=started"},
		{"stop from a script", stop, header{"Accept", "application/json"}, nil, http.StatusNoContent, ""},
		{"cross-site", start, header{"Origin", "https://evil.example"}, nil, http.StatusForbidden, ""},
		{"bad action", url.Values{"action": {"pause"}}, nil, nil, http.StatusBadRequest, "action must be start or stop"},
		{"refused", start, nil, errors.New("not started: 3 MB free"), http.StatusConflict, "Conference main: not started: 3 MB free"},
		{"refused to a script", start, header{"Accept", "application/json"}, errors.New("no"), http.StatusConflict, `{"error":"Conference main: no"}`},
	} {
		f.mu.Lock()
		f.refuse = tt.refuse
		f.mu.Unlock()
		rec := c.post("/conferences/main/recording", tt.form, tt.header...)
		got := rec.Body.String()
		if rec.Code == http.StatusSeeOther {
			got = rec.Header().Get("Location")
		}
		if rec.Code != tt.code || !strings.Contains(got, tt.answer) {
			t.Errorf("%s: got %d %q, want %d with %q", tt.name, rec.Code, got, tt.code, tt.answer)
		}
	}
	if got, want := f.done(), []string{"main true", "main false"}; !slices.Equal(got, want) {
		t.Errorf("asked the recorder for %q, want %q", got, want)
	}
}
