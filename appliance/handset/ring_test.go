package handset

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"partyline/hw"
	"partyline/hw/led"
	"partyline/hw/sim"
)

// fakeCall is a call in: it records what the line did with it in its conference's log.
type fakeCall struct {
	conf   *fakeConference
	caller string
	gone   chan struct{}
	once   sync.Once
}

func (c *fakeCall) Caller() string { return c.caller }
func (c *fakeCall) Answer(ctx context.Context) (Leg, error) {
	c.conf.record("answer " + c.caller)
	l := &fakeLeg{conf: c.conf, ended: make(chan struct{})}
	c.conf.mu.Lock()
	c.conf.calls = append(c.conf.calls, l)
	c.conf.mu.Unlock()
	return l, nil
}
func (c *fakeCall) Reject(status int, reason string) {
	c.conf.record(fmt.Sprintf("reject %s %d", c.caller, status))
}
func (c *fakeCall) Gone() <-chan struct{} { return c.gone }
func (c *fakeCall) cancel()               { c.once.Do(func() { close(c.gone) }) }

// ringWorld is a line with the calls offered to it and what it told the history.
type ringWorld struct {
	*world
	calls   []*fakeCall
	missed  []string
	waiting int
}

func (w *ringWorld) offer(caller string, opts RingOptions) step {
	return func(*world) {
		c := &fakeCall{conf: w.conf, caller: caller, gone: make(chan struct{})}
		w.calls = append(w.calls, c)
		w.line.Offer(c, opts)
	}
}

