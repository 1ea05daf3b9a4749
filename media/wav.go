package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// WAV files: the recorder writes mono 16-bit PCM with WAVWriter, RepairWAV fixes up a
// recording a crash left unfinished, and ReadWAV loads the announcer's prompts.
//
// The files are RIFF WAVE with a canonical 44-byte header: "RIFF" <size> "WAVE", a 16-byte
// "fmt " chunk, then "data" <size> and the samples, little-endian.

const (
	// wavHeaderSize is the size of the canonical header WAVWriter writes.
	wavHeaderSize = 44
	// maxWAVData is the largest data chunk a WAV file can describe: the RIFF size,
	// 36 + data, must fit in 32 bits. It is even, a whole number of 16-bit samples.
	maxWAVData = (1<<32 - 1 - (wavHeaderSize - 8)) &^ 1
	// wavFormatPCM and wavFormatExtensible are WAVE format tags (RFC 2361).
	wavFormatPCM        = 0x0001
	wavFormatExtensible = 0xFFFE
	// maxWAVRate is the highest sample rate WAVWriter and RepairWAV take.
	maxWAVRate = 384000
	// maxWAVChunks bounds how many chunks ReadWAV looks at before it gives up.
	maxWAVChunks = 64
	// maxWAVChunkSkip bounds the size of a chunk ReadWAV skips, so that a prompt cannot
	// make it read without end.
	maxWAVChunkSkip = 16 << 20
)

// MaxPromptDuration is the longest audio ReadWAV accepts.
const MaxPromptDuration = 10 * time.Minute

// promptRates are the sample rates ReadWAV accepts, in Hz: G.711's, G.722's and the
// audio device's.
var promptRates = []int{8000, 16000, 48000}

// pcmSubformat is the GUID of KSDATAFORMAT_SUBTYPE_PCM as it is stored in a
// WAVE_FORMAT_EXTENSIBLE fmt chunk: the format tag 1 followed by the base GUID.
var pcmSubformat = []byte{
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
	0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
}

// A WAVWriter writes mono 16-bit PCM to a WAV file as it is recorded. Flush makes what was
// written so far a valid file, so that a crash, a kill or a power loss loses at most what
// came after the last Flush; RepairWAV recovers that too when the file system kept it.
//
// A WAVWriter is not safe for concurrent use. After a write fails, Write returns that
// error from then on.
type WAVWriter struct {
	w       io.WriteSeeker
	rate    int
	samples int64  // samples written
	buf     []byte // Write's little-endian encoding, reused
	field   [4]byte
	err     error // the first write error; Write stops there
	closed  bool
}

// errWAVClosed is returned by a WAVWriter used after Close.
var errWAVClosed = errors.New("WAV writer is closed")

// NewWAVWriter writes the header of an empty mono 16-bit PCM WAV file at sampleRate Hz to
// w, at w's current position, which must be its start. w is usually an *os.File created
// for the recording.
func NewWAVWriter(w io.WriteSeeker, sampleRate int) (*WAVWriter, error) {
	if sampleRate <= 0 || sampleRate > maxWAVRate {
		return nil, fmt.Errorf("new WAV writer: sample rate %d Hz is not in 1..%d", sampleRate, maxWAVRate)
	}
	pos, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("new WAV writer: %w", err)
	}
	if pos != 0 {
		return nil, fmt.Errorf("new WAV writer: positioned at byte %d, want the start of an empty file", pos)
	}
	hdr := wavHeader(sampleRate, 0)
	if _, err := w.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("new WAV writer: write header: %w", err)
	}
	return &WAVWriter{w: w, rate: sampleRate}, nil
}

// wavHeader returns the canonical header of a mono 16-bit PCM file at rate Hz whose data
// chunk holds dataBytes bytes.
func wavHeader(rate int, dataBytes uint32) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], wavHeaderSize-8+dataBytes)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavFormatPCM)
	le.PutUint16(h[22:], 1)            // channels
	le.PutUint32(h[24:], uint32(rate)) // sample rate
	le.PutUint32(h[28:], uint32(rate)*2)
	le.PutUint16(h[32:], 2)  // block align
	le.PutUint16(h[34:], 16) // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataBytes)
	return h
}

