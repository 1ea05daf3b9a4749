package media

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
	type gainCase struct {
		from, to int
		freq     float64
		maxDB    float64 // largest level change allowed
	}
	tests := []gainCase{
		{48000, 8000, 1000, 0.5},
		{48000, 8000, 300, 0.5},
		{48000, 16000, 1000, 0.5},
		{32000, 48000, 1000, 0.5},
		{48000, 48000, 1000, 0},
	}
	// The passband, swept up to and including its edge: 3.4 kHz at 8 kHz, 7 kHz at 16 kHz.
	for _, rates := range resamplePairs {
		pass := passbandEdge(min(rates[0], rates[1]))
		for k := 1; k <= 6; k++ {
			tests = append(tests, gainCase{rates[0], rates[1], math.Round(pass * float64(k) / 6), 0.5})
		}
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

// resamplePairs are the conversions the appliance makes, the 48 kHz device to and from the
// codec rates and a call bridged between G.711 and G.722, and two more of the supported rates.
var resamplePairs = [][2]int{
	{48000, 8000}, {8000, 48000}, {48000, 16000}, {16000, 48000},
	{16000, 8000}, {8000, 16000}, {32000, 48000}, {48000, 24000},
}

// fold returns the frequency a tone at freq Hz appears at once sampled at rate Hz.
func fold(freq float64, rate int) float64 {
	f := math.Mod(freq, float64(rate))
	return min(f, float64(rate)-f)
}

// attenuation returns by how much r lowers the level of a tone at freq Hz peaking at -1 dBFS.
func attenuation(t *testing.T, r *Resampler, freq float64) float64 {
	t.Helper()
	in := tone(r.from, freq, -4, 0.5)
	return LevelDBFS(in) - LevelDBFS(settled(resample(t, r, in), r.to))
}

// TestResamplerStopband checks that decimation attenuates by at least 60 dB what would fold
// into the passband, from exactly the stopband edge (the lower rate less the passband edge)
// up, and that interpolation leaves every image of a passband tone, the first at that same
// edge, at least 60 dB below the tone.
func TestResamplerStopband(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
	}{
		{48000, 8000, 4600}, // the stopband edge, folding to the passband edge
		{48000, 8000, 5000},
		{48000, 8000, 7500},
		{48000, 8000, 12000},
		{48000, 8000, 23000},
		{48000, 16000, 9000}, // the stopband edge
		{48000, 16000, 12000},
		{48000, 16000, 23900},
		{16000, 8000, 4600}, // the stopband edge
		{16000, 8000, 5000},
		{16000, 8000, 7900},
		{48000, 24000, 13500}, // the stopband edge
	}
	for _, tt := range tests {
		t.Run(name(tt.from, tt.to, tt.freq), func(t *testing.T) {
			r, err := NewResampler(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if a := attenuation(t, r, tt.freq); a < 60 {
				t.Errorf("attenuation %.1f dB, want at least 60", a)
			}
		})
	}
	for _, rates := range [][2]int{{8000, 48000}, {16000, 48000}, {8000, 16000}} {
		from, to := rates[0], rates[1]
		pass := passbandEdge(from)
		for k := 1; k <= 4; k++ {
			freq := math.Round(pass * float64(k) / 4)
			t.Run(name(from, to, freq)+"/images", func(t *testing.T) {
				r, err := NewResampler(from, to)
				if err != nil {
					t.Fatal(err)
				}
				out := settled(resample(t, r, tone(from, freq, -4, 0.5)), to)
				for base := from; float64(base)-freq < float64(to)/2; base += from {
					for _, image := range []float64{float64(base) - freq, float64(base) + freq} {
						if image >= float64(to)/2 {
							continue
						}
						if got := ToneLevel(out, to, image); got > -60 {
							t.Errorf("image at %v Hz at %.1f dB, want below -60", image, got)
						}
					}
				}
			})
		}
	}
}

// TestResamplerNothingAliasesIntoThePassband sweeps input tones over everything above the
// lower rate's Nyquist frequency when decimating. A tone that folds into the passband must
// come out at least 60 dB down; one between the Nyquist frequency and the stopband edge
// folds into the transition band above the passband, where it may be heard partly.
func TestResamplerNothingAliasesIntoThePassband(t *testing.T) {
	const steps = 40
	for _, rates := range [][2]int{{48000, 8000}, {16000, 8000}, {48000, 16000}} {
		from, to := rates[0], rates[1]
		t.Run(name(from, to, 0), func(t *testing.T) {
			r, err := NewResampler(from, to)
			if err != nil {
				t.Fatal(err)
			}
			pass := passbandEdge(to)
			lo, hi := float64(to)/2, float64(from)/2
			into, worst := 0, math.Inf(1)
			for k := range steps {
				freq := math.Round(lo + (hi-lo)*(float64(k)+0.5)/steps)
				if fold(freq, to) > pass {
					continue
				}
				into++
				a := attenuation(t, r, freq)
				worst = min(worst, a)
				if a < 60 {
					t.Errorf("%v Hz folds to %v Hz, in the passband, attenuated %.1f dB, want at least 60", freq, fold(freq, to), a)
				}
			}
			if into == 0 || into == steps {
				t.Fatalf("%d of %d tones fold into the passband: the sweep misses a band", into, steps)
			}
			t.Logf("%d of %d tones above %v Hz fold into the passband, the least attenuated by %.1f dB", into, steps, lo, worst)
		})
	}
}

// groupDelay returns the design group delay of r: half its filter's length, at the rate the
// filter runs at.
func groupDelay(r *Resampler) time.Duration {
	n := r.taps * r.up
	return time.Duration(float64(n-1) / 2 / float64(r.from*r.up) * float64(time.Second))
}

// TestResamplerGroupDelay logs each conversion's group delay, checks that a click comes out
// when it says, and that it stays within the half of maxResampleDelay that
// TestPipelineLatency allows each of a call's two resamplers.
func TestResamplerGroupDelay(t *testing.T) {
	for _, rates := range resamplePairs {
		from, to := rates[0], rates[1]
		t.Run(name(from, to, 0), func(t *testing.T) {
			r, err := NewResampler(from, to)
			if err != nil {
				t.Fatal(err)
			}
			in := make([]int16, from/10)
			in[from/50] = 16000
			out := resample(t, r, in)
			at := 0
			for i, v := range out {
				if abs16(v) > abs16(out[at]) {
					at = i
				}
			}
			measured := time.Duration(at)*time.Second/time.Duration(to) - 20*time.Millisecond
			d := groupDelay(r)
			t.Logf("%d to %d Hz: group delay %v (%d taps), a click out %v later", from, to, d.Round(time.Microsecond), r.taps*r.up, measured.Round(time.Microsecond))
			if diff := (measured - d).Abs(); diff > time.Second/time.Duration(2*to)+time.Microsecond {
				t.Errorf("a click came out %v later, want the group delay %v to within half an output sample", measured, d)
			}
			if d > maxResampleDelay/2 {
				t.Errorf("group delay %v, want at most %v", d, maxResampleDelay/2)
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