func TestLineRings(t *testing.T) {
	ring, auto := RingOptions{}, RingOptions{AutoAnswer: true}
	tests := []struct {
		name       string
		steps      func(w *ringWorld) []step
		want       State
		wantLED    led.Pattern
		wantCaller string
		wantCalls  []string
		wantMissed []string
	}{
		{"a call rings an idle handset", func(w *ringWorld) []step { return []step{w.offer("bob", ring)} },
			Ringing, led.Ringing, "bob", nil, nil},
		{"lifting answers", func(w *ringWorld) []step { return []step{w.offer("bob", ring), lift} },
			InCall, led.On, "bob", []string{"answer bob"}, nil},
		{"the call button answers", func(w *ringWorld) []step { return []step{w.offer("bob", ring), press} },
			InCall, led.On, "bob", []string{"answer bob"}, nil},
		{"Answer answers", func(w *ringWorld) []step {
			return []step{w.offer("bob", ring), func(w *world) { _ = w.line.Answer() }}
		}, InCall, led.On, "bob", []string{"answer bob"}, nil},
		{"hanging up the answered call ends it", func(w *ringWorld) []step { return []step{w.offer("bob", ring), lift, replace} },
			Idle, led.Off, "", []string{"answer bob", "hangup"}, nil},
		{"the caller cancelling is a missed call", func(w *ringWorld) []step {
			return []step{w.offer("bob", ring), func(*world) { w.calls[0].cancel() }}
		}, Idle, led.Off, "", nil, []string{"bob: the caller hung up"}},
		{"a minute without an answer is refused 480 and missed", func(w *ringWorld) []step {
			return []step{w.offer("bob", ring), waitAMinute}
		}, Idle, led.Off, "", []string{"reject bob 480"}, []string{"bob: no answer"}},
		{"a busy handset refuses 486", func(w *ringWorld) []step { return []step{lift, w.offer("bob", ring)} },
			InCall, led.On, "", []string{"join", "reject bob 486"}, []string{"bob: busy"}},
		{"a lifted handset is busy", func(w *ringWorld) []step { return []step{lift, replace, lift, w.offer("bob", ring)} },
			InCall, led.On, "", []string{"join", "hangup", "join", "reject bob 486"}, []string{"bob: busy"}},
		{"a second call while ringing is busy", func(w *ringWorld) []step {
			return []step{w.offer("bob", ring), w.offer("carol", RingOptions{CallWaiting: true})}
		}, Ringing, led.Ringing, "bob", []string{"reject carol 486"}, []string{"carol: busy"}},
		{"auto-answer answers at once", func(w *ringWorld) []step { return []step{w.offer("bob", auto)} },
			InCall, led.On, "bob", []string{"answer bob"}, nil},
		{"auto-answer mutes until lifted", func(w *ringWorld) []step {
			return []step{w.offer("bob", RingOptions{AutoAnswer: true, MuteUntilLifted: true})}
		}, InCall, led.DoubleBlink, "bob", []string{"answer bob", "mute true"}, nil},
		{"lifting unmutes an auto-answered call", func(w *ringWorld) []step {
			return []step{w.offer("bob", RingOptions{AutoAnswer: true, MuteUntilLifted: true}), lift}
		}, InCall, led.On, "bob", []string{"answer bob", "mute true", "mute false"}, nil},
		{"a waiting call rings once the handset is put down", func(w *ringWorld) []step {
			return []step{lift, w.offer("bob", RingOptions{CallWaiting: true}), replace}
		}, Ringing, led.Ringing, "bob", []string{"join", "hangup"}, nil},
		{"a waiting call is answered by putting down and lifting", func(w *ringWorld) []step {
			return []step{lift, w.offer("bob", RingOptions{CallWaiting: true}), replace, lift}
		}, InCall, led.On, "bob", []string{"join", "hangup", "answer bob"}, nil},
		{"Answer takes the waiting call", func(w *ringWorld) []step {
			return []step{lift, w.offer("bob", RingOptions{CallWaiting: true}), func(w *world) { _ = w.line.Answer() }}
		}, InCall, led.On, "bob", []string{"join", "hangup", "answer bob"}, nil},
		{"a waiting call the caller gives up is missed, the call kept", func(w *ringWorld) []step {
			return []step{lift, w.offer("bob", RingOptions{CallWaiting: true}), func(*world) { w.calls[0].cancel() }}
		}, InCall, led.On, "", []string{"join"}, []string{"bob: the caller hung up"}},
		{"the far end ending the call makes the waiting one ring", func(w *ringWorld) []step {
			return []step{press, w.offer("bob", RingOptions{CallWaiting: true}), remoteHangup}
		}, Ringing, led.Ringing, "bob", []string{"join"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := sim.New(1)
				conf := &fakeConference{answer: true}
				w := &ringWorld{world: &world{board: b, conf: conf, mute: b.MuteButton(0)}}
				buttons := map[string]hw.Switch{"button": b.Button(0), "mute": b.MuteButton(0)}
				w.line = New(Config{Hook: b.Hook(0), Buttons: buttons, LED: b.LED(0), Conference: conf, Log: slog.New(slog.DiscardHandler),
					OnMissed:  func(caller, why string) { w.missed = append(w.missed, caller+": "+why) },
					OnWaiting: func() { w.waiting++ },
				})
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { _ = w.line.Run(ctx); close(done) }()
				synctest.Wait()
				for _, s := range tt.steps(w) {
					s(w.world)
					synctest.Wait()
				}
				st := w.line.Status()
				if st.State != tt.want {
					t.Errorf("state = %v, want %v", st.State, tt.want)
				}
				if got := w.line.light.Pattern(); got != tt.wantLED {
					t.Errorf("LED = %v, want %v", got, tt.wantLED)
				}
				if st.Caller != tt.wantCaller {
					t.Errorf("caller = %q, want %q", st.Caller, tt.wantCaller)
				}
				// The hang-up and the answer run in goroutines of their own: in any order.
				if got := conf.recorded(); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.wantCalls))) {
					t.Errorf("calls = %q, want %q", got, tt.wantCalls)
				}
				if !slices.Equal(w.missed, tt.wantMissed) {
					t.Errorf("missed = %q, want %q", w.missed, tt.wantMissed)
				}
				cancel()
				<-done
			})
		})
	}
}

// TestLineRingsWaitingTone checks that a call that waits is told (the tone) and shown.
func TestLineRingsWaitingTone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := sim.New(1)
		conf := &fakeConference{answer: true}
		waiting := 0
		l := New(Config{Hook: b.Hook(0), LED: b.LED(0), Conference: conf, Log: slog.New(slog.DiscardHandler), OnWaiting: func() { waiting++ }})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = l.Run(ctx); close(done) }()
		b.Hook(0).Set(true)
		synctest.Wait()
		l.Offer(&fakeCall{conf: conf, caller: "bob", gone: make(chan struct{})}, RingOptions{CallWaiting: true})
		synctest.Wait()
		if st := l.Status(); waiting != 1 || st.Waiting != "bob" || st.State != InCall {
			t.Errorf("after a call waits: tone %d times, status %v waiting %q; want once, in call, bob", waiting, st.State, st.Waiting)
		}
		time.Sleep(2 * time.Minute) // nobody answers: missed, refused 480
		synctest.Wait()
		if st := l.Status(); st.Waiting != "" {
			t.Errorf("waiting = %q after the ring timeout, want none", st.Waiting)
		}
		if got := conf.recorded(); !slices.Equal(got, []string{"join", "reject bob 480"}) {
			t.Errorf("calls = %q, want join, reject bob 480", got)
		}
		cancel()
		<-done
	})
}
