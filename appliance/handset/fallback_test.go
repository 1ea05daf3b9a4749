package handset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"partyline/hw/led"
	"partyline/hw/sim"
)

// fakeLocal is a LocalMix that records who is in it, or refuses as a conference whose
// local fallback is off; unreachable is what it says of the conference before any join.
type fakeLocal struct {
	mu          sync.Mutex
	refuse      bool
	unreachable error
	in          bool
	entered     int
}

func (m *fakeLocal) Unreachable(int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unreachable
}

func (m *fakeLocal) EnterLocal(int) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse {
		return nil, errors.New("local fallback is off for conference main")
	}
	m.in = true
	m.entered++
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.in = false
	}, nil
}

func (m *fakeLocal) inMix() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.in
}

// fallbackWorld runs a line of handset 1 with conf and local, its Config changed by each
// of edits, in a synctest bubble and hands it to f; the line stops when f returns.
func fallbackWorld(t *testing.T, conf *fakeConference, local *fakeLocal, f func(b *sim.Board, l *Line), edits ...func(*Config)) {
	synctest.Test(t, func(t *testing.T) {
		b := sim.New(1)
		cfg := Config{Hook: b.Hook(0), LED: b.LED(0), Conference: conf, Log: slog.New(slog.DiscardHandler)}
		if local != nil {
			cfg.Local = local
		}
		for _, edit := range edits {
			edit(&cfg)
		}
		l := New(cfg)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = l.Run(ctx); close(done) }()
		synctest.Wait()
		f(b, l)
		cancel()
		<-done
	})
}

func joins(conf *fakeConference) int {
	n := 0
	for _, s := range conf.recorded() {
		if s == "join" {
			n++
		}
	}
	return n
}

// TestLineFallsBackToLocalAndMovesIntoTheConference: a lifted handset whose conference
// answers 503 talks locally (LED triple blink, the time it became unreachable kept) and
// joins again with a growing backoff; when the conference answers, the call takes over,
// the handset leaves the local mix, and nothing hung up.
func TestLineFallsBackToLocalAndMovesIntoTheConference(t *testing.T) {
	conf := &fakeConference{answer: true, failure: Unreachable(errors.New("503 Service Unavailable"))}
	local := &fakeLocal{}
	fallbackWorld(t, conf, local, func(b *sim.Board, l *Line) {
		start := time.Now()
		b.Hook(0).Set(true)
		synctest.Wait()
		st := l.Status()
		if st.State != LocalOnly || st.LED != led.TripleBlink || st.Detail != "503 Service Unavailable" || !local.inMix() {
			t.Fatalf("after a 503: state %v, LED %v, detail %q, in the local mix %v; want local only, triple blink, the 503, true",
				st.State, st.LED, st.Detail, local.inMix())
		}
		if !st.Unreachable.Equal(start) {
			t.Errorf("unreachable since %v, want %v", st.Unreachable, start)
		}

		// The backoff: joins at most 1 s apart at first, then further apart, never more
		// than 30 s once it is capped.
		var at []time.Duration
		for n := joins(conf); time.Since(start) < 5*time.Minute; {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			if m := joins(conf); m > n {
				at, n = append(at, time.Since(start)), m
			}
		}
		if len(at) < 10 {
			t.Fatalf("%d joins again in 5 minutes, want at least 10: %v", len(at), at)
		}
		if at[0] > time.Second+100*time.Millisecond {
			t.Errorf("first join again after %v, want within 1 s", at[0])
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap > 30*time.Second+100*time.Millisecond {
				t.Errorf("join %d came %v after the one before, over the 30 s cap", i+1, gap)
			}
		}
		if late := at[len(at)-1] - at[len(at)-2]; late < 15*time.Second {
			t.Errorf("joins still %v apart after 5 minutes, want the backoff grown to 15..30 s", late)
		}
		if st := l.Status(); st.State != LocalOnly || !st.Unreachable.Equal(start) {
			t.Errorf("while still unreachable: state %v, since %v; want local only since the first failure", st.State, st.Unreachable)
		}

		nowAnswer(&world{conf: conf})
		time.Sleep(time.Minute)
		synctest.Wait()
		st = l.Status()
		if st.State != InCall || st.LED != led.On || local.inMix() || !strings.Contains(st.Detail, "moved from local only") || !st.Unreachable.IsZero() {
			t.Errorf("once the conference answers: state %v, LED %v, in the local mix %v, detail %q, unreachable %v; want in call, on, false, moved, zero",
				st.State, st.LED, local.inMix(), st.Detail, st.Unreachable)
		}
		if slices.Contains(conf.recorded(), "hangup") || local.entered != 1 {
			t.Errorf("the move hung up or entered the mix again: %q, entered %d times", conf.recorded(), local.entered)
		}
	})
}

