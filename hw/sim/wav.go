package sim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"
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
	werr := writeWAV(f, SampleRate, a.Earpiece(i, d))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write earpiece %d to %s: %w", i+1, path, werr)
	}
	return nil
}

// writeWAV writes samples as a canonical 44-byte-header RIFF/WAVE file: PCM, one channel,
// 16 bits, little-endian.
func writeWAV(w io.Writer, rate int, samples []int16) error {
	const headerBytes, channels, bits = 44, 1, 16
	data := uint32(2 * len(samples))
	bw := bufio.NewWriter(w)
	hdr := struct {
		RIFF          [4]byte
		Size          uint32
		WAVE, Fmt     [4]byte
		FmtSize       uint32
		Format, Chans uint16
		Rate, ByteRt  uint32
		Align, Bits   uint16
		Data          [4]byte
		DataSize      uint32
	}{
		RIFF: [4]byte{'R', 'I', 'F', 'F'}, Size: headerBytes - 8 + data,
		WAVE: [4]byte{'W', 'A', 'V', 'E'}, Fmt: [4]byte{'f', 'm', 't', ' '},
		FmtSize: 16, Format: 1, Chans: channels,
		Rate: uint32(rate), ByteRt: uint32(rate * channels * bits / 8),
		Align: channels * bits / 8, Bits: bits,
		Data: [4]byte{'d', 'a', 't', 'a'}, DataSize: data,
	}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	if err := binary.Write(bw, binary.LittleEndian, samples); err != nil {
		return err
	}
	return bw.Flush()
}