// Write appends samples. It does not allocate once its buffer has grown to the largest
// slice it was given. It writes nothing, and fails, if the file would grow beyond what a
// WAV header can describe (about 4 GiB).
func (ww *WAVWriter) Write(samples []int16) error {
	switch {
	case ww.closed:
		return fmt.Errorf("write WAV: %w", errWAVClosed)
	case ww.err != nil:
		return ww.err
	case (ww.samples+int64(len(samples)))*2 > maxWAVData:
		return fmt.Errorf("write WAV: %d more samples would make the file larger than a WAV header describes", len(samples))
	}
	n := 2 * len(samples)
	if cap(ww.buf) < n {
		ww.buf = make([]byte, n)
	}
	b := ww.buf[:n]
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	if _, err := ww.w.Write(b); err != nil {
		ww.err = fmt.Errorf("write WAV: %w", err)
		return ww.err
	}
	ww.samples += int64(len(samples))
	return nil
}

// Flush rewrites the header's sizes for the samples written so far and, when the
// underlying writer has a Sync method (an *os.File does), syncs it to storage. After a
// failed Write, Flush still records the samples written before it and returns that error.
func (ww *WAVWriter) Flush() error {
	if ww.closed {
		return fmt.Errorf("flush WAV: %w", errWAVClosed)
	}
	data := uint32(ww.samples * 2)
	if err := ww.putField(40, data); err != nil {
		return err
	}
	if err := ww.putField(4, wavHeaderSize-8+data); err != nil {
		return err
	}
	if ww.err != nil {
		return ww.err
	}
	if _, err := ww.w.Seek(wavHeaderSize+ww.samples*2, io.SeekStart); err != nil {
		ww.err = fmt.Errorf("flush WAV: seek to the end: %w", err)
		return ww.err
	}
	if s, ok := ww.w.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("flush WAV: sync: %w", err)
		}
	}
	return nil
}

// putField writes a 32-bit header field at offset.
func (ww *WAVWriter) putField(offset int64, v uint32) error {
	if _, err := ww.w.Seek(offset, io.SeekStart); err != nil {
		ww.err = fmt.Errorf("flush WAV: seek to the header: %w", err)
		return ww.err
	}
	binary.LittleEndian.PutUint32(ww.field[:], v)
	if _, err := ww.w.Write(ww.field[:]); err != nil {
		ww.err = fmt.Errorf("flush WAV: write the header: %w", err)
		return ww.err
	}
	return nil
}

// Close flushes the file and ends the writer. It does not close the underlying writer.
func (ww *WAVWriter) Close() error {
	if ww.closed {
		return fmt.Errorf("close WAV: %w", errWAVClosed)
	}
	err := ww.Flush()
	ww.closed = true
	return err
}

// Samples returns the number of samples written.
func (ww *WAVWriter) Samples() int64 { return ww.samples }

// Duration returns the audio duration of the samples written.
func (ww *WAVWriter) Duration() time.Duration {
	return time.Duration(ww.samples) * time.Second / time.Duration(ww.rate)
}

// RepairWAV makes a recording that WAVWriter left unfinished (a crash before its last
// Flush or Close) a valid file holding every whole sample that reached the disk: it drops
// an odd trailing byte and rewrites the header's sizes from the file's length, then syncs.
// It returns the number of samples the file now holds. f must be open for reading and, if
// the header needs repair, for writing; a file that is already consistent is not written.
//
// Only files with WAVWriter's header are repaired: everything after the 44-byte header is
// taken as samples. Any other file, including a WAV of another format, is refused with an
// error and left as it was.
func RepairWAV(f *os.File) (samples int64, err error) {
	var h [wavHeaderSize]byte
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("repair WAV: %w", err)
	}
	name := fi.Name()
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("repair WAV %s: not a regular file", name)
	}
	size := fi.Size()
	if size < wavHeaderSize {
		return 0, fmt.Errorf("repair WAV %s: %d bytes, too short for a WAV recording (%d-byte header)", name, size, wavHeaderSize)
	}
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("repair WAV %s: read header: %w", name, err)
	}
	if reason := notOurHeader(h); reason != "" {
		return 0, fmt.Errorf("repair WAV %s: not a recording of ours: %s", name, reason)
	}
	data := (size - wavHeaderSize) &^ 1
	if data > maxWAVData {
		return 0, fmt.Errorf("repair WAV %s: %d bytes of samples, more than a WAV header describes", name, data)
	}
	if size != wavHeaderSize+data {
		if err := f.Truncate(wavHeaderSize + data); err != nil {
			return 0, fmt.Errorf("repair WAV %s: drop the odd trailing byte: %w", name, err)
		}
	}
	want := wavHeader(int(binary.LittleEndian.Uint32(h[24:])), uint32(data))
	if want != h {
		if _, err := f.WriteAt(want[:], 0); err != nil {
			return 0, fmt.Errorf("repair WAV %s: write header: %w", name, err)
		}
	}
	if want != h || size != wavHeaderSize+data {
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("repair WAV %s: sync: %w", name, err)
		}
	}
	return data / 2, nil
}

