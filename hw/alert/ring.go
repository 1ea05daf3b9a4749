package alert

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// A cadence is a country's ringing: tones summed while on, and a pattern of alternating
// on and off durations, starting with on, repeated once per cycle.
type cadence struct {
	freqs   []float64       // Hz
	pattern []time.Duration // on, off, on, off, ...
}

// cadences are the ringing patterns by ISO 3166 country code.
var cadences = map[string]cadence{
	"us": {freqs: []float64{440, 480}, pattern: []time.Duration{2 * time.Second, 4 * time.Second}},
	"uk": {freqs: []float64{400, 450}, pattern: []time.Duration{400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second}},
	"de": {freqs: []float64{425}, pattern: []time.Duration{time.Second, 4 * time.Second}},
}

// ringLevel is the peak amplitude of a ringing signal, shared by its tones.
const ringLevel = 0.5 * math.MaxInt16

// Countries reports the country codes Ring knows, sorted.
func Countries() []string {
	cs := make([]string, 0, len(cadences))
	for c := range cadences {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs
}

// CycleLength returns how long one cycle of country's ringing cadence lasts, e.g. 6 s for
// "us".
func CycleLength(country string) (time.Duration, error) {
	c, ok := cadences[strings.ToLower(country)]
	if !ok {
		return 0, fmt.Errorf("ring: unknown country %q; known: %s", country, strings.Join(Countries(), ", "))
	}
	var d time.Duration
	for _, p := range c.pattern {
		d += p
	}
	return d, nil
}

// Silence drops whatever is queued, so that a ringing stops at once. Safe from any
// goroutine.
func (s *Speaker) Silence() { s.q.drop() }

// Ring queues cycles repetitions of country's ringing cadence (an ISO 3166 code such as
// "us", "uk" or "de") and returns at once.
func (s *Speaker) Ring(country string, cycles int) error {
	c, ok := cadences[strings.ToLower(country)]
	if !ok {
		return fmt.Errorf("ring: unknown country %q; known: %s", country, strings.Join(Countries(), ", "))
	}
	if cycles <= 0 {
		return fmt.Errorf("ring %s: %d cycles, want at least 1", country, cycles)
	}
	one := c.samples(s.rate)
	if len(one)*cycles > s.q.limit {
		return fmt.Errorf("ring %s: %d cycles of %d samples exceed the queue of %d samples", country, cycles, len(one), s.q.limit)
	}
	all := make([]int16, 0, len(one)*cycles)
	for range cycles {
		all = append(all, one...)
	}
	if err := s.q.push(all); err != nil {
		return err
	}
	return s.resume()
}

// ringFade is the raised-cosine ramp at each end of an on segment, so it does not click.
const ringFade = 5 * time.Millisecond

// samples renders one cycle of c at rate. Each on segment starts at phase 0 of every tone
// and fades in and out over ringFade.
func (c cadence) samples(rate int) []int16 {
	var out []int16
	fade := int(ringFade * time.Duration(rate) / time.Second)
	for i, d := range c.pattern {
		n := int(d * time.Duration(rate) / time.Second)
		if i%2 == 1 {
			out = append(out, make([]int16, n)...)
			continue
		}
		for k := range n {
			var v float64
			for _, f := range c.freqs {
				v += math.Sin(2 * math.Pi * f * float64(k) / float64(rate))
			}
			g := 1.0
			if e := min(k, n-1-k); e < fade {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(e)/float64(fade))
			}
			out = append(out, int16(math.Round(g*v*ringLevel/float64(len(c.freqs)))))
		}
	}
	return out
}
