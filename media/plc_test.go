package media

import (
	"math"
	"testing"
)

// TestConcealerContinuesTheWaveform checks that concealment carries a voiced sound on
// from where it stopped, at its pitch, fades it out over concealPackets packets, and that
// the packet after it fades in rather than starting with a step.
func TestConcealerContinuesTheWaveform(t *testing.T) {
	const rate, spp, freq = 8000, 160, 230 // a pitch period of 34.8 samples
	src := NewTone(rate, freq, -12)
	c := newConcealer(rate, spp)
	pcm := make([]int16, spp)
	for range 3 {
		src.Generate(pcm)
		c.played(pcm)
	}
	truth := make([]int16, spp)
	src.Generate(truth)
	c.conceal(pcm)
	// The first pitch period against what the sender had: the waveform goes on.
	amp := 32768 * math.Sqrt2 * math.Pow(10, -12.0/20)
	var worst float64
	for i := range 35 {
		worst = max(worst, math.Abs(float64(pcm[i])-float64(truth[i])))
	}
	if worst > 0.15*amp {
		t.Errorf("the concealment's first period is up to %.0f from the waveform it replaces, want within %.0f", worst, 0.15*amp)
	}
	if r := math.Abs(math.Remainder(float64(c.period), rate/float64(freq))); r > 1.5 {
		t.Errorf("pitch period %d samples, want a multiple of %.1f", c.period, rate/float64(freq))
	}
	levels := []float64{LevelDBFS(pcm)}
	for range concealPackets {
		c.conceal(pcm)
		levels = append(levels, LevelDBFS(pcm))
	}
	for i := 1; i < concealPackets; i++ {
		if levels[i] >= levels[i-1] {
			t.Errorf("concealment levels %.1f, want falling", levels)
		}
	}
	if levels[concealPackets] != FloorDBFS {
		t.Errorf("concealment after %d packets at %.1f dBFS, want silence", concealPackets, levels[concealPackets])
	}
	src.Generate(pcm)
	next := pcm[0]
	c.played(pcm)
	if abs16(pcm[0]) > abs16(next)/10 {
		t.Errorf("the packet after silence starts at %d, want a fade in from 0 toward %d", pcm[0], next)
	}
}
