package media

// G.722 at 64 kbit/s (ITU-T G.722, mode 1): sub-band ADPCM. A pair of quadrature mirror
// filters splits 16 kHz audio into a lower and a higher band at 8 kHz each; the lower band
// is coded with 6 bits per sample and the higher band with 2, so each pair of input samples
// becomes one octet, the higher band's bits on top (G.722 section 1.4; RFC 3551 section
// 4.5.2). The arithmetic below is the fixed-point arithmetic of G.722 sections 5 and 6,
// block by block, with the block names of the Recommendation in the comments: 16-bit words
// that saturate where the Recommendation limits them, and arithmetic right shifts.
//
// Input and output are 16-bit PCM. The Recommendation's QMF takes 14-bit samples; with
// 16-bit samples its outputs are scaled so that each band signal is a 15-bit word, which is
// what the ADPCM blocks are specified for.

// g722QMF holds the 24 QMF coefficients h0..h23 of G.722 table 11, scaled by 2^13.
var g722QMF = [24]int32{
	3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876,
	3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3,
}

// Lower sub-band quantizer (QUANTL, G.722 table 14): decision levels, the codes for
// intervals 1..30 of a positive and of a negative difference, and the reconstruction levels
// of the 6-bit and 4-bit inverse quantizers (tables 15 and 16), all before scaling.
var (
	g722Q6 = [30]int32{
		0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650,
		714, 786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
	}
	g722ILP = [31]uint8{
		0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
		46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
	}
	g722ILN = [31]uint8{
		0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
		18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	}
	// g722QM6 maps a 6-bit code to its reconstruction level; codes 0 to 3 are never sent
	// and decode as the smallest negative level.
	g722QM6 = [64]int32{
		-17, -17, -17, -17, -3101, -2738, -2376, -2088, -1873, -1689, -1535, -1399, -1279, -1170, -1072, -982,
		-899, -822, -750, -682, -618, -558, -501, -447, -396, -347, -300, -254, -211, -170, -130, -91,
		3101, 2738, 2376, 2088, 1873, 1689, 1535, 1399, 1279, 1170, 1072, 982, 899, 822, 750, 682,
		618, 558, 501, 447, 396, 347, 300, 254, 211, 170, 130, 91, 54, 17, -54, -17,
	}
	// g722QM4 maps the 4 most significant bits of a 6-bit code to the level of the 4-bit
	// quantizer that feeds the predictor and scale adaptation in every mode.
	g722QM4 = [16]int32{
		0, -2557, -1612, -1121, -786, -530, -323, -150,
		2557, 1612, 1121, 786, 530, 323, 150, 0,
	}
	// g722WL is the lower band's logarithmic scale factor multiplier (LOGSCL, table 17),
	// indexed through g722RL42 by the 4-bit code.
	g722WL   = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
	g722RL42 = [16]uint8{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	// g722ILB is 2048 * 2^(i/32), rounded: the mantissa table of SCALEL and SCALEH
	// (table 18).
	g722ILB = [32]int32{
		2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
		2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
	}
)

// Higher sub-band quantizer (QUANTH, INVQAH, LOGSCH; tables 19 to 21).
var (
	g722QM2 = [4]int32{-926, -202, 926, 202}
	g722WH  = [3]int32{0, -214, 798}
	g722RH2 = [4]uint8{2, 1, 2, 1}
)

const (
	// g722Q2 is the higher band's single decision level, before scaling.
	g722Q2 = 564
	// Limits of the logarithmic scale factors NBL and NBH, and the log offset (in 1/2048
	// octaves) that SCALEL and SCALEH subtract to reach a linear step size.
	g722MaxNBL, g722ShiftL = 18432, 8
	g722MaxNBH, g722ShiftH = 22528, 10
	// Reset values of the linear scale factors DETL and DETH (G.722 section 6.3).
	g722ResetDETL, g722ResetDETH = 32, 8
)

// sat16 saturates v to a 16-bit word, as the Recommendation limits its additions.
func sat16(v int32) int32 { return max(-32768, min(32767, v)) }

// g722Band is one sub-band's ADPCM state: the adaptive predictor of block 4 and the
// quantizer scale factor.
type g722Band struct {
	s, sz int32    // SL (or SH) and SZL: the signal estimate and its zero section
	det   int32    // DETL or DETH: the linear quantizer scale factor
	nb    int32    // NBL or NBH: the logarithmic scale factor
	a     [3]int32 // pole section coefficients AL1, AL2 (a[0] unused), Q14
	b     [7]int32 // zero section coefficients BL1..BL6 (b[0] unused), Q14
	d     [7]int32 // quantized differences: d[0] this sample, d[i] DLTi
	r     [3]int32 // reconstructed signal: r[0] this sample, r[i] RLTi
	p     [3]int32 // partially reconstructed signal: p[0] this sample, p[i] PLTi
	maxNB int32
	shift int32
}

func (b *g722Band) reset(det, maxNB, shift int32) {
	*b = g722Band{det: det, maxNB: maxNB, shift: shift}
}

// adapt runs block 4 for the quantized difference d (DLT or DH) and leaves the signal
// estimate of the next sample in b.s.
func (b *g722Band) adapt(d int32) {
	// PARREC and RECONS.
	b.d[0] = d
	b.p[0] = sat16(d + b.sz)
	b.r[0] = sat16(b.s + d)

	// UPPOL2: the second pole coefficient, with f(AL1) = 4*AL1 limited.
	sg0, sg1, sg2 := b.p[0]>>15, b.p[1]>>15, b.p[2]>>15
	wd1 := sat16(b.a[1] << 2)
	wd2 := wd1
	if sg0 == sg1 {
		wd2 = sat16(-wd1)
	}
	wd2 >>= 7
	wd3 := int32(-128)
	if sg0 == sg2 {
		wd3 = 128
	}
	apl2 := wd2 + wd3 + (b.a[2]*32512)>>15
	apl2 = max(-12288, min(12288, apl2))

	// UPPOL1: the first pole coefficient, bounded so the pole section stays stable.
	wd1 = -192
	if sg0 == sg1 {
		wd1 = 192
	}
	apl1 := wd1 + (b.a[1]*32640)>>15
	lim := 15360 - apl2
	apl1 = max(-lim, min(lim, apl1))

	// UPZERO: sign-sign update of the zero section, with leakage.
	step := int32(0)
	if d != 0 {
		step = 128
	}
	sgd := d >> 15
	for i := 1; i <= 6; i++ {
		w := -step
		if b.d[i]>>15 == sgd {
			w = step
		}
		b.b[i] = w + (b.b[i]*32640)>>15
	}

	// DELAYA.
	b.d[6], b.d[5], b.d[4], b.d[3], b.d[2], b.d[1] = b.d[5], b.d[4], b.d[3], b.d[2], b.d[1], b.d[0]
	b.r[2], b.r[1] = b.r[1], b.r[0]
	b.p[2], b.p[1] = b.p[1], b.p[0]
	b.a[1], b.a[2] = apl1, apl2

	// FILTEP, FILTEZ and PREDIC.
	sp := sat16((b.a[1]*sat16(b.r[1]+b.r[1]))>>15 + (b.a[2]*sat16(b.r[2]+b.r[2]))>>15)
	var sz int32
	for i := 1; i <= 6; i++ {
		sz = sat16(sz + (b.b[i]*(b.d[i]+b.d[i]))>>15)
	}
	b.sz = sz
	b.s = sat16(sp + sz)
}

// scale adapts the scale factor for the next sample from wd, the log multiplier of this
// sample's code (LOGSCL/SCALEL or LOGSCH/SCALEH, and DELAYA).
func (b *g722Band) scale(wd int32) {
	nb := (b.nb*32512)>>15 + wd
	b.nb = max(0, min(b.maxNB, nb))
	mant := g722ILB[(b.nb>>6)&31]
	shift := b.shift - b.nb>>11
	if shift >= 0 {
		mant >>= shift
	} else {
		mant <<= -shift
	}
	b.det = mant << 2
}

// A G722 encodes and decodes G.722 at 64 kbit/s. Its encoder and decoder each keep state
// from one call to the next, so a G722 codes one stream in each direction: Encode may be
// called concurrently with Decode, but neither concurrently with itself. CodecByName
// returns a new G722 each time.
//
// Its ClockRate is the sample rate, 16000 Hz, but its RTP timestamps count at 8000 Hz, as
// SDP's "G722/8000" says: RFC 3551 section 4.5.2 keeps the clock rate G.722 was first
// registered with. RTPClockRate reports that, and a Session advances the timestamp by 160
// for each 20 ms packet of 320 samples.
type G722 struct {
	enc g722Encoder
	dec g722Decoder
}

// NewG722 returns a G.722 codec with its encoder and decoder in their reset state.
func NewG722() *G722 {
	g := &G722{}
	g.enc.reset()
	g.dec.reset()
	return g
}

// Name returns "G722".
func (*G722) Name() string { return "G722" }

// ClockRate returns 16000, the sample rate of the audio Encode takes and Decode gives.
func (*G722) ClockRate() int { return 16000 }

// RTPClockRate returns 8000, the rate of G.722's RTP timestamps (RFC 3551 section 4.5.2).
func (*G722) RTPClockRate() int { return 8000 }

// PayloadType returns 9, G.722's static payload type.
func (*G722) PayloadType() uint8 { return 9 }

// Encode encodes pairs of samples of pcm, one octet per pair, as many as dst has room for,
// and returns the number of octets written. An odd last sample is not encoded.
func (g *G722) Encode(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm)/2)
	for i := range n {
		dst[i] = g.enc.encode(int32(pcm[2*i]), int32(pcm[2*i+1]))
	}
	return n
}

