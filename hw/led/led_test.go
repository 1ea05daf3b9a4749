package led

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLED records every change of the light with the (fake) time it happened.
type fakeLED struct {
	start time.Time

	mu    sync.Mutex // guards following
	on    bool
	trans []transition
}

type transition struct {
	at time.Duration // since start
	on bool
}

func newFakeLED() *fakeLED { return &fakeLED{start: time.Now()} }

func (f *fakeLED) Set(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on != f.on || len(f.trans) == 0 {
		f.trans = append(f.trans, transition{time.Since(f.start), on})
	}
	f.on = on
	return nil
}

func (f *fakeLED) transitions() []transition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.trans)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPatternTiming(t *testing.T) {
	tests := []struct {
		p    Pattern
		want []transition
	}{
		{Off, []transition{{0, false}}},
		{On, []transition{{0, true}}},
		{SlowBlink, []transition{{0, true}, {ms(500), false}, {ms(1000), true}, {ms(1500), false}}},
		{FastBlink, []transition{
			{0, true}, {ms(125), false}, {ms(250), true}, {ms(375), false},
			{ms(500), true}, {ms(625), false}, {ms(750), true}, {ms(875), false},
			{ms(1000), true}, {ms(1125), false}, {ms(1250), true}, {ms(1375), false},
			{ms(1500), true}, {ms(1625), false}, {ms(1750), true}, {ms(1875), false},
		}},
		{DoubleBlink, []transition{
			{0, true}, {ms(100), false}, {ms(200), true}, {ms(300), false},
			{ms(1000), true}, {ms(1100), false}, {ms(1200), true}, {ms(1300), false},
		}},
		{SlowFlash, []transition{{0, true}, {ms(200), false}, {ms(1500), true}, {ms(1700), false}}},
		{TripleBlink, []transition{
			{0, true}, {ms(100), false}, {ms(200), true}, {ms(300), false}, {ms(400), true}, {ms(500), false},
			{ms(1600), true}, {ms(1700), false}, {ms(1800), true}, {ms(1900), false},
		}},
		{Ringing, []transition{
			{0, true}, {ms(60), false}, {ms(120), true}, {ms(180), false},
			{ms(500), true}, {ms(560), false}, {ms(620), true}, {ms(680), false},
			{ms(1000), true}, {ms(1060), false}, {ms(1120), true}, {ms(1180), false},
			{ms(1500), true}, {ms(1560), false}, {ms(1620), true}, {ms(1680), false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newFakeLED()
				ind := New(l)
				ind.Set(tt.p)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ind.Run(ctx) }()
				time.Sleep(ms(1950))
				synctest.Wait()
				if got := l.transitions(); !slices.Equal(got, tt.want) {
					t.Errorf("transitions = %v, want %v", got, tt.want)
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			})
		})
	}
}

func TestSetTakesEffectAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLED()
		ind := New(l)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go ind.Run(ctx)
		time.Sleep(ms(300))
		ind.Set(SlowBlink)
		synctest.Wait()
		time.Sleep(ms(200)) // mid-way through the first "on"
		ind.Set(On)
		synctest.Wait()
		ind.Set(On) // again: no restart, no change
		time.Sleep(ms(1000))
		ind.Set(Off)
		synctest.Wait()
		want := []transition{{0, false}, {ms(300), true}, {ms(1500), false}}
		if got := l.transitions(); !slices.Equal(got, want) {
			t.Errorf("transitions = %v, want %v", got, want)
		}
		if got := ind.Pattern(); got != Off {
			t.Errorf("Pattern() = %v, want %v", got, Off)
		}
	})
}

func TestRunSwitchesOffWhenDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLED()
		ind := New(l)
		ind.Set(On)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ind.Run(ctx) }()
		time.Sleep(ms(700))
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		want := []transition{{0, true}, {ms(700), false}}
		if got := l.transitions(); !slices.Equal(got, want) {
			t.Errorf("transitions = %v, want %v", got, want)
		}
	})
}

func TestPatternString(t *testing.T) {
	tests := []struct {
		p    Pattern
		want string
	}{
		{Off, "off"}, {On, "on"}, {SlowBlink, "slow blink"}, {FastBlink, "fast blink"},
		{DoubleBlink, "double blink"}, {SlowFlash, "slow flash"}, {TripleBlink, "triple blink"},
		{Ringing, "ringing"}, {Pattern(10), "pattern(10)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("Pattern(%d).String() = %q, want %q", int(tt.p), got, tt.want)
		}
	}
}
