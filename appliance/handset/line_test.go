package handset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"partyline/hw"
	"partyline/hw/gesture"
	"partyline/hw/led"
	"partyline/hw/sim"
	"partyline/media"
)

// fakeConference answers joins as told and records what the line asked of it.
type fakeConference struct {
	mu       sync.Mutex // guards following
	answer   bool       // whether a join is answered at all (otherwise it waits for ctx)
	failure  error      // the error an answered join returns, if any
	holdErr  error      // the error a leg's hold returns, if any
	presence bool       // whether a proof of presence is wanted
	log      []string
	calls    []*fakeLeg
}

func (c *fakeConference) record(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *fakeConference) Join(ctx context.Context, handset int) (Leg, error) {
	c.record("join")
	c.mu.Lock()
	answer, failure := c.answer, c.failure
	c.mu.Unlock()
	if !answer {
		<-ctx.Done()
		c.record("cancel")
		return nil, ctx.Err()
	}
	if failure != nil {
		return nil, failure
	}
	l := &fakeLeg{conf: c, ended: make(chan struct{})}
	c.mu.Lock()
	c.calls = append(c.calls, l)
	c.mu.Unlock()
	return l, nil
}

func (c *fakeConference) NextConference(handset int) (string, error) {
	c.record("next conference")
	return "Sales", nil
}

func (c *fakeConference) PIN(handset int) (string, error) { return "1234#", nil }

func (c *fakeConference) PresenceWanted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.presence
}

func (c *fakeConference) ProvePresence(handset int) string {
	c.record("presence proven")
	return "presence proven"
}

func (c *fakeConference) Louder(handset int, deltaDB float64) (float64, error) {
	c.record(fmt.Sprintf("louder %+g", deltaDB))
	return deltaDB, nil
}

func (c *fakeConference) recorded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *fakeConference) lastCall() *fakeLeg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[len(c.calls)-1]
}

type fakeLeg struct {
	conf  *fakeConference
	once  sync.Once
	ended chan struct{}
}

func (l *fakeLeg) Hangup(context.Context) error {
	l.conf.record("hangup")
	l.once.Do(func() { close(l.ended) })
	return nil
}
func (l *fakeLeg) Done() <-chan struct{} { return l.ended }
func (l *fakeLeg) Err() error            { return errors.New("the conference hung up") }
func (l *fakeLeg) remoteEnd()            { l.once.Do(func() { close(l.ended) }) }
func (l *fakeLeg) Mute(on bool)          { l.conf.record(fmt.Sprint("mute ", on)) }
func (l *fakeLeg) Hold(_ context.Context, on bool) error {
	l.conf.record(fmt.Sprint("hold ", on))
	l.conf.mu.Lock()
	defer l.conf.mu.Unlock()
	return l.conf.holdErr
}
func (l *fakeLeg) SendDigits(d string) error {
	l.conf.record("digits " + d)
	return nil
}
func (l *fakeLeg) Quality() media.Stats { return media.Stats{PacketsSent: 50} }

type world struct {
	mute  *sim.Switch
	board *sim.Board
	conf  *fakeConference
	line  *Line
}

type step func(*world)

func lift(w *world) { w.board.Hook(0).Set(true) }

// replace hangs up: on-hook for longer than a flash (fake clock: returns at once).
func replace(w *world) { w.board.Hook(0).Set(false); time.Sleep(time.Second) }

// flash presses the hook briefly, 300 ms.
func flash(w *world) {
	w.board.Hook(0).Set(false)
	time.Sleep(300 * time.Millisecond)
	w.board.Hook(0).Set(true)
}

// glitch opens the hook for 50 ms: too short for a flash.
func glitch(w *world) {
	w.board.Hook(0).Set(false)
	time.Sleep(50 * time.Millisecond)
	w.board.Hook(0).Set(true)
}

func press(w *world) { w.board.Button(0).Set(true); synctest.Wait(); w.board.Button(0).Set(false) }

// holdMute holds the mute button for a second; pressMute presses it briefly.
func holdMute(w *world)  { w.mute.Set(true); time.Sleep(time.Second); w.mute.Set(false) }
func pressMute(w *world) { w.mute.Set(true); synctest.Wait(); w.mute.Set(false) }

// hold holds the call button for a second: a long press.
func hold(w *world) {
	w.board.Button(0).Set(true)
	time.Sleep(time.Second)
	w.board.Button(0).Set(false)
}
func remoteHangup(w *world) { w.conf.lastCall().remoteEnd() }

