package appliance

import (
	"log/slog"
	"testing"

	"partyline/appliance/audiohub"
	"partyline/appliance/settings"
	"partyline/hw"
)

// TestLevelsApplyAtOnce saves a handset's levels through the admin page's path: the audio
// hub has them at once, for a call in progress, and another handset's stay as they were.
func TestLevelsApplyAtOnce(t *testing.T) {
	st := newTestStore(t)
	hub := audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	b := backend{&Appliance{store: st, hw: &hardware{hub: hub}, log: slog.New(slog.DiscardHandler)}}
	restart, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Handsets[1].MicGainDB, s.Handsets[1].EarGainDB, s.Handsets[1].SidetonePercent = -6, 3, 10
		return nil
	})
	if err != nil || restart {
		t.Fatalf("UpdateSettings: restart %v, %v; want a live change", restart, err)
	}
	want := audiohub.New(hub.Format())
	if err := want.SetLevels(1, -6, 3, audiohub.SidetoneDB(10)); err != nil {
		t.Fatal(err)
	}
	mic, ear, side, _ := hub.Gains(1)
	wantMic, wantEar, wantSide, _ := want.Gains(1)
	if mic != wantMic || ear != wantEar || side != wantSide {
		t.Errorf("channel 1 gains %d, %d, %d; want %d, %d, %d", mic, ear, side, wantMic, wantEar, wantSide)
	}
	unityMic, unityEar, _, _ := want.Gains(0)
	if mic, ear, _, _ := hub.Gains(0); mic != unityMic || ear != unityEar {
		t.Errorf("channel 0 gains %d, %d; want unity, untouched", mic, ear)
	}

	// The automatic gain goes on and off at once too, on that handset's channel only.
	for _, on := range []bool{true, false} {
		if _, err := b.UpdateSettings(func(s *settings.Settings) error {
			s.Handsets[1].MicAGC = on
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, got := hub.Gains(1); got != on {
			t.Errorf("channel 1 AGC running = %v after saving mic_agc = %v", got, on)
		}
		if _, _, _, agc := hub.Gains(0); agc {
			t.Error("channel 0 AGC turned on by another handset's setting")
		}
	}
}

// gainOf is the Q16 gain the audio hub applies for dB.
func gainOf(t *testing.T, dB float64) int32 {
	t.Helper()
	h := audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 1, PeriodFrames: 240})
	if err := h.SetLevels(0, dB, dB, audiohub.SidetoneDB(0)); err != nil {
		t.Fatal(err)
	}
	mic, _, _, _ := h.Gains(0)
	return mic
}
