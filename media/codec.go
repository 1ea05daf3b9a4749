package media

import (
	"strings"

	"github.com/zaf/g711"
)

// A Codec turns 16-bit PCM at its clock rate into RTP payload and back. Encode and Decode
// never allocate; Session calls them once per packet.
type Codec interface {
	// Name returns the encoding name as SDP's rtpmap spells it, such as "PCMU".
	Name() string
	// ClockRate returns the RTP clock rate in Hz, which for G.711 is also the sample rate.
	ClockRate() int
	// PayloadType returns the static RTP payload type of RFC 3551 section 6.
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

// CodecByName returns the Codec for an SDP encoding name, "PCMU" (G.711 µ-law) or "PCMA"
// (G.711 A-law), in any case. It reports false for any other name.
func CodecByName(name string) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return pcmu{}, true
	case strings.EqualFold(name, "PCMA"):
		return pcma{}, true
	}
	return nil, false
}

func (pcmu) Name() string       { return "PCMU" }
func (pcmu) ClockRate() int     { return 8000 }
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
