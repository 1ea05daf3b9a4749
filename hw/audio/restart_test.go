package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"partyline/hw"
)

// fakeBackend delivers periods on the (synctest) clock from its own goroutine until
// stopped, or until the test makes it fail.
type fakeBackend struct {
	f  hw.AudioFormat
	cb callbacks

	mu     sync.Mutex // guards following
	quit   chan struct{}
	done   chan struct{}
	skip   int // periods to leave out before the next callback, simulating a stall
	closed bool

	startFails bool
}

func (b *fakeBackend) format() hw.AudioFormat { return b.f }

func (b *fakeBackend) start() error {
	if b.startFails {
		return errors.New("device busy")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.quit, b.done = make(chan struct{}), make(chan struct{})
	go b.loop(b.quit, b.done)
	return nil
}

func (b *fakeBackend) loop(quit, done chan struct{}) {
	defer close(done)
	period := time.Duration(b.f.PeriodFrames) * time.Second / time.Duration(b.f.SampleRate)
	n := b.f.PeriodFrames * b.f.Channels * 2
	out, in := make([]byte, n), make([]byte, n)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		b.mu.Lock()
		skip := b.skip
		b.skip = 0
		b.mu.Unlock()
		if skip > 0 {
			time.Sleep(time.Duration(skip) * period)
		}
		b.cb.data(out, in, uint32(b.f.PeriodFrames))
	}
}

func (b *fakeBackend) stop() error {
	b.mu.Lock()
	quit, done := b.quit, b.done
	b.quit = nil
	b.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
	b.cb.stopped() // miniaudio notifies every stop, asked for or not
	return nil
}

func (b *fakeBackend) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// crash simulates the device dying: its thread ends and it reports the stop.
func (b *fakeBackend) crash() {
	b.mu.Lock()
	quit, done := b.quit, b.done
	b.quit = nil
	b.mu.Unlock()
	close(quit)
	<-done
	b.cb.stopped()
}

// fakeOpener opens fakeBackends; the attempts listed in fails fail.
type fakeOpener struct {
	fails      map[int]bool // attempts that fail to open
	startFails map[int]bool // attempts whose backend fails to start

	mu       sync.Mutex // guards following
	attempts []time.Time
	opened   []*fakeBackend
}

func (o *fakeOpener) open(cfg Config, cb callbacks) (backend, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.attempts)
	o.attempts = append(o.attempts, time.Now())
	if o.fails[n] {
		return nil, errors.New("no such device")
	}
	b := &fakeBackend{f: hw.AudioFormat{SampleRate: cfg.SampleRate, Channels: cfg.Channels, PeriodFrames: cfg.PeriodFrames}, cb: cb,
		startFails: o.startFails[n]}
	o.opened = append(o.opened, b)
	return b, nil
}

func (o *fakeOpener) last() *fakeBackend {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opened[len(o.opened)-1]
}

var testConfig = Config{SampleRate: 48000, Channels: 2, PeriodFrames: 240, Periods: 2,
	Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

// runFake opens a Device on o and runs it in the bubble until the returned cancel.
func runFake(t *testing.T, o *fakeOpener) (*Device, context.CancelFunc, <-chan error) {
	t.Helper()
	return runFakeConfig(t, o, testConfig)
}

func runFakeConfig(t *testing.T, o *fakeOpener, cfg Config) (*Device, context.CancelFunc, <-chan error) {
	t.Helper()
	d, err := open(cfg, o.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(in, out []int16) { copy(out, in) }) }()
	return d, cancel, done
}

func TestReopenWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &fakeOpener{fails: map[int]bool{1: true, 2: true, 3: true}}
		d, cancel, done := runFake(t, o)
		time.Sleep(time.Second) // 200 periods of 5 ms
		synctest.Wait()
		if got := d.Stats().Periods; got != 200 {
			t.Errorf("Periods after 1 s = %d, want 200", got)
		}
		if d.Reopening() {
			t.Error("Reopening while the device runs")
		}
		first := o.last()
		failAt := time.Now()
		first.crash()
		time.Sleep(time.Second) // three reopens failed, the fourth is 0.5 s away
		synctest.Wait()
		if !d.Reopening() {
			t.Error("not Reopening between the failure and the reopen: the watchdog would take the audio for stuck")
		}
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if d.Reopening() {
			t.Error("still Reopening once the device runs again")
		}

		s := d.Stats()
		if s.Restarts != 1 {
			t.Errorf("Restarts = %d, want 1", s.Restarts)
		}
		if !strings.Contains(s.LastError, "no such device") {
			t.Errorf("LastError = %q, want the last failed reopen", s.LastError)
		}
		if s.Overruns != 0 || s.Underruns != 0 {
			t.Errorf("Stats = %+v, want no xruns: the reopened device starts a new pace", s)
		}
		if !first.closed {
			t.Error("the failed backend was not closed")
		}
		o.mu.Lock()
		var gaps []time.Duration
		prev := failAt
		for _, at := range o.attempts[1:] {
			gaps = append(gaps, at.Sub(prev))
			prev = at
		}
		o.mu.Unlock()
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
		if len(gaps) != len(want) {
			t.Fatalf("reopen attempts at gaps %v, want %v", gaps, want)
		}
		for i := range want {
			if gaps[i] != want[i] {
				t.Errorf("reopen attempt %d after %v, want %v", i+1, gaps[i], want[i])
			}
		}
		// Running again since 1.5 s after the failure: 8.5 s more periods.
		if got, want := s.Periods, uint64(200+1700); got != want {
			t.Errorf("Periods = %d, want %d", got, want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
}

func TestReopenAttemptsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := map[int]bool{}
		for i := 1; i < 1000; i++ {
			fails[i] = true
		}
		o := &fakeOpener{fails: fails}
		d, cancel, done := runFake(t, o)
		synctest.Wait() // Run has started the device
		o.last().crash()
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		o.mu.Lock()
		attempts := o.attempts[1:]
		for i := range attempts {
			j := i + maxAttempts
			if j < len(attempts) && attempts[j].Sub(attempts[i]) < time.Minute {
				t.Errorf("attempts %d and %d only %v apart, want at most %d a minute", i, j, attempts[j].Sub(attempts[i]), maxAttempts)
			}
			if i > 0 && attempts[i].Sub(attempts[i-1]) < min(minBackoff<<(i), maxBackoff) {
				t.Errorf("attempt %d only %v after the one before", i, attempts[i].Sub(attempts[i-1]))
			}
		}
		n := len(attempts)
		o.mu.Unlock()
		if n < 2*maxAttempts || n > 3*maxAttempts {
			t.Errorf("%d attempts in 3 minutes, want %d to %d", n, 2*maxAttempts, 3*maxAttempts)
		}
		cancel() // while waiting out the backoff
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if s := d.Stats(); s.Restarts != 0 || s.LastError == "" {
			t.Errorf("Stats = %+v, want no restarts and the last error", s)
		}
	})
}

func TestLateCallbackCountsXrun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &fakeOpener{}
		d, cancel, done := runFake(t, o)
		time.Sleep(100 * time.Millisecond)
		b := o.last()
		b.mu.Lock()
		b.skip = lagPeriods // lagPeriods periods late: still within bounds
		b.mu.Unlock()
		time.Sleep(3 * paceWindow)
		synctest.Wait()
		if s := d.Stats(); s.Overruns != 0 || s.Underruns != 0 {
			t.Errorf("after a %d-period stall: Stats = %+v, want no xruns", lagPeriods, s)
		}
		b.mu.Lock()
		b.skip = lagPeriods + 1
		b.mu.Unlock()
		time.Sleep(3 * paceWindow)
		synctest.Wait()
		if s := d.Stats(); s.Overruns != 1 || s.Underruns != 1 {
			t.Errorf("after a %d-period stall: Stats = %+v, want 1 overrun and 1 underrun", lagPeriods+1, s)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func TestStartFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logBuf bytes.Buffer
		cfg := testConfig
		cfg.Device = "fake"
		cfg.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
		o := &fakeOpener{startFails: map[int]bool{0: true}}
		d, cancel, done := runFakeConfig(t, o, cfg)
		synctest.Wait()
		if s := d.Stats(); s.Restarts != 0 || !strings.Contains(s.LastError, "device busy") {
			t.Errorf("after the failed start: Stats = %+v, want no restart yet and the start error", s)
		}
		time.Sleep(minBackoff + 50*time.Millisecond) // reopened at 100 ms, 10 periods since
		synctest.Wait()
		if s := d.Stats(); s.Restarts != 1 || s.Periods != 10 {
			t.Errorf("Stats = %+v, want 1 restart and 10 periods", s)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		if err := d.Run(t.Context(), func(in, out []int16) {}); err == nil {
			t.Error("Run after Close succeeded, want an error")
		}
		log := logBuf.String()
		for _, want := range []string{"audio device failed", "device busy", "device=fake", "audio device reopened"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
	})
}
