package media

import "math"

// FloorDBFS is the level LevelDBFS and ToneLevel report for silence or no samples.
const FloorDBFS = -120.0

// LevelDBFS returns the RMS level of samples in dB relative to full scale (32768), so a
// full-scale square wave reads 0 and a full-scale sine about -3. Silence and empty input
// read FloorDBFS, as does anything quieter.
func LevelDBFS(samples []int16) float64 {
	if len(samples) == 0 {
		return FloorDBFS
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v) * float64(v)
	}
	return MeanSquareDBFS(sum / float64(len(samples)) / (32768 * 32768))
}

// MeanSquareDBFS turns a mean square in full-scale units (a sample of 32768 is 1) into dB
// relative to full scale: the level LevelDBFS reports, for a meter that keeps its own sum.
// Silence and anything quieter read FloorDBFS.
func MeanSquareDBFS(meanSq float64) float64 {
	if meanSq <= 0 {
		return FloorDBFS
	}
	return max(10*math.Log10(meanSq), FloorDBFS)
}

// ToneLevel returns how much of the power of samples, taken at sampleRate Hz, lies at
// freqHz, in dB relative to their total power: about 0 for a pure sine at freqHz, -3 for
// an equal mix of it and another tone, and far below for a sine at a clearly different
// frequency. Silence reads FloorDBFS.
//
// It evaluates one DFT bin at exactly freqHz (Goertzel's recurrence) over a Hann window, and
// relates it to the power of the same windowed samples, so a tone reads correctly whether
// or not the samples hold a whole number of its periods. Frequencies closer together than
// about 4*sampleRate/len(samples) are not told apart.
func ToneLevel(samples []int16, sampleRate int, freqHz float64) float64 {
	n := len(samples)
	if n < 2 || sampleRate <= 0 {
		return FloorDBFS
	}
	coeff := 2 * math.Cos(2*math.Pi*freqHz/float64(sampleRate))
	var s1, s2, wsum, energy, wenergy float64
	for i, v := range samples {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		x := w * float64(v)
		s1, s2 = x+coeff*s1-s2, s1
		wsum += w
		energy += x * x
		wenergy += w * w
	}
	if energy == 0 {
		return FloorDBFS
	}
	// |X|^2 of the bin; a sine of amplitude A gives |X| = A*wsum/2, power A^2/2.
	bin := s1*s1 + s2*s2 - coeff*s1*s2
	tone := 2 * bin / (wsum * wsum)
	total := energy / wenergy
	return max(10*math.Log10(max(tone, 0)/total), FloorDBFS)
}

// A Tone generates a sine wave, continuing its phase from one call to the next. It is not
// safe for concurrent use.
type Tone struct {
	step  float64 // phase advance per sample, in radians
	amp   float64
	phase float64
}

// NewTone returns a Tone of freqHz at sampleRate Hz whose RMS level is levelDBFS (a
// full-scale sine is about -3 dBFS).
func NewTone(sampleRate int, freqHz, levelDBFS float64) *Tone {
	return &Tone{
		step: 2 * math.Pi * freqHz / float64(sampleRate),
		amp:  32768 * math.Sqrt2 * math.Pow(10, levelDBFS/20),
	}
}

// Generate fills p with the next len(p) samples of the tone, clipped to the int16 range.
func (t *Tone) Generate(p []int16) {
	for i := range p {
		v := math.Round(t.amp * math.Sin(t.phase))
		p[i] = int16(max(math.MinInt16, min(math.MaxInt16, v)))
		t.phase = math.Mod(t.phase+t.step, 2*math.Pi)
	}
}
