package alert

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQueueReadsSamplesThenSilence(t *testing.T) {
	q := &queue{limit: 100}
	if err := q.push([]int16{1, -2}); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 8)
	n, err := q.Read(p)
	if err != nil || n != 8 {
		t.Fatalf("Read = %d, %v, want 8, nil", n, err)
	}
	if want := []byte{1, 0, 0xfe, 0xff, 0, 0, 0, 0}; !bytes.Equal(p, want) {
		t.Errorf("Read got % x, want % x", p, want)
	}
}

// TestSpeakerPlaysToALSA points ALSA's default PCM at the file plugin and checks that a
// beep played through oto lands in the file. The file plugin's null slave is not paced:
// oto writes silence as fast as the disk takes it (tens of MB a second), so the test reads
// only the head of the file, where the beep queued right after Open lands, and closes the
// speaker as soon as it is found.
func TestSpeakerPlaysToALSA(t *testing.T) {
	const rate = 48000
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out.raw")
	conf := fmt.Sprintf(`pcm.!default { type file slave.pcm "alertnull" file "%s" format "raw" }
pcm.alertnull { type null }
`, outPath)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)

	s, err := Open(rate)
	if err != nil {
		t.Fatal(err)
	}
	beep := make([]int16, 4800)
	for i := range beep {
		beep[i] = int16(i%500 + 1)
	}
	if err := s.Play(8000, beep); err == nil || !strings.Contains(err.Error(), "8000") {
		t.Errorf("Play at 8000 Hz error = %v, want one naming the rates", err)
	}
	if err := s.Play(rate, beep); err != nil {
		t.Fatal(err)
	}
	// oto hands ALSA 32-bit float samples: each of ours is v/32768, exactly.
	want := make([]byte, 4*len(beep))
	for i, v := range beep {
		binary.LittleEndian.PutUint32(want[4*i:], math.Float32bits(float32(v)/32768))
	}
	// The beep is written within milliseconds; the deadline is a failsafe for a busy machine.
	var got []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = readHead(t, outPath, headBytes)
		if bytes.Contains(got, want) {
			break
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, want) {
		t.Errorf("the first %d bytes of the ALSA output do not contain the beep", len(got))
	}
}

// headBytes is how much of the unpaced ALSA output file the test reads: far more than oto
// writes before the beep, far less than it writes in a second.
const headBytes = 4 << 20

// readHead returns at most the first n bytes of the file at path.
func readHead(t *testing.T, path string, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		t.Fatalf("read ALSA output: %v", err)
	}
	return b
}