// Decode decodes each octet of payload into two samples, as many as dst has room for, and
// returns the number of samples written.
func (g *G722) Decode(dst []int16, payload []byte) int {
	n := min(len(payload), len(dst)/2)
	for i, c := range payload[:n] {
		dst[2*i], dst[2*i+1] = g.dec.decode(c)
	}
	return 2 * n
}

// g722Encoder is the state of the G.722 encoder: the transmit QMF's input history and the
// two bands' ADPCM.
type g722Encoder struct {
	x         [24]int32 // input history, newest first
	low, high g722Band
}

func (e *g722Encoder) reset() {
	e.x = [24]int32{}
	e.low.reset(g722ResetDETL, g722MaxNBL, g722ShiftL)
	e.high.reset(g722ResetDETH, g722MaxNBH, g722ShiftH)
}

// encode codes the input samples x0 and then x1 into one octet.
func (e *g722Encoder) encode(x0, x1 int32) byte {
	// Transmit QMF (section 3.1): xA sums the even coefficients over the newest sample and
	// every second one before it, xB the odd ones over the others.
	copy(e.x[2:], e.x[:22])
	e.x[1], e.x[0] = x0, x1
	var xa, xb int32
	for i := 0; i < 24; i += 2 {
		xa += g722QMF[i] * e.x[i]
		xb += g722QMF[i+1] * e.x[i+1]
	}
	xl := sat16((xa + xb) >> 14)
	xh := sat16((xa - xb) >> 14)

	il := e.encodeLow(xl)
	ih := e.encodeHigh(xh)
	return byte(ih<<6 | il)
}

