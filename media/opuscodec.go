package media

import (
	"math"
	"strings"
	"sync/atomic"

	"partyline/media/opus"
)

// Opus (RFC 6716) for RTP (RFC 7587): mono voice at 48 kHz, whose RTP clock runs at 48000 Hz
// whatever the audio's bandwidth, with in-band forward error correction, so that the far
// end can rebuild a lost packet from the next.
const (
	// OpusPayloadType is the dynamic payload type partyline offers Opus on; a peer may
	// name another, which the offer/answer settles.
	OpusPayloadType = 111
	// opusRate is the sample rate of the PCM, and the RTP clock rate.
	opusRate = 48000
	// opusBitrate is what the encoder spends, in bit/s: fullband voice with room for the
	// FEC copy.
	opusBitrate = 32000
	// opusLossPercent is the packet loss the encoder protects against with FEC at least;
	// libopus adds the FEC copy only when this is above 0. The far end's reports raise it
	// (ExpectLoss), up to opusMaxLossPercent.
	opusLossPercent, opusMaxLossPercent = 10, 50
)

// opusCodec is an Opus encoder and decoder, one stream each way. Its libopus state is
// freed when it is dropped.
type opusCodec struct {
	enc *opus.Encoder
	dec *opus.Decoder
	// loss is the packet loss the encoder protects against now, in percent; wantLoss
	// what ExpectLoss asked for since, -1 for nothing new. Encode applies it, so that the
	// encoder is touched by one goroutine only.
	loss     int
	wantLoss atomic.Int32
}

// newOpus returns an Opus codec in its reset state, or false without libopus.
func newOpus() (Codec, bool) {
	enc, err := opus.NewEncoder(opus.EncoderConfig{SampleRate: opusRate, Bitrate: opusBitrate, FEC: true, PacketLossPercent: opusLossPercent})
	if err != nil {
		return nil, false
	}
	dec, err := opus.NewDecoder(opusRate)
	if err != nil {
		enc.Close()
		return nil, false
	}
	c := &opusCodec{enc: enc, dec: dec, loss: opusLossPercent}
	c.wantLoss.Store(-1)
	return c, true
}

// isOpus reports whether name is Opus's encoding name, in any case.
func isOpus(name string) bool { return strings.EqualFold(name, "opus") }

func (*opusCodec) Name() string       { return "opus" }
func (*opusCodec) ClockRate() int     { return opusRate }
func (*opusCodec) RTPClockRate() int  { return opusRate }
func (*opusCodec) PayloadType() uint8 { return OpusPayloadType }

// Encode encodes pcm, one Opus frame (20 ms is 960 samples), into dst; 0 if it is none.
func (c *opusCodec) Encode(dst []byte, pcm []int16) int {
	if want := int(c.wantLoss.Swap(-1)); want >= 0 && want != c.loss {
		if c.enc.SetPacketLossPercent(want) == nil {
			c.loss = want
		}
	}
	n, err := c.enc.Encode(dst, pcm)
	if err != nil {
		return 0
	}
	return n
}

// Decode decodes an Opus packet into dst; 0, played as silence, if it is not one.
func (c *opusCodec) Decode(dst []int16, payload []byte) int {
	if len(payload) == 0 {
		return 0
	}
	n, err := c.dec.Decode(dst, payload, false)
	if err != nil {
		return 0
	}
	return n
}

// ExpectLoss tells the encoder the fraction (0 to 1) of its packets the far end lost
// lately, as its RTCP reports say: the FEC copy is tuned to protect against that much, and
// never less than opusLossPercent. Safe from any goroutine; the next Encode applies it.
func (c *opusCodec) ExpectLoss(fraction float64) {
	pct := int(math.Ceil(fraction * 100))
	c.wantLoss.Store(int32(max(opusLossPercent, min(opusMaxLossPercent, pct))))
}

// Conceal fills dst, the audio of a lost packet, from next, the packet after it, when that
// carries an FEC copy; by libopus's own concealment when next is nil or has none.
func (c *opusCodec) Conceal(dst []int16, next []byte) int {
	n, err := c.dec.Decode(dst, next, len(next) > 0)
	if err != nil {
		return 0
	}
	return n
}
