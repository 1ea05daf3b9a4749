package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// patternSample is sample i of the test recordings: every value differs from its
// neighbours and the extremes occur, so a shifted, dropped or byte-swapped sample shows.
func patternSample(i int64) int16 {
	switch i % 1000 {
	case 7:
		return -32768
	case 8:
		return 32767
	}
	return int16(i*7919 + i>>5)
}

func patternSamples(from, n int64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = patternSample(from + int64(i))
	}
	return s
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	pos int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.pos + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.pos
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("memFile: negative position")
	}
	m.pos = off
	return off, nil
}

// writeWAVFile records samples at rate to a new file in dir, in frames of 160, and
// closes it.
func writeWAVFile(t *testing.T, path string, rate int, samples []int16) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ww, err := NewWAVWriter(f, rate)
	if err != nil {
		t.Fatal(err)
	}
	for frame := range slices.Chunk(samples, 160) {
		if err := ww.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := ww.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readWAVFile(t *testing.T, path string) (int, []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rate, samples, err := ReadWAV(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("ReadWAV(%s): %v", filepath.Base(path), err)
	}
	return rate, samples
}

func TestWAVRoundTrip(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run(strconv.Itoa(rate), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rec.wav")
			want := patternSamples(0, int64(rate)/2+37)
			writeWAVFile(t, path, rate, want)

			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 44+2*len(want) {
				t.Fatalf("file is %d bytes, want %d", len(b), 44+2*len(want))
			}
			le := binary.LittleEndian
			hdr := fmt.Sprintf("%s %d %s %d %d %d %d %d %d %d %s %d", b[0:4], le.Uint32(b[4:]), b[8:16],
				le.Uint32(b[16:]), le.Uint16(b[20:]), le.Uint16(b[22:]), le.Uint32(b[24:]), le.Uint32(b[28:]),
				le.Uint16(b[32:]), le.Uint16(b[34:]), b[36:40], le.Uint32(b[40:]))
			wantHdr := fmt.Sprintf("RIFF %d WAVEfmt  16 1 1 %d %d 2 16 data %d", 36+2*len(want), rate, 2*rate, 2*len(want))
			if hdr != wantHdr {
				t.Errorf("header %q, want %q", hdr, wantHdr)
			}

			gotRate, got := readWAVFile(t, path)
			if gotRate != rate || !slices.Equal(got, want) {
				t.Errorf("read back %d Hz, %d samples (equal: %v), want %d Hz, %d samples", gotRate, len(got), slices.Equal(got, want), rate, len(want))
			}
			probe := ffprobeWAV(t, path)
			if probe != (probeResult{Codec: "pcm_s16le", Rate: rate, Channels: 1, Bits: 16, Samples: int64(len(want))}) {
				t.Errorf("ffprobe: %+v", probe)
			}
			if dec := ffmpegDecode(t, path); !slices.Equal(dec, want) {
				t.Errorf("ffmpeg decodes %d samples (equal: %v), want the %d written", len(dec), slices.Equal(dec, want), len(want))
			}
		})
	}
}

