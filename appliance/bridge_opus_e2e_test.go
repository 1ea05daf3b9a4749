package appliance

import (
	"context"
	"strings"
	"testing"
	"time"

	"partyline/media"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// TestBridgeTranscodesOpusCaller bridges baresip, calling with Opus only, into the focus,
// which takes G.711 only: the relay converts between Opus at 48 kHz and PCMU at 8 kHz both
// ways, and each side hears the other's tone.
func TestBridgeTranscodesOpusCaller(t *testing.T) {
	if _, ok := media.CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	const rate = 48000 // baresip's, with Opus
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	f.Tone("room", conferenceHz, 0.2)
	agent := startBridge(t, f, nil)
	source := make([]int16, 2*60*rate)
	media.NewTone(rate, callerHz, -17).Generate(source)
	b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Codecs: "opus/48000/1", Rate: rate, Source: source})
	if log := b.Log(); strings.Contains(log, "audio codec not found") {
		t.Fatalf("baresip does not take Opus only:\n%s", log)
	}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	leg := bridgedCall(t, ctx, f, agent, b) // the focus hears the caller's tone
	if leg.Codec != "PCMU" && leg.Codec != "PCMA" {
		t.Errorf("the conference leg uses %s, want G.711", leg.Codec)
	}
	for {
		heard, err := b.Heard()
		if err == nil && len(heard) >= rate && media.ToneLevel(heard[len(heard)-rate:], rate, conferenceHz) > -3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("baresip heard %d samples, not the conference's %d Hz (%v)", len(heard), conferenceHz, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if log := b.Log(); !strings.Contains(log, "Set audio decoder: opus 48000Hz") {
		t.Errorf("baresip's log does not say it decodes Opus:\n%s", log)
	}
	if err := b.Hangup(); err != nil {
		t.Fatalf("baresip hangup: %v", err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
		t.Fatal(err)
	}
}
