package media

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// resample converts in through r in packets of 20 ms at the input rate.
func resample(t testing.TB, r *Resampler, in []int16) []int16 {
	t.Helper()
	block := r.from / 50
	out := make([]int16, 0, len(in)*r.to/r.from)
	dst := make([]int16, r.to/50)
	for i := 0; i+block <= len(in); i += block {
		r.Process(dst, in[i:i+block])
		out = append(out, dst...)
	}
	return out
}

// settled drops the start of out, where the filter is still filling.
func settled(out []int16, rate int) []int16 { return out[rate/50:] }

func TestResamplerGain(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
		maxDB    float64 // largest level change allowed: passband, or minus the stopband
	}{
		{48000, 8000, 1000, 0.5},
		{48000, 8000, 300, 0.5},
		{48000, 8000, 3400, 0.5},
		{48000, 16000, 1000, 0.5},
		{48000, 16000, 7000, 0.5},
		{16000, 8000, 3400, 0.5},
		{8000, 48000, 1000, 0.5},
		{8000, 48000, 3400, 0.5},
		{16000, 48000, 7000, 0.5},
		{8000, 16000, 3400, 0.5},
		{32000, 48000, 1000, 0.5},
		{48000, 48000, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(name(tt.from, tt.to, tt.freq), func(t *testing.T) {
			r, err := NewResampler(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			in := tone(tt.from, tt.freq, -6, 0.5)
			out := settled(resample(t, r, in), tt.to)
			if d := LevelDBFS(out) - LevelDBFS(in); math.Abs(d) > tt.maxDB {
				t.Errorf("level changed by %+.3f dB, want within ±%v", d, tt.maxDB)
			}
			// Upsampling must not leave images: the output is the one tone.
			if got := ToneLevel(out, tt.to, tt.freq); got < -0.1 {
				t.Errorf("ToneLevel at %v Hz = %.2f dB, want about 0", tt.freq, got)
			}
		})
	}
}

func TestResamplerStopband(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
	}{
		{48000, 8000, 4000},
		{48000, 8000, 5000},
		{48000, 8000, 12000},
		{48000, 8000, 23000},
		{48000, 16000, 8000},
		{48000, 16000, 12000},
		{16000, 8000, 5000},
		{16000, 8000, 7900},
	}
	for _, tt := range tests {
		t.Run(name(tt.from, tt.to, tt.freq), func(t *testing.T) {
			r, err := NewResampler(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			in := tone(tt.from, tt.freq, -4, 0.5) // peaks at -1 dBFS
			out := settled(resample(t, r, in), tt.to)
			if d := LevelDBFS(out) - LevelDBFS(in); d > -60 {
				t.Errorf("attenuation %.1f dB, want at least 60", -d)
			}
		})
	}
}

func TestResamplerRoundTrip(t *testing.T) {
	down, err := NewResampler(48000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewResampler(8000, 48000)
	if err != nil {
		t.Fatal(err)
	}
	in := tone(48000, 1000, -10, 0.5)
	out := settled(resample(t, up, resample(t, down, in)), 48000)
	if got := ToneLevel(out, 48000, 1000); got < -0.1 {
		t.Errorf("after 48k->8k->48k, ToneLevel at 1 kHz = %.2f dB, want about 0", got)
	}
	if got := ToneLevel(out, 48000, 1100); got > -40 {
		t.Errorf("after 48k->8k->48k, ToneLevel at 1.1 kHz = %.2f dB, want below -40", got)
	}
	if d := LevelDBFS(out) - LevelDBFS(in); math.Abs(d) > 0.5 {
		t.Errorf("after 48k->8k->48k, level changed by %+.2f dB, want within ±0.5", d)
	}
}

// TestResamplerStreams checks that blocks join seamlessly: converting in 20 ms blocks gives
// exactly what converting everything at once, or in blocks shorter than the filter, gives.
func TestResamplerStreams(t *testing.T) {
	for _, rates := range [][2]int{{48000, 8000}, {8000, 48000}, {48000, 16000}, {32000, 48000}} {
		from, to := rates[0], rates[1]
		t.Run(name(from, to, 0), func(t *testing.T) {
			in := tone(from, 997, -3, 0.2)
			whole, _ := NewResampler(from, to)
			want := make([]int16, len(in)*to/from)
			whole.Process(want, in)

			blocks, _ := NewResampler(from, to)
			if got := resample(t, blocks, in); !slices.Equal(got, want) {
				t.Errorf("in 20 ms blocks: output differs from one call")
			}

			small, _ := NewResampler(from, to)
			step := small.down
			got := make([]int16, 0, len(want))
			dst := make([]int16, small.up)
			for i := 0; i < len(in); i += step {
				small.Process(dst, in[i:i+step])
				got = append(got, dst...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("in blocks of %d samples: output differs from one call", step)
			}
		})
	}
}

func TestResamplerCopiesEqualRates(t *testing.T) {
	r, err := NewResampler(16000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	in := tone(16000, 440, -3, 0.02)
	out := make([]int16, len(in))
	r.Process(out, in)
	if !slices.Equal(out, in) {
		t.Error("16000 to 16000 Hz changed the samples")
	}
}

func TestNewResamplerRejects(t *testing.T) {
	for _, rates := range [][2]int{{44100, 8000}, {48000, 11025}, {0, 8000}, {8000, -8000}} {
		_, err := NewResampler(rates[0], rates[1])
		if err == nil {
			t.Errorf("NewResampler(%d, %d) succeeded, want an error", rates[0], rates[1])
			continue
		}
		for _, rate := range rates {
			if !strings.Contains(err.Error(), strconv.Itoa(rate)) {
				t.Errorf("NewResampler(%d, %d) error %q does not name %d", rates[0], rates[1], err, rate)
			}
		}
	}
}

func TestResamplerProcessPanicsOnBadLengths(t *testing.T) {
	r, _ := NewResampler(48000, 8000)
	for _, n := range [][2]int{{960, 159}, {965, 160}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Process(%d out, %d in) did not panic", n[1], n[0])
				}
			}()
			r.Process(make([]int16, n[1]), make([]int16, n[0]))
		}()
	}
}

func TestResamplerDoesNotAllocate(t *testing.T) {
	r, _ := NewResampler(48000, 8000)
	src, dst := make([]int16, 960), make([]int16, 160)
	if n := testing.AllocsPerRun(100, func() { r.Process(dst, src) }); n != 0 {
		t.Errorf("Process allocates %v times, want 0", n)
	}
}

func BenchmarkResampler48kTo8k(b *testing.B) {
	r, _ := NewResampler(48000, 8000)
	src, dst := tone(48000, 1000, -10, 0.02), make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		r.Process(dst, src)
	}
}

func BenchmarkResampler8kTo48k(b *testing.B) {
	r, _ := NewResampler(8000, 48000)
	src, dst := tone(8000, 1000, -10, 0.02), make([]int16, 960)
	b.ReportAllocs()
	for b.Loop() {
		r.Process(dst, src)
	}
}

func name(from, to int, freq float64) string {
	s := strconv.Itoa(from) + "to" + strconv.Itoa(to)
	if freq != 0 {
		s += "/" + strconv.Itoa(int(freq)) + "Hz"
	}
	return s
}
