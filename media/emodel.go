package media

import (
	"math"
	"strings"
	"time"
)

// The E-model of ITU-T G.107 rates a call R = Ro - Is - Id - Ie,eff + A. Here every input
// that a Session cannot measure takes its G.107 default (table 2: loudness ratings, noise,
// sidetone, TELR 65 dB, WEPL 110 dB, A = 0), which leaves Ro - Is = 93.35; Id comes from
// the one-way delay, with the echo paths taken as long as it (T = Ta, Tr = 2Ta); and Ie,eff
// from the codec and the random packet loss.
//
// G.722 is rated on the wideband scale of ITU-T G.107.1 (Ro = 129) and the result divided
// by 1.29 (G.107.1's R_X), so that one MOS mapping serves both codecs.
const (
	roMinusIs = 93.35 // G.107 defaults
	roWide    = 129.0 // G.107.1
	wideScale = 1.29  // G.107.1 R to the narrowband scale
	// Echo defaults of G.107 table 2.
	telr, wepl = 65.0, 110.0
	// roDefault is Ro = 15 - 1.5(SLR + No) with the defaults, for Idle; Roe = -1.5(No - RLR)
	// of Idte comes to the same.
	roDefault = 94.77
)

// codecImpairment is a codec's equipment impairment factor Ie and packet-loss robustness
// factor Bpl (ITU-T G.113 Appendix I), and the scale they are on.
type codecImpairment struct {
	ie, bpl  float64
	wideband bool
}

// impairmentOf returns the impairment factors of the codec named as SDP names it.
//
// G.711 is rated with the concealment of G.711 Appendix I, which ours follows: Ie = 0,
// Bpl = 25.1. G.722 at 64 kbit/s has Ie,wb = 13 (G.113 Appendix IV). G.113 gives its Bpl only
// for the concealment of G.722 Appendix III or IV, which we do not implement; as our
// concealment is the same waveform repetition for both codecs, G.722 takes G.711's Bpl.
// Any other codec is rated as G.711.
func impairmentOf(name string) codecImpairment {
	if strings.EqualFold(name, "G722") {
		return codecImpairment{ie: 13, bpl: 25.1, wideband: true}
	}
	return codecImpairment{ie: 0, bpl: 25.1}
}

// EModelR returns the E-model transmission rating R of a call with the named codec
// ("PCMU", "PCMA" or "G722"), a mean one-way mouth-to-ear delay of oneWay, and lossPercent
// percent of packets lost at random: 93.2 for G.711 with no delay or loss, falling with
// both. For G.722 it is the wideband rating of G.107.1 divided by 1.29 (G.107.1's R_X), on
// the same scale. MOSFromR turns it into a mean opinion score.
func EModelR(codec string, oneWay time.Duration, lossPercent float64) float64 {
	return impairmentOf(codec).rating(oneWay, lossPercent)
}

func (c codecImpairment) rating(oneWay time.Duration, lossPercent float64) float64 {
	ppl := max(0, min(100, lossPercent))
	id := delayImpairment(max(0, oneWay.Seconds()*1000))
	if c.wideband {
		ieEff := c.ie + (roWide-c.ie)*ppl/(ppl+c.bpl)
		return (roWide-ieEff)/wideScale - id
	}
	ieEff := c.ie + (95-c.ie)*ppl/(ppl+c.bpl)
	return roMinusIs - id - ieEff
}

// delayImpairment returns Id = Idte + Idle + Idd of G.107 section 3.5 for a one-way delay
// of ta milliseconds, with the echo paths' delays T = ta and Tr = 2ta.
func delayImpairment(ta float64) float64 {
	t, tr := ta, 2*ta
	// Talker echo.
	terv := telr - 40*math.Log10((1+t/10)/(1+t/150)) + 6*math.Exp(-0.3*t*t)
	re := 80 + 2.5*(terv-14)
	idte := ((roDefault-re)/2 + math.Sqrt((roDefault-re)*(roDefault-re)/4+100) - 1) * (1 - math.Exp(-t))
	// Listener echo.
	rle := 10.5 * (wepl + 7) * math.Pow(tr+1, -0.25)
	idle := (roDefault-rle)/2 + math.Sqrt((roDefault-rle)*(roDefault-rle)/4+169)
	// Absolute delay.
	var idd float64
	if ta > 100 {
		x := math.Log2(ta / 100)
		idd = 25 * (math.Pow(1+math.Pow(x, 6), 1.0/6) - 3*math.Pow(1+math.Pow(x/3, 6), 1.0/6) + 2)
	}
	return idte + idle + idd
}

// MOSFromR returns the mean opinion score (conversational quality, 1 to 4.5) that G.107
// Annex B predicts for a rating R.
func MOSFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}
