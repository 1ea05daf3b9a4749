package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTitlesAndFavicon checks what a browser tab shows: every page is titled
// "partyline — <page>" and links the favicon, which the page serves as SVG.
func TestTitlesAndFavicon(t *testing.T) {
	r := newFakeRecorder(t)
	c := loggedIn(t, r)
	for path, title := range map[string]string{
		"/":           "Dashboard",
		"/history":    "Call history",
		"/settings":   "Settings",
		"/recordings": "Recordings",
	} {
		body := c.get(path).Body.String()
		if want := "<title>partyline — " + title + "</title>"; !strings.Contains(body, want) {
			t.Errorf("GET %s: no %q", path, want)
		}
		if want := `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`; !strings.Contains(body, want) {
			t.Errorf("GET %s: no favicon link %q", path, want)
		}
	}
	out := &client{t: t, h: newHandler(newFake(t))}
	if body := out.get("/login").Body.String(); !strings.Contains(body, "<title>partyline — Log in</title>") {
		t.Errorf("the login page has no title per page:\n%s", body)
	}

	rec := httptest.NewRecorder()
	out.h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/favicon.svg", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(rec.Body.String(), "<svg") {
		t.Errorf("GET /static/favicon.svg: %d %q, want 200 image/svg+xml with an <svg>", rec.Code, rec.Header().Get("Content-Type"))
	}
}
