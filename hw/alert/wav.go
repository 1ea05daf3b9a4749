package alert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WAV format tags, for naming what a refused file holds.
var wavFormats = map[uint16]string{
	0x0001: "PCM",
	0x0003: "IEEE float",
	0x0006: "A-law",
	0x0007: "µ-law",
	0xfffe: "extensible",
}

// PlayWAV queues the prompt in r, a RIFF WAVE file of mono signed 16-bit PCM at the
// speaker's rate, and returns once it is read; other formats are refused with an error
// naming what the file holds.
func (s *Speaker) PlayWAV(r io.Reader) error {
	samples, err := readWAV(r, s.rate, s.q.limit)
	if err != nil {
		return fmt.Errorf("play wav: %w", err)
	}
	return s.q.push(samples)
}

// readWAV reads the samples of a mono 16-bit PCM WAV file at rate, at most limit of them.
func readWAV(r io.Reader, rate, limit int) ([]int16, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, fmt.Errorf("not a RIFF WAVE file (starts %q)", riff[:])
	}
	haveFmt := false
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("no data chunk")
			}
			return nil, fmt.Errorf("read chunk header: %w", err)
		}
		id, size := string(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("fmt chunk of %d bytes, want at least 16", size)
			}
			var f [16]byte
			if _, err := io.ReadFull(r, f[:]); err != nil {
				return nil, fmt.Errorf("read fmt chunk: %w", err)
			}
			tag := binary.LittleEndian.Uint16(f[0:2])
			channels := binary.LittleEndian.Uint16(f[2:4])
			fileRate := binary.LittleEndian.Uint32(f[4:8])
			bits := binary.LittleEndian.Uint16(f[14:16])
			if tag != 1 || channels != 1 || bits != 16 || int(fileRate) != rate {
				name, ok := wavFormats[tag]
				if !ok {
					name = fmt.Sprintf("format 0x%04x", tag)
				}
				return nil, fmt.Errorf("file is %s, %d channels, %d-bit, %d Hz; want PCM, 1 channel, 16-bit, %d Hz",
					name, channels, bits, fileRate, rate)
			}
			if err := skip(r, size-16+size%2); err != nil {
				return nil, fmt.Errorf("read fmt chunk: %w", err)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("data chunk before fmt chunk")
			}
			if size/2 > int64(limit) {
				return nil, fmt.Errorf("%d samples, at most %d fit the queue", size/2, limit)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, fmt.Errorf("read data chunk: %w", err)
			}
			samples := make([]int16, size/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return samples, nil
		default:
			if err := skip(r, size+size%2); err != nil {
				return nil, fmt.Errorf("skip %q chunk: %w", id, err)
			}
		}
	}
}

// skip discards n bytes of r.
func skip(r io.Reader, n int64) error {
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return err
	}
	return nil
}