// encodeLow codes one lower sub-band sample (blocks 1L to 4L) and returns its 6-bit code.
func (e *g722Encoder) encodeLow(xl int32) int32 {
	b := &e.low
	// SUBTRA and QUANTL: the magnitude is the ones' complement of a negative difference.
	el := sat16(xl - b.s)
	wd := el
	if el < 0 {
		wd = -el - 1
	}
	// Interval m lies between decision levels m-1 and m; interval 30 is open above.
	m := 1
	for m < 30 && wd >= (g722Q6[m]*b.det)>>12 {
		m++
	}
	var il int32
	if el < 0 {
		il = int32(g722ILN[m])
	} else {
		il = int32(g722ILP[m])
	}
	// INVQAL, LOGSCL, SCALEL and the predictor.
	ril := il >> 2
	dlt := (b.det * g722QM4[ril]) >> 12
	b.scale(g722WL[g722RL42[ril]])
	b.adapt(dlt)
	return il
}

// encodeHigh codes one higher sub-band sample (blocks 1H to 4H) and returns its 2-bit code.
func (e *g722Encoder) encodeHigh(xh int32) int32 {
	b := &e.high
	// SUBTRA and QUANTH.
	eh := sat16(xh - b.s)
	wd := eh
	if eh < 0 {
		wd = -eh - 1
	}
	large := wd >= (g722Q2*b.det)>>12
	var ih int32
	switch {
	case eh < 0 && large:
		ih = 0
	case eh < 0:
		ih = 1
	case large:
		ih = 2
	default:
		ih = 3
	}
	// INVQAH, LOGSCH, SCALEH and the predictor.
	dh := (b.det * g722QM2[ih]) >> 12
	b.scale(g722WH[g722RH2[ih]])
	b.adapt(dh)
	return ih
}

// g722Decoder is the state of the G.722 decoder: the two bands' ADPCM and the receive
// QMF's history of the band sum and difference signals.
type g722Decoder struct {
	low, high g722Band
	xd, xs    [12]int32 // RL-RH and RL+RH, newest first
}

func (d *g722Decoder) reset() {
	d.low.reset(g722ResetDETL, g722MaxNBL, g722ShiftL)
	d.high.reset(g722ResetDETH, g722MaxNBH, g722ShiftH)
	d.xd, d.xs = [12]int32{}, [12]int32{}
}

// decode decodes one octet into two output samples, the earlier first.
func (d *g722Decoder) decode(c byte) (int16, int16) {
	ilr := int32(c & 0x3f)
	ih := int32(c >> 6)

	// Lower band: INVQBL (6-bit, mode 1) for the output, INVQAL (4-bit) for adaptation.
	b := &d.low
	dl := (b.det * g722QM6[ilr]) >> 12
	rl := max(-16384, min(16383, b.s+dl))
	ril := ilr >> 2
	dlt := (b.det * g722QM4[ril]) >> 12
	b.scale(g722WL[g722RL42[ril]])
	b.adapt(dlt)

	// Higher band: INVQAH.
	h := &d.high
	dh := (h.det * g722QM2[ih]) >> 12
	rh := max(-16384, min(16383, h.s+dh))
	h.scale(g722WH[g722RH2[ih]])
	h.adapt(dh)

	// Receive QMF (section 4.4): the difference feeds the even coefficients and the
	// earlier output sample, the sum the odd ones and the later sample.
	copy(d.xd[1:], d.xd[:11])
	copy(d.xs[1:], d.xs[:11])
	d.xd[0] = sat16(rl - rh)
	d.xs[0] = sat16(rl + rh)
	var o1, o2 int32
	for i := range 12 {
		o1 += g722QMF[2*i] * d.xd[i]
		o2 += g722QMF[2*i+1] * d.xs[i]
	}
	return int16(sat16(o1 >> 11)), int16(sat16(o2 >> 11))
}
