package media

import (
	"math"
	"math/rand/v2"
	"testing"
)

// agcRate and agcPeriod are the device's: the AGC runs once per 5 ms period at 48 kHz.
const (
	agcRate   = 48000
	agcPeriod = 240
)

func newTestAGC(t testing.TB) *AGC {
	t.Helper()
	a, err := NewAGC(agcRate, DefaultAGC())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// runAGC feeds d seconds of signal through a, period by period, and returns the output
// level of every 20 ms (4 periods) and the gain after each.
func runAGC(a *AGC, signal func([]int16), seconds float64) (levels, gains []float64) {
	block := make([]int16, 4*agcPeriod)
	for range int(seconds * agcRate / float64(len(block))) {
		signal(block)
		for p := 0; p < len(block); p += agcPeriod {
			a.Process(block[p : p+agcPeriod])
		}
		levels = append(levels, LevelDBFS(block))
		gains = append(gains, a.GainDB())
	}
	return levels, gains
}

// noise returns white noise at about levelDBFS RMS.
func noise(seed uint64, levelDBFS float64) func([]int16) {
	rng := rand.New(rand.NewPCG(seed, 1))
	sd := 32768 * math.Pow(10, levelDBFS/20)
	return func(p []int16) {
		for i := range p {
			p[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(rng.NormFloat64()*sd))))
		}
	}
}

func silence(p []int16) { clear(p) }

func TestAGCBringsAToneToTheTarget(t *testing.T) {
	tests := []struct {
		name     string
		inDBFS   float64
		within   float64 // seconds of audio by which the output is within 1 dB of wantDBFS
		wantDBFS float64
	}{
		// 20 dB to gain at the release rate (6 dB/s) takes 3.3 s.
		{"quiet tone rises", -40, 4, DefaultAGCTargetDBFS},
		// 30 dB would be needed: the gain stops at its maximum, 24 dB.
		{"very quiet tone stops at the maximum gain", -50, 5, -50 + DefaultAGCMaxGainDB},
		// 14 dB too loud: cut at the attack rate (20 dB/s), within 12 dB.
		{"loud tone is cut, not boosted", -6, 1, -6 + DefaultAGCMinGainDB},
		{"tone at the target stays", DefaultAGCTargetDBFS, 0.1, DefaultAGCTargetDBFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAGC(t)
			levels, gains := runAGC(a, NewTone(agcRate, 1000, tt.inDBFS).Generate, tt.within+2)
			reached := -1
			for i, l := range levels {
				if math.Abs(l-tt.wantDBFS) <= 1 {
					reached = i
					break
				}
			}
			if reached < 0 || float64(reached)*0.02 > tt.within {
				t.Errorf("output within 1 dB of %.1f dBFS after %d ms of audio, want within %.0f ms; levels at 0.5 s steps: %.1f",
					tt.wantDBFS, reached*20, tt.within*1000, every(levels, 25))
			}
			for i := max(reached, 0); i < len(levels); i++ {
				if math.Abs(levels[i]-tt.wantDBFS) > 1 {
					t.Fatalf("output at %d ms is %.1f dBFS, want %.1f ± 1 from %d ms on", i*20, levels[i], tt.wantDBFS, reached*20)
				}
			}
			for i, g := range gains {
				if g > DefaultAGCMaxGainDB || g < DefaultAGCMinGainDB || (tt.inDBFS > DefaultAGCTargetDBFS && g > 0) {
					t.Fatalf("gain at %d ms is %.2f dB: outside %.0f..%.0f dB, or a boost of a loud tone",
						i*20, g, DefaultAGCMinGainDB, DefaultAGCMaxGainDB)
				}
			}
			t.Logf("reached %.1f dBFS after %d ms; gain %.1f dB", tt.wantDBFS, reached*20, a.GainDB())
		})
	}
}

// every returns every n-th element of s.
func every(s []float64, n int) []float64 {
	var out []float64
	for i := 0; i < len(s); i += n {
		out = append(out, math.Round(s[i]*10)/10)
	}
	return out
}

func TestAGCDoesNotAmplifySilence(t *testing.T) {
	const seed = 7
	tests := []struct {
		name   string
		signal func([]int16)
	}{
		{"digital silence", silence},
		{"room noise below the gate", noise(seed, DefaultAGCGateDBFS-15)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAGC(t)
			in, out := make([]int16, agcPeriod), make([]int16, agcPeriod)
			for i := range 5 * agcRate / agcPeriod {
				tt.signal(in)
				copy(out, in)
				a.Process(out)
				if a.GainDB() != 0 {
					t.Fatalf("gain after %d ms of %s is %.3f dB, want 0", i*5, tt.name, a.GainDB())
				}
				for j := range in {
					if out[j] != in[j] {
						t.Fatalf("sample %d of period %d changed from %d to %d", j, i, in[j], out[j])
					}
				}
			}
		})
	}
}

// TestAGCHoldsInPauses: a gain that a quiet talker earned holds through a pause, neither
// rising toward the maximum (pumping up the room noise) nor falling.
func TestAGCHoldsInPauses(t *testing.T) {
	a := newTestAGC(t)
	runAGC(a, NewTone(agcRate, 1000, -40).Generate, 5)
	earned := a.GainDB()
	if earned < 15 {
		t.Fatalf("gain after 5 s of a -40 dBFS tone is %.1f dB, want about 20", earned)
	}
	levels, gains := runAGC(a, noise(3, DefaultAGCGateDBFS-15), 3)
	for i, g := range gains {
		if g != earned {
			t.Fatalf("gain %d ms into the pause is %.3f dB, want the %.3f dB earned before it", i*20, g, earned)
		}
	}
	// The noise passes at the held gain, not at the maximum.
	if got, want := levels[len(levels)-1], DefaultAGCGateDBFS-15+earned; math.Abs(got-want) > 1 {
		t.Errorf("noise in the pause leaves at %.1f dBFS, want %.1f (held gain)", got, want)
	}
}

func TestNewAGCRejects(t *testing.T) {
	bad := []struct {
		name string
		rate int
		edit func(*AGCConfig)
	}{
		{"no sample rate", 0, func(*AGCConfig) {}},
		{"maximum gain below 0 dB", agcRate, func(c *AGCConfig) { c.MaxGainDB = -1 }},
		{"minimum gain above 0 dB", agcRate, func(c *AGCConfig) { c.MinGainDB = 1 }},
		{"no attack", agcRate, func(c *AGCConfig) { c.AttackDBPerSec = 0 }},
		{"no release", agcRate, func(c *AGCConfig) { c.ReleaseDBPerSec = 0 }},
	}
	for _, tt := range bad {
		cfg := DefaultAGC()
		tt.edit(&cfg)
		if _, err := NewAGC(tt.rate, cfg); err == nil {
			t.Errorf("%s: NewAGC succeeded, want an error", tt.name)
		}
	}
}

func TestAGCDoesNotAllocate(t *testing.T) {
	a := newTestAGC(t)
	p := make([]int16, agcPeriod)
	tone := NewTone(agcRate, 1000, -40)
	if n := testing.AllocsPerRun(100, func() { tone.Generate(p); a.Process(p) }); n != 0 {
		t.Errorf("Process allocates %v times per call, want 0", n)
	}
}

func BenchmarkAGC(b *testing.B) {
	a := newTestAGC(b)
	p := make([]int16, agcPeriod)
	NewTone(agcRate, 1000, -40).Generate(p)
	b.ReportAllocs()
	for b.Loop() {
		a.Process(p)
	}
}
