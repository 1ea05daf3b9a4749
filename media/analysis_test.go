package media

import (
	"math"
	"testing"
)

// tone returns d seconds of a sine of freq Hz at level dBFS, sampled at rate Hz.
func tone(rate int, freq, level, d float64) []int16 {
	p := make([]int16, int(float64(rate)*d))
	NewTone(rate, freq, level).Generate(p)
	return p
}

func TestLevelDBFS(t *testing.T) {
	square := make([]int16, 480)
	for i := range square {
		square[i] = math.MaxInt16
		if i%2 == 1 {
			square[i] = math.MinInt16
		}
	}
	tests := []struct {
		name    string
		samples []int16
		want    float64
	}{
		{"empty", nil, FloorDBFS},
		{"silence", make([]int16, 160), FloorDBFS},
		{"one LSB in a million samples reads the floor", append(make([]int16, 1<<20), 1), FloorDBFS},
		{"full-scale square", square, 0},
		{"sine at -3 dBFS", tone(8000, 1000, -3, 0.02), -3},
		{"sine at -20 dBFS", tone(48000, 697, -20, 0.5), -20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LevelDBFS(tt.samples); math.Abs(got-tt.want) > 0.01 {
				t.Errorf("LevelDBFS = %.3f, want %.3f", got, tt.want)
			}
		})
	}
}

func TestToneLevel(t *testing.T) {
	mix := tone(48000, 697, -9, 0.5)
	for i, v := range tone(48000, 1209, -9, 0.5) {
		mix[i] += v
	}
	tests := []struct {
		name     string
		samples  []int16
		rate     int
		freq     float64
		min, max float64
	}{
		{"697 Hz at 697", tone(48000, 697, -6, 0.5), 48000, 697, -1, 1},
		{"697 Hz at 1209", tone(48000, 697, -6, 0.5), 48000, 1209, FloorDBFS, -40},
		{"1209 Hz at 697", tone(48000, 1209, -6, 0.5), 48000, 697, FloorDBFS, -40},
		{"mix at 697", mix, 48000, 697, -4, -2},
		{"mix at 1209", mix, 48000, 1209, -4, -2},
		{"quiet tone still reads 0 dB", tone(8000, 1000, -50, 0.1), 8000, 1000, -1, 1},
		{"one packet, fractional periods", tone(8000, 1234.5, -10, 0.02), 8000, 1234.5, -1, 1},
		{"silence", make([]int16, 960), 48000, 1000, FloorDBFS, FloorDBFS},
		{"empty", nil, 48000, 1000, FloorDBFS, FloorDBFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToneLevel(tt.samples, tt.rate, tt.freq)
			if got < tt.min || got > tt.max {
				t.Errorf("ToneLevel at %v Hz = %.2f dB, want %.1f to %.1f", tt.freq, got, tt.min, tt.max)
			}
		})
	}
}

func TestToneIsContinuous(t *testing.T) {
	whole := tone(8000, 440, -10, 0.1)
	parts := make([]int16, len(whole))
	g := NewTone(8000, 440, -10)
	for i := 0; i < len(parts); i += 160 {
		g.Generate(parts[i : i+160])
	}
	for i := range whole {
		if d := int(whole[i]) - int(parts[i]); d < -1 || d > 1 {
			t.Fatalf("sample %d: generated in one call %d, in packets %d", i, whole[i], parts[i])
		}
	}
}