// notOurHeader returns what makes h differ from a WAVWriter header (sizes apart), or "".
func notOurHeader(h [wavHeaderSize]byte) string {
	le := binary.LittleEndian
	rate := le.Uint32(h[24:])
	switch {
	case string(h[0:4]) != "RIFF" || string(h[8:12]) != "WAVE":
		return "no RIFF WAVE signature"
	case string(h[12:16]) != "fmt " || le.Uint32(h[16:]) != 16:
		return "no 16-byte fmt chunk at byte 12"
	case string(h[36:40]) != "data":
		return "no data chunk at byte 36"
	}
	format := wavFormat{
		tag:      le.Uint16(h[20:]),
		channels: int(le.Uint16(h[22:])),
		rate:     int(rate),
		bits:     int(le.Uint16(h[34:])),
	}
	switch {
	case format.tag != wavFormatPCM || format.channels != 1 || format.bits != 16:
		return fmt.Sprintf("%s, want mono 16-bit PCM", format)
	case rate == 0 || rate > maxWAVRate:
		return fmt.Sprintf("sample rate %d Hz", rate)
	case le.Uint32(h[28:]) != 2*rate || le.Uint16(h[32:]) != 2:
		return "byte rate or block align do not match mono 16-bit PCM"
	}
	return ""
}

// wavFormat is what a fmt chunk says.
type wavFormat struct {
	tag      uint16 // the format tag, or the subformat's of WAVE_FORMAT_EXTENSIBLE
	channels int
	rate     int
	bits     int
}

func (f wavFormat) String() string {
	return describeFormat(f.rate, f.channels, f.bits, formatName(f.tag))
}

// describeFormat says what audio is like, e.g. "44100 Hz stereo 24-bit PCM".
func describeFormat(rate, channels, bits int, format string) string {
	var ch string
	switch channels {
	case 1:
		ch = "mono"
	case 2:
		ch = "stereo"
	default:
		ch = fmt.Sprintf("%d-channel", channels)
	}
	return fmt.Sprintf("%d Hz %s %d-bit %s", rate, ch, bits, format)
}

// formatName names a WAVE format tag (RFC 2361).
func formatName(tag uint16) string {
	switch tag {
	case wavFormatPCM:
		return "PCM"
	case 0x0002:
		return "MS ADPCM"
	case 0x0003:
		return "IEEE float"
	case 0x0006:
		return "A-law"
	case 0x0007:
		return "µ-law"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0055:
		return "MP3"
	case wavFormatExtensible:
		return "extensible (unknown subformat)"
	}
	return fmt.Sprintf("format 0x%04x", tag)
}

// A WAVFormatError is returned by ReadWAV for a well-formed WAV file whose audio is not
// mono 16-bit PCM at one of the rates it accepts. Its message says what the file holds and
// what is wanted, e.g. "44100 Hz stereo 24-bit PCM; want mono 16-bit PCM at 8000, 16000 or
// 48000 Hz": callers add the file's name.
type WAVFormatError struct {
	Format     string // the encoding, e.g. "PCM", "IEEE float", "µ-law"
	Channels   int
	Bits       int
	SampleRate int // in Hz
}

func (e *WAVFormatError) Error() string {
	return fmt.Sprintf("%s; want mono 16-bit PCM at %s Hz",
		describeFormat(e.SampleRate, e.Channels, e.Bits, e.Format), rateList())
}

// rateList writes promptRates as "8000, 16000 or 48000".
func rateList() string {
	var b strings.Builder
	for i, r := range promptRates {
		switch {
		case i == 0:
		case i == len(promptRates)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, r)
	}
	return b.String()
}

