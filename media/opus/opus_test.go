//go:build cgo

package opus_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"partyline/media"
	"partyline/media/opus"
)

const (
	rate       = 48000
	frame      = rate / 50 // 20 ms
	seconds    = 2
	toneHz     = 1000
	maxPacket  = 1500
	envelopeMs = 5
)

// speechLike returns n samples at rate of a voice-like signal: a 200 Hz fundamental with
// harmonics up to 1 kHz, its loudness rising and falling in 2.5 syllables a second, with
// silent gaps between them, as an envelope to follow.
func speechLike(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		t := float64(i) / rate
		env := math.Max(0, math.Sin(2*math.Pi*2.5*t)) * (0.6 + 0.4*math.Sin(2*math.Pi*0.7*t))
		v := 0.0
		for h := 1; h <= 5; h++ {
			v += math.Sin(2*math.Pi*200*float64(h)*t) / float64(h)
		}
		pcm[i] = int16(9000 * env * v)
	}
	return pcm
}

// tone returns n samples of a 1 kHz sine at -12 dBFS.
func tone(n int) []int16 {
	pcm := make([]int16, n)
	media.NewTone(rate, toneHz, -12).Generate(pcm)
	return pcm
}

// envelope returns the RMS of each envelopeMs of pcm.
func envelope(pcm []int16) []float64 {
	step := rate * envelopeMs / 1000
	var env []float64
	for i := 0; i+step <= len(pcm); i += step {
		var sum float64
		for _, v := range pcm[i : i+step] {
			sum += float64(v) * float64(v)
		}
		env = append(env, math.Sqrt(sum/float64(step)))
	}
	return env
}

// envelopeCorrelation returns the best correlation coefficient of the envelopes of a and b,
// b delayed by 0 to 10 envelope steps (the codec's delay).
func envelopeCorrelation(a, b []int16) float64 {
	ea, eb := envelope(a), envelope(b)
	best := -1.0
	for lag := 0; lag <= 10; lag++ {
		n := min(len(ea), len(eb)-lag)
		x, y := ea[:n], eb[lag:lag+n]
		var mx, my float64
		for i := range n {
			mx += x[i]
			my += y[i]
		}
		mx /= float64(n)
		my /= float64(n)
		var sxy, sxx, syy float64
		for i := range n {
			sxy += (x[i] - mx) * (y[i] - my)
			sxx += (x[i] - mx) * (x[i] - mx)
			syy += (y[i] - my) * (y[i] - my)
		}
		best = max(best, sxy/math.Sqrt(sxx*syy))
	}
	return best
}

// encode encodes pcm in 20 ms frames with our encoder.
func encode(t *testing.T, pcm []int16) [][]byte {
	t.Helper()
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: rate, Bitrate: 32000, FEC: true, PacketLossPercent: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var packets [][]byte
	buf := make([]byte, maxPacket)
	for i := 0; i+frame <= len(pcm); i += frame {
		n, err := enc.Encode(buf, pcm[i:i+frame])
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, bytes.Clone(buf[:n]))
	}
	return packets
}

// decode decodes packets with our decoder.
func decode(t *testing.T, packets [][]byte) []int16 {
	t.Helper()
	dec, err := opus.NewDecoder(rate)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pcm []int16
	buf := make([]int16, opus.MaxFrameSamples(rate))
	for _, p := range packets {
		n, err := dec.Decode(buf, p, false)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, buf[:n]...)
	}
	return pcm
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed (make deps-test installs it)")
	}
	out, err := exec.Command(path, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

func readS16(t *testing.T, path string) []int16 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm
}

func writeS16(t *testing.T, path string, pcm []int16) {
	t.Helper()
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// throughFFmpegDecoder encodes pcm with our encoder and decodes it with ffmpeg's libopus.
func throughFFmpegDecoder(t *testing.T, pcm []int16) []int16 {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "ours.opus"), filepath.Join(dir, "ffmpeg.raw")
	if err := os.WriteFile(in, oggOpus(encode(t, pcm), frame, rate), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-c:a", "libopus", "-i", in, "-f", "s16le", "-ar", "48000", "-ac", "1", out)
	return readS16(t, out)
}

// throughFFmpegEncoder encodes pcm with ffmpeg's libopus and decodes it with our decoder.
func throughFFmpegEncoder(t *testing.T, pcm []int16) []int16 {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "ffmpeg.opus")
	writeS16(t, in, pcm)
	ffmpeg(t, "-f", "s16le", "-ar", "48000", "-ac", "1", "-i", in, "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", out)
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	packets, err := oggPackets(file)
	if err != nil {
		t.Fatalf("read ffmpeg's Ogg Opus: %v", err)
	}
	return decode(t, packets)
}

// TestFFmpegDecodesOurOpus: what our binding encodes, ffmpeg's libopus decodes into the
// same tone at the same level, and the same speech-like envelope.
func TestFFmpegDecodesOurOpus(t *testing.T) {
	src := tone(seconds * rate)
	got := throughFFmpegDecoder(t, src)
	if len(got) < len(src)/2 {
		t.Fatalf("ffmpeg decoded %d samples of %d", len(got), len(src))
	}
	mid := got[len(got)/4 : 3*len(got)/4]
	if lvl := media.ToneLevel(mid, rate, toneHz); lvl < -1 {
		t.Errorf("the 1 kHz tone carries %.1f dB of the power ffmpeg decoded, want at least -1 dB", lvl)
	}
	if d := media.LevelDBFS(mid) - media.LevelDBFS(src); math.Abs(d) > 1.5 {
		t.Errorf("ffmpeg decoded the tone %.1f dB off its level", d)
	}
	speech := speechLike(seconds * rate)
	if c := envelopeCorrelation(speech, throughFFmpegDecoder(t, speech)); c < 0.95 {
		t.Errorf("envelope correlation of the speech-like signal through ffmpeg's decoder is %.3f, want at least 0.95", c)
	} else {
		t.Logf("envelope correlation, our encoder to ffmpeg's decoder: %.3f", c)
	}
}

