package sim

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"partyline/hw"
)

var (
	_ hw.Switch       = (*Switch)(nil)
	_ hw.LED          = (*LED)(nil)
	_ hw.AlertSpeaker = (*Speaker)(nil)
	_ hw.AudioDevice  = (*Audio)(nil)
)

func TestSwitchWaitReportsEveryChange(t *testing.T) {
	s := New(1).Hook(0)
	s.Set(true)
	s.Set(false) // quick press and release before anyone waited
	s.Set(false) // no change
	s.Set(true)
	ctx := t.Context()
	for i, want := range []bool{true, false, true} {
		got, err := s.Wait(ctx)
		if err != nil || got != want {
			t.Fatalf("Wait #%d = %v, %v; want %v, nil", i, got, err, want)
		}
	}
	if !s.Active() {
		t.Errorf("Active() = false, want true")
	}
}

func TestSwitchWaitBlocksUntilSetOrCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(1).Button(0)
		got := make(chan bool, 1)
		go func() {
			v, _ := s.Wait(context.Background())
			got <- v
		}()
		synctest.Wait()
		select {
		case v := <-got:
			t.Fatalf("Wait returned %v before any change", v)
		default:
		}
		s.Set(true)
		synctest.Wait()
		if v := <-got; !v {
			t.Errorf("Wait = false after press, want true")
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait error = %v, want %v", err, context.DeadlineExceeded)
		}
	})
}

func TestOutOfRangeHandset(t *testing.T) {
	b := New(2)
	if b.Hook(2) != nil || b.Button(-1) != nil || b.LED(5) != nil {
		t.Errorf("out-of-range handset returned a device, want nil")
	}
}

func TestLED(t *testing.T) {
	l := New(1).LED(0)
	for _, on := range []bool{true, false, true} {
		if err := l.Set(on); err != nil {
			t.Fatal(err)
		}
		if got := l.On(); got != on {
			t.Errorf("On() = %v after Set(%v), want %v", got, on, on)
		}
	}
}

func TestSpeakerRecords(t *testing.T) {
	sp := New(1).Speaker()
	clip := []int16{1, 2, 3}
	if err := sp.Play(8000, clip); err != nil {
		t.Fatal(err)
	}
	clip[0] = 99 // the speaker keeps its own copy
	if err := sp.Play(48000, []int16{4}); err != nil {
		t.Fatal(err)
	}
	got := sp.Played()
	if len(got) != 2 || got[0].SampleRate != 8000 || got[0].Samples[0] != 1 || got[1].SampleRate != 48000 {
		t.Errorf("Played() = %v, want [{8000 [1 2 3]} {48000 [4]}]", got)
	}
	// A sim board left running plays a status tone at every join: only the last are kept.
	for i := range 1000 {
		if err := sp.Play(8000, []int16{int16(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got = sp.Played()
	if len(got) != keepSounds || got[0].Samples[0] != 1000-keepSounds || got[keepSounds-1].Samples[0] != 999 {
		t.Errorf("after 1002 sounds Played() has %d, the first %v: want the last %d", len(got), got[0].Samples, keepSounds)
	}
}

func TestToneHzDistinctNonHarmonic(t *testing.T) {
	for i := range 8 {
		f := ToneHz(i)
		if f < 300 || f > 3000 {
			t.Errorf("ToneHz(%d) = %v, want within 300..3000", i, f)
		}
		for j := range i {
			g := ToneHz(j)
			r := max(f, g) / min(f, g)
			if math.Abs(r-math.Round(r)) < 0.02 {
				t.Errorf("ToneHz(%d) = %v and ToneHz(%d) = %v are harmonics", i, f, j, g)
			}
		}
	}
}

// goertzel returns the share of s's energy at freq in dB (0 = all of it).
func goertzel(s []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2, total float64
	for _, v := range s {
		x := float64(v)
		s0 := x + c*s1 - s2
		s2, s1 = s1, s0
		total += x * x
	}
	power := s1*s1 + s2*s2 - c*s1*s2
	if total == 0 {
		return -120
	}
	return 10 * math.Log10(2*power/(float64(len(s))*total))
}

// TestAudioLoopback runs the device on synctest's clock, so that it plays exactly the
// periods of the time that passed however busy the machine is.
func TestAudioLoopback(t *testing.T) {
	synctest.Test(t, testAudioLoopback)
}

func testAudioLoopback(t *testing.T) {
	a := New(2).Audio()
	if got, want := a.Format(), (hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}); got != want {
		t.Fatalf("Format() = %+v, want %+v", got, want)
	}
	if got := a.EarpieceLevel(0); got != -120 {
		t.Errorf("EarpieceLevel before Run = %v, want -120", got)
	}
	a.SetMic(1, []int16{0}) // channel 1 silent
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(in, out []int16) { copy(out, in) }) }()
	time.Sleep(300 * time.Millisecond)
	synctest.Wait() // the period due at 300 ms is played
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got, want := len(a.Earpiece(0, time.Second)), 300*SampleRate/1000; got != want {
		t.Errorf("Earpiece(0, 1s) after 300 ms has %d samples, want %d", got, want)
	}

	heard := a.Earpiece(0, 200*time.Millisecond)
	if len(heard) != 200*SampleRate/1000 {
		t.Fatalf("Earpiece(0, 200ms) has %d samples, want %d", len(heard), 200*SampleRate/1000)
	}
	if got := goertzel(heard, ToneHz(0)); got < -1 {
		t.Errorf("earpiece 0 energy at its tone %v Hz = %.1f dB, want > -1 dB", ToneHz(0), got)
	}
	if got := goertzel(heard, ToneHz(1)); got > -30 {
		t.Errorf("earpiece 0 energy at %v Hz = %.1f dB, want < -30 dB", ToneHz(1), got)
	}
	// A sine of amplitude 0.2 is 20*log10(0.2/sqrt 2) = -17 dBFS RMS.
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"EarpieceLevel(0)", a.EarpieceLevel(0), -16.99},
		{"MicLevel(0)", a.MicLevel(0), -16.99},
		{"EarpieceLevel(1)", a.EarpieceLevel(1), -120},
		{"MicLevel(1)", a.MicLevel(1), -120},
	} {
		if math.Abs(tt.got-tt.want) > 0.1 {
			t.Errorf("%s = %.2f dBFS, want %.2f", tt.name, tt.got, tt.want)
		}
	}
}

func TestAudioRunPacesInRealTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(1).Audio()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		calls := 0
		if err := a.Run(ctx, func(in, out []int16) { calls++ }); err != nil {
			t.Fatal(err)
		}
		if want := 200; calls < want-1 || calls > want {
			t.Errorf("process called %d times in 1 s, want %d", calls, want)
		}
	})
}

// TestAudioPacesIdle: while idle, Run still processes every period of real time, but in
// bursts every 500 ms; Wake has it process the periods due within a period, and once idle
// ends it is back to one period every 5 ms. A wake that finds it still idle costs two
// short waits, then the bursts go on.
func TestAudioPacesIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(1).Audio()
		var idle atomic.Bool
		idle.Store(true)
		a.PaceIdle(idle.Load)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		var mu sync.Mutex
		calls, wakes := 0, map[time.Time]int{}
		count := func() (int, map[time.Time]int) {
			mu.Lock()
			defer mu.Unlock()
			c, w := calls, wakes
			calls, wakes = 0, map[time.Time]int{}
			return c, w
		}
		go func() {
			done <- a.Run(ctx, func(in, out []int16) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				wakes[time.Now()]++
			})
		}()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if c, w := count(); c < 400-idleBurst || c > 400 || len(w) > 5 {
			t.Errorf("idle: process called %d times at %d moments in 2 s, want about 400 at 4 (every 500 ms)", c, len(w))
		}

		time.Sleep(10 * time.Millisecond) // past the burst at 2.005 s (the first period came at 5 ms)
		synctest.Wait()
		count()
		time.Sleep(250 * time.Millisecond) // halfway to the next burst
		synctest.Wait()
		if c, _ := count(); c != 0 {
			t.Errorf("idle: process called %d times between bursts", c)
		}
		idle.Store(false)
		a.Wake()
		time.Sleep(period)
		synctest.Wait()
		if c, w := count(); c < 45 || c > 55 || len(w) != 1 {
			t.Errorf("woken: process called %d times at %d moments within a period, want the 50 periods due since the last burst, at once", c, len(w))
		}

		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if c, w := count(); c < 199 || c > 201 || len(w) < 199 {
			t.Errorf("in a call: process called %d times at %d moments in 1 s, want 200 at 200", c, len(w))
		}
	})
}

// TestMicrophonesAreExactSines checks each microphone's samples against the sine they
// stand for, sample by sample, over more than the one second after which the tone table
// wraps, and a SetMic loop that does not divide a period.
func TestMicrophonesAreExactSines(t *testing.T) {
	const channels = 3
	a := newAudio(channels)
	a.SetMic(2, []int16{1, 2, 3, 4, 5, 6, 7})
	in := make([]int16, PeriodFrames*channels)
	for p := range 2*SampleRate/PeriodFrames + 3 {
		a.capture(in)
		a.play(in)
		for f := range PeriodFrames {
			n := p*PeriodFrames + f
			for c := range 2 {
				want := int16(math.Round(ToneAmp * math.Sin(2*math.Pi*ToneHz(c)*float64(n)/SampleRate)))
				if got := in[f*channels+c]; got != want {
					t.Fatalf("microphone %d sample %d = %d, want %d", c, n, got, want)
				}
			}
			if got, want := in[f*channels+2], int16(n%7+1); got != want {
				t.Fatalf("microphone 2 (SetMic) sample %d = %d, want %d", n, got, want)
			}
		}
	}
	if got := a.MicLevel(0); math.Abs(got - -16.99) > 0.05 {
		t.Errorf("MicLevel(0) = %.2f dBFS, want -16.99", got)
	}
}

// TestRingsHoldWholePeriods checks what capture and play rest on: a period never wraps
// in a ring.
func TestRingsHoldWholePeriods(t *testing.T) {
	for _, frames := range []int{levelFrames, keepFrames} {
		if frames%PeriodFrames != 0 {
			t.Errorf("a ring of %d frames does not hold whole periods of %d", frames, PeriodFrames)
		}
	}
}

// TestAudioWakeWhileIdle: a wake that finds Run still idle has it process what is due,
// and then the bursts every 500 ms go on, rather than a period every 5 ms.
func TestAudioWakeWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(1).Audio()
		a.PaceIdle(func() bool { return true })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		var mu sync.Mutex
		calls, moments := 0, map[time.Time]bool{}
		go func() {
			done <- a.Run(ctx, func(in, out []int16) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				moments[time.Now()] = true
			})
		}()
		time.Sleep(1250 * time.Millisecond)
		synctest.Wait()
		mu.Lock()
		calls, moments = 0, map[time.Time]bool{}
		mu.Unlock()
		a.Wake()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls < 400-idleBurst || calls > 400 || len(moments) > 7 {
			t.Errorf("woken while idle: process called %d times at %d moments in 2 s, want about 400 at 6 (the wake, then bursts)", calls, len(moments))
		}
	})
}
