package appliance_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/sip/peertest"
)

// TestHandsetHoldsAndResumesTheCall puts a call on hold with a mapped button and takes it
// off hold from the dashboard: the re-INVITEs on the wire offer a=sendonly and then
// a=sendrecv, no RTP is sent while held, the LED slow-flashes and the dashboard says "on
// hold"; after the resume RTP flows again and the handset hears its own tone back.
func TestHandsetHoldsAndResumesTheCall(t *testing.T) {
	r := startRig(t, peertest.ScenarioHeld, func(set *settings.Settings) {
		set.Buttons = []settings.ButtonMapping{
			{Trigger: "button:short-press", Action: "join-leave"},
			{Trigger: "mute:short-press", Action: "hold"},
		}
	})
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	r.hearsItsOwnTone("in the call")

	sw := r.board.MuteButton(0)
	sw.Set(true)
	time.Sleep(100 * time.Millisecond) // a short press: released well before the long-press time
	sw.Set(false)
	st := r.waitFor("the mute button, mapped to hold, to hold the call", handsetState(0, "on hold"))
	if h := st.Handsets[0]; !h.Held || !h.InCall || h.LED != "slow flash" {
		t.Errorf("on hold: held %v, in call %v, LED %q; want held, in call, slow flash", h.Held, h.InCall, h.LED)
	}
	if invites := r.sipp.Received("INVITE "); len(invites) != 2 || !strings.Contains(invites[1], "a=sendonly") {
		t.Fatalf("SIPp received %d INVITEs, want the call's and a re-INVITE offering a=sendonly:\n%s", len(invites), strings.Join(invites, "\n\n"))
	}
	// No RTP while held: the count stands still over 50 packet times.
	before := r.packetsSent()
	time.Sleep(time.Second)
	if after := r.packetsSent(); after != before {
		t.Errorf("on hold the call sent %d RTP packets, want none", after-before)
	}

	res, err := r.http.PostForm(r.admin+"/handsets/0/control", url.Values{"action": {"resume"}})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("resume: %s", res.Status)
	}
	st = r.waitFor("the dashboard to resume the call", handsetState(0, "in call"))
	if h := st.Handsets[0]; h.Held || h.LED != "on" {
		t.Errorf("resumed: held %v, LED %q; want not held, on", h.Held, h.LED)
	}
	if invites := r.sipp.Received("INVITE "); len(invites) != 3 || !strings.Contains(invites[2], "a=sendrecv") {
		t.Fatalf("SIPp received %d INVITEs, want a third offering a=sendrecv:\n%s", len(invites), strings.Join(invites, "\n\n"))
	}
	r.waitFor("RTP to flow again", func(st web.Status) bool {
		q := st.Handsets[0].Quality
		return q != nil && q.PacketsSent > before
	})
	r.hearsItsOwnTone("resumed")

	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// packetsSent is how many RTP packets handset 1's call has sent so far.
func (r *rig) packetsSent() uint64 {
	r.t.Helper()
	q := r.status().Handsets[0].Quality
	if q == nil {
		r.t.Fatal("handset 1 has no call figures")
	}
	return q.PacketsSent
}
