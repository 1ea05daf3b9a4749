package media

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// RelayMedia is what one side of a relay needs of its negotiated media.
type RelayMedia struct {
	Remote          netip.AddrPort // where its RTP goes, and the only address and port it is taken from
	Codec           string         // the codec's name, e.g. "PCMU", "PCMA", "G722" or "opus" (see CodecByName)
	PayloadType     uint8
	DTMFPayloadType uint8 // telephone-event's payload type, 0 if not negotiated
	Sends           bool  // whether the far end takes audio from us
	Receives        bool  // whether the far end sends us audio: its silence then counts
}

// A RelayLeg is one side of a relay: the RTP socket of a call and what its offer/answer
// settled, which SetMedia changes while the relay runs.
type RelayLeg struct {
	name string
	conn *net.UDPConn
	// fd, when not -1, is the duplicate of conn's socket the relays' clock reads and
	// sends from (relayclock.go); conn is closed then.
	fd    int
	media atomic.Pointer[RelayMedia]
	// lastRTP is when RTP last came from the far end, or when it last was not expected
	// (so that the wait starts afresh when it is again), in nanoseconds since the relay
	// started.
	lastRTP atomic.Int64
	// sendInfo sends a DTMF digit by SIP INFO, for when the leg negotiated no
	// telephone-event; nil drops such digits.
	sendInfo func(ctx context.Context, digit rune, duration time.Duration) error
	// tap, when not nil, is told of every datagram; local is conn's address, for it. Set
	// before the relay runs.
	tap   Tap
	local netip.AddrPort
}

// write sends b to dst from the leg's socket.
func (l *RelayLeg) write(b []byte, dst netip.AddrPort) error {
	if l.fd >= 0 {
		return sendto4(l.fd, b, dst)
	}
	_, err := l.conn.WriteToUDPAddrPort(b, dst)
	return err
}

// SetTap makes t see every datagram the leg's socket sends and receives; call it before
// the relay runs.
func (l *RelayLeg) SetTap(t Tap) {
	l.tap, l.local = t, localAddr(l.conn)
}

// NewRelayLeg returns the relay leg called name (for the log) on conn, whose media is m.
// sendInfo sends a DTMF digit by SIP INFO where the leg negotiated no telephone-event;
// nil drops such digits.
func NewRelayLeg(name string, conn *net.UDPConn, m RelayMedia, sendInfo func(ctx context.Context, digit rune, duration time.Duration) error) (*RelayLeg, error) {
	l := &RelayLeg{name: name, conn: conn, fd: -1, sendInfo: sendInfo}
	if err := l.SetMedia(m); err != nil {
		return nil, fmt.Errorf("%s leg: %w", name, err)
	}
	return l, nil
}

// SetMedia makes m the leg's media, as a re-INVITE changed it; safe while the relay runs.
// A codec the relay cannot take is refused with an error, and the old codec kept, but the
// address and direction still move.
func (l *RelayLeg) SetMedia(m RelayMedia) error {
	m.Remote = netip.AddrPortFrom(m.Remote.Addr().Unmap(), m.Remote.Port())
	m.Sends = m.Sends && m.Remote.IsValid()
	if _, ok := CodecByName(m.Codec); !ok {
		err := fmt.Errorf("codec %s is not supported", m.Codec)
		old := l.media.Load()
		if old == nil {
			return err
		}
		next := *old
		next.Remote, next.Sends, next.Receives = m.Remote, m.Sends, m.Receives
		l.media.Store(&next)
		return err
	}
	l.media.Store(&m)
	return nil
}