func TestWAVWriterCounts(t *testing.T) {
	ww, err := NewWAVWriter(&memFile{}, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(make([]int16, 24000)); err != nil {
		t.Fatal(err)
	}
	if ww.Samples() != 24000 || ww.Duration() != 1500*time.Millisecond {
		t.Errorf("Samples %d, Duration %v; want 24000, 1.5s", ww.Samples(), ww.Duration())
	}
	if err := ww.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(make([]int16, 10)); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := ww.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}

func TestNewWAVWriterRefuses(t *testing.T) {
	for _, rate := range []int{0, -8000, maxWAVRate + 1} {
		if _, err := NewWAVWriter(&memFile{}, rate); err == nil {
			t.Errorf("NewWAVWriter(rate %d) succeeded", rate)
		}
	}
	m := &memFile{}
	if _, err := m.Write([]byte("something")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWAVWriter(m, 8000); err == nil {
		t.Error("NewWAVWriter at byte 9 succeeded")
	}
}

func TestWAVWriterDoesNotAllocate(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "rec.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ww, err := NewWAVWriter(f, 8000)
	if err != nil {
		t.Fatal(err)
	}
	frame := patternSamples(0, 160)
	if err := ww.Write(frame); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ww.Write(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Write: %v allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(20, func() {
		if err := ww.Flush(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Flush: %v allocations per call, want 0", n)
	}
}

// failingWriter fails every Write after the first ok bytes.
type failingWriter struct {
	memFile
	ok int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.pos+int64(len(p)) > int64(w.ok) {
		return 0, errors.New("disk full")
	}
	return w.memFile.Write(p)
}

func TestWAVWriterWriteErrorSticks(t *testing.T) {
	w := &failingWriter{ok: 44 + 2*320}
	ww, err := NewWAVWriter(w, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(patternSamples(0, 320)); err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(patternSamples(320, 160)); err == nil {
		t.Fatal("Write beyond the disk succeeded")
	}
	w.ok = 1 << 20 // the disk has room again: the writer must not carry on regardless
	if err := ww.Write(patternSamples(480, 160)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write after a failed one: %v, want the first error", err)
	}
	if err := ww.Close(); err == nil {
		t.Error("Close after a failed Write reported no error")
	}
	rate, got, err := ReadWAV(bytes.NewReader(w.b))
	if err != nil || rate != 8000 || !slices.Equal(got, patternSamples(0, 320)) {
		t.Errorf("file after the failure: %d Hz, %d samples, %v; want the 320 written before it", rate, len(got), err)
	}
}

// TestWAVUnflushedTail is a recording cut off by a crash, simulated: samples written and
// flushed, more written without a Flush, and half a sample more. Another program reading
// the file sees a valid WAV up to the flush; RepairWAV then recovers every whole sample.
func TestWAVUnflushedTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ww, err := NewWAVWriter(f, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(patternSamples(0, 800)); err != nil {
		t.Fatal(err)
	}
	if err := ww.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(patternSamples(800, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0x55}); err != nil { // a sample half written
		t.Fatal(err)
	}
	// The writer is abandoned here, as a killed recorder's is.

	rate, got := readWAVFile(t, path)
	if rate != 8000 || !slices.Equal(got, patternSamples(0, 800)) {
		t.Errorf("before repair: %d Hz, %d samples; want the 800 flushed", rate, len(got))
	}
	if p := ffprobeWAV(t, path); p.Codec != "pcm_s16le" || p.Rate != 8000 {
		t.Errorf("ffprobe before repair: %+v", p)
	}

	n := repairFile(t, path)
	if n != 1100 {
		t.Errorf("RepairWAV: %d samples, want 1100", n)
	}
	if _, got = readWAVFile(t, path); !slices.Equal(got, patternSamples(0, 1100)) {
		t.Errorf("after repair: %d samples, want all 1100 whole ones", len(got))
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 44+2200 {
		t.Errorf("after repair the file is %v bytes (%v), want %d", fi.Size(), err, 44+2200)
	}
	if p := ffprobeWAV(t, path); p.Samples != 1100 {
		t.Errorf("ffprobe after repair: %+v", p)
	}
}

func repairFile(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := RepairWAV(f)
	if err != nil {
		t.Fatalf("RepairWAV: %v", err)
	}
	return n
}

func TestRepairWAVNeverFlushed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ww, err := NewWAVWriter(f, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(patternSamples(0, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, got := readWAVFile(t, path); len(got) != 0 {
		t.Errorf("before repair: %d samples, want the 0 the header says", len(got))
	}
	if n := repairFile(t, path); n != 1000 {
		t.Errorf("RepairWAV: %d samples, want 1000", n)
	}
	if rate, got := readWAVFile(t, path); rate != 16000 || !slices.Equal(got, patternSamples(0, 1000)) {
		t.Errorf("after repair: %d Hz, %d samples; want 16000 Hz, 1000", rate, len(got))
	}
}

// TestRepairWAVFinishedFile: a finished recording needs nothing, so RepairWAV works on it
// through a read-only handle and changes nothing.
func TestRepairWAVFinishedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	writeWAVFile(t, path, 48000, patternSamples(0, 4800))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := RepairWAV(f); err != nil || n != 4800 {
		t.Errorf("RepairWAV: %d, %v; want 4800, nil", n, err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
		t.Errorf("RepairWAV changed a finished file (%v)", err)
	}
}

func TestRepairWAVRefusesOtherFiles(t *testing.T) {
	ours := wavHeader(8000, 0)
	withField := func(off int, v uint16) []byte {
		b := slices.Clone(ours[:])
		binary.LittleEndian.PutUint16(b[off:], v)
		return append(b, 1, 2, 3, 4)
	}
	cases := map[string]struct {
		content []byte
		reason  string
	}{
		"empty":          {nil, "too short"},
		"short":          {ours[:30], "too short"},
		"text":           {[]byte(strings.Repeat("not a recording at all\n", 4)), "no RIFF WAVE"},
		"stereo":         {withField(22, 2), "8000 Hz stereo 16-bit PCM"},
		"8-bit":          {withField(34, 8), "8000 Hz mono 8-bit PCM"},
		"float":          {withField(20, 3), "IEEE float"},
		"bad align":      {withField(32, 4), "block align"},
		"extra chunk":    {riff(fmtChunk(1, 1, 8000, 16), chunk("LIST", []byte("INFOxyz")), chunk("data", pcm(patternSamples(0, 9)))), "no data chunk at byte 36"},
		"extensible fmt": {riff(extensibleFmt(1, 8000, 16, pcmSubformat), chunk("data", pcm(patternSamples(0, 9)))), "no 16-byte fmt chunk"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.wav")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = RepairWAV(f)
			if err == nil || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "x.wav") {
				t.Errorf("RepairWAV: %v; want an error naming x.wav and saying %q", err, tc.reason)
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, tc.content) {
				t.Errorf("RepairWAV changed a file it refused (%v)", err)
			}
		})
	}
}

// Building blocks of hand-made WAV files.

func chunk(id string, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return chunk("RIFF", body)
}

func fmtChunk(tag, channels uint16, rate uint32, bits uint16) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], channels)
	le.PutUint32(b[4:], rate)
	le.PutUint32(b[8:], rate*uint32(channels)*uint32(bits)/8)
	le.PutUint16(b[12:], channels*bits/8)
	le.PutUint16(b[14:], bits)
	return chunk("fmt ", b)
}

func extensibleFmt(channels uint16, rate uint32, bits uint16, sub []byte) []byte {
	f := fmtChunk(wavFormatExtensible, channels, rate, bits)[8:]
	b := append(slices.Clone(f), 22, 0) // cbSize
	b = binary.LittleEndian.AppendUint16(b, bits)
	b = binary.LittleEndian.AppendUint32(b, 4) // channel mask: front centre
	b = append(b, sub...)
	return chunk("fmt ", b)
}

func pcm(samples []int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestReadWAV(t *testing.T) {
	floatSub := slices.Clone(pcmSubformat)
	floatSub[0] = 3
	tone := patternSamples(0, 321)
	hugeData := chunk("data", nil)[:8]
	binary.LittleEndian.PutUint32(hugeData[4:], uint32(2*8000*601))

	ok := map[string]struct {
		file []byte
		rate int
	}{
		"plain":               {riff(fmtChunk(1, 1, 8000, 16), chunk("data", pcm(tone))), 8000},
		"odd LIST before fmt": {riff(chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00ab\x00")), fmtChunk(1, 1, 16000, 16), chunk("data", pcm(tone))), 16000},
		"fact and odd junk":   {riff(fmtChunk(1, 1, 48000, 16), chunk("junk", []byte("odd")), chunk("fact", []byte{1, 2, 3, 4}), chunk("data", pcm(tone))), 48000},
		"extensible PCM":      {riff(extensibleFmt(1, 8000, 16, pcmSubformat), chunk("data", pcm(tone))), 8000},
		"chunks after data":   {riff(fmtChunk(1, 1, 8000, 16), chunk("data", pcm(tone)), chunk("LIST", []byte("INFO")), []byte("garbage")), 8000},
		"fmt with cbSize":     {riff(chunk("fmt ", append(fmtChunk(1, 1, 8000, 16)[8:], 0, 0)), chunk("data", pcm(tone))), 8000},
	}
	for name, tc := range ok {
		t.Run(name, func(t *testing.T) {
			rate, got, err := ReadWAV(bytes.NewReader(tc.file))
			if err != nil || rate != tc.rate || !slices.Equal(got, tone) {
				t.Errorf("ReadWAV: %d Hz, %d samples, %v; want %d Hz, the %d written", rate, len(got), err, tc.rate, len(tone))
			}
		})
	}

	bad := map[string]struct {
		file []byte
		want string // the whole message for a format error, else a part of it
	}{
		"CD stereo 24-bit": {riff(extensibleFmt(2, 44100, 24, pcmSubformat), chunk("data", pcm(tone))),
			"44100 Hz stereo 24-bit PCM; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"},
		"float": {riff(extensibleFmt(1, 48000, 32, floatSub), chunk("data", pcm(tone))),
			"48000 Hz mono 32-bit IEEE float; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"},
		"mu-law": {riff(fmtChunk(7, 1, 8000, 8), chunk("data", pcm(tone))),
			"8000 Hz mono 8-bit µ-law; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"},
		"11025 Hz": {riff(fmtChunk(1, 1, 11025, 16), chunk("data", pcm(tone))),
			"11025 Hz mono 16-bit PCM; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"},
		"6 channels": {riff(fmtChunk(1, 6, 48000, 16), chunk("data", pcm(tone))),
			"48000 Hz 6-channel 16-bit PCM; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"},
		"empty":            {nil, "header: unexpected EOF"},
		"not RIFF":         {[]byte("RIFX\x10\x00\x00\x00WAVEfmt "), "not a RIFF WAVE file"},
		"no data":          {riff(fmtChunk(1, 1, 8000, 16)), "no data chunk"},
		"data before fmt":  {riff(chunk("data", pcm(tone)), fmtChunk(1, 1, 8000, 16)), "before the fmt chunk"},
		"truncated data":   {riff(fmtChunk(1, 1, 8000, 16), chunk("data", pcm(tone)))[:300], "truncated"},
		"truncated fmt":    {riff(fmtChunk(1, 1, 8000, 16))[:30], "fmt chunk: unexpected EOF"},
		"truncated chunk":  {riff(fmtChunk(1, 1, 8000, 16), chunk("LIST", make([]byte, 100)))[:80], "\"LIST\" chunk of 100 bytes: unexpected EOF"},
		"cut chunk header": {riff(fmtChunk(1, 1, 8000, 16), chunk("data", pcm(tone)))[:40], "chunk header: unexpected EOF"},
		"odd data":         {riff(fmtChunk(1, 1, 8000, 16), chunk("data", []byte{1, 2, 3})), "not a whole number"},
		"too long":         {append(riff(fmtChunk(1, 1, 8000, 16)), hugeData...), "10m1s of audio, more than the 10m0s accepted"},
		"short fmt":        {riff(chunk("fmt ", make([]byte, 14)), chunk("data", pcm(tone))), "fmt chunk of 14 bytes"},
		"two fmt":          {riff(fmtChunk(1, 1, 8000, 16), fmtChunk(1, 1, 8000, 16), chunk("data", pcm(tone))), "two fmt chunks"},
		"bad block align":  {riff(chunk("fmt ", slices.Concat(fmtChunk(1, 1, 8000, 16)[8:20], []byte{4, 0, 16, 0})), chunk("data", pcm(tone))), "block align 4"},
		"huge skipped":     {riff(fmtChunk(1, 1, 8000, 16), []byte("LIST\xff\xff\xff\xff")), "more than the"},
		"many chunks":      {riff(slices.Repeat([][]byte{chunk("junk", nil)}, 100)...), "no data chunk in the first 64 chunks"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := ReadWAV(bytes.NewReader(tc.file))
			var ferr *WAVFormatError
			switch {
			case err == nil:
				t.Fatalf("ReadWAV succeeded, want %q", tc.want)
			case errors.As(err, &ferr):
				if err.Error() != tc.want {
					t.Errorf("ReadWAV: %q, want %q", err, tc.want)
				}
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("ReadWAV: %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestReadWAVFromFFmpeg reads prompts the way people make them: with ffmpeg, whose WAV
// files carry a LIST chunk, and whose 24-bit stereo ones use WAVE_FORMAT_EXTENSIBLE.
func TestReadWAVFromFFmpeg(t *testing.T) {
	ffmpeg := toolPath(t, "ffmpeg")
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		path := filepath.Join(dir, name)
		cmd := exec.Command(ffmpeg, append(append([]string{"-nostdin", "-v", "error", "-y", "-f", "lavfi"}, args...), path)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %s: %v\n%s", name, err, out)
		}
		return path
	}

	prompt := gen("prompt.wav", "-i", "sine=frequency=440:sample_rate=16000:duration=0.5", "-ac", "1", "-c:a", "pcm_s16le")
	rate, got := readWAVFile(t, prompt)
	if want := ffmpegDecode(t, prompt); rate != 16000 || len(got) != 8000 || !slices.Equal(got, want) {
		t.Errorf("ReadWAV: %d Hz, %d samples, equal to ffmpeg's decoding: %v; want 16000 Hz, 8000", rate, len(got), slices.Equal(got, want))
	}
	if lvl := ToneLevel(got, rate, 440); lvl < -1 {
		t.Errorf("440 Hz tone at %.1f dB of the prompt's power", lvl)
	}

	cd := gen("music.wav", "-i", "sine=frequency=440:sample_rate=44100:duration=0.2", "-ac", "2", "-c:a", "pcm_s24le")
	f, err := os.Open(cd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, err = ReadWAV(f)
	const want = "44100 Hz stereo 24-bit PCM; want mono 16-bit PCM at 8000, 16000 or 48000 Hz"
	if err == nil || err.Error() != want {
		t.Errorf("ReadWAV(music.wav): %v, want %q", err, want)
	}
}

// helperEnv names the file TestWAVHelperProcess records to when the test binary runs as
// the recorder that TestWAVSurvivesSIGKILL kills.
const helperEnv = "PARTYLINE_WAV_HELPER_FILE"

// TestWAVSurvivesSIGKILL is the crash-safety claim: a recorder process that flushes every
// 100 ms and is killed with SIGKILL leaves a valid WAV file holding at least everything it
// had flushed, and RepairWAV recovers the whole samples written after that.
func TestWAVSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWAVHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Wait for three flushes the recorder reports, then kill it wherever it is.
	var flushed int64
	sc := bufio.NewScanner(stdout)
	for reports := 0; reports < 3 && sc.Scan(); {
		if n, ok := strings.CutPrefix(sc.Text(), "flushed "); ok {
			if flushed, err = strconv.ParseInt(n, 10, 64); err != nil {
				t.Fatalf("recorder said %q", sc.Text())
			}
			reports++
		}
	}
	if flushed == 0 {
		t.Fatalf("the recorder reported no flush; stderr:\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	err = cmd.Wait()
	killed = true
	if !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("recorder ended with %v before it was killed; stderr:\n%s", err, stderr.String())
	}

	rate, got := readWAVFile(t, path)
	if rate != 8000 || int64(len(got)) < flushed || len(got)%800 != 0 {
		t.Errorf("after SIGKILL: %d Hz, %d samples; want 8000 Hz and a whole number of flushes of 800, at least the %d reported", rate, len(got), flushed)
	}
	if !slices.Equal(got, patternSamples(0, int64(len(got)))) {
		t.Error("after SIGKILL the samples differ from those recorded")
	}
	if p := ffprobeWAV(t, path); p.Codec != "pcm_s16le" || p.Rate != 8000 || p.Channels != 1 {
		t.Errorf("ffprobe after SIGKILL: %+v", p)
	}

	n := repairFile(t, path)
	_, repaired := readWAVFile(t, path)
	if n != int64(len(repaired)) || n < int64(len(got)) || !slices.Equal(repaired, patternSamples(0, n)) {
		t.Errorf("after repair: %d samples (RepairWAV said %d), want those recorded, at least %d", len(repaired), n, len(got))
	}
	if p := ffprobeWAV(t, path); p.Samples != n {
		t.Errorf("ffprobe after repair: %+v, want %d samples", p, n)
	}
	t.Logf("the recorder reported %d samples flushed; after SIGKILL the header said %d; repaired to %d", flushed, len(got), n)
}

// TestWAVHelperProcess is the recorder TestWAVSurvivesSIGKILL runs and kills: it writes
// 10 ms frames, flushes every 100 ms and reports each flush on stdout. It does nothing in
// an ordinary test run. Were it never killed, it stops after a minute.
func TestWAVHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ww, err := NewWAVWriter(f, 8000)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range int64(6000) {
		<-tick.C
		if err := ww.Write(patternSamples(80*i, 80)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := ww.Flush(); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("flushed %d\n", ww.Samples())
		}
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(riff(fmtChunk(1, 1, 8000, 16), chunk("data", pcm(patternSamples(0, 10)))))
	f.Fuzz(func(t *testing.T, b []byte) {
		rate, samples, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			if rate != 0 || samples != nil {
				t.Fatalf("ReadWAV failed (%v) but returned %d Hz, %d samples", err, rate, len(samples))
			}
			return
		}
		if !slices.Contains(promptRates, rate) || time.Duration(len(samples))*time.Second/time.Duration(rate) > MaxPromptDuration {
			t.Fatalf("ReadWAV accepted %d samples at %d Hz", len(samples), rate)
		}
		// What was read writes back to a file that reads the same.
		var m memFile
		ww, err := NewWAVWriter(&m, rate)
		if err != nil {
			t.Fatal(err)
		}
		if err := ww.Write(samples); err != nil {
			t.Fatal(err)
		}
		if err := ww.Close(); err != nil {
			t.Fatal(err)
		}
		rate2, samples2, err := ReadWAV(bytes.NewReader(m.b))
		if err != nil || rate2 != rate || !slices.Equal(samples2, samples) {
			t.Fatalf("rewritten file reads as %d Hz, %d samples, %v; want %d Hz, %d samples", rate2, len(samples2), err, rate, len(samples))
		}
	})
}

// toolPath finds one of ffmpeg's programs, which `make test` installs.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian package ffmpeg): run `make test`, which installs what the tests need", name)
	}
	return p
}

// probeResult is what ffprobe says of a WAV file's audio stream.
type probeResult struct {
	Codec    string
	Rate     int
	Channels int
	Bits     int
	Samples  int64
}

// ffprobeWAV has ffprobe read path, fails the test if ffprobe finds anything wrong with it,
// and returns what ffprobe found.
func ffprobeWAV(t *testing.T, path string) probeResult {
	t.Helper()
	cmd := exec.Command(toolPath(t, "ffprobe"), "-v", "error", "-of", "json",
		"-show_entries", "stream=codec_name,sample_rate,channels,bits_per_sample,duration_ts", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(path), err, stderr.String())
	}
	var res struct {
		Streams []struct {
			CodecName     string `json:"codec_name"`
			SampleRate    string `json:"sample_rate"`
			Channels      int    `json:"channels"`
			BitsPerSample int    `json:"bits_per_sample"`
			DurationTS    int64  `json:"duration_ts"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v, %d streams in %s", filepath.Base(path), err, len(res.Streams), out)
	}
	s := res.Streams[0]
	rate, err := strconv.Atoi(s.SampleRate)
	if err != nil {
		t.Fatalf("ffprobe %s: sample rate %q", filepath.Base(path), s.SampleRate)
	}
	return probeResult{Codec: s.CodecName, Rate: rate, Channels: s.Channels, Bits: s.BitsPerSample, Samples: s.DurationTS}
}

// ffmpegDecode has ffmpeg decode path to mono 16-bit samples.
func ffmpegDecode(t *testing.T, path string) []int16 {
	t.Helper()
	cmd := exec.Command(toolPath(t, "ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-f", "s16le", "-c:a", "pcm_s16le", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || len(out)%2 != 0 {
		t.Fatalf("ffmpeg decode %s: %v, %d bytes\n%s", filepath.Base(path), err, len(out), stderr.String())
	}
	s := make([]int16, len(out)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	return s
}
