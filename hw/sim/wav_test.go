package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestWriteEarpieceWAV runs the device on synctest's clock: 60 ms are 12 periods played
// however busy the machine is.
func TestWriteEarpieceWAV(t *testing.T) {
	synctest.Test(t, testWriteEarpieceWAV)
}

func testWriteEarpieceWAV(t *testing.T) {
	a := newAudio(1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Millisecond)
	defer cancel()
	// The earpiece plays back what the microphone (its tone) captured.
	if err := a.Run(ctx, func(in, out []int16) { copy(out, in) }); err != nil {
		t.Fatal(err)
	}
	want := a.Earpiece(0, time.Second)
	if len(want) < 11*PeriodFrames {
		t.Fatalf("%d samples played in 60 ms, want at least %d", len(want), 11*PeriodFrames)
	}
	path := filepath.Join(t.TempDir(), "ear.wav")
	if err := a.WriteEarpieceWAV(path, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 44+2*len(want) {
		t.Fatalf("file is %d bytes, want 44 + %d", len(b), 2*len(want))
	}
	le := binary.LittleEndian
	checks := []struct {
		what      string
		got, want uint32
	}{
		{"RIFF size", le.Uint32(b[4:]), uint32(36 + 2*len(want))},
		{"format", uint32(le.Uint16(b[20:])), 1},
		{"channels", uint32(le.Uint16(b[22:])), 1},
		{"rate", le.Uint32(b[24:]), SampleRate},
		{"bits", uint32(le.Uint16(b[34:])), 16},
		{"data size", le.Uint32(b[40:]), uint32(2 * len(want))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if !bytes.Equal(b[:4], []byte("RIFF")) || !bytes.Equal(b[8:16], []byte("WAVEfmt ")) || !bytes.Equal(b[36:40], []byte("data")) {
		t.Errorf("bad chunk ids: % x", b[:44])
	}
	for k, v := range want {
		if got := int16(le.Uint16(b[44+2*k:])); got != v {
			t.Fatalf("sample %d = %d, want %d", k, got, v)
		}
	}
	if err := a.WriteEarpieceWAV(path, 3, time.Second); err == nil {
		t.Error("writing the earpiece of a handset that does not exist succeeded")
	}
}
