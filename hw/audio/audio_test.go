package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gen2brain/malgo"
)

// failsafe bounds the waits for what a device does in a few periods: only a device that
// never gets there takes that long, however busy the machine is.
const failsafe = time.Minute

// TestNullBackendConstant fails once malgo fixes BackendNull, so nullBackend can go.
func TestNullBackendConstant(t *testing.T) {
	if malgo.BackendNull != 13 {
		t.Errorf("malgo.BackendNull = %d, want 13 (the upstream bug nullBackend works around)", malgo.BackendNull)
	}
}

func TestNullBackendRuns(t *testing.T) {
	cfg := Config{SampleRate: 48000, Channels: 4, PeriodFrames: 240, Periods: 2, Null: true}
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got, want := d.Format().Channels, cfg.Channels; got != want {
		t.Errorf("Format().Channels = %d, want %d", got, want)
	}
	// Run until process has been called 60 times (300 ms of audio), with a failsafe for
	// a device that never runs.
	const wantCalls = 60
	var calls, badLen atomic.Int64
	want := cfg.PeriodFrames * cfg.Channels
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	err = d.Run(ctx, func(in, out []int16) {
		if calls.Add(1) == wantCalls {
			cancel()
		}
		if len(in) != want || len(out) != want {
			badLen.Add(1)
		}
		copy(out, in)
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := calls.Load(); n < wantCalls {
		t.Errorf("process was called %d times in %v, want %d", n, failsafe, wantCalls)
	}
	if n := badLen.Load(); n != 0 {
		t.Errorf("%d callbacks had buffers of the wrong length, want %d samples", n, want)
	}
	s := d.Stats()
	if s.Periods != uint64(calls.Load()) {
		t.Errorf("Stats().Periods = %d, want the %d calls of process", s.Periods, calls.Load())
	}
	if s.Restarts != 0 || s.LastError != "" {
		t.Errorf("Stats() = %+v, want no restarts and no error", s)
	}
	t.Logf("%d callbacks, %d frames; %+v", calls.Load(), calls.Load()*int64(cfg.PeriodFrames), s)
}

func TestOpenUnknownDevice(t *testing.T) {
	_, err := Open(Config{Device: "nosuchpcm", SampleRate: 48000, Channels: 2, PeriodFrames: 240, Periods: 2})
	if err == nil {
		t.Fatal("Open(nosuchpcm) succeeded, want an error")
	}
	t.Log(err)
}

// TestALSAFileLoopback runs the real ALSA path on alsa-lib's file plugin: capture reads
// known samples from a file, process copies them to playback, which writes another file.
func TestALSAFileLoopback(t *testing.T) {
	const channels, frames = 2, 4800
	dir := t.TempDir()
	in := make([]int16, channels*frames)
	for i := range in {
		in[i] = int16(i%1000 + 1) // never 0, so leading silence is easy to skip
	}
	raw := make([]byte, 2*len(in))
	for i, v := range in {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	inPath, outPath := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(inPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`pcm.partytest {
	type asym
	playback.pcm "partyplay"
	capture.pcm "partycap"
	hint { show on description "partyline test" }
}
pcm.partycap { type file slave.pcm "partynull" file "/dev/null" infile "%s" format "raw" }
pcm.partyplay { type file slave.pcm "partynull" file "%s" format "raw" }
pcm.partynull { type null }
`, inPath, outPath)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)

	d, err := Open(Config{Device: "partytest", SampleRate: 48000, Channels: channels, PeriodFrames: 240, Periods: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Run until all of the file and a few periods more went through process, so that the
	// last of it has reached the playback file, with a failsafe for a device that stalls.
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	var played int
	if err := d.Run(ctx, func(in, out []int16) {
		copy(out, in)
		if played += len(in) / channels; played >= frames+4*240 {
			cancel()
		}
	}); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if played < frames+4*240 {
		t.Fatalf("%d frames went through process in %v, want %d", played, failsafe, frames+4*240)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(got, raw[:2*channels*240])
	if start < 0 {
		t.Fatalf("played file (%d bytes) does not contain the captured samples", len(got))
	}
	if !bytes.HasPrefix(got[start:], raw) {
		t.Errorf("played samples from byte %d differ from the input file", start)
	}
	if start%(2*channels) != 0 {
		t.Errorf("played samples start at byte %d, not on a frame boundary", start)
	}
}

// TestStuckStopReturns runs the ALSA file plugin with a named pipe as its capture's infile,
// which alsa-lib reads with a blocking read(2): once the test stops feeding the pipe, the
// device's thread stays in that read, and ma_device_stop would wait for it for good. Run
// must give up after stopTimeout with an error naming the device, log it, and never call
// process again. At the end the test feeds the pipe, the thread comes back, and Close
// releases the device, so nothing outlives the test.
func TestStuckStopReturns(t *testing.T) {
	const channels, frames = 2, 240
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// Read-write, so that neither this open nor alsa-lib's read-only one waits for the other
	// end.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	period := make([]byte, 2*channels*frames)
	feed := func(periods int) {
		t.Helper()
		for range periods {
			if _, err := w.Write(period); err != nil {
				t.Errorf("feed the capture pipe: %v", err)
				return
			}
		}
	}
	conf := fmt.Sprintf(`pcm.partystuck {
	type asym
	playback.pcm "partystuckplay"
	capture.pcm "partystuckcap"
}
pcm.partystuckcap { type file slave.pcm "partystucknull" file "/dev/null" infile "%s" format "raw" }
pcm.partystuckplay { type file slave.pcm "partystucknull" file "/dev/null" format "raw" }
pcm.partystucknull { type null }
`, fifo)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)

	var logged bytes.Buffer // written by Run only, read after it returned
	d, err := Open(Config{Device: "partystuck", SampleRate: 48000, Channels: channels, PeriodFrames: frames, Periods: 2,
		Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	// Cleanup, should the test fail too: unblock the device's thread for good (the pipe's
	// last writer closes, so its reads end), wait for Run, then release the device.
	finished := make(chan struct{}) // closed when Run has returned
	t.Cleanup(func() {
		feed(8)
		w.Close()
		select {
		case <-finished:
		case <-time.After(10 * stopTimeout): // a failure bound
			t.Errorf("Run has not returned %v after the pipe was fed: the device is left open", 10*stopTimeout)
			return
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close after the pipe was fed = %v, want nil", err)
		}
	})

	var calls atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer close(finished)
		done <- d.Run(ctx, func(in, out []int16) { calls.Add(1) })
	}()
	const fed = 20
	feed(fed)
	// The device takes every period fed, and then waits in its read for more. process is
	// called once per period, and once before any (miniaudio fills the playback side
	// first): stopping any earlier would find the thread still reading what is in the
	// pipe, not stuck. The deadline is a failure bound only.
	for deadline := time.Now().Add(failsafe); calls.Load() < fed+1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process was called %d times in %v with %d periods in the pipe, want %d", calls.Load(), failsafe, fed, fed+1)
		}
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(10 * stopTimeout): // a failure bound, not a measurement
		t.Fatalf("Run has not returned %v after it was stopped: the stuck stop is not bounded", 10*stopTimeout)
	}
	if !errors.Is(err, ErrStuck) || !strings.Contains(err.Error(), `"partystuck"`) {
		// Not stuck: the rest would run a device that nothing stops.
		t.Fatalf("Run = %v, want an error naming \"partystuck\" that wraps ErrStuck", err)
	}
	t.Logf("Run = %v", err)
	if log := logged.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "device=partystuck") {
		t.Errorf("Run logged %q, want an error naming the device", log)
	}
	if s := d.Stats(); !strings.Contains(s.LastError, "partystuck") {
		t.Errorf("Stats().LastError = %q, want the stuck stop", s.LastError)
	}
	if err := d.Run(t.Context(), func(in, out []int16) {}); !errors.Is(err, ErrStuck) {
		t.Errorf("Run on the stuck device again = %v, want ErrStuck", err)
	}
	before := calls.Load()
	feed(8) // the thread comes back, finds no process, and stops
	if err := d.Close(); err != nil {
		t.Errorf("Close once the pipe was fed = %v, want nil", err)
	}
	if n := calls.Load(); n != before {
		t.Errorf("process was called %d times after Run returned, want none", n-before)
	}
}
