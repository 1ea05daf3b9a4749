package appliance_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/hw/alert"
	"partyline/hw/sim"
	"partyline/media"
)

// speakerRate is the alert speaker's rate in TestCallInRingsTheAlertSpeakerOverALSA: the
// sim board's, as the appliance opens its speaker at its audio device's rate.
const speakerRate = sim.SampleRate

// TestCallInRingsTheAlertSpeakerOverALSA rings handset 1 with a call from baresip through
// Kamailio, with the real alert speaker (oto on alsa-lib) whose ALSA default device is a
// file plugin writing into a named pipe the test reads, and measures the cadence in what
// the speaker played: the us cadence, 2 s of 440 + 480 Hz, then 4 s of silence, then the
// tones again. Lifting the handset answers.
//
// oto makes one context per process: this is the only test of the package that opens the
// alert speaker.
func TestCallInRingsTheAlertSpeakerOverALSA(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "speaker.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// Read-write, so that neither this open nor alsa-lib's write-only one waits for the other.
	pipe, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("pcm.!default { type file slave.pcm \"ring_e2e_null\" file %q format \"raw\" }\npcm.ring_e2e_null { type null }\n", fifo)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)
	// The reader paces the device as a sound card would: the file plugin's writes block on
	// the full pipe, and it reads 10 ms of samples every 10 ms. It keeps what the speaker
	// played. It runs before the speaker opens: oto writes as soon as it opens the device,
	// and a write blocked on a full pipe would hold the lock the speaker's Suspend takes.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var played []int16
	// oto writes 32-bit float samples.
	wg.Go(func() {
		buf := make([]byte, 4*speakerRate/100)
		var rest []byte // a sample split between two reads
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			<-tick.C
			if err := pipe.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
				return
			}
			n, err := pipe.Read(buf)
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			rest = append(rest, buf[:n]...)
			mu.Lock()
			for len(rest) >= 4 {
				f := math.Float32frombits(binary.LittleEndian.Uint32(rest))
				played = append(played, int16(max(-1, min(1, f))*math.MaxInt16))
				rest = rest[4:]
			}
			mu.Unlock()
		}
	})
	// Cleanups run last first: the appliance stops, then the speaker, then the reader,
	// which keeps the device's writes flowing until then.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		pipe.Close()
	})
	spk, err := alert.Open(speakerRate)
	if err != nil {
		t.Fatalf("open the alert speaker on the file device: %v", err)
	}
	t.Cleanup(func() {
		if err := spk.Close(); err != nil {
			t.Errorf("close the speaker: %v", err)
		}
	})

	c := startCallIn(t, 700, settings.HandsetCallsIn{AllowProxy: true}, func(cfg *appliance.Config) { cfg.Speaker = spk })
	c.dialAlice()
	c.waitFor("handset 1 to ring", ringingFrom(0))

	// Wait for the speaker to have played a ring, the silence after it and the start of
	// the next one.
	var on, off int
	deadline := time.Now().Add(failsafe)
	for {
		mu.Lock()
		s := append([]int16(nil), played...)
		mu.Unlock()
		var ok bool
		if on, off, ok = firstCadence(s); ok {
			start := firstSound(s)
			if lvl := media.ToneLevel(s[start:start+on], speakerRate, 440); lvl < -6 {
				t.Errorf("the ring has %.1f dB of 440 Hz, want the us ringing tone", lvl)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the speaker played %d samples without a whole ring and pause (ring %d, pause %d samples)", len(s), on, off)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The us cadence: 2 s on, 4 s off, within a 10 ms window of the measure.
	const window = speakerRate / 100
	if on < 2*speakerRate-2*window || on > 2*speakerRate+window {
		t.Errorf("ring lasted %d samples (%v), want 2 s", on, time.Duration(on)*time.Second/speakerRate)
	}
	if off < 4*speakerRate-window || off > 4*speakerRate+2*window {
		t.Errorf("pause lasted %d samples (%v), want 4 s", off, time.Duration(off)*time.Second/speakerRate)
	}
	t.Logf("cadence measured: ring %v, pause %v", time.Duration(on)*time.Second/speakerRate, time.Duration(off)*time.Second/speakerRate)

	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 in the call", handsetState(0, "in call"))
}

// soundWindow is the window of firstCadence: 10 ms, in which a sound has a peak above
// soundPeak.
const (
	soundWindow = speakerRate / 100
	soundPeak   = 1000
)

// sounding reports whether the window of s at w (in windows) has sound.
func sounding(s []int16, w int) bool {
	for _, v := range s[w*soundWindow : (w+1)*soundWindow] {
		if v > soundPeak || v < -soundPeak {
			return true
		}
	}
	return false
}

// firstSound returns the index of the first window of s with sound, in samples.
func firstSound(s []int16) int {
	for w := range len(s) / soundWindow {
		if sounding(s, w) {
			return w * soundWindow
		}
	}
	return len(s)
}

// firstCadence measures the first sound in s and the silence after it, in samples (to a
// window), once the sound after the silence has started: ok is false until then.
func firstCadence(s []int16) (on, off int, ok bool) {
	windows := len(s) / soundWindow
	w := firstSound(s) / soundWindow
	start := w
	for w < windows && sounding(s, w) {
		w++
	}
	on = (w - start) * soundWindow
	quiet := w
	for w < windows && !sounding(s, w) {
		w++
	}
	off = (w - quiet) * soundWindow
	return on, off, w < windows && on > 0
}
