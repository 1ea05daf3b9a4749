package media

import (
	"strings"

	"github.com/zaf/g711"
)

// A Codec turns 16-bit PCM at its sample rate into RTP payload and back. Encode and Decode
// never allocate; Session calls them once per packet. A codec with state, such as G722,
// codes one stream in each direction: use one per Session.
type Codec interface {
	// Name returns the encoding name as SDP's rtpmap spells it, such as "PCMU".
	Name() string
	// ClockRate returns the sample rate in Hz of the PCM that Encode takes and Decode
	// gives: 8000 for G.711, 16000 for G.722, 48000 for Opus.
	ClockRate() int
	// RTPClockRate returns the rate in Hz at which RTP timestamps count, the rate of SDP's
	// rtpmap. It equals ClockRate except for G.722, whose RTP clock runs at 8000 Hz
	// (RFC 3551 section 4.5.2). Opus's runs at 48000 Hz (RFC 7587 section 4.1).
	RTPClockRate() int
	// PayloadType returns the static RTP payload type of RFC 3551 section 6, or for Opus,
	// which has none, the dynamic one we offer it on (OpusPayloadType).
	PayloadType() uint8
	// Encode encodes as many samples of pcm as dst has room for and returns the number of
	// bytes written to dst.
	Encode(dst []byte, pcm []int16) int
	// Decode decodes as much of payload as dst has room for and returns the number of
	// samples written to dst.
	Decode(dst []int16, payload []byte) int
}

// G.711 (ITU-T G.711; RFC 3551 section 4.5.14): one byte per sample at 8 kHz.
type (
	pcmu struct{}
	pcma struct{}
)

// CodecByName returns the Codec for an SDP encoding name, "PCMU" (G.711 µ-law), "PCMA"
// (G.711 A-law), "G722" (G.722 at 64 kbit/s) or "opus" (Opus, RFC 7587), in any case. It
// reports false for any other name, and for Opus in a build without libopus (no cgo).
// Each call returns a codec of its own, in its reset state.
func CodecByName(name string) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return pcmu{}, true
	case strings.EqualFold(name, "PCMA"):
		return pcma{}, true
	case strings.EqualFold(name, "G722"):
		return NewG722(), true
	case isOpus(name):
		return newOpus()
	}
	return nil, false
}

func (pcmu) Name() string       { return "PCMU" }
func (pcmu) ClockRate() int     { return 8000 }
func (pcmu) RTPClockRate() int  { return 8000 }
func (pcmu) PayloadType() uint8 { return 0 }

func (pcmu) Encode(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	for i, s := range pcm[:n] {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return n
}

func (pcmu) Decode(dst []int16, payload []byte) int {
	n := min(len(dst), len(payload))
	for i, b := range payload[:n] {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return n
}

func (pcma) Name() string       { return "PCMA" }
func (pcma) ClockRate() int     { return 8000 }
func (pcma) RTPClockRate() int  { return 8000 }
func (pcma) PayloadType() uint8 { return 8 }

func (pcma) Encode(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	for i, s := range pcm[:n] {
		dst[i] = g711.EncodeAlawFrame(s)
	}
	return n
}

func (pcma) Decode(dst []int16, payload []byte) int {
	n := min(len(dst), len(payload))
	for i, b := range payload[:n] {
		dst[i] = g711.DecodeAlawFrame(b)
	}
	return n
}
