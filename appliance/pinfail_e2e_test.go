package appliance_test

import (
	"html"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/sip/peertest"
)

// scenarioNoInfoAnswer answers like peertest.ScenarioEcho but without telephone-event, so
// that digits go as SIP INFO, and never answers the INFO: the conference that lets a PIN
// sent by INFO time out.
var scenarioNoInfoAnswer = strings.Replace(strings.Replace(strings.Replace(peertest.ScenarioEcho,
	"m=audio [media_port] RTP/AVP 0 8 101\n", "m=audio [media_port] RTP/AVP 0 8\n", 1),
	"a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n", "", 1),
	`  <recv request="BYE"/>`, `  <recv request="INFO"/>
  <recv request="BYE"/>`, 1)

// TestPINNotSentShowsOnTheDashboard has the conference take no telephone-event and never
// answer SIP INFO: the PIN cannot be sent, and the dashboard's events say so, naming the
// handset, while the call goes on.
func TestPINNotSentShowsOnTheDashboard(t *testing.T) {
	r := startRig(t, scenarioNoInfoAnswer, func(set *settings.Settings) { set.Conferences[0].PIN = "4711#" })
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	deadline := time.Now().Add(failsafe)
	for len(r.sipp.Received("INFO ")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no SIP INFO carried the PIN")
		}
		time.Sleep(100 * time.Millisecond)
	}
	const want = "the conference PIN not sent by SIP INFO"
	for {
		page := html.UnescapeString(r.page())
		if i := strings.Index(page, want); i >= 0 {
			if !strings.Contains(page[max(i-400, 0):i], "Handset 1") {
				t.Errorf("the event of the PIN not sent does not name Handset 1:\n%s", page[max(i-400, 0):i+len(want)])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not say that the PIN was not sent:\n%s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := r.status(); st.Handsets[0].State != "in call" {
		t.Errorf("handset 1 after the PIN failed: %s, want still in the call", st.Handsets[0].State)
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}
