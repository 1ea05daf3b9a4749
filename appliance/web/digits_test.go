package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestSendDigits posts the dashboard's digits form, as a page and as a script.
func TestSendDigits(t *testing.T) {
	inCall := func(f *fakeBackend) {
		f.status.Handsets[0].State, f.status.Handsets[0].Busy, f.status.Handsets[0].InCall = "in call", true, true
	}
	json := []string{"Accept", "application/json"}
	tests := []struct {
		name      string
		inCall    bool
		digits    string
		header    []string
		wantCode  int
		wantCalls []string
		wantBody  string
	}{
		{"digits", true, "1234#", nil, http.StatusSeeOther, []string{"digits 0 1234#"}, ""},
		{"digits, script", true, "*0ABCD", json, http.StatusNoContent, []string{"digits 0 *0ABCD"}, ""},
		{"not in a call", false, "1", nil, http.StatusConflict, nil, "handset 1: the handset is not in a call"},
		{"not in a call, script", false, "1", json, http.StatusConflict, nil, `{"error":"handset 1: the handset is not in a call"}`},
		{"no digits", true, "", nil, http.StatusBadRequest, nil, "digits must be 1 to 32 of 0-9, *, # and A-D"},
		{"a letter", true, "12e", json, http.StatusBadRequest, nil, `{"error":"digits must be`},
		{"lower case", true, "a", nil, http.StatusBadRequest, nil, "digits must be"},
		{"too many", true, strings.Repeat("1", MaxDigits+1), nil, http.StatusBadRequest, nil, "digits must be"},
		{"cross-site", true, "1", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.inCall {
				inCall(f)
			}
			c := loggedIn(t, f)
			rec := c.post("/handsets/0/control", url.Values{"action": {"digits"}, "digits": {tt.digits}}, tt.header...)
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
		})
	}
}

// TestDigitsForm checks that the digits form is shown for a handset in a
// call only, and takes what a keypad sends.
func TestDigitsForm(t *testing.T) {
	f := newFake(t)
	f.status.Handsets[0].State, f.status.Handsets[0].Busy, f.status.Handsets[0].InCall = "in call", true, true
	body := loggedIn(t, f).get("/").Body.String()
	for _, want := range []string{
		`<form method="post" action="/handsets/0/control" class="live digits">`,
		`<form method="post" action="/handsets/1/control" class="live digits" hidden>`,
		`<input type="hidden" name="action" value="digits">`,
		`<input id="handset-0-digits" name="digits" type="text" inputmode="tel" pattern="[0-9*#A-D]+" maxlength="32" autocomplete="off" required>`,
		`<label for="handset-0-digits">Digits</label>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
