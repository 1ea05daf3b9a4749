package appliance_test

import (
	"strings"
	"testing"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/sip/peertest"
)

// TestConferenceVanishesMidCall kills the conference (SIPp) in the middle of a handset's
// call: no BYE comes, no more RTP. Once the RTP timeout (2 s here) has passed without
// audio, the call ends by itself: the handset's LED blinks fast (failed), the dashboard
// says why, and the call history has it. Nothing is stuck: the handset goes back to idle
// when it is replaced, and the next lift joins afresh.
func TestConferenceVanishesMidCall(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho, func(set *settings.Settings) { set.SIP.RTPTimeoutSeconds = 2 })
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.sipp.Kill()
	st := r.waitFor("handset 1 to give the call up", handsetState(0, "failed"))
	if h := st.Handsets[0]; h.LED != "fast blink" || !strings.Contains(h.Detail, "no audio from the conference for 2s") {
		t.Errorf("handset 1 after the conference vanished: LED %q, detail %q; want fast blink and why", h.LED, h.Detail)
	}
	if calls := r.history(); len(calls) != 1 || calls[0].End != settings.EndFailed || !strings.Contains(calls[0].Detail, "no audio") {
		t.Errorf("call history: %+v, want the call, failed for want of audio", calls)
	}

	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 to join again", func(st web.Status) bool {
		h := st.Handsets[0]
		return h.State == "joining" || h.State == "in call" || (h.State == "failed" && !strings.Contains(h.Detail, "no audio"))
	})
}
