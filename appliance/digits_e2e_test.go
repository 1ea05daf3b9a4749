package appliance_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"partyline/sip/peertest"
)

// TestDigitsFromTheAdminPage sends digits into a call from the dashboard's digits form, as
// its script posts it: SIPp echoes the telephone events, so the call hears them back. A
// handset without a call refuses them with 409.
func TestDigitsFromTheAdminPage(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho)
	r.waitFor("the account to register", registered)
	post := func(handset, digits string) int {
		t.Helper()
		req, err := http.NewRequest("POST", r.admin+"/handsets/"+handset+"/control",
			strings.NewReader(url.Values{"action": {"digits"}, "digits": {digits}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		res, err := r.http.Do(req)
		if err != nil {
			t.Fatalf("POST digits: %v", err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("1", "5"); code != http.StatusConflict {
		t.Errorf("digits to a handset without a call: got %d, want 409", code)
	}
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	before := r.app.HeardDigits(0) // the conference's PIN, if it has one
	const digits = "42*#"
	if code := post("0", digits); code != http.StatusNoContent {
		t.Fatalf("digits in a call: got %d, want 204", code)
	}
	deadline := time.Now().Add(failsafe)
	for r.app.HeardDigits(0) != before+digits && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := r.app.HeardDigits(0); got != before+digits {
		t.Errorf("the conference echoed the digits %q, want %q", got, before+digits)
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}
