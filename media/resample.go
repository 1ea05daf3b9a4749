package media

import (
	"fmt"
	"math"
	"slices"
)

// supportedRates lists the sample rates a Resampler converts between: the voice codec rates
// and the rates audio devices commonly run at.
var supportedRates = [...]int{8000, 16000, 24000, 32000, 48000}

// Filter design targets, shared by every rate pair. The band edges follow from the lower of
// the two rates, low (passbandEdge). The passband must stay flat up to the band the codec at
// low carries: 3.4 kHz for 8 kHz (G.711's telephone band), 7/16 of low otherwise (7 kHz for
// 16 kHz, G.722's band). The stopband starts at low minus the passband edge (4.6 kHz for
// 8 kHz, 9 kHz for 16 kHz), not at low's Nyquist frequency: when decimating, an input
// between low/2 and low-pass folds to between pass and low/2, into the transition band
// above the passband, never into it; when interpolating, the first image of a passband tone
// at f lies at low-f, at least low-pass. So everything that would alias into the passband,
// or image from it, is attenuated by about resampleAttenuation, while the wider transition band
// lets the filter, and its delay, be at most half as long as a stopband at low/2 needs.
const (
	narrowbandPassband  = 3400   // Hz, the passband edge when the lower rate is 8 kHz
	widebandPassband    = 0.4375 // the passband edge as a fraction of a lower rate above 8 kHz
	resampleAttenuation = 66     // dB designed for; the filters reach at least 64.8, over the 60 required
)

// passbandEdge returns the passband edge, in Hz, of a Resampler whose lower rate is low.
func passbandEdge(low int) float64 {
	if low == 8000 {
		return narrowbandPassband
	}
	return widebandPassband * float64(low)
}

// A Resampler converts a stream of mono 16-bit samples from one rate to another with an
// anti-aliased polyphase FIR filter: a Kaiser-windowed sinc designed by NewResampler for at
// least 60 dB of attenuation of everything that would alias into the passband and a passband
// flat to well within ±0.5 dB up to 3.4 kHz when the lower rate is 8 kHz and 7/16 of the
// lower rate otherwise (7 kHz for 16 kHz). The filter's cutoff is the lower rate's Nyquist
// frequency, where it attenuates by 6 dB; input between there and the stopband edge is only
// partly attenuated, and folds into the transition band above the passband. It keeps filter history between calls, so consecutive blocks join without a
// seam. A Resampler is not safe for concurrent use; use one per stream and direction.
type Resampler struct {
	from, to int
	// up and down are the reduced conversion ratio to/from = up/down.
	up, down int
	// taps is the length of each polyphase branch.
	taps int
	// coef holds up branches of taps coefficients; branch p sits at coef[p*taps:] in the
	// order they multiply the oldest-to-newest input window.
	coef []float32
	// rows holds the same coefficients by tap, when the conversion makes 5 to 8 outputs
	// from each input sample (down is 1; 8 kHz to 48 kHz): rows[j*8+p] is branch p's tap j,
	// for dotRows, which computes all of one input sample's outputs in one pass. Nil
	// otherwise.
	rows []float32
	// work holds the last taps-1 input samples, oldest first, followed by room for the
	// block being converted.
	work []float32
}

// NewResampler returns a Resampler from fromRate to toRate (in Hz). Both rates must be one
// of 8000, 16000, 24000, 32000 or 48000; equal rates give a Resampler that copies.
func NewResampler(fromRate, toRate int) (*Resampler, error) {
	if !slices.Contains(supportedRates[:], fromRate) || !slices.Contains(supportedRates[:], toRate) {
		return nil, fmt.Errorf("new resampler %d Hz to %d Hz: unsupported rate, want one of %v Hz", fromRate, toRate, supportedRates)
	}
	g := gcd(fromRate, toRate)
	r := &Resampler{from: fromRate, to: toRate, up: toRate / g, down: fromRate / g}
	if fromRate == toRate {
		return r, nil
	}
	r.design()
	return r, nil
}

