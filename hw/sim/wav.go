package sim

import (
	"fmt"
	"os"
	"time"

	"partyline/media"
)

// WriteEarpieceWAV writes the last d of earpiece i (as Earpiece returns it) to path as a
// mono 16-bit PCM WAV file at SampleRate, so that a person can listen to what a test heard.
func (a *Audio) WriteEarpieceWAV(path string, i int, d time.Duration) error {
	if i < 0 || i >= a.channels {
		return fmt.Errorf("write earpiece %d: no such handset", i+1)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write earpiece %d: %w", i+1, err)
	}
	werr := writeWAV(f, a.Earpiece(i, d))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write earpiece %d to %s: %w", i+1, path, werr)
	}
	return nil
}

// writeWAV writes samples at SampleRate to the empty file f.
func writeWAV(f *os.File, samples []int16) error {
	w, err := media.NewWAVWriter(f, SampleRate)
	if err != nil {
		return err
	}
	if err := w.Write(samples); err != nil {
		return err
	}
	return w.Close()
}
