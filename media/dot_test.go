package media

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotSumsMatchesGo checks the processor's dotSums against dotSumsGo, lane by lane, at
// every length a Resampler's branches can have up to 200 taps, with whole numbers whose
// products and sums float32 holds exactly: any difference is a product in the wrong sum,
// one left out, or one counted twice.
func TestDotSumsMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 200; n += 4 {
		c, x := make([]float32, n), make([]float32, n+5)
		for i := range c {
			c[i] = float32(r.IntN(201) - 100)
		}
		for i := range x {
			x[i] = float32(r.IntN(201) - 100)
		}
		start := [8]float32{1, 2, 3, 4, 5, 6, 7, 8}
		got, want := start, start
		if n > 0 {
			dotSums(&c[0], &x[0], n, &got)
		}
		dotSumsGo(c, x, &want)
		if got != want {
			t.Errorf("%d values: sums %v, want %v", n, got, want)
		}
	}
}

// TestDotIsTheDotProduct checks dot against the dot product in float64 on a Resampler's
// longest branch, with values like its coefficients and samples.
func TestDotIsTheDotProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c, x := make([]float32, 164), make([]float32, 170)
	for i := range c {
		c[i] = float32(r.NormFloat64() * 0.05)
	}
	for i := range x {
		x[i] = float32(r.IntN(65536) - 32768)
	}
	var want, scale float64
	for i := range c {
		want += float64(c[i]) * float64(x[i])
		scale += math.Abs(float64(c[i]) * float64(x[i]))
	}
	if got := dot(c, x); math.Abs(float64(got)-want) > 1e-6*scale {
		t.Errorf("dot = %v, want %v", got, want)
	}
	if got := dot(nil, x); got != 0 {
		t.Errorf("dot of nothing = %v, want 0", got)
	}
}

func BenchmarkDot(b *testing.B) {
	c, x := make([]float32, 164), make([]float32, 164)
	for i := range c {
		c[i], x[i] = float32(i), float32(i%7)
	}
	var sum float32
	for b.Loop() {
		sum += dot(c, x)
	}
	_ = sum
}

// TestDotRowsMatchesGo checks the processor's dotRows against dotRowsGo, output by output,
// at every even number of taps up to 40, with whole numbers that float32 sums exactly.
func TestDotRowsMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for taps := 2; taps <= 40; taps += 2 {
		c, x := make([]float32, taps*8), make([]float32, taps+3)
		for i := range c {
			c[i] = float32(r.IntN(201) - 100)
		}
		for i := range x {
			x[i] = float32(r.IntN(201) - 100)
		}
		got := [16]float32{1, 2, 3}
		var want [16]float32
		dotRows(&c[0], &x[0], taps, &got)
		dotRowsGo(c, x[:taps], &want)
		if got != want {
			t.Errorf("%d taps: sums %v, want %v", taps, got, want)
		}
	}
}
