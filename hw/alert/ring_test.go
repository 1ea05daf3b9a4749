package alert

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// testSpeaker is a Speaker without oto: only its queue.
func testSpeaker(rate int) *Speaker {
	return &Speaker{rate: rate, q: &queue{limit: maxQueued * rate}}
}

// drain reads everything queued on s.
func drain(t *testing.T, s *Speaker) []int16 {
	t.Helper()
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	out := s.q.samples
	s.q.samples = nil
	return out
}

// goertzel returns the power of x at frequency f (Hz) at rate, normalised by len(x)².
func goertzel(x []int16, f float64, rate int) float64 {
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s := float64(v) + c*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return p / float64(len(x)*len(x))
}

func TestRingCadences(t *testing.T) {
	const rate = 8000
	for _, tc := range []struct {
		country string
		freqs   []float64
		on, off []int // samples of each on and off segment of one cycle
	}{
		{"us", []float64{440, 480}, []int{16000}, []int{32000}},
		{"uk", []float64{400, 450}, []int{3200, 3200}, []int{1600, 16000}},
		{"de", []float64{425}, []int{8000}, []int{32000}},
	} {
		t.Run(tc.country, func(t *testing.T) {
			s := testSpeaker(rate)
			const cycles = 2
			if err := s.Ring(strings.ToUpper(tc.country), cycles); err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			pos := 0
			for c := range cycles {
				for i := range tc.on {
					on := got[pos : pos+tc.on[i]]
					checkTone(t, on, tc.freqs, rate)
					if peak(on[:rate/1000]) == 0 || peak(on[len(on)-rate/1000:]) == 0 {
						t.Errorf("cycle %d on %d: silent at its first or last millisecond", c, i)
					}
					if e := max(peak(on[:1]), peak(on[len(on)-1:])); float64(e) > edgeMax {
						t.Errorf("cycle %d on %d: edge sample %d, want a fade (at most %.0f)", c, i, e, edgeMax)
					}
					pos += tc.on[i]
					if p := peak(got[pos : pos+tc.off[i]]); p != 0 {
						t.Errorf("cycle %d off %d: peak %d, want silence", c, i, p)
					}
					pos += tc.off[i]
				}
			}
			if pos != len(got) {
				t.Errorf("queued %d samples, want %d", len(got), pos)
			}
		})
	}
}

// checkTone checks that x holds the tones freqs, equally strong, and nothing 60 Hz or
// more away from them.
func checkTone(t *testing.T, x []int16, freqs []float64, rate int) {
	t.Helper()
	want := math.Pow(ringLevel/float64(len(freqs))/2, 2) // a sine of amplitude A: (A/2)²
	for _, f := range freqs {
		if p := goertzel(x, f, rate); math.Abs(p-want) > 0.05*want {
			t.Errorf("power at %g Hz = %.0f, want %.0f", f, p, want)
		}
	}
	for _, f := range []float64{300, 350, 550, 1000} {
		if p := goertzel(x, f, rate); p > 1e-3*want {
			t.Errorf("power at %g Hz = %.0f, want below %.0f", f, p, 1e-3*want)
		}
	}
}

func peak(x []int16) int {
	m := 0
	for _, v := range x {
		m = max(m, int(math.Abs(float64(v))))
	}
	return m
}

func TestRingRefuses(t *testing.T) {
	s := testSpeaker(8000)
	err := s.Ring("xx", 1)
	if err == nil || !strings.Contains(err.Error(), "de, uk, us") {
		t.Errorf("Ring(xx) = %v, want an error listing de, uk, us", err)
	}
	if err := s.Ring("us", 0); err == nil {
		t.Error("Ring(us, 0) succeeded, want an error")
	}
	if err := s.Ring("us", maxQueued); err == nil {
		t.Error("Ring beyond the queue limit succeeded, want an error")
	}
	if n := len(drain(t, s)); n != 0 {
		t.Errorf("refused rings queued %d samples", n)
	}
}

// wav builds a WAV file; extra is a chunk placed before the data.
func wav(tag, channels uint16, rate uint32, bits uint16, data []byte, extra bool) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(0)) // size: readers need not trust it
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	le(uint32(16))
	le(tag)
	le(channels)
	le(rate)
	le(rate * uint32(channels) * uint32(bits) / 8)
	le(channels * bits / 8)
	le(bits)
	if extra {
		b.WriteString("LIST")
		le(uint32(3))
		b.WriteString("abc\x00") // odd size, padded
	}
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestPlayWAV(t *testing.T) {
	const rate = 16000
	s := testSpeaker(rate)
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	data := make([]byte, 2*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	for _, extra := range []bool{false, true} {
		if err := s.PlayWAV(bytes.NewReader(wav(1, 1, rate, 16, data, extra))); err != nil {
			t.Fatalf("PlayWAV (extra chunk %v) = %v", extra, err)
		}
		got := drain(t, s)
		if len(got) != len(samples) {
			t.Fatalf("queued %v, want %v", got, samples)
		}
		for i := range samples {
			if got[i] != samples[i] {
				t.Errorf("sample %d = %d, want %d", i, got[i], samples[i])
			}
		}
	}

	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"stereo", wav(1, 2, rate, 16, data, false), "16000 Hz stereo 16-bit PCM"},
		{"8 kHz", wav(1, 1, 8000, 16, data, false), "file is 8000 Hz, speaker runs at 16000 Hz"},
		{"8-bit", wav(1, 1, rate, 8, data, false), "8-bit"},
		{"float", wav(3, 1, rate, 32, data, false), "IEEE float"},
		{"µ-law", wav(7, 1, rate, 8, data, false), "µ-law"},
		{"odd tag", wav(0x55, 1, rate, 16, data, false), "MP3"},
		{"unknown tag", wav(0x77, 1, rate, 16, data, false), "format 0x0077"},
		{"not wav", []byte("RIFF\x00\x00\x00\x00AVI LIST"), "not a RIFF WAVE"},
		{"truncated", wav(1, 1, rate, 16, data, false)[:50], "truncated"},
		{"empty", nil, "header"},
	} {
		err := s.PlayWAV(bytes.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: PlayWAV = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if n := len(drain(t, s)); n != 0 {
		t.Errorf("refused files queued %d samples", n)
	}
}

// TestReadNeverBlocks reads an empty queue: Read returns silence at once, which oto needs
// since one blocking reader stalls every player.
func TestReadNeverBlocks(t *testing.T) {
	q := &queue{limit: 10}
	p := []byte{9, 9, 9, 9}
	n, err := q.Read(p)
	if n != len(p) || err != nil || !bytes.Equal(p, make([]byte, 4)) {
		t.Errorf("Read on empty queue = %d, %v, % x; want 4, nil, silence", n, err, p)
	}
}

// edgeMax bounds the first and last sample of a faded on segment: 1% of the level.
const edgeMax = ringLevel / 100

func TestSilenceStopsTheRinging(t *testing.T) {
	s := testSpeaker(8000)
	if err := s.Ring("us", 2); err != nil {
		t.Fatal(err)
	}
	s.Silence()
	if n := len(drain(t, s)); n != 0 {
		t.Errorf("%d samples still queued after Silence, want none", n)
	}
	if d, err := CycleLength("UK"); err != nil || d.Milliseconds() != 3000 {
		t.Errorf("CycleLength(UK) = %v, %v; want 3s", d, err)
	}
}
