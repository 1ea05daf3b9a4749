package media

import "math"

// Packet loss concealment, after the waveform substitution of ITU-T G.711 Appendix I: a lost
// packet is replaced by the last pitch period heard, repeated, and faded out; the packet
// that ends the loss is cross-faded in. It works on decoded PCM, so it serves every codec.
const (
	// concealPackets is how many packet times concealment takes to fade the last audio
	// out to silence: after that, a loss is heard as silence.
	concealPackets = 3
	// Pitch periods searched, in Hz: 66 Hz to 400 Hz, the range of voices.
	minPitchHz, maxPitchHz = 66, 400
	// corrPerSecond sets the correlation window of the pitch search: 1/100 s.
	corrPerSecond = 100
	// olaPerSecond sets the cross-fade when audio resumes: 1/400 s, 2.5 ms.
	olaPerSecond = 400
)

// A concealer keeps the recent audio of a stream and conceals its losses. It never
// allocates after newConcealer. It is not safe for concurrent use.
type concealer struct {
	hist   []int16 // the latest audio played, oldest first
	minP   int
	maxP   int
	corr   int
	ola    int
	step   float32 // gain lost per concealed sample
	period int     // of the loss being concealed, or 0 when audio is playing
	pos    int     // the next sample within the period
	gain   float32
}

// newConcealer returns a concealer for audio at rate Hz in packets of spp samples.
func newConcealer(rate, spp int) *concealer {
	c := &concealer{
		minP: rate / maxPitchHz,
		maxP: rate / minPitchHz,
		corr: rate / corrPerSecond,
		ola:  min(spp, rate/olaPerSecond),
		step: 1 / float32(concealPackets*spp),
	}
	c.hist = make([]int16, c.maxP+c.corr)
	return c
}

// played records pcm, a packet of decoded audio about to be played. If it ends a loss, its
// start is cross-faded from the concealment, so that it does not begin with a click.
func (c *concealer) played(pcm []int16) {
	if c.period > 0 {
		n := min(c.ola, len(pcm))
		for i := range n {
			w := float32(i+1) / float32(n+1)
			pcm[i] = toInt16(w*float32(pcm[i]) + (1-w)*c.next())
		}
		c.period = 0
	}
	if len(pcm) >= len(c.hist) {
		copy(c.hist, pcm[len(pcm)-len(c.hist):])
		return
	}
	copy(c.hist, c.hist[len(pcm):])
	copy(c.hist[len(c.hist)-len(pcm):], pcm)
}

// conceal fills pcm with concealment: the last pitch period repeated, continuing the
// previous call's, and fading to silence over concealPackets packets.
func (c *concealer) conceal(pcm []int16) {
	if c.period == 0 {
		c.period = c.pitch()
		c.pos, c.gain = 0, 1
	}
	for i := range pcm {
		pcm[i] = toInt16(c.next())
	}
}

// mute fills pcm with silence, as for a telephone event, which carries no audio: the
// concealment is over, and the next packet fades in from silence.
func (c *concealer) mute(pcm []int16) {
	clear(pcm)
	c.period, c.pos, c.gain = c.minP, 0, 0
}

// next returns the next concealment sample and advances.
func (c *concealer) next() float32 {
	if c.gain <= 0 {
		return 0
	}
	v := float32(c.hist[len(c.hist)-c.period+c.pos]) * c.gain
	c.pos++
	if c.pos == c.period {
		c.pos = 0
	}
	c.gain = max(0, c.gain-c.step)
	return v
}

// pitch returns the period, between minP and maxP samples, at which the latest audio best
// matches itself (the greatest normalised correlation of the last corr samples with those
// a period earlier). The repetition then continues the waveform where it stopped.
func (c *concealer) pitch() int {
	n := len(c.hist)
	recent := c.hist[n-c.corr:]
	best, bestScore := c.maxP, math.Inf(-1)
	for p := c.minP; p <= c.maxP; p++ {
		past := c.hist[n-c.corr-p : n-p]
		var xy, yy float64
		for i, x := range recent {
			y := float64(past[i])
			xy += float64(x) * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		if score := xy / math.Sqrt(yy); score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}