// TestLineFallbackEnds covers the other ways out of and around the local mix.
func TestLineFallbackEnds(t *testing.T) {
	unreachable := Unreachable(errors.New("408 Request Timeout"))
	tests := []struct {
		name       string
		failure    error // of every join until then
		answer     bool  // whether joins are answered at all
		refuse     bool  // the conference's local fallback is off
		then       func(b *sim.Board, conf *fakeConference)
		want       State
		wantLED    led.Pattern
		wantDetail string
		wantInMix  bool
	}{
		{name: "switch off: failed as before", failure: unreachable, answer: true, refuse: true,
			want: Failed, wantLED: led.FastBlink, wantDetail: "408 Request Timeout"},
		{name: "486 is not a server gone", failure: errors.New("486 Busy Here"), answer: true,
			want: Failed, wantLED: led.FastBlink, wantDetail: "486 Busy Here"},
		{name: "no answer in time is", answer: false,
			want: LocalOnly, wantLED: led.TripleBlink, wantDetail: "no answer from the conference", wantInMix: true},
		{name: "hanging up leaves the local mix and stops trying", failure: unreachable, answer: true,
			then: func(b *sim.Board, conf *fakeConference) { b.Hook(0).Set(false) },
			want: Idle, wantLED: led.Off, wantDetail: "408 Request Timeout"},
		{name: "a 403 on joining again ends it as failed", failure: unreachable, answer: true,
			then: func(b *sim.Board, conf *fakeConference) {
				conf.mu.Lock()
				conf.failure = errors.New("403 Forbidden")
				conf.mu.Unlock()
			},
			want: Failed, wantLED: led.FastBlink, wantDetail: "403 Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := &fakeConference{answer: tt.answer, failure: tt.failure}
			local := &fakeLocal{refuse: tt.refuse}
			fallbackWorld(t, conf, local, func(b *sim.Board, l *Line) {
				b.Hook(0).Set(true)
				time.Sleep(time.Minute) // past the join timeout
				synctest.Wait()
				if tt.then != nil {
					tt.then(b, conf)
					time.Sleep(time.Minute)
					synctest.Wait()
				}
				before := joins(conf)
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				st := l.Status()
				if st.State != tt.want || st.LED != tt.wantLED || st.Detail != tt.wantDetail || local.inMix() != tt.wantInMix {
					t.Errorf("state %v, LED %v, detail %q, in the local mix %v; want %v, %v, %q, %v",
						st.State, st.LED, st.Detail, local.inMix(), tt.want, tt.wantLED, tt.wantDetail, tt.wantInMix)
				}
				if tt.want != LocalOnly && joins(conf) != before {
					t.Errorf("%d joins in 10 minutes after it ended, want none", joins(conf)-before)
				}
			})
		})
	}
}

// TestLineWithoutLocalMixFails: a line with no local mix fails an unreachable join as
// before.
func TestLineWithoutLocalMixFails(t *testing.T) {
	conf := &fakeConference{answer: true, failure: Unreachable(errors.New("503 Service Unavailable"))}
	fallbackWorld(t, conf, nil, func(b *sim.Board, l *Line) {
		b.Hook(0).Set(true)
		synctest.Wait()
		if st := l.Status(); st.State != Failed || st.Detail != "503 Service Unavailable" {
			t.Errorf("state %v, detail %q; want failed, the 503", st.State, st.Detail)
		}
	})
}

