package appliance_test

import (
	"math"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestMicrophoneAGCRaisesAQuietHandset turns the microphone of handset 1 down by 20 dB and
// its AGC on: through SIPp's echo its tone comes back at the AGC's target level, not 20 dB
// below the microphone.
func TestMicrophoneAGCRaisesAQuietHandset(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho, func(set *settings.Settings) {
		set.Handsets[0].MicGainDB, set.Handsets[0].MicAGC = -20, true
	})
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	mic := r.board.Audio().MicLevel(0)
	if quiet := mic - 20; math.Abs(quiet-media.DefaultAGCTargetDBFS) < 5 {
		t.Fatalf("the microphone at %.1f dBFS is too close to the AGC target after 20 dB down: the test proves nothing", mic)
	}
	// The AGC needs (target - quiet) / release rate seconds of audio: about 2 s here.
	deadline := time.Now().Add(failsafe)
	for {
		time.Sleep(300 * time.Millisecond)
		heard := r.board.Audio().Earpiece(0, 300*time.Millisecond)
		level := media.LevelDBFS(heard)
		if media.ToneLevel(heard, 48000, sim.ToneHz(0)) > -3 && math.Abs(level-media.DefaultAGCTargetDBFS) < 1.5 {
			t.Logf("microphone %.1f dBFS, 20 dB down, echo at %.1f dBFS", mic, level)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo at %.1f dBFS after a minute with the microphone at %.1f dBFS, 20 dB down; want the AGC target %.1f",
				level, mic, media.DefaultAGCTargetDBFS)
		}
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}
