package appliance_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestConferenceSwitchesTheCallToG722AndBack has SIPp switch a PCMU call to G.722 with a
// re-INVITE, and back to PCMU with another once the handset sent a digit (as SIP INFO: no
// telephone-event was negotiated). After each switch the handset's own tone comes back
// through SIPp's echo, and our 200 OK to the first re-INVITE answers G.722 on payload 9.
func TestConferenceSwitchesTheCallToG722AndBack(t *testing.T) {
	r := startRig(t, peertest.ScenarioRecode)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.waitForCodec("G722")
	r.hearsItsOwnTone("on G.722")
	answers := r.sipp.Received("SIP/2.0 200")
	var answer string
	for _, a := range answers {
		if strings.Contains(a, "CSeq: 1 INVITE") {
			answer = a
		}
	}
	if !strings.Contains(answer, "\nm=audio ") || !strings.Contains(answer, " RTP/AVP 9\r\n") || !strings.Contains(answer, "a=rtpmap:9 G722/8000") {
		t.Errorf("our 200 OK to the re-INVITE offering G.722 does not answer G.722 on payload 9:\n%s", answer)
	}

	// The digit lets SIPp go on to its re-INVITE back to PCMU.
	res, err := r.http.PostForm(r.admin+"/handsets/0/control", url.Values{"action": {"digits"}, "digits": {"5"}})
	if err != nil {
		t.Fatalf("send a digit: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("send a digit: %s", res.Status)
	}
	r.waitForCodec("PCMU")
	r.hearsItsOwnTone("back on PCMU")

	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// waitForCodec waits until handset 1's call uses codec.
func (r *rig) waitForCodec(codec string) {
	r.t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		if _, got := r.app.CallMedia(0); got == codec {
			return
		}
		if time.Now().After(deadline) {
			_, got := r.app.CallMedia(0)
			r.t.Fatalf("the call uses %s, want %s", got, codec)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hearsItsOwnTone waits until earpiece 1 carries its own microphone's tone, and nothing
// like the other handset's, in audio that left the microphone after now.
func (r *rig) hearsItsOwnTone(when string) {
	r.t.Helper()
	own, other := sim.ToneHz(0), sim.ToneHz(1)
	deadline := time.Now().Add(failsafe)
	for {
		time.Sleep(600 * time.Millisecond) // what is heard now left the microphone after the switch
		heard := r.board.Audio().Earpiece(0, 500*time.Millisecond)
		ownLevel, otherLevel := media.ToneLevel(heard, 48000, own), media.ToneLevel(heard, 48000, other)
		if ownLevel > -3 && otherLevel < -30 && media.LevelDBFS(heard) > -30 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: earpiece 1 has %.1f dB of its own tone (%.0f Hz), %.1f dB of %.0f Hz, level %.1f dBFS",
				when, ownLevel, own, otherLevel, other, media.LevelDBFS(heard))
		}
	}
}

// TestConferenceSwitchesTheCallBetweenOpusG722AndPCMU has SIPp switch a PCMU call to Opus
// (a 48 kHz RTP clock), then, after a digit each, to G.722 and back to PCMU, by
// re-INVITEs: after each switch the handset's own tone comes back through SIPp's echo,
// and our 200 OK to the first answers Opus on SIPp's payload type 96.
func TestConferenceSwitchesTheCallBetweenOpusG722AndPCMU(t *testing.T) {
	if _, ok := media.CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	r := startRig(t, peertest.ScenarioRecodeOpus)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.waitForCodec("opus")
	r.hearsItsOwnTone("on Opus")
	var answer string
	for _, a := range r.sipp.Received("SIP/2.0 200") {
		if strings.Contains(a, "CSeq: 1 INVITE") {
			answer = a
		}
	}
	if !strings.Contains(answer, " RTP/AVP 96\r\n") || !strings.Contains(answer, "a=rtpmap:96 opus/48000/2") || !strings.Contains(answer, "useinbandfec=1") {
		t.Errorf("our 200 OK to the re-INVITE offering Opus does not answer Opus on payload 96 with FEC:\n%s", answer)
	}
	digit := func() {
		t.Helper()
		res, err := r.http.PostForm(r.admin+"/handsets/0/control", url.Values{"action": {"digits"}, "digits": {"5"}})
		if err != nil {
			t.Fatalf("send a digit: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("send a digit: %s", res.Status)
		}
	}
	digit()
	r.waitForCodec("G722")
	r.hearsItsOwnTone("on G.722 after Opus")
	digit()
	r.waitForCodec("PCMU")
	r.hearsItsOwnTone("back on PCMU")

	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}