// Process converts src into dst. len(src) must be a whole multiple of the block that maps
// to a whole number of output samples (fromRate/gcd(fromRate, toRate): 6 samples for 48 kHz
// to 8 kHz) and len(dst) must be exactly len(src)*toRate/fromRate: 960 samples at 48 kHz
// (20 ms) make 160 samples at 8 kHz. Process panics otherwise, as a slice index out of range
// would. It never allocates. The output lags the input by the filter's group delay, under
// 2 ms (1.7 ms between 48 kHz and 8 kHz, 1.1 ms between 48 kHz and 16 kHz), and does not
// depend on how the input is cut into blocks.
func (r *Resampler) Process(dst, src []int16) {
	if len(src)%r.down != 0 || len(dst) != len(src)/r.down*r.up {
		panic(fmt.Sprintf("media: Resampler.Process %d to %d Hz: %d samples in, %d out: want a multiple of %d in and exactly %d/%d as many out",
			r.from, r.to, len(src), len(dst), r.down, r.up, r.down))
	}
	if r.from == r.to {
		copy(dst, src)
		return
	}
	hist := r.taps - 1
	chunk := len(r.work) - hist
	for len(src) > 0 {
		in := src[:min(len(src), chunk)]
		src = src[len(in):]
		for i, v := range in {
			r.work[hist+i] = float32(v)
		}
		outs := len(in) / r.down * r.up
		if r.rows != nil {
			r.convertByRows(dst[:outs], len(in))
		} else {
			r.convertByBranches(dst[:outs])
		}
		dst = dst[outs:]
		copy(r.work, r.work[len(in):len(in)+hist])
	}
}

// convertByBranches makes the outputs dst of the block in work, one dot product each.
func (r *Resampler) convertByBranches(dst []int16) {
	for n := range dst {
		// Output n sits at index n*down of the input upsampled by up. Its branch is p,
		// and its newest input sample is i, the last of the window work[i:i+taps].
		k := n * r.down
		i, p := k/r.up, k%r.up
		dst[n] = toInt16(dot(r.coef[p*r.taps:(p+1)*r.taps], r.work[i:]))
	}
}

// convertByRows makes the outputs dst of the block of samples in work (down is 1): input
// sample i makes outputs i*up to i*up+up-1, branches 0 to up-1 of the window
// work[i:i+taps], in one pass of dotRows.
func (r *Resampler) convertByRows(dst []int16, samples int) {
	var s [16]float32
	for i := range samples {
		dotRows(&r.rows[0], &r.work[i], r.taps, &s)
		out := dst[i*r.up : (i+1)*r.up]
		for p := range out {
			out[p] = toInt16(s[p] + s[8+p])
		}
	}
}

// design computes the polyphase Kaiser-windowed sinc filter (Oppenheim & Schafer 7.5.3).
func (r *Resampler) design() {
	rate := float64(r.from * r.up) // the rate the filter runs at, after upsampling
	low := min(r.from, r.to)
	pass := passbandEdge(low)
	stop := float64(low) - pass
	cutoff := (pass + stop) / 2
	width := 2 * math.Pi * (stop - pass) / rate
	const a = resampleAttenuation
	beta := 0.1102 * (a - 8.7)
	n := int(math.Ceil((a-7.95)/(2.285*width))) + 1
	// Each branch gets a multiple of 4 taps, for dot's unrolled loop.
	r.taps = ((n+r.up-1)/r.up + 3) &^ 3
	n = r.taps * r.up

	h := make([]float64, n)
	mid := float64(n-1) / 2
	i0beta := besselI0(beta)
	var sum float64
	for j := range h {
		x := float64(j) - mid
		sinc := 2 * cutoff / rate
		if x != 0 {
			arg := 2 * math.Pi * cutoff / rate * x
			sinc = math.Sin(arg) / (math.Pi * x)
		}
		ratio := x / mid
		h[j] = sinc * besselI0(beta*math.Sqrt(max(0, 1-ratio*ratio))) / i0beta
		sum += h[j]
	}
	// Unity gain at DC at the output rate: zero-stuffing divides the level by up.
	gain := float64(r.up) / sum
	r.coef = make([]float32, n)
	for p := range r.up {
		branch := r.coef[p*r.taps : (p+1)*r.taps]
		for tap := range r.taps {
			branch[r.taps-1-tap] = float32(h[p+tap*r.up] * gain)
		}
	}
	if r.down == 1 && r.up > 4 && r.up <= 8 {
		r.rows = make([]float32, r.taps*8)
		for p := range r.up {
			for tap := range r.taps {
				r.rows[tap*8+p] = r.coef[p*r.taps+tap]
			}
		}
	}
	// Blocks of up to 20 ms at 48 kHz are converted in one pass, longer ones in several.
	r.work = make([]float32, r.taps-1+(960+r.down-1)/r.down*r.down)
}

// toInt16 rounds v to the nearest sample value, saturating at the int16 limits.
func toInt16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// besselI0 returns the modified Bessel function of the first kind of order 0, by its power
// series, which converges quickly for the arguments a Kaiser window uses.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 64 && term > 1e-12*sum; k++ {
		term *= q / float64(k*k)
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
