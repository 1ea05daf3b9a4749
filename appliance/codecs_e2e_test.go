package appliance_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/sip/peertest"
)

// TestAccountCodecsAndDTMFByInfo calls SIPp through Kamailio with an account that chooses
// PCMA then G.722, and DTMF by SIP INFO: the INVITE SIPp receives offers exactly those
// codecs in that order and no telephone-event; SIPp's answer (PCMU, PCMA and
// telephone-event) settles PCMA; the digits sent from the dashboard arrive as INFO
// requests, one a digit, and none as RFC 4733 events.
func TestAccountCodecsAndDTMFByInfo(t *testing.T) {
	r := startRig(t, peertest.ScenarioInfo, func(s *settings.Settings) {
		s.Accounts[0].Codecs = "PCMA, g722"
		s.Accounts[0].DTMF = settings.DTMFInfo
	})
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	r.waitForCodec("PCMA")

	invite := firstMessage(r.sipp.Messages(), "INVITE")
	if m := regexp.MustCompile(`m=audio \d+ RTP/AVP ([0-9 ]+)\r?\n`).FindStringSubmatch(invite); m == nil || m[1] != "8 9" {
		t.Errorf("the INVITE offers payload types %q, want \"8 9\" (PCMA, G722):\n%s", m, invite)
	}
	if strings.Contains(invite, "telephone-event") || strings.Contains(invite, "PCMU") {
		t.Errorf("the INVITE offers more than the account's codecs:\n%s", invite)
	}

	before := r.app.HeardDigits(0)
	r.control("digits", "42")
	deadline := time.Now().Add(failsafe)
	for strings.Count(r.sipp.Messages(), "INFO sip:") < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	msgs := r.sipp.Messages()
	if n := strings.Count(msgs, "INFO sip:"); n != 2 || !strings.Contains(msgs, "Signal=4") || !strings.Contains(msgs, "Signal=2") {
		t.Errorf("SIPp received %d INFO requests, want one for each of 4 and 2:\n%s", n, firstMessage(msgs, "INFO"))
	}
	if got := r.app.HeardDigits(0); got != before {
		t.Errorf("the conference echoed telephone events %q: digits went as RFC 4733 too", strings.TrimPrefix(got, before))
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}
