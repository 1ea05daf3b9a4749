package appliance

import (
	"log/slog"
	"testing"

	"partyline/appliance/settings"
	"partyline/hw"
)

// TestLevelsApplyAtOnce saves a handset's levels through the admin page's path: the audio
// hub has them at once, for a call in progress, and another handset's stay as they were.
func TestLevelsApplyAtOnce(t *testing.T) {
	st := newTestStore(t)
	hub := newAudioHub(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	b := backend{&Appliance{store: st, hw: &hardware{hub: hub}, log: slog.New(slog.DiscardHandler)}}
	restart, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Handsets[1].MicGainDB, s.Handsets[1].EarGainDB, s.Handsets[1].SidetonePercent = -6, 3, 10
		return nil
	})
	if err != nil || restart {
		t.Fatalf("UpdateSettings: restart %v, %v; want a live change", restart, err)
	}
	p := hub.ports[1]
	if p.micGain.Load() != q16(-6) || p.earGain.Load() != q16(3) || p.sidetone.Load() != q16(sidetoneDB(10)) {
		t.Errorf("channel 1 gains %d, %d, %d; want %d, %d, %d", p.micGain.Load(), p.earGain.Load(), p.sidetone.Load(),
			q16(-6), q16(3), q16(sidetoneDB(10)))
	}
	if p := hub.ports[0]; p.micGain.Load() != unityGain || p.earGain.Load() != unityGain {
		t.Errorf("channel 0 gains %d, %d; want unity, untouched", p.micGain.Load(), p.earGain.Load())
	}

	// The automatic gain goes on and off at once too, on that handset's channel only.
	for _, on := range []bool{true, false} {
		if _, err := b.UpdateSettings(func(s *settings.Settings) error {
			s.Handsets[1].MicAGC = on
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := hub.ports[1].agc.Load() != nil; got != on {
			t.Errorf("channel 1 AGC running = %v after saving mic_agc = %v", got, on)
		}
		if hub.ports[0].agc.Load() != nil {
			t.Error("channel 0 AGC turned on by another handset's setting")
		}
	}
}