// TestLineFallsBackAtOnceWhileTheRegistrationFailed: a handset lifted while the local mix
// says that its conference is out of reach (its account's registration failed for want of
// an answer) talks locally at once, with the join already under way in the background;
// the join that times out is tried again with the backoff, and the one that is answered
// moves the handset into the conference. A conference whose local fallback is off, or a
// registration that says nothing of the kind, joins as before.
func TestLineFallsBackAtOnceWhileTheRegistrationFailed(t *testing.T) {
	why := errors.New("the registration of desk1 failed: no answer from 127.0.0.1:5060 within 10s")
	t.Run("local only at once, then into the conference", func(t *testing.T) {
		conf := &fakeConference{answer: false}
		local := &fakeLocal{unreachable: why}
		var ended []string // the call history
		fallbackWorld(t, conf, local, func(b *sim.Board, l *Line) {
			b.Hook(0).Set(true)
			synctest.Wait()
			st := l.Status()
			if st.State != LocalOnly || st.LED != led.TripleBlink || st.Detail != why.Error() || !local.inMix() || st.Unreachable.IsZero() {
				t.Fatalf("lifted: state %v, LED %v, detail %q, in the local mix %v, unreachable since %v; want local only, triple blink, the registration's failure, true, now",
					st.State, st.LED, st.Detail, local.inMix(), st.Unreachable)
			}
			if got := conf.recorded(); !slices.Equal(got, []string{"join"}) {
				t.Fatalf("what the conference saw as the handset went local only: %q, want the join under way", got)
			}
			// The join runs into its timeout: still local only, tried again after 1 s at most.
			time.Sleep(joinTimeout + time.Second)
			synctest.Wait()
			if st := l.Status(); st.State != LocalOnly || joins(conf) != 2 {
				t.Fatalf("after the first join timed out: state %v, %d joins; want local only, the second join", st.State, joins(conf))
			}
			if !slices.Equal(ended, []string{"local only: no answer from the conference"}) {
				t.Errorf("call history %q, want the first failed join", ended)
			}
			nowAnswer(&world{conf: conf})
			time.Sleep(time.Minute)
			synctest.Wait()
			st = l.Status()
			if st.State != InCall || local.inMix() || !strings.Contains(st.Detail, "moved from local only") {
				t.Errorf("once the conference answers: state %v, in the local mix %v, detail %q; want in call, false, moved", st.State, local.inMix(), st.Detail)
			}
			if len(ended) != 1 {
				t.Errorf("call history %q, want only the first failed join", ended)
			}
		}, history(&ended))
	})
	t.Run("hung up before the join ended", func(t *testing.T) {
		conf := &fakeConference{answer: false}
		local := &fakeLocal{unreachable: why}
		var ended []string
		fallbackWorld(t, conf, local, func(b *sim.Board, l *Line) {
			b.Hook(0).Set(true)
			synctest.Wait()
			b.Hook(0).Set(false)
			time.Sleep(time.Second) // longer than a flash
			synctest.Wait()
			if st := l.Status(); st.State != Idle || local.inMix() || !slices.Equal(conf.recorded(), []string{"join", "cancel"}) {
				t.Errorf("put down: state %v, in the local mix %v, the conference saw %q; want idle, false, the join cancelled", st.State, local.inMix(), conf.recorded())
			}
			if !slices.Equal(ended, []string{"local only: <nil>"}) {
				t.Errorf("call history %q, want the lift, given up", ended)
			}
		}, history(&ended))
	})
	t.Run("the join in the background refused", func(t *testing.T) {
		conf := &fakeConference{answer: true, failure: errors.New("403 Forbidden")}
		local := &fakeLocal{unreachable: why}
		var ended []string
		fallbackWorld(t, conf, local, func(b *sim.Board, l *Line) {
			b.Hook(0).Set(true)
			synctest.Wait()
			if st := l.Status(); st.State != Failed || st.LED != led.FastBlink || st.Detail != "403 Forbidden" || local.inMix() {
				t.Errorf("lifted, the join refused: state %v, LED %v, detail %q, in the local mix %v; want failed, fast blink, the 403, false",
					st.State, st.LED, st.Detail, local.inMix())
			}
			if !slices.Equal(ended, []string{"local only: 403 Forbidden"}) {
				t.Errorf("call history %q, want the refused join", ended)
			}
		}, history(&ended))
	})
	for _, tt := range []struct {
		name  string
		local *fakeLocal
	}{
		{"switch off", &fakeLocal{unreachable: why, refuse: true}},
		{"nothing known to be out of reach", &fakeLocal{}},
	} {
		t.Run(tt.name+": joining as before", func(t *testing.T) {
			conf := &fakeConference{answer: false}
			fallbackWorld(t, conf, tt.local, func(b *sim.Board, l *Line) {
				b.Hook(0).Set(true)
				synctest.Wait()
				if st := l.Status(); st.State != Joining || st.LED != led.SlowBlink || tt.local.inMix() {
					t.Errorf("lifted: state %v, LED %v, in the local mix %v; want joining, slow blink, false", st.State, st.LED, tt.local.inMix())
				}
			})
		})
	}
}

// history makes the line's OnCallEnd add each ended join or call to ended, as its state
// and error.
func history(ended *[]string) func(*Config) {
	return func(cfg *Config) {
		cfg.OnCallEnd = func(st Status, err error) { *ended = append(*ended, fmt.Sprint(st.State, ": ", err)) }
	}
}
