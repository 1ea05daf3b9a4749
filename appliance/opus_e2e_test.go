package appliance_test

import (
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance/settings"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestOpusCallToBaresip calls baresip, which takes Opus only, from a handset: the call is
// Opus (baresip's own opus module, libopus), and the audio goes both ways, the handset
// hearing baresip's tone and baresip the handset's.
func TestOpusCallToBaresip(t *testing.T) {
	if _, ok := media.CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	const callerHz = 600 // baresip's tone
	const rate = 48000   // baresip's, with Opus
	source := make([]int16, 30*rate)
	media.NewTone(rate, callerHz, -17).Generate(source)
	b := peertest.StartBaresip(t, peertest.BaresipConfig{User: "carol", Answer: true, Codecs: "opus/48000/1", Rate: rate, Source: source})
	if log := b.Log(); strings.Contains(log, "audio codec not found") {
		t.Fatalf("baresip does not take Opus only:\n%s", log)
	}

	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), b.Addr().String(), func(set *settings.Settings) {
		set.Accounts[0].Domain = "127.0.0.1"
		set.Conferences[0].URI = b.URI()
	})
	r := runAppliance(t, dir, sim.New(2))
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.hearBothWays(b, callerHz, rate)
	if log := b.Log(); !strings.Contains(log, "Set audio decoder: opus 48000Hz") || !strings.Contains(log, "Set audio encoder: opus 48000Hz") {
		t.Errorf("baresip's log does not say it codes Opus both ways:\n%s", log)
	}
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
}