// TestWeDecodeFFmpegOpus: what ffmpeg's libopus encodes, our binding decodes into the same
// tone and the same speech-like envelope.
func TestWeDecodeFFmpegOpus(t *testing.T) {
	src := tone(seconds * rate)
	got := throughFFmpegEncoder(t, src)
	if len(got) < len(src)/2 {
		t.Fatalf("decoded %d samples of %d", len(got), len(src))
	}
	mid := got[len(got)/4 : 3*len(got)/4]
	if lvl := media.ToneLevel(mid, rate, toneHz); lvl < -1 {
		t.Errorf("the 1 kHz tone carries %.1f dB of the power we decoded, want at least -1 dB", lvl)
	}
	if d := media.LevelDBFS(mid) - media.LevelDBFS(src); math.Abs(d) > 1.5 {
		t.Errorf("we decoded ffmpeg's tone %.1f dB off its level", d)
	}
	speech := speechLike(seconds * rate)
	if c := envelopeCorrelation(speech, throughFFmpegEncoder(t, speech)); c < 0.95 {
		t.Errorf("envelope correlation of the speech-like signal through ffmpeg's encoder is %.3f, want at least 0.95", c)
	} else {
		t.Logf("envelope correlation, ffmpeg's encoder to our decoder: %.3f", c)
	}
}

// TestFECRecoversALostPacket: with in-band FEC, a lost packet is decoded from the next
// one's copy, close to what the packet itself decodes to, where libopus's concealment
// without it misses the syllables that start or end in the loss.
func TestFECRecoversALostPacket(t *testing.T) {
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: rate, Bitrate: 32000, FEC: true, PacketLossPercent: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if on, err := enc.FEC(); err != nil || !on {
		t.Fatalf("FEC() = %v, %v; want on", on, err)
	}
	if pct, err := enc.PacketLossPercent(); err != nil || pct != 20 {
		t.Fatalf("PacketLossPercent() = %d, %v; want 20", pct, err)
	}
	packets := encode(t, speechLike(seconds*rate))
	clean := decode(t, packets)
	// lossy decodes with every fifth packet lost, recovered from the next by FEC or
	// concealed, and returns the signal-to-error ratio in dB of the lost frames to the
	// clean decode's.
	lossy := func(fec bool) float64 {
		dec, err := opus.NewDecoder(rate)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		pcm := make([]int16, frame)
		var sig, noise float64
		for i, p := range packets {
			if i%5 == 2 {
				continue
			}
			if i%5 == 3 {
				var err error
				if fec {
					_, err = dec.Decode(pcm, p, true)
				} else {
					_, err = dec.Decode(pcm, nil, false)
				}
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range clean[(i-1)*frame : i*frame] {
					d := float64(pcm[j]) - float64(v)
					sig += float64(v) * float64(v)
					noise += d * d
				}
			}
			if _, err := dec.Decode(pcm, p, false); err != nil {
				t.Fatal(err)
			}
		}
		return 10 * math.Log10(sig/noise)
	}
	withFEC, withoutFEC := lossy(true), lossy(false)
	t.Logf("lost frames against the clean decode: %.1f dB SNR recovered by FEC, %.1f dB concealed", withFEC, withoutFEC)
	if withFEC < withoutFEC+6 {
		t.Errorf("frames recovered by FEC have an SNR of %.1f dB against the clean decode, concealed ones %.1f dB: want FEC 6 dB better",
			withFEC, withoutFEC)
	}
}

func TestBadConfigurationIsAnError(t *testing.T) {
	if _, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: 44100}); err == nil {
		t.Error("an encoder at 44.1 kHz was created")
	}
	if _, err := opus.NewDecoder(11025); err == nil {
		t.Error("a decoder at 11.025 kHz was created")
	}
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(make([]byte, maxPacket), make([]int16, 100)); err == nil {
		t.Error("100 samples, no Opus frame size, were encoded")
	}
	enc.Close()
	if _, err := enc.Encode(make([]byte, maxPacket), make([]int16, frame)); err == nil {
		t.Error("a closed encoder encoded")
	}
}

func TestEncodeDecodeDoesNotAllocate(t *testing.T) {
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: rate, FEC: true, PacketLossPercent: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := opus.NewDecoder(rate)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm, out, buf := tone(frame), make([]int16, frame), make([]byte, maxPacket)
	allocs := testing.AllocsPerRun(100, func() {
		n, _ := enc.Encode(buf, pcm)
		_, _ = dec.Decode(out, buf[:n], false)
		_, _ = dec.Decode(out, buf[:n], true)
		_, _ = dec.Decode(out, nil, false)
	})
	if allocs != 0 {
		t.Errorf("Opus encode and decode allocate %.1f times per packet, want 0", allocs)
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: rate, FEC: true, PacketLossPercent: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	dec, err := opus.NewDecoder(rate)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	pcm, out, buf := tone(frame), make([]int16, frame), make([]byte, maxPacket)
	b.ReportAllocs()
	for b.Loop() {
		n, _ := enc.Encode(buf, pcm)
		_, _ = dec.Decode(out, buf[:n], false)
	}
}
