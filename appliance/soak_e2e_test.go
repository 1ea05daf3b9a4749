// The soak runs without the race detector (make test runs it so, in unit's second line):
// the detector slows its 10,000 calls tenfold, and the race tests cover the same paths.

//go:build !race

package appliance_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/handset"
	"partyline/appliance/settings"
	"partyline/hw/sim"
	"partyline/sip"
	"partyline/sip/peertest/focus"
)

// soakFocusEnv makes TestSoakFocusHelper serve the soak test's conference.
const soakFocusEnv = "PARTYLINE_SOAK_FOCUS"

// Soak figures: how many cycles, how many of them bring a bridged caller, and how far the
// figures may end from where they started.
const (
	soakCycles         = 10000
	soakWarmUp         = 50 // cycles before the figures are taken: caches and pools fill
	soakVisitEvery     = 10
	soakGoroutineSlack = 2
	soakFDSlack        = 2
	soakHeapSlack      = 2 << 20 // bytes of live heap
)

// TestSoakFocusHelper is the soak test's conference: the peertest focus in a process of
// its own, so that what it keeps of every call (it records them all) is not counted
// against the appliance. It prints "focus <addr>" and serves until its stdin closes. It
// does nothing in an ordinary test run.
func TestSoakFocusHelper(t *testing.T) {
	if os.Getenv(soakFocusEnv) == "" {
		return
	}
	f := focus.Start(t, focus.Config{RecordLimit: 20 * time.Millisecond})
	fmt.Printf("focus %s\n", f.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startSoakFocus runs TestSoakFocusHelper in a child process and returns its address.
func startSoakFocus(t *testing.T) netip.AddrPort {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakFocusHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), soakFocusEnv+"=1")
	cmd.Stderr = t.Output()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(failsafe):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, perr := netip.ParseAddrPort(strings.TrimSpace(strings.TrimPrefix(line, "focus ")))
	if err != nil || perr != nil {
		t.Fatalf("soak focus said %q: %v %v", line, err, perr)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // ends when the child exits
	return addr
}

// soakFigures are what a leak makes grow.
type soakFigures struct {
	goroutines int
	fds        int    // entries of /proc/self/fd
	heap       uint64 // live heap after a collection, bytes
}

func measureSoak(t *testing.T) soakFigures {
	t.Helper()
	runtime.GC()
	runtime.GC() // the first may leave finalizers' objects for the second
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return soakFigures{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: m.HeapAlloc}
}

func (f soakFigures) String() string {
	return fmt.Sprintf("%d goroutines, %d open files, %.2f MiB live heap", f.goroutines, f.fds, float64(f.heap)/(1<<20))
}

// TestSoakNothingLeaks runs 10,000 join/leave cycles through the appliance, against the
// peertest focus (a real SIP and RTP peer on loopback, in a process of its own), and
// checks that goroutines, open files and live heap end where they started.
//
// A cycle is: the call button of handset 1 or 2 (they take turns) is pressed, as its
// default mapping does, and the handset joins the conference for real (INVITE through the
// SIP agent, 200, ACK, a media session with its RTP socket and pump on the sim board's
// audio). On every tenth cycle, while the handset is in the call, its record button
// starts the recorder (its own leg into the conference, writing a WAV file), a caller (a
// second SIP agent in this process) calls the bridge, which joins the conference as the
// caller and answers, and hangs up, and the record button stops the recorder again. Then
// the call button is pressed again and the handset leaves (BYE); the cycle ends when the
// handset is idle and its leg has ended. The next cycle starts at once, so legs of the one before may still be
// going away. Time is not accelerated: the peers are real sockets, which testing/synctest
// cannot fake, so each cycle takes what the machine takes.
//
// The figures are taken after soakWarmUp cycles (the pools and caches of sipgo, the
// runtime and the database fill) and at the end, once the transactions SIP keeps for a
// while after each call (up to 32 s) have ended.
func TestSoakNothingLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: not in -short")
	}
	focusAddr := startSoakFocus(t)
	dir := t.TempDir()
	const callerUser, callerSecret = "carol", "carol-s3cret"
	seedSettings(t, filepath.Join(dir, "partyline.db"), focusAddr.String(), func(s *settings.Settings) {
		s.Accounts = append(s.Accounts, settings.Account{ID: "bob", User: "bob", Password: password, Domain: domain, Proxy: focusAddr.String()})
		s.Handsets[1].Account = "bob"
		s.Bridges = []settings.Bridge{{ID: "lobby", User: "lobby", Conference: s.Conferences[0].ID, Account: "alice",
			AuthUser: callerUser, AuthPassword: callerSecret}}
	})
	// The log goes to a file: kept in the test's output, it would be heap that grows.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "partyline.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		logFile.Close()
		if b, err := os.ReadFile(logFile.Name()); err == nil && t.Failed() {
			t.Logf("the end of the appliance's log:\n%s", b[max(0, len(b)-16<<10):])
		}
	}()
	app, err := appliance.New(appliance.Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", Sim: sim.New(2)},
		slog.New(slog.NewTextHandler(logFile, nil)))
	if err != nil {
		t.Fatalf("appliance.New: %v", err)
	}
	appCtx, stopApp := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	go func() { appDone <- app.Run(appCtx) }()
	defer func() {
		stopApp()
		if err := <-appDone; err != nil {
			t.Errorf("appliance: %v", err)
		}
	}()

	caller, err := sip.NewAgent(sip.Config{ListenAddr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	callerCtx, stopCaller := context.WithCancel(context.Background())
	callerDone := make(chan error, 1)
	go func() { callerDone <- caller.Run(callerCtx) }()
	defer func() { stopCaller(); <-callerDone }()
	bridge := "sip:lobby@" + app.SIPAddr()
	callerAccount := sip.Account{User: callerUser, Password: callerSecret, Domain: "127.0.0.1", Proxy: app.SIPAddr()}
	callerMedia := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9) // discard: the caller says nothing

	// cycle runs cycle n on handset n%2; the two handsets cycle at the same time.
	cycle := func(n int) error {
		h := n % 2
		until := func(what string, cond func() bool) error {
			deadline := time.Now().Add(failsafe)
			for !cond() {
				if time.Now().After(deadline) {
					return fmt.Errorf("cycle %d: handset %d: not %s after %v", n, h+1, what, failsafe)
				}
				time.Sleep(time.Millisecond)
			}
			return nil
		}
		press := func(do func(int) error, what string, cond func() bool) error {
			if err := do(h); err != nil {
				return fmt.Errorf("cycle %d: handset %d: %w", n, h+1, err)
			}
			return until(what, cond)
		}
		if err := press(app.PressJoinLeave, "in call", func() bool { return app.HandsetState(h) == handset.InCall }); err != nil {
			return err
		}
		leg := app.HandsetLeg(h)
		if n%(2*soakVisitEvery) == 0 { // handset 1 only: recording is the conference's
			if err := press(app.PressRecord, "recorded", func() bool { return app.HandsetRecorded(h) }); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), failsafe)
			call, err := caller.Join(ctx, sip.JoinRequest{Target: bridge, Account: callerAccount, LocalMedia: callerMedia})
			if err == nil {
				err = call.Hangup(ctx)
			}
			cancel()
			if err != nil {
				return fmt.Errorf("cycle %d: the bridged caller: %w", n, err)
			}
			if err := press(app.PressRecord, "unrecorded", func() bool { return !app.HandsetRecorded(h) }); err != nil {
				return err
			}
		}
		if err := press(app.PressJoinLeave, "idle", func() bool { return app.HandsetState(h) == handset.Idle }); err != nil {
			return err
		}
		select {
		case <-leg.Done():
			_ = leg.Err() // returns once the leg's goroutines have ended: its identity is free again
			return nil
		case <-time.After(failsafe):
			return fmt.Errorf("cycle %d: handset %d's leg has not ended %v after it left", n, h+1, failsafe)
		}
	}
	// cycles runs cycles from to to-1, each handset its share at the same time as the other.
	cycles := func(from, to int) {
		t.Helper()
		var wg sync.WaitGroup
		for h := range 2 {
			wg.Go(func() {
				for n := from + h; n < to; n += 2 {
					if err := cycle(n); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}

	cycles(0, soakWarmUp)
	before := settle(t, nil)
	t.Logf("after %d warm-up cycles: %v", soakWarmUp, before)
	start := time.Now()
	cycles(soakWarmUp, soakWarmUp+soakCycles)
	t.Logf("%d cycles in %v", soakCycles, time.Since(start).Round(time.Millisecond))
	after := settle(t, &before)
	t.Logf("after %d cycles: %v", soakCycles, after)
	if after.goroutines > before.goroutines+soakGoroutineSlack {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
	}
	if after.fds > before.fds+soakFDSlack {
		t.Errorf("open files grew from %d to %d", before.fds, after.fds)
	}
	if after.heap > before.heap+soakHeapSlack {
		t.Errorf("live heap grew from %.2f to %.2f MiB", float64(before.heap)/(1<<20), float64(after.heap)/(1<<20))
	}
}

// settle waits until the calls' leftovers are gone: until the figures are back within the
// slack of base (nil: until two measures a second apart agree), for at most failsafe. It
// returns the last measure.
func settle(t *testing.T, base *soakFigures) soakFigures {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	prev := measureSoak(t)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		f := measureSoak(t)
		if base == nil && f.goroutines == prev.goroutines && f.fds == prev.fds {
			return f
		}
		if base != nil && f.goroutines <= base.goroutines+soakGoroutineSlack && f.fds <= base.fds+soakFDSlack &&
			f.heap <= base.heap+soakHeapSlack {
			return f
		}
		prev = f
	}
	return prev
}
