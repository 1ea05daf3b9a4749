package appliance

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"partyline/appliance/audiohub"
	"partyline/appliance/config"
	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/hw"
)

// flushSaves writes what s holds queued and returns once it is in the file.
func flushSaves(s *handsetSaves) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.run(ctx) // a run whose context has ended writes what is queued, and returns
}

// stuckStore is a settings store whose file does not answer: every write waits until the
// test lets the writes go.
type stuckStore struct {
	*config.Store
	release chan struct{}
}

func (s *stuckStore) Update(change func(*settings.Settings) error) error {
	<-s.release
	return s.Store.Update(change)
}

// TestStuckStoreHoldsNoHandset presses a handset's volume and next-conference buttons while
// the settings file does not answer: each press applies at once (the gain in the audio hub,
// the conference for the next join and for the recorder's LED), one press builds on the
// last, and once the file answers it holds them all, in order.
func TestStuckStoreHoldsNoHandset(t *testing.T) {
	st := newTestStore(t)
	if err := st.Update(func(set *settings.Settings) error {
		set.Conferences = append(set.Conferences, settings.Conference{ID: "side", Name: "Side room"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stuck := &stuckStore{Store: st, release: make(chan struct{})}
	saves := newHandsetSaves(stuck, slog.New(slog.DiscardHandler))
	c := &conferencing{store: stuck, hub: audiohub.New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}), saves: saves}
	svc := &services{cfg: serviceConfig{store: st, saves: saves}}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { saves.run(ctx) })

	// The presses return although the first write waits for the file.
	pressed := make(chan error, 1)
	go func() {
		for range 2 {
			if _, err := c.Louder(0, handset.VolumeStep); err != nil {
				pressed <- err
				return
			}
		}
		pressed <- nil
	}()
	select {
	case err := <-pressed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(failsafe):
		close(stuck.release)
		t.Fatal("a volume press waited for the settings file")
	}
	if _, ear, _, _ := c.hub.Gains(0); ear != gainOf(t, 6) {
		t.Errorf("the hub's earpiece gain after two presses: %d, want %d (6 dB)", ear, gainOf(t, 6))
	}
	name, err := c.NextConference(0)
	if err != nil || name != "Side room" {
		t.Fatalf("NextConference = %q, %v; want Side room", name, err)
	}
	if got := c.current().Handsets[0]; got.Conference != "side" || got.EarGainDB != 6 {
		t.Errorf("the next join would use conference %q at %g dB, want side at 6 dB", got.Conference, got.EarGainDB)
	}
	if got := svc.settings().Handsets[0].Conference; got != "side" {
		t.Errorf("the recorder's LED looks at conference %q, want side", got)
	}
	if plan, err := planJoin(c.current(), 0); err == nil || plan.Target != "" {
		t.Errorf("planJoin to side, which has no URI: %+v, %v; want the refusal that says so", plan, err)
	}
	if got := st.Current().Settings.Handsets[0]; got.Conference == "side" || got.EarGainDB != 0 {
		t.Fatalf("the file has the changes before it answered: %+v", got)
	}

	close(stuck.release)
	cancel()
	wg.Wait()
	got := st.Current().Settings.Handsets[0]
	if got.Conference != "side" || got.EarGainDB != 6 {
		t.Errorf("once the file answered it holds conference %q at %g dB, want side at 6 dB", got.Conference, got.EarGainDB)
	}
	if len(saves.pending) != 0 {
		t.Errorf("the overlay still holds %v after every change was saved", saves.pending)
	}
}
