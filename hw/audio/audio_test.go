package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gen2brain/malgo"
)

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
	var calls, badLen atomic.Int64
	want := cfg.PeriodFrames * cfg.Channels
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = d.Run(ctx, func(in, out []int16) {
		calls.Add(1)
		if len(in) != want || len(out) != want {
			badLen.Add(1)
		}
		copy(out, in)
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if calls.Load() == 0 {
		t.Error("process was never called")
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
	t.Logf("%d callbacks, %d frames in 300 ms; %+v", calls.Load(), calls.Load()*int64(cfg.PeriodFrames), s)
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
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := d.Run(ctx, func(in, out []int16) { copy(out, in) }); err != nil {
		t.Fatalf("Run = %v, want nil", err)
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
