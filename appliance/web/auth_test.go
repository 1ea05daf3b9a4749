package web

import (
	"html"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestFirstStart(t *testing.T) {
	f := newFakeFirstStart(t)
	c := &client{t: t, h: newHandler(f)}

	// Every page sends the browser to set the password first.
	for _, path := range []string{"/", "/settings", "/login", "/settings/export"} {
		if rec := c.get(path); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/setup" {
			t.Errorf("GET %s: got %d to %q, want 303 to /setup", path, rec.Code, rec.Header().Get("Location"))
		}
	}
	if rec := c.post("/login", url.Values{"password": {""}}); rec.Header().Get("Location") != "/setup" {
		t.Errorf("POST /login: got %d to %q, want 303 to /setup", rec.Code, rec.Header().Get("Location"))
	}
	if rec := c.get("/api/status"); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/status: got %d, want 401", rec.Code)
	}
	rec := c.get("/setup")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /setup: got %d, want 200", rec.Code)
	}
	for _, want := range []string{`name="code"`, `name="password"`, `name="confirm"`, `autocomplete="new-password"`, "At least 10 characters", "partyline setup-code"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("setup page lacks %q", want)
		}
	}

	for _, tt := range []struct {
		name, password, confirm, field, msg string
	}{
		{"too short", "short", "short", "setup-password", "at least 10 needed"},
		{"too short in characters", "ääääääääá", "ääääääääá", "setup-password", "9 characters"},
		{"confirmation differs", "long enough 1", "long enough 2", "setup-confirm", "Does not match"},
	} {
		rec := c.post("/setup", url.Values{"code": {f.setupCode}, "password": {tt.password}, "confirm": {tt.confirm}})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", tt.name, rec.Code)
		}
		checkFieldError(t, rec.Body.String(), tt.field, tt.msg)
		if set, _ := f.AdminPasswordSet(); set {
			t.Fatalf("%s: a refused password was set", tt.name)
		}
	}

	// Without the setup code, or with a wrong one, nothing is set.
	for _, code := range []string{"", "0000-0000-0000"} {
		rec := c.post("/setup", url.Values{"code": {code}, "password": {adminPassword}, "confirm": {adminPassword}})
		if rec.Code != http.StatusForbidden {
			t.Errorf("setup code %q: got %d, want 403", code, rec.Code)
		}
		checkFieldError(t, rec.Body.String(), "setup-code", "Wrong setup code")
		if set, _ := f.AdminPasswordSet(); set {
			t.Fatalf("setup code %q set the password", code)
		}
	}

	// With it, the password is set and the browser is logged in at once.
	rec = c.post("/setup", url.Values{"code": {f.setupCode}, "password": {adminPassword}, "confirm": {adminPassword}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?set" {
		t.Fatalf("POST /setup: got %d to %q, want 303 to /?set", rec.Code, rec.Header().Get("Location"))
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == SessionCookie {
			c.cookie = ck
		}
	}
	if ok, _ := f.CheckAdminPassword(adminPassword); !ok {
		t.Fatal("the password set is not the admin password")
	}
	if rec := c.get("/?set"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "The admin password is set") {
		t.Errorf("dashboard after setup: got %d, want 200 with the notice: %s", rec.Code, rec.Body)
	}
	c.cookie = nil

	// Once set, setup is closed: it cannot replace the password.
	if rec := c.get("/setup"); rec.Header().Get("Location") != "/login" {
		t.Errorf("GET /setup after setup: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
	rec = c.post("/setup", url.Values{"code": {f.setupCode}, "password": {"another password"}, "confirm": {"another password"}})
	if rec.Header().Get("Location") != "/login" {
		t.Errorf("POST /setup after setup: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
	if ok, _ := f.CheckAdminPassword(adminPassword); !ok {
		t.Error("a second POST /setup replaced the password")
	}
}

func TestLoginLogout(t *testing.T) {
	c := &client{t: t, h: newHandler(newFake(t))}
	if rec := c.get("/login"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `autocomplete="current-password"`) {
		t.Fatalf("GET /login: got %d, want 200 with the password field", rec.Code)
	}
	rec := c.login("wrong password")
	if rec.Code != http.StatusUnauthorized || c.cookie != nil {
		t.Errorf("wrong password: got %d and cookie %v, want 401 and none", rec.Code, c.cookie)
	}
	checkFieldError(t, rec.Body.String(), "login-password", "Wrong password.")

	rec = c.login(adminPassword)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("login: got %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
	ck := c.cookie
	switch {
	case ck == nil:
		t.Fatal("login set no session cookie")
	case !ck.HttpOnly, ck.SameSite != http.SameSiteStrictMode, ck.Path != "/":
		t.Errorf("cookie %v: want HttpOnly, SameSite=Strict, Path=/", ck)
	case ck.MaxAge != int(SessionLifetime/time.Second) || ck.Expires.IsZero():
		t.Errorf("cookie %v: want Max-Age %d and an expiry", ck, int(SessionLifetime/time.Second))
	case len(ck.Value) != 43: // 32 bytes, base64 without padding
		t.Errorf("session token %q: got %d characters, want 43", ck.Value, len(ck.Value))
	}
	if rec := c.get("/"); rec.Code != http.StatusOK {
		t.Errorf("GET / logged in: got %d, want 200", rec.Code)
	}
	if rec := c.get("/login"); rec.Header().Get("Location") != "/" {
		t.Errorf("GET /login logged in: got %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}

	rec = c.post("/logout", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?out" {
		t.Errorf("logout: got %d to %q, want 303 to /login?out", rec.Code, rec.Header().Get("Location"))
	}
	cleared := false
	for _, ck := range rec.Result().Cookies() {
		cleared = cleared || ck.Name == SessionCookie && ck.MaxAge < 0
	}
	if !cleared {
		t.Errorf("logout did not clear the cookie: %v", rec.Result().Cookies())
	}
	// The old token is dead on the server, whatever the browser keeps.
	if rec := c.get("/"); rec.Header().Get("Location") != "/login" {
		t.Errorf("GET / with the logged-out token: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
}

func TestSessionExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := loggedIn(t, newFake(t))
		time.Sleep(SessionLifetime - time.Second)
		if rec := c.get("/"); rec.Code != http.StatusOK {
			t.Fatalf("just before the session ends: got %d, want 200", rec.Code)
		}
		time.Sleep(time.Second)
		if rec := c.get("/"); rec.Header().Get("Location") != "/login" {
			t.Errorf("after SessionLifetime: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
		}
	})
}

// TestLoginRateLimit runs on synctest's fake clock.
func TestLoginRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHandler(newFake(t))
		guesser := &client{t: t, h: h, remote: "192.0.2.7:4000"}
		for i := range MaxLoginFailures {
			if rec := guesser.login("guess"); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d: got %d, want 401", i+1, rec.Code)
			}
			time.Sleep(time.Second)
		}
		// Refused now, even with the right password, and without checking it.
		rec := guesser.login(adminPassword)
		if rec.Code != http.StatusTooManyRequests || guesser.cookie != nil {
			t.Fatalf("after %d failures: got %d, want 429 and no session", MaxLoginFailures, rec.Code)
		}
		if got, want := rec.Header().Get("Retry-After"), "55"; got != want { // the first failure was 5 s ago
			t.Errorf("Retry-After: got %q, want %q", got, want)
		}
		checkFieldError(t, rec.Body.String(), "login-password", "Try again in 55 seconds")

		// Its whole /24 is held up, as one guesser can change its address within it;
		// another network is not.
		neighbour := &client{t: t, h: h, remote: "192.0.2.200:4000"}
		if rec := neighbour.login(adminPassword); rec.Code != http.StatusTooManyRequests {
			t.Errorf("a client in the same /24: got %d, want 429", rec.Code)
		}
		other := &client{t: t, h: h, remote: "198.51.100.8:4000"}
		if rec := other.login(adminPassword); rec.Code != http.StatusSeeOther {
			t.Errorf("another network: got %d, want 303", rec.Code)
		}

		// Once the first failure is LoginWindow old, one more try is allowed.
		time.Sleep(54 * time.Second)
		if rec := guesser.login(adminPassword); rec.Code != http.StatusTooManyRequests {
			t.Errorf("1 s before the window ends: got %d, want 429", rec.Code)
		}
		time.Sleep(time.Second)
		if rec := guesser.login(adminPassword); rec.Code != http.StatusSeeOther {
			t.Fatalf("after the window: got %d, want 303", rec.Code)
		}
		// A success forgets the failures.
		guesser.cookie = nil
		for i := range MaxLoginFailures {
			if rec := guesser.login("guess"); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d after a success: got %d, want 401", i+1, rec.Code)
			}
		}
	})
}

func TestCrossSiteRefused(t *testing.T) {
	f := newFake(t)
	c := loggedIn(t, f)
	before, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path   string
		form   url.Values
		header []string
	}{
		{"/settings/conferences/main", url.Values{"name": {"Evil"}, "uri": {"sip:evil@example.com"}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"/settings/conferences/main", url.Values{"name": {"Evil"}, "uri": {"sip:evil@example.com"}}, []string{"Origin", "https://evil.example"}},
		{"/handsets/0/hook", url.Values{"offhook": {"1"}}, []string{"Origin", "https://evil.example"}},
		{"/handsets/0/control", url.Values{"action": {"join"}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"/login", url.Values{"password": {adminPassword}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"/logout", nil, []string{"Origin", "https://evil.example"}},
	} {
		if rec := c.post(tt.path, tt.form, tt.header...); rec.Code != http.StatusForbidden {
			t.Errorf("POST %s with %q: got %d, want 403", tt.path, tt.header, rec.Code)
		}
	}
	after, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after.Conferences[0], before.Conferences[0]) {
		t.Errorf("a cross-site POST changed the conference: %+v", after.Conferences[0])
	}
	if calls := f.hookCalls(); len(calls) != 0 {
		t.Errorf("a cross-site POST moved a hook or a call: %q", calls)
	}
	if rec := c.get("/"); rec.Code != http.StatusOK {
		t.Errorf("a cross-site logout ended the session: GET / got %d", rec.Code)
	}
	// A same-site form post is fine.
	if rec := c.post("/settings/conferences/main", url.Values{"name": {"Main"}, "uri": {"sip:other@example.org"}}, "Origin", "http://example.com"); rec.Code != http.StatusSeeOther {
		t.Errorf("same-origin POST: got %d, want 303", rec.Code)
	}
}

// checkFieldError checks that body shows msg next to the input with id,
// tied to it for screen readers.
func checkFieldError(t *testing.T, body, id, msg string) {
	t.Helper()
	tag, ok := inputTag(body, id)
	if !ok {
		t.Errorf("no input %q in the page:\n%s", id, body)
		return
	}
	if !strings.Contains(tag, `aria-invalid="true"`) || !strings.Contains(tag, id+"-error") {
		t.Errorf("input %q is not marked invalid and described by its error: %s", id, tag)
	}
	errText, ok := elementText(body, `id="`+id+`-error"`)
	if !ok || !strings.Contains(errText, msg) {
		t.Errorf("error of %q: got %q, want it to say %q", id, errText, msg)
	}
}

// inputTag returns the <input> or <select> tag with the given id.
func inputTag(body, id string) (string, bool) {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndex(body[:i], "<")
	end := strings.Index(body[i:], ">")
	if start < 0 || end < 0 {
		return "", false
	}
	return body[start : i+end+1], true
}

// elementText returns the text after the tag holding attr, up to the next tag.
func elementText(body, attr string) (string, bool) {
	i := strings.Index(body, attr)
	if i < 0 {
		return "", false
	}
	rest := body[i:]
	start := strings.Index(rest, ">")
	end := strings.Index(rest, "</")
	if start < 0 || end < start {
		return "", false
	}
	return html.UnescapeString(rest[start+1 : end]), true
}