// A Relay carries RTP between two legs, each way on a goroutine of its own that reads
// one leg's socket and sends from the other's: audio packets as they come, without a
// jitter buffer (the far ends have theirs), re-sequenced under an SSRC of the relay's own
// per direction. The payload passes unchanged when both legs use the same codec and is
// converted (decode, resample, encode) when they do not. Telephone events (RFC 4733)
// pass with the payload type of the other leg, or become SIP INFO requests there when it
// negotiated none. RTCP is not relayed: each far end's reports stay with the relay.
type Relay struct {
	a, b    *RelayLeg
	log     *slog.Logger
	timeout time.Duration // see NewRelay
	epoch   time.Time
	// silent is closed, with silentLeg set before, when a leg's far end sent no RTP for
	// timeout while it should have.
	silent    chan struct{}
	silentLeg string
}

// NewRelay returns the relay between legs a and b, which logs to log. When a leg's far
// end sends no RTP for timeout while its media says it sends (not on hold), the relay
// says so on Silent; 0 means DefaultRTPTimeout, negative never.
func NewRelay(a, b *RelayLeg, timeout time.Duration, log *slog.Logger) *Relay {
	if timeout == 0 {
		timeout = DefaultRTPTimeout
	}
	return &Relay{a: a, b: b, log: log, timeout: timeout, epoch: time.Now(), silent: make(chan struct{})}
}

// Silent is closed when a leg's far end has sent no RTP for the relay's timeout while it
// should have; SilentLeg then names the leg.
func (r *Relay) Silent() <-chan struct{} { return r.silent }

// SilentLeg returns the name of the leg whose far end went silent, once Silent is closed.
func (r *Relay) SilentLeg() string { return r.silentLeg }