// ReadWAV reads a prompt: a WAV file of mono 16-bit PCM at 8000, 16000 or 48000 Hz, at most
// MaxPromptDuration long. It skips chunks other than fmt and data (LIST and the like) and
// reads nothing after the data chunk. A file in another audio format gets a
// *WAVFormatError; a truncated or malformed one gets an error saying where it is broken.
func ReadWAV(r io.Reader) (sampleRate int, samples []int16, err error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return 0, nil, fmt.Errorf("read WAV: header: %w", noEOF(err))
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return 0, nil, errors.New("read WAV: not a RIFF WAVE file")
	}
	var format *wavFormat
	for range maxWAVChunks {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if err == io.EOF {
				return 0, nil, errors.New("read WAV: no data chunk")
			}
			return 0, nil, fmt.Errorf("read WAV: chunk header: %w", noEOF(err))
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		switch id {
		case "fmt ":
			if format != nil {
				return 0, nil, errors.New("read WAV: two fmt chunks")
			}
			if format, err = readFmt(r, size); err != nil {
				return 0, nil, err
			}
		case "data":
			if format == nil {
				return 0, nil, errors.New("read WAV: data chunk before the fmt chunk")
			}
			samples, err := readData(r, size, format.rate)
			if err != nil {
				return 0, nil, err
			}
			return format.rate, samples, nil
		default:
			if size > maxWAVChunkSkip {
				return 0, nil, fmt.Errorf("read WAV: %q chunk of %d bytes, more than the %d skipped", id, size, maxWAVChunkSkip)
			}
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return 0, nil, fmt.Errorf("read WAV: %q chunk of %d bytes: %w", id, size, noEOF(err))
			}
		}
	}
	return 0, nil, fmt.Errorf("read WAV: no data chunk in the first %d chunks", maxWAVChunks)
}

// readFmt reads a fmt chunk of size bytes and checks that it describes a prompt.
func readFmt(r io.Reader, size int64) (*wavFormat, error) {
	if size < 16 || size > 256 {
		return nil, fmt.Errorf("read WAV: fmt chunk of %d bytes, want 16 to 256", size)
	}
	b := make([]byte, size+size&1)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read WAV: fmt chunk: %w", noEOF(err))
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:      le.Uint16(b[0:]),
		channels: int(le.Uint16(b[2:])),
		rate:     int(le.Uint32(b[4:])),
		bits:     int(le.Uint16(b[14:])),
	}
	if f.tag == wavFormatExtensible && size >= 40 && le.Uint16(b[16:]) >= 22 {
		// The subformat GUID starts with the format tag it stands for.
		if sub := b[24:40]; bytes.Equal(sub[2:], pcmSubformat[2:]) {
			f.tag = le.Uint16(sub)
		}
	}
	if f.tag != wavFormatPCM || f.channels != 1 || f.bits != 16 || !slices.Contains(promptRates, f.rate) {
		return nil, &WAVFormatError{Format: formatName(f.tag), Channels: f.channels, Bits: f.bits, SampleRate: f.rate}
	}
	if align := le.Uint16(b[12:]); align != 2 {
		return nil, fmt.Errorf("read WAV: block align %d, want 2 for mono 16-bit PCM", align)
	}
	return f, nil
}

// readData reads a data chunk of size bytes of 16-bit samples at rate Hz.
func readData(r io.Reader, size int64, rate int) ([]int16, error) {
	limit := int64(rate) * int64(MaxPromptDuration/time.Second) * 2
	switch {
	case size > limit:
		return nil, fmt.Errorf("read WAV: %v of audio, more than the %v accepted", time.Duration(size/2)*time.Second/time.Duration(rate), MaxPromptDuration)
	case size%2 != 0:
		return nil, fmt.Errorf("read WAV: data chunk of %d bytes, not a whole number of 16-bit samples", size)
	}
	// Read before allocating for all of it, so that a lying size costs what the file holds.
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, fmt.Errorf("read WAV: data chunk: %w", err)
	}
	if int64(len(b)) < size {
		return nil, fmt.Errorf("read WAV: truncated: data chunk says %d bytes, file has %d", size, len(b))
	}
	samples := make([]int16, len(b)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return samples, nil
}

// noEOF turns the io.EOF of a read that got nothing into io.ErrUnexpectedEOF: wherever
// ReadWAV reads, the file was expected to go on.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
