//go:build cgo

// Package opus is a minimal binding of libopus (RFC 6716) for RTP audio (RFC 7587): a
// mono voice encoder with in-band forward error correction, and a decoder that conceals
// a lost packet from the next one's redundancy or by libopus's own loss concealment.
//
// Encode and Decode pass Go memory straight to libopus: they never allocate. An Encoder
// or Decoder codes one stream and is not safe for concurrent use; Close frees its
// libopus state (a finalizer frees it too, for one that was dropped).
package opus

/*
#cgo pkg-config: opus
#include <opus.h>

// The ctls are variadic macros, which cgo cannot call: one function each.
static int pl_set_bitrate(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_BITRATE(v)); }
static int pl_set_inband_fec(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(v)); }
static int pl_set_packet_loss(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(v)); }
static int pl_set_signal_voice(OpusEncoder *e) { return opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)); }
static int pl_get_bitrate(OpusEncoder *e, opus_int32 *v) { return opus_encoder_ctl(e, OPUS_GET_BITRATE(v)); }
static int pl_get_inband_fec(OpusEncoder *e, opus_int32 *v) { return opus_encoder_ctl(e, OPUS_GET_INBAND_FEC(v)); }
static int pl_get_packet_loss(OpusEncoder *e, opus_int32 *v) { return opus_encoder_ctl(e, OPUS_GET_PACKET_LOSS_PERC(v)); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Available reports whether this build has libopus (it needs cgo).
const Available = true

// Error is an error code of libopus, such as OPUS_BAD_ARG (-1).
type Error int

func (e Error) Error() string { return "libopus: " + C.GoString(C.opus_strerror(C.int(e))) }

// check turns a libopus return code into an error: nil for OPUS_OK or any count.
func check(op string, code C.int) error {
	if code < 0 {
		return fmt.Errorf("%s: %w", op, Error(code))
	}
	return nil
}

// errClosed is what an Encoder or Decoder returns after Close.
var errClosed = errors.New("closed")

// MaxFrameSamples is the number of samples per channel of the longest Opus frame, 120 ms,
// at rate Hz.
func MaxFrameSamples(rate int) int { return rate * 120 / 1000 }

// EncoderConfig is what NewEncoder sets up.
type EncoderConfig struct {
	// SampleRate is the rate in Hz of the PCM Encode takes: 8000, 12000, 16000, 24000 or
	// 48000.
	SampleRate int
	// Bitrate in bit/s, 500 to 512000; 0 leaves libopus's choice for the rate.
	Bitrate int
	// FEC turns in-band forward error correction on: each packet also carries a coarse copy
	// of the one before, which the far end's decoder uses when that one is lost
	// (RFC 6716 section 2.1.7). It takes effect only with PacketLossPercent above 0.
	FEC bool
	// PacketLossPercent is the loss (0 to 100) the encoder expects and protects against.
	PacketLossPercent int
}

// An Encoder encodes mono 16-bit PCM into Opus packets, tuned for voice
// (OPUS_APPLICATION_VOIP).
type Encoder struct {
	st   *C.OpusEncoder
	rate int
}

// NewEncoder returns an encoder set up as cfg says.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	var code C.int
	st := C.opus_encoder_create(C.opus_int32(cfg.SampleRate), 1, C.OPUS_APPLICATION_VOIP, &code)
	if err := check("create Opus encoder", code); err != nil {
		return nil, fmt.Errorf("%w (sample rate %d Hz)", err, cfg.SampleRate)
	}
	e := &Encoder{st: st, rate: cfg.SampleRate}
	runtime.SetFinalizer(e, (*Encoder).Close)
	fec := C.opus_int32(0)
	if cfg.FEC {
		fec = 1
	}
	err := check("set the signal to voice", C.pl_set_signal_voice(st))
	if err == nil {
		err = check(fmt.Sprintf("set in-band FEC %v", cfg.FEC), C.pl_set_inband_fec(st, fec))
	}
	if err == nil {
		err = check(fmt.Sprintf("set the expected packet loss to %d%%", cfg.PacketLossPercent),
			C.pl_set_packet_loss(st, C.opus_int32(cfg.PacketLossPercent)))
	}
	if err == nil && cfg.Bitrate != 0 {
		err = check(fmt.Sprintf("set the bitrate to %d bit/s", cfg.Bitrate), C.pl_set_bitrate(st, C.opus_int32(cfg.Bitrate)))
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("new Opus encoder: %w", err)
	}
	return e, nil
}

// SampleRate returns the rate in Hz of the PCM Encode takes.
func (e *Encoder) SampleRate() int { return e.rate }

// Bitrate returns the bitrate in force, in bit/s.
func (e *Encoder) Bitrate() (int, error) {
	var v C.opus_int32
	if e.st == nil {
		return 0, fmt.Errorf("get Opus bitrate: %w", errClosed)
	}
	return int(v), check("get Opus bitrate", C.pl_get_bitrate(e.st, &v))
}

// FEC reports whether in-band FEC is on.
func (e *Encoder) FEC() (bool, error) {
	var v C.opus_int32
	if e.st == nil {
		return false, fmt.Errorf("get Opus in-band FEC: %w", errClosed)
	}
	return v != 0, check("get Opus in-band FEC", C.pl_get_inband_fec(e.st, &v))
}

// PacketLossPercent returns the packet loss the encoder protects against.
func (e *Encoder) PacketLossPercent() (int, error) {
	var v C.opus_int32
	if e.st == nil {
		return 0, fmt.Errorf("get Opus packet loss: %w", errClosed)
	}
	return int(v), check("get Opus packet loss", C.pl_get_packet_loss(e.st, &v))
}

// SetPacketLossPercent changes the loss the encoder protects against, as the far end's
// reports tell it; it never allocates.
func (e *Encoder) SetPacketLossPercent(pct int) error {
	if e.st == nil {
		return errClosed
	}
	if code := C.pl_set_packet_loss(e.st, C.opus_int32(pct)); code < 0 {
		return Error(code)
	}
	return nil
}

// Encode encodes pcm, one frame of 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms, into dst
// and returns the packet's length. It does not allocate, unless it fails.
func (e *Encoder) Encode(dst []byte, pcm []int16) (int, error) {
	if e.st == nil {
		return 0, fmt.Errorf("encode Opus: %w", errClosed)
	}
	if len(pcm) == 0 || len(dst) == 0 {
		return 0, fmt.Errorf("encode Opus: %d samples into %d bytes", len(pcm), len(dst))
	}
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uchar)(unsafe.Pointer(&dst[0])), C.opus_int32(len(dst)))
	if n < 0 {
		return 0, fmt.Errorf("encode %d samples as Opus: %w", len(pcm), Error(n))
	}
	return int(n), nil
}

// Close frees the encoder's libopus state; it may be called more than once.
func (e *Encoder) Close() error {
	if e.st != nil {
		C.opus_encoder_destroy(e.st)
		e.st = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

// A Decoder decodes Opus packets into mono 16-bit PCM.
type Decoder struct {
	st   *C.OpusDecoder
	rate int
}

// NewDecoder returns a decoder whose PCM is at rate Hz: 8000, 12000, 16000, 24000 or
// 48000.
func NewDecoder(rate int) (*Decoder, error) {
	var code C.int
	st := C.opus_decoder_create(C.opus_int32(rate), 1, &code)
	if err := check("create Opus decoder", code); err != nil {
		return nil, fmt.Errorf("%w (sample rate %d Hz)", err, rate)
	}
	d := &Decoder{st: st, rate: rate}
	runtime.SetFinalizer(d, (*Decoder).Close)
	return d, nil
}

// SampleRate returns the rate in Hz of the PCM Decode gives.
func (d *Decoder) SampleRate() int { return d.rate }

// Decode decodes packet into pcm and returns the number of samples written. A nil or
// empty packet conceals a lost one: pcm's length, a whole number of 2.5 ms, says how much.
// With fec, packet is the one after a lost packet, and what is decoded is the lost one,
// from the copy packet carries (or, without one, concealment); decode packet itself
// next. It does not allocate, unless it fails.
func (d *Decoder) Decode(pcm []int16, packet []byte, fec bool) (int, error) {
	if d.st == nil {
		return 0, fmt.Errorf("decode Opus: %w", errClosed)
	}
	if len(pcm) == 0 {
		return 0, errors.New("decode Opus: no room for samples")
	}
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	f := C.int(0)
	if fec {
		f = 1
	}
	n := C.opus_decode(d.st, data, C.opus_int32(len(packet)), (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), f)
	if n < 0 {
		return 0, fmt.Errorf("decode %d bytes of Opus: %w", len(packet), Error(n))
	}
	return int(n), nil
}

// Close frees the decoder's libopus state; it may be called more than once.
func (d *Decoder) Close() error {
	if d.st != nil {
		C.opus_decoder_destroy(d.st)
		d.st = nil
		runtime.SetFinalizer(d, nil)
	}
	return nil
}