// Run relays until ctx ends, then closes both sockets. On Linux, IPv4 legs are relayed on
// the process's relay clock (relayclock.go), other legs each way on a goroutine that
// blocks reading.
func (r *Relay) Run(ctx context.Context) {
	for _, l := range []*RelayLeg{r.a, r.b} {
		l.lastRTP.Store(0)
	}
	if r.runClocked(ctx) {
		return
	}
	var wg sync.WaitGroup
	for _, l := range []*RelayLeg{r.a, r.b} {
		stop := context.AfterFunc(ctx, func() { _ = l.conn.SetReadDeadline(time.Now()) })
		defer stop()
	}
	for _, d := range []*direction{r.newDirection(r.a, r.b), r.newDirection(r.b, r.a)} {
		wg.Go(func() { sendDigits(ctx, d.to, d.digits, r.log) })
		wg.Go(func() {
			defer close(d.digits)
			d.forward(ctx)
		})
	}
	if r.timeout > 0 {
		wg.Go(func() { r.watch(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	r.a.conn.Close()
	r.b.conn.Close()
}

// watch closes silent once a leg that should send has sent nothing for the timeout,
// looking a few times a timeout.
func (r *Relay) watch(ctx context.Context) {
	tick := time.NewTicker(r.timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := int64(time.Since(r.epoch))
		for _, l := range []*RelayLeg{r.a, r.b} {
			last := l.lastRTP.Load()
			if !l.media.Load().Receives {
				l.lastRTP.Store(now) // not expected now: the wait starts when it is again
				continue
			}
			if time.Duration(now-last) >= r.timeout {
				r.silentLeg = l.name
				close(r.silent)
				return
			}
		}
	}
}

// maxDigitsQueued bounds the digits waiting to go out by SIP INFO.
const maxDigitsQueued = 16

// relayInfoTimeout bounds each SIP INFO that carries a relayed digit.
const relayInfoTimeout = 5 * time.Second

// A direction is what one way of a relay keeps between packets: from's packets go out of
// to's socket, re-sequenced under an SSRC of its own.
type direction struct {
	r        *Relay
	from, to *RelayLeg
	digits   chan relayedDigit // to sendDigits, for legs without telephone-event

	converted, sendBuf [maxRTP]byte
	pkt                rtp.Packet
	hdr                rtp.Header
	tsOffset           uint32
	// conv is made when the legs' codecs first differ: where they match, as they
	// mostly do, the payload passes and nothing more is kept.
	conv               *converter
	inSSRC, lastEvent  uint32
	inTS               uint32 // the timestamp of the last packet relayed, as it came
	started, haveEvent bool
}

func (r *Relay) newDirection(from, to *RelayLeg) *direction {
	return &direction{
		r: r, from: from, to: to,
		digits:   make(chan relayedDigit, maxDigitsQueued),
		hdr:      rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32())},
		tsOffset: rand.Uint32(),
	}
}

// forward relays what from receives to to until ctx ends or from's socket fails.
func (d *direction) forward(ctx context.Context) {
	var buf [maxRTP]byte
	for {
		n, src, err := d.from.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if ctx.Err() == nil {
				d.r.log.Warn("relay: receive RTP", "leg", d.from.name, "err", err)
			}
			return
		}
		d.handle(buf[:n], src)
	}
}

// handle relays datagram b, which came to from's socket from src.
func (d *direction) handle(b []byte, src netip.AddrPort) {
	from, to := d.from, d.to
	if from.tap != nil {
		from.tap.Datagram(false, from.local, src, b)
	}
	fm, tm := from.media.Load(), to.media.Load()
	if netip.AddrPortFrom(src.Addr().Unmap(), src.Port()) != fm.Remote || len(b) < 2 || (b[1] >= 192 && b[1] <= 223) {
		return // another sender's (symmetric RTP, RFC 4961), or RTCP (RFC 5761 section 4)
	}
	pkt, hdr := &d.pkt, &d.hdr
	if pkt.Unmarshal(b) != nil {
		return
	}
	from.lastRTP.Store(int64(time.Since(d.r.epoch)))
	var payload []byte
	switch {
	case pkt.PayloadType == fm.PayloadType:
		hdr.PayloadType = tm.PayloadType
		payload = pkt.Payload
		if fm.Codec != tm.Codec {
			if d.conv == nil {
				d.conv = new(converter)
			}
			payload = d.conv.convert(fm.Codec, tm.Codec, pkt.Payload, d.converted[:])
		}
	case fm.DTMFPayloadType != 0 && pkt.PayloadType == fm.DTMFPayloadType && len(pkt.Payload) >= 4:
		if tm.DTMFPayloadType == 0 {
			// The end of an event comes three times (RFC 4733 section 2.5.1.4).
			if pkt.Payload[1]&0x80 != 0 && (!d.haveEvent || pkt.Timestamp != d.lastEvent) {
				d.lastEvent, d.haveEvent = pkt.Timestamp, true
				queueDigit(d.digits, pkt.Payload)
			}
			return
		}
		hdr.PayloadType = tm.DTMFPayloadType
		payload = pkt.Payload
		if fr, tr := rtpClock(fm.Codec), rtpClock(tm.Codec); fr != tr {
			// telephone-event counts its duration at the RTP clock of its stream
			// (RFC 4733 section 2.3.5).
			payload = d.converted[:copy(d.converted[:], pkt.Payload)]
			dur := uint64(binary.BigEndian.Uint16(payload[2:4])) * uint64(tr) / uint64(fr)
			binary.BigEndian.PutUint16(payload[2:4], uint16(min(dur, 0xffff)))
		}
	default:
		return
	}
	if payload == nil || !tm.Sends {
		return
	}
	restart := !d.started || pkt.SSRC != d.inSSRC
	hdr.Marker = pkt.Marker || restart
	// The timestamps carry over, shifted, and scaled where the legs' RTP clocks
	// differ (G.711 and G.722 count at 8 kHz, RFC 3551 section 4.5.2; Opus at
	// 48 kHz, RFC 7587 section 4.1): each packet dated from the one before.
	switch delta := int64(int32(pkt.Timestamp - d.inTS)); {
	case !d.started:
		hdr.Timestamp = d.tsOffset
	case restart:
		hdr.Timestamp += uint32(rtpClock(tm.Codec) / 50) // a packet time on
	default:
		hdr.Timestamp += uint32(delta * int64(rtpClock(tm.Codec)) / int64(rtpClock(fm.Codec)))
	}
	d.started, d.inSSRC, d.inTS = true, pkt.SSRC, pkt.Timestamp
	m, err := hdr.MarshalTo(d.sendBuf[:])
	if err != nil || m+len(payload) > len(d.sendBuf) {
		return
	}
	m += copy(d.sendBuf[m:], payload)
	if err := to.write(d.sendBuf[:m], tm.Remote); err != nil {
		d.r.log.Debug("relay: send RTP", "leg", to.name, "err", err)
	} else if to.tap != nil {
		to.tap.Datagram(true, to.local, tm.Remote, d.sendBuf[:m])
	}
	hdr.SequenceNumber++
}

// rtpClock returns the RTP clock rate of the codec named; 8000 Hz for one not known, as for
// all of RFC 3551's.
func rtpClock(codec string) int {
	if isOpus(codec) {
		return opusRate
	}
	return 8000
}

// maxRTP is the largest RTP datagram relayed: an Ethernet MTU.
const maxRTP = 1500

// A relayedDigit is a telephone event to send by SIP INFO.
type relayedDigit struct {
	digit    rune
	duration time.Duration
}

// queueDigit queues the DTMF digit of a telephone event's payload, unless it is no
// digit or the queue is full.
func queueDigit(digits chan<- relayedDigit, payload []byte) {
	if int(payload[0]) >= len(dtmfDigits) {
		return
	}
	d := relayedDigit{
		digit:    rune(dtmfDigits[payload[0]]),
		duration: max(time.Duration(binary.BigEndian.Uint16(payload[2:4]))*time.Second/8000, time.Millisecond),
	}
	select {
	case digits <- d:
	default:
	}
}

// sendDigits sends the digits queued for leg by SIP INFO, one at a time, until digits is
// closed.
func sendDigits(ctx context.Context, leg *RelayLeg, digits <-chan relayedDigit, log *slog.Logger) {
	for d := range digits {
		if leg.sendInfo == nil || ctx.Err() != nil {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, relayInfoTimeout)
		if err := leg.sendInfo(ictx, d.digit, d.duration); err != nil {
			log.Warn("relay: send DTMF by SIP INFO", "leg", leg.name, "err", err)
		}
		cancel()
	}
}

// A converter turns one codec's payloads into another's, one packet at a time, keeping
// the codec and resampler state of one direction's stream between packets.
type converter struct {
	from, to string
	dec, enc Codec
	rs       *Resampler
	block    int // the input samples that make a whole number of output samples
	pcm, res [2 * maxRTP]int16
}

// convert returns payload converted from codec from to codec to, in dst; payload itself
// when they are the same; nil when it cannot be converted (a payload that does not decode,
// or a packet time the encoder does not take).
func (c *converter) convert(from, to string, payload, dst []byte) []byte {
	if from == to {
		return payload
	}
	if c.dec == nil || c.from != from || c.to != to {
		if !c.setup(from, to) {
			return nil
		}
	}
	n := c.dec.Decode(c.pcm[:], payload)
	if n == 0 || n%c.block != 0 {
		return nil
	}
	out := n * c.enc.ClockRate() / c.dec.ClockRate()
	c.rs.Process(c.res[:out], c.pcm[:n])
	m := c.enc.Encode(dst, c.res[:out])
	if m == 0 {
		return nil // not a frame the encoder takes, such as 30 ms for Opus
	}
	return dst[:m]
}

// setup makes the decoder, encoder and resampler from codec from to codec to.
func (c *converter) setup(from, to string) bool {
	dec, okDec := CodecByName(from)
	enc, okEnc := CodecByName(to)
	if !okDec || !okEnc {
		return false
	}
	rs, err := NewResampler(dec.ClockRate(), enc.ClockRate())
	if err != nil {
		return false
	}
	a, b := dec.ClockRate(), enc.ClockRate()
	for b != 0 {
		a, b = b, a%b
	}
	c.from, c.to, c.dec, c.enc, c.rs, c.block = from, to, dec, enc, rs, dec.ClockRate()/a
	return true
}
