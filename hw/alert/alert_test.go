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
	"sync"
	"syscall"
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

// TestSpeakerPlaysToALSA points ALSA's default PCM at the file plugin, whose file is a
// named pipe the test reads, and checks that a beep played through oto comes out of it.
// The plugin's null slave is not paced, so the pipe is what paces oto: it writes no faster
// than the test reads, and a busy machine only slows both down. Nothing comes out before
// the first Play (the device is held suspended), and nothing after Close.
func TestSpeakerPlaysToALSA(t *testing.T) {
	const rate = 48000
	dir := t.TempDir()
	fifo := filepath.Join(dir, "out.raw")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`pcm.!default { type file slave.pcm "alertnull" file "%s" format "raw" }
pcm.alertnull { type null }
`, fifo)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)

	beep := make([]int16, 4800)
	for i := range beep {
		beep[i] = int16(i%500 + 1)
	}
	// oto hands ALSA 32-bit float samples: each of ours is v/32768, exactly.
	want := make([]byte, 4*len(beep))
	for i, v := range beep {
		binary.LittleEndian.PutUint32(want[4*i:], math.Float32bits(float32(v)/32768))
	}

	// The reader opens the pipe (which waits for ALSA to open its end), then reads until
	// stopped, saying whether the beep came by and how much came before it.
	stop := make(chan struct{})
	found := make(chan int64, 1)
	readerDone := make(chan error, 1)
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			readerDone <- err
			return
		}
		opened <- f
		readerDone <- scanFor(f, want, found, stop)
	}()
	var stopOnce sync.Once
	stopReader := func() error {
		var err error
		stopOnce.Do(func() {
			close(stop)
			// Opening read-write never waits, and lets a reader still waiting in Open go.
			if w, werr := os.OpenFile(fifo, os.O_RDWR, 0); werr == nil {
				w.Close()
			}
			select {
			case f := <-opened:
				f.Close()
			case err = <-readerDone:
				return
			}
			err = <-readerDone
		})
		return err
	}
	t.Cleanup(func() { stopReader() })

	s, err := Open(rate)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(8000, beep); err == nil || !strings.Contains(err.Error(), "8000") {
		t.Errorf("Play at 8000 Hz error = %v, want one naming the rates", err)
	}
	if err := s.Play(rate, beep); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-found:
		// Before the beep comes at most what oto mixed while Play resumed the device.
		if at > 1<<20 {
			t.Errorf("the beep came after %d bytes of silence; the device should wait for Play", at)
		}
	case err := <-readerDone:
		readerDone <- err // for stopReader
		t.Fatalf("reading the ALSA output: %v", err)
	case <-time.After(time.Minute): // failsafe; the beep comes within milliseconds
		t.Error("the ALSA output did not carry the beep")
	}
	// Close suspends the device while the reader still drains the pipe (oto may be in the
	// middle of a write); after that nothing writes, and the pipe can go.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stopReader(); err != nil {
		t.Errorf("reading the ALSA output: %v", err)
	}
}

// scanFor reads r until stop is closed, and sends on found the offset at which want first
// appears. Read errors after stop are the pipe being closed, and not reported.
func scanFor(r io.Reader, want []byte, found chan<- int64, stop <-chan struct{}) error {
	buf := make([]byte, 0, 64<<10+len(want))
	chunk := make([]byte, 64<<10)
	var consumed int64 // bytes dropped from the front of buf
	seen := false
	for {
		n, err := r.Read(chunk)
		if !seen {
			buf = append(buf, chunk[:n]...)
			if i := bytes.Index(buf, want); i >= 0 {
				seen = true
				found <- consumed + int64(i)
			} else if keep := len(want) - 1; len(buf) > keep {
				consumed += int64(len(buf) - keep)
				buf = append(buf[:0], buf[len(buf)-keep:]...)
			}
		}
		if err != nil {
			select {
			case <-stop:
				return nil
			default:
			}
			if err == io.EOF && seen {
				return nil
			}
			return err
		}
	}
}
