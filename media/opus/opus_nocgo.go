//go:build !cgo

package opus

import "errors"

// Available reports whether this build has libopus (it needs cgo).
const Available = false

// errNoCgo is what every constructor returns in a build without cgo.
var errNoCgo = errors.New("no Opus: libopus needs cgo, and this build has none")

// EncoderConfig is what NewEncoder sets up.
type EncoderConfig struct {
	SampleRate, Bitrate, PacketLossPercent int
	FEC                                    bool
}

// An Encoder encodes PCM into Opus packets; without cgo there is none.
type Encoder struct{}

// NewEncoder fails without cgo.
func NewEncoder(EncoderConfig) (*Encoder, error) { return nil, errNoCgo }

// SampleRate returns 0.
func (*Encoder) SampleRate() int { return 0 }

// Bitrate fails without cgo.
func (*Encoder) Bitrate() (int, error) { return 0, errNoCgo }

// FEC fails without cgo.
func (*Encoder) FEC() (bool, error) { return false, errNoCgo }

// PacketLossPercent fails without cgo.
func (*Encoder) PacketLossPercent() (int, error) { return 0, errNoCgo }

// SetPacketLossPercent fails without cgo.
func (*Encoder) SetPacketLossPercent(int) error { return errNoCgo }

// Encode fails without cgo.
func (*Encoder) Encode([]byte, []int16) (int, error) { return 0, errNoCgo }

// Close does nothing.
func (*Encoder) Close() error { return nil }

// A Decoder decodes Opus packets; without cgo there is none.
type Decoder struct{}

// NewDecoder fails without cgo.
func NewDecoder(int) (*Decoder, error) { return nil, errNoCgo }

// SampleRate returns 0.
func (*Decoder) SampleRate() int { return 0 }

// Decode fails without cgo.
func (*Decoder) Decode([]int16, []byte, bool) (int, error) { return 0, errNoCgo }

// Close does nothing.
func (*Decoder) Close() error { return nil }

// MaxFrameSamples is the number of samples per channel of the longest Opus frame, 120 ms,
// at rate Hz.
func MaxFrameSamples(rate int) int { return rate * 120 / 1000 }
