package alert

import (
	"bytes"
	"encoding/binary"
	"fmt"
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
// beep played through oto lands in the file.
func TestSpeakerPlaysToALSA(t *testing.T) {
	t.Skip("hangs for over 5 minutes with oto/v2 on the file plugin; cause not yet found")
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
	want := make([]byte, 2*len(beep))
	for i, v := range beep {
		binary.LittleEndian.PutUint16(want[2*i:], uint16(v))
	}
	var got []byte
	for range 50 { // the file plugin is not paced: the beep is written within milliseconds
		time.Sleep(20 * time.Millisecond)
		got, _ = os.ReadFile(outPath)
		if bytes.Contains(got, want) {
			break
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, want) {
		t.Errorf("ALSA output (%d bytes) does not contain the beep", len(got))
	}
}