// holdCall does what a button mapped to hold does; holdRefused makes the next holds fail.
func holdCall(w *world) {
	if err := w.line.Do(Hold); err != nil {
		panic(err)
	}
}
func holdRefused(w *world) {
	w.conf.mu.Lock()
	defer w.conf.mu.Unlock()
	w.conf.holdErr = errors.New("re-INVITE answered 488 Not Acceptable Here")
}

// remap gives the mute button the volume: held louder, pressed quieter.
func remap(w *world) {
	w.line.SetMapping(Mapping{
		{Input: "mute", Gesture: gesture.LongPress}:  VolumeUp,
		{Input: "mute", Gesture: gesture.ShortPress}: VolumeDown,
	})
}

// muteDown and muteUp press and release the mute button, as two steps.
func muteDown(w *world) { w.mute.Set(true) }
func muteUp(w *world)   { w.mute.Set(false) }

// wantPresence has the appliance want a proof of presence (no admin password yet).
func wantPresence(w *world) {
	w.conf.mu.Lock()
	defer w.conf.mu.Unlock()
	w.conf.presence = true
}

func waitAMinute(*world) { time.Sleep(time.Minute) } // fake clock: returns at once
func nowAnswer(w *world) {
	w.conf.mu.Lock()
	defer w.conf.mu.Unlock()
	w.conf.answer, w.conf.failure = true, nil
}

func TestLine(t *testing.T) {
	busy := errors.New("486 Busy Here")
	tests := []struct {
		name       string
		answer     bool
		failure    error
		steps      []step
		want       State
		wantLED    led.Pattern
		wantDetail string
		wantCalls  []string
	}{
		{"lift joins", true, nil, []step{lift}, InCall, led.On, "", []string{"join"}},
		{"replace leaves", true, nil, []step{lift, replace}, Idle, led.Off, "", []string{"join", "hangup"}},
		{"failed join shows why while lifted", true, busy, []step{lift}, Failed, led.FastBlink, "486 Busy Here", []string{"join"}},
		{"replace after failure is idle and keeps the reason", true, busy, []step{lift, replace}, Idle, led.Off, "486 Busy Here", []string{"join"}},
		{"lifting again after a failure retries", true, busy, []step{lift, replace, nowAnswer, lift}, InCall, led.On, "", []string{"join", "join"}},
		{"remote hangup while lifted", true, nil, []step{lift, remoteHangup}, Failed, led.FastBlink, "the conference hung up", []string{"join"}},
		{"unanswered join times out", false, nil, []step{lift, waitAMinute}, Failed, led.FastBlink, "no answer from the conference", []string{"join", "cancel"}},
		{"replace while joining cancels", false, nil, []step{lift, replace}, Idle, led.Off, "", []string{"join", "cancel"}},
		{"joining shows a slow blink", false, nil, []step{lift}, Joining, led.SlowBlink, "", []string{"join"}},
		{"button joins on-hook", true, nil, []step{press}, InCall, led.On, "", []string{"join"}},
		{"button again leaves", true, nil, []step{press, press}, Idle, led.Off, "", []string{"join", "hangup"}},
		{"flash mutes", true, nil, []step{lift, flash}, InCall, led.DoubleBlink, "", []string{"join", "mute true"}},
		{"second flash unmutes", true, nil, []step{lift, flash, flash}, InCall, led.On, "", []string{"join", "mute true", "mute false"}},
		{"a glitch on the hook is ignored", true, nil, []step{lift, glitch}, InCall, led.On, "", []string{"join"}},
		{"hanging up while muted leaves", true, nil, []step{lift, flash, replace}, Idle, led.Off, "", []string{"join", "mute true", "hangup"}},
		{"long press picks the next conference", true, nil, []step{hold}, Idle, led.Off, "next call joins Sales", []string{"next conference"}},
		{"mute button held sends the PIN", true, nil, []step{lift, holdMute}, InCall, led.On, "", []string{"join", "digits 1234#"}},
		{"mute button mutes", true, nil, []step{lift, pressMute}, InCall, led.DoubleBlink, "", []string{"join", "mute true"}},
		{"hold holds", true, nil, []step{lift, holdCall}, InCall, led.SlowFlash, "", []string{"join", "hold true"}},
		{"hold again resumes", true, nil, []step{lift, holdCall, holdCall}, InCall, led.On, "", []string{"join", "hold true", "hold false"}},
		{"held and muted shows the hold", true, nil, []step{lift, flash, holdCall}, InCall, led.SlowFlash, "", []string{"join", "mute true", "hold true"}},
		{"hold outside a call does nothing", true, nil, []step{holdCall}, Idle, led.Off, "", nil},
		{"hanging up while held leaves", true, nil, []step{lift, holdCall, replace}, Idle, led.Off, "", []string{"join", "hold true", "hangup"}},
		{"a refused hold says so", true, nil, []step{lift, holdRefused, holdCall}, InCall, led.On,
			"hold failed: re-INVITE answered 488 Not Acceptable Here", []string{"join", "hold true"}},
		{"a new mapping applies from the next gesture, the call kept", true, nil, []step{lift, holdMute, remap, holdMute}, InCall, led.On, "",
			[]string{"join", "digits 1234#", "louder +3"}},
		{"a press under way takes the mapping of when it ends", true, nil, []step{lift, muteDown, remap, muteUp}, InCall, led.On, "",
			[]string{"join", "louder -3"}},
		{"the next call is not held", true, nil, []step{lift, holdCall, replace, lift}, InCall, led.On, "", []string{"join", "hold true", "hangup", "join"}},
		{"call button held proves presence while it is wanted", true, nil, []step{wantPresence, hold}, Idle, led.Off, "presence proven",
			[]string{"presence proven"}},
		{"a short press joins while presence is wanted", true, nil, []step{wantPresence, press}, InCall, led.On, "", []string{"join"}},
		{"the mute button held still sends the PIN while presence is wanted", true, nil, []step{wantPresence, lift, holdMute}, InCall, led.On, "",
			[]string{"join", "digits 1234#"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := sim.New(1)
				conf := &fakeConference{answer: tt.answer, failure: tt.failure}
				w := &world{board: b, conf: conf, mute: b.MuteButton(0)}
				buttons := map[string]hw.Switch{"button": b.Button(0), "mute": b.MuteButton(0)}
				w.line = New(Config{Hook: b.Hook(0), Buttons: buttons, LED: b.LED(0), Conference: conf, Presence: conf, Log: slog.New(slog.DiscardHandler)})
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { _ = w.line.Run(ctx); close(done) }()
				synctest.Wait()

				for _, s := range tt.steps {
					s(w)
					synctest.Wait() // every goroutine is blocked: the line has settled
				}
				st := w.line.Status()
				if st.State != tt.want {
					t.Errorf("state = %v, want %v", st.State, tt.want)
				}
				if st.Detail != tt.wantDetail {
					t.Errorf("detail = %q, want %q", st.Detail, tt.wantDetail)
				}
				if got := w.line.light.Pattern(); got != tt.wantLED {
					t.Errorf("LED = %v, want %v", got, tt.wantLED)
				}
				if got := conf.recorded(); !slices.Equal(got, tt.wantCalls) {
					t.Errorf("conference calls = %q, want %q", got, tt.wantCalls)
				}
				cancel()
				<-done
				if b.LED(0).On() {
					t.Error("LED still lit after the line stopped")
				}
			})
		})
	}
}

func TestLineHangsUpOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := sim.New(1)
		conf := &fakeConference{answer: true}
		l := New(Config{Hook: b.Hook(0), LED: b.LED(0), Conference: conf, Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = l.Run(ctx); close(done) }()
		b.Hook(0).Set(true)
		synctest.Wait()
		if got := l.Status().State; got != InCall {
			t.Fatalf("state = %v, want %v", got, InCall)
		}
		cancel()
		<-done
		if got := conf.recorded(); !slices.Equal(got, []string{"join", "hangup"}) {
			t.Errorf("conference calls = %q, want join then hangup", got)
		}
	})
}

// TestLineAnswersProbes checks what the watchdog relies on: a line counts a beat for each
// probe while its goroutine takes events, and none while it is stuck in a handler (here
// OnState, which the appliance's status tone runs on the line's goroutine).
func TestLineAnswersProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := sim.New(1)
		release := make(chan struct{})
		stuck := func(s State) {
			if s == InCall {
				<-release
			}
		}
		l := New(Config{Hook: b.Hook(0), LED: b.LED(0), Conference: &fakeConference{answer: true}, OnState: stuck, Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = l.Run(ctx); close(done) }()
		synctest.Wait()
		for want := uint64(1); want <= 3; want++ {
			l.Probe()
			synctest.Wait()
			if got := l.Beats(); got != want {
				t.Fatalf("beats = %d after %d probes, want %d", got, want, want)
			}
		}
		b.Hook(0).Set(true) // the join ends in OnState(InCall), which does not return
		synctest.Wait()
		l.Probe()
		l.Probe() // a pending probe is not queued twice
		synctest.Wait()
		if got := l.Beats(); got != 3 {
			t.Fatalf("beats = %d while the line is stuck, want 3", got)
		}
		close(release)
		synctest.Wait()
		if got := l.Beats(); got != 4 {
			t.Errorf("beats = %d once the line is free again, want 4 (one for the pending probe)", got)
		}
		cancel()
		<-done
	})
}
