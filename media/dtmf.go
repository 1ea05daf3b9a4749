package media

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DTMF timing (RFC 4733): how long each digit sounds and the silence after it.
const (
	DefaultDigitDuration = 100 * time.Millisecond
	DefaultDigitGap      = 100 * time.Millisecond
	// dtmfEndPackets is how often the end of an event is sent: three times, so that a
	// lost packet does not leave the digit sounding (RFC 4733 section 2.5.1.4).
	dtmfEndPackets = 3
	// dtmfQueue bounds the digits waiting to be sent.
	dtmfQueue = 64
	// dtmfVolume is the power level of our events, -10 dBm0 (RFC 4733 section 2.3.4).
	dtmfVolume = 10
	// heardDigits bounds the digits kept from the far end.
	heardDigits = 64
)

// dtmfDigits are the events 0 to 15 of RFC 4733 section 3.2, in order.
const dtmfDigits = "0123456789*#ABCD"

// ErrNoTelephoneEvent is returned by SendDTMF when the call did not negotiate
// telephone-event: the digits must go another way (SIP INFO).
var ErrNoTelephoneEvent = errors.New("telephone-event was not negotiated")

// A dtmfSender turns queued digits into RFC 4733 event packets in place of audio packets.
// Only Send uses it; SendDTMF feeds it through the queue beside it.
type dtmfSender struct {
	active    bool
	event     byte
	start     uint32 // RTP timestamp of the event's first packet
	length    uint32 // the event's duration in RTP units
	sent      uint32 // duration so far
	ends      int    // end packets sent
	gapLeft   int    // audio packets still to send before the next digit
	gapLength int
}

type dtmfDigit struct {
	event          byte
	length, gapPkt uint32
}

// SendDTMF queues digits (0-9, *, #, A-D) to be sent as RFC 4733 telephone events, each
// sounding for duration and followed by gap of audio, in place of the audio packets that
// Send would otherwise send. It returns at once; the digits go out with the next packets.
// Zero durations mean the defaults.
func (s *Session) SendDTMF(digits string, duration, gap time.Duration) error {
	if s.dtmfPT.Load() == 0 {
		return fmt.Errorf("send DTMF %q: %w", digits, ErrNoTelephoneEvent)
	}
	if duration <= 0 {
		duration = DefaultDigitDuration
	}
	if gap <= 0 {
		gap = DefaultDigitGap
	}
	if duration > 5*time.Second || gap > 5*time.Second {
		return fmt.Errorf("send DTMF %q: digits of %v with gaps of %v are too long", digits, duration, gap)
	}
	events := make([]byte, 0, len(digits))
	for _, r := range strings.ToUpper(digits) {
		i := strings.IndexRune(dtmfDigits, r)
		if i < 0 {
			return fmt.Errorf("send DTMF %q: %q is not a DTMF digit", digits, r)
		}
		events = append(events, byte(i))
	}
	length := uint32(duration * time.Duration(s.active.Load().rtpRate) / time.Second)
	gapPkt := uint32((gap + s.ptime - 1) / s.ptime)
	for _, e := range events {
		select {
		case s.dtmfQueue <- dtmfDigit{event: e, length: length, gapPkt: gapPkt}:
		default:
			return fmt.Errorf("send DTMF %q: %d digits are waiting already", digits, dtmfQueue)
		}
	}
	return nil
}

// next says whether the packet due now is an event packet (taking the next digit from queue
// when none is sounding), and if so writes its payload to
// p (4 bytes) and returns the event's timestamp and whether it is the event's first packet.
// ts is the timestamp the packet would have as audio.
func (d *dtmfSender) next(queue <-chan dtmfDigit, p []byte, ts, step uint32) (eventTS uint32, first, ok bool) {
	if !d.active {
		if d.gapLeft > 0 {
			d.gapLeft--
			return 0, false, false
		}
		select {
		case dg := <-queue:
			*d = dtmfSender{active: true, event: dg.event, start: ts, length: dg.length, gapLength: int(dg.gapPkt)}
			first = true
		default:
			return 0, false, false
		}
	}
	end := false
	if d.sent < d.length {
		d.sent = min(d.sent+step, d.length)
	}
	if d.sent >= d.length {
		end = true
		d.ends++
	}
	p[0] = d.event
	p[1] = dtmfVolume
	if end {
		p[1] |= 0x80
	}
	p[2], p[3] = byte(d.sent>>8), byte(d.sent)
	eventTS = d.start
	if d.ends >= dtmfEndPackets {
		d.active = false
		d.gapLeft = d.gapLength
	}
	return eventTS, first, true
}

// drop ends the digit sounding, if any, and empties queue: telephone-event is no longer
// negotiated.
func (d *dtmfSender) drop(queue <-chan dtmfDigit) {
	*d = dtmfSender{}
	for range dtmfQueue {
		select {
		case <-queue:
		default:
			return
		}
	}
}

// A dtmfReceiver notes the digits the far end sends, once each: an event is identified by
// its timestamp, and counted when its first end packet arrives.
type dtmfReceiver struct {
	lastTS   uint32
	seen     bool
	digits   [heardDigits]byte
	n        int // digits kept, at most heardDigits
	received uint64
}

// event handles one telephone-event payload with the packet's timestamp.
func (d *dtmfReceiver) event(payload []byte, ts uint32) {
	if len(payload) < 4 || payload[0] >= byte(len(dtmfDigits)) || payload[1]&0x80 == 0 {
		return // not an end packet of a DTMF digit
	}
	if d.seen && ts == d.lastTS {
		return // a repeated end packet
	}
	d.seen, d.lastTS = true, ts
	d.received++
	if d.n == heardDigits {
		copy(d.digits[:], d.digits[1:])
		d.n--
	}
	d.digits[d.n] = dtmfDigits[payload[0]]
	d.n++
}

// HeardDigits returns the DTMF digits the far end sent as telephone events, oldest first
// (the last 64).
func (s *Session) HeardDigits() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.heard.digits[:s.heard.n])
}
