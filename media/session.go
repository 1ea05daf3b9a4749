package media

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Packet timing of a Session.
const (
	// DefaultPacketTime is the packet time used when SessionConfig.PacketTime is 0; it is
	// the usual SDP ptime for G.711.
	DefaultPacketTime = 20 * time.Millisecond
	// MaxPacketTime is the longest packet time a Session accepts.
	MaxPacketTime = 100 * time.Millisecond
)

const (
	// maxDatagram is the largest RTP datagram sent or received: an Ethernet MTU.
	maxDatagram = 1500
	// rtpHeaderSize is the size of an RTP header without CSRCs or extension.
	rtpHeaderSize = 12
	// concealPackets is how many packet times concealment takes to fade the last packet
	// out to silence.
	concealPackets = 3
)

// SessionConfig is what a negotiated call leg tells a Session.
type SessionConfig struct {
	// Codec encodes and decodes the audio.
	Codec Codec
	// PayloadType is the negotiated RTP payload type of Codec (0 to 127).
	PayloadType uint8
	// DTMFPayloadType is the negotiated payload type of RFC 4733 telephone-event, or 0 if
	// none was negotiated.
	DTMFPayloadType uint8
	// Remote is where RTP is sent, and the address RTP is accepted from.
	Remote netip.AddrPort
	// PacketTime is the audio duration of each packet; 0 means DefaultPacketTime. It must
	// be a whole number of clock ticks of Codec and at most MaxPacketTime.
	PacketTime time.Duration
}

// Stats are the counters of a Session, as reported by Session.Stats.
type Stats struct {
	// PacketsSent and BytesSent count RTP packets written and their size, headers included.
	PacketsSent, BytesSent uint64
	// PacketsReceived and BytesReceived count well-formed RTP packets received from Remote
	// of the codec's or the telephone-event payload type, headers included, whether or not
	// they were played.
	PacketsReceived, BytesReceived uint64
	// Lost is the cumulative number of packets lost: expected minus received, per RFC 3550
	// section 6.4.1.
	Lost uint64
	// Late counts packets that arrived after their playout time and were dropped.
	Late uint64
	// Duplicates counts packets received more than once and dropped.
	Duplicates uint64
	// Discarded counts packets dropped, unplayed, to keep the playout delay bounded.
	Discarded uint64
	// Malformed counts datagrams from Remote that were not valid RTP.
	Malformed uint64
	// Foreign counts datagrams from addresses other than Remote's, dropped.
	Foreign uint64
	// Events counts telephone-event packets (RFC 4733). They are not played.
	Events uint64
	// OtherPayload counts RTP packets of any other payload type, dropped.
	OtherPayload uint64
	// Concealed counts Receive calls that had no packet to play and filled concealment.
	Concealed uint64
	// Resets counts restarts of the received stream, on a new SSRC or a sequence jump.
	Resets uint64
	// HighestSeq is the extended highest sequence number received (RFC 3550 section 6.4.1).
	HighestSeq uint32
	// Jitter is the interarrival jitter estimate of RFC 3550 section 6.4.1.
	Jitter time.Duration
}

// A Session sends and receives the RTP audio of one call leg over one UDP socket.
//
// Run receives on its own goroutine, into a jitter buffer. Send and Receive are called by
// one other goroutine, once per packet time each; neither allocates. Send must not be
// called concurrently with itself, nor Receive with itself. Stats may be called from any
// goroutine.
//
// Only datagrams whose source address is Remote's are accepted, from any port: a peer may
// send from another port than the one it receives on, as symmetric RTP (RFC 4961)
// recommends but does not require. A change of SSRC restarts the received stream.
type Session struct {
	conn       *net.UDPConn
	codec      Codec
	pt, dtmfPT uint8
	remote     netip.AddrPort
	remoteAddr netip.Addr // unmapped, to compare sources with
	spp        int
	clockRate  int64
	epoch      time.Time // arrival clock origin

	// Used only by Send.
	hdr     rtp.Header
	sendBuf [maxDatagram]byte
	// Counted by Send, read by Stats.
	packetsSent, bytesSent atomic.Uint64

	// Used only by Run and handlePacket.
	readBuf [maxDatagram]byte
	pkt     rtp.Packet

	// Used only by Receive.
	last []int16 // the last packet played, for concealment
	fade float32 // gain of the next concealment: 1 after a packet, falling to 0

	mu                                        sync.Mutex // guards following
	jb                                        jitterBuffer
	packetsReceived, bytesReceived, malformed uint64
	foreign, events, otherPayload, concealed  uint64
}

// NewSession returns a Session for cfg on conn, an unconnected UDP socket such as
// net.ListenUDP returns. It checks cfg, naming the field at fault. On success the Session
// owns conn and Run closes it.
func NewSession(conn *net.UDPConn, cfg SessionConfig) (*Session, error) {
	if conn == nil {
		return nil, errors.New("new RTP session: nil conn")
	}
	if conn.RemoteAddr() != nil {
		return nil, fmt.Errorf("new RTP session: conn is connected to %s, want an unconnected socket", conn.RemoteAddr())
	}
	if cfg.Codec == nil {
		return nil, errors.New("new RTP session: SessionConfig.Codec is nil")
	}
	if cfg.PayloadType > 127 {
		return nil, fmt.Errorf("new RTP session: SessionConfig.PayloadType %d is not in 0..127", cfg.PayloadType)
	}
	if cfg.DTMFPayloadType > 127 || (cfg.DTMFPayloadType != 0 && cfg.DTMFPayloadType == cfg.PayloadType) {
		return nil, fmt.Errorf("new RTP session: SessionConfig.DTMFPayloadType %d is not in 1..127 apart from PayloadType %d", cfg.DTMFPayloadType, cfg.PayloadType)
	}
	if !cfg.Remote.IsValid() || cfg.Remote.Port() == 0 || cfg.Remote.Addr().IsUnspecified() {
		return nil, fmt.Errorf("new RTP session: SessionConfig.Remote %s is not an address and port to send to", cfg.Remote)
	}
	rate := cfg.Codec.ClockRate()
	if rate <= 0 {
		return nil, fmt.Errorf("new RTP session: SessionConfig.Codec %s has clock rate %d", cfg.Codec.Name(), rate)
	}
	ptime := cfg.PacketTime
	if ptime == 0 {
		ptime = DefaultPacketTime
	}
	ticks := int64(ptime) * int64(rate)
	if ptime < 0 || ptime > MaxPacketTime || ticks%int64(time.Second) != 0 {
		return nil, fmt.Errorf("new RTP session: SessionConfig.PacketTime %v is not a whole number of %d Hz ticks up to %v", cfg.PacketTime, rate, MaxPacketTime)
	}
	spp := int(ticks / int64(time.Second))

	remote := netip.AddrPortFrom(cfg.Remote.Addr().Unmap(), cfg.Remote.Port())
	s := &Session{
		conn:       conn,
		codec:      cfg.Codec,
		pt:         cfg.PayloadType,
		dtmfPT:     cfg.DTMFPayloadType,
		remote:     remote,
		remoteAddr: remote.Addr(),
		spp:        spp,
		clockRate:  int64(rate),
		epoch:      time.Now(),
		last:       make([]int16, spp),
	}
	// Random SSRC and initial sequence number and timestamp (RFC 3550 section 5.1).
	s.hdr = rtp.Header{
		Version:        2,
		Marker:         true,
		PayloadType:    cfg.PayloadType,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		SSRC:           rand.Uint32(),
	}
	// Room for the most CSRCs and a few extensions, so that parsing does not allocate.
	s.pkt.CSRC = make([]uint32, 0, 15)
	s.pkt.Extensions = make([]rtp.Extension, 0, 16)
	return s, nil
}

// SamplesPerPacket returns the number of samples in each packet: the codec's clock rate
// times the packet time, 160 for G.711 at 20 ms.
func (s *Session) SamplesPerPacket() int { return s.spp }

// Run receives RTP into the jitter buffer until ctx is done, then closes the socket and
// returns nil. If reading the socket fails first, Run closes it and returns the error.
func (s *Session) Run(ctx context.Context) error {
	defer s.conn.Close()
	// Unblock the read when ctx is done; the deadline stays in the past.
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(s.readBuf[:])
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive RTP: %w", err)
		}
		if from.Addr().Unmap() != s.remoteAddr {
			s.mu.Lock()
			s.foreign++
			s.mu.Unlock()
			continue
		}
		s.handlePacket(s.readBuf[:n])
	}
}

// handlePacket parses one datagram from Remote and buffers it for Receive. It counts, and
// otherwise ignores, anything that is not RTP of the session's payload types.
func (s *Session) handlePacket(buf []byte) {
	arrival := s.arrivalClock(time.Now())
	// pion/rtp does not check the version, and its errors for short headers allocate.
	if len(buf) < rtpHeaderSize || buf[0]>>6 != 2 || len(buf) < rtpHeaderSize+4*int(buf[0]&0x0f) || s.pkt.Unmarshal(buf) != nil {
		s.mu.Lock()
		s.malformed++
		s.mu.Unlock()
		return
	}
	h := &s.pkt.Header
	kind := slotAudio
	switch {
	case h.PayloadType == s.pt:
	case s.dtmfPT != 0 && h.PayloadType == s.dtmfPT:
		// Telephone events share the audio's sequence numbers (RFC 4733 section 2.1), so
		// they hold their place in the jitter buffer, as silence.
		kind = slotFiller
	default:
		s.mu.Lock()
		s.otherPayload++
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == slotFiller {
		s.events++
	}
	s.packetsReceived++
	s.bytesReceived += uint64(len(buf))
	s.jb.push(h.SSRC, h.SequenceNumber, h.Timestamp, arrival, kind, s.pkt.Payload)
}

// arrivalClock converts t to the RTP clock rate, counting from the session's creation, for
// the jitter estimate.
func (s *Session) arrivalClock(t time.Time) uint32 {
	d := t.Sub(s.epoch)
	sec, frac := int64(d/time.Second), int64(d%time.Second)
	return uint32(sec*s.clockRate + frac*s.clockRate/int64(time.Second))
}

// Send encodes pcm, which must hold exactly SamplesPerPacket samples, into the next RTP
// packet and sends it to Remote. The first packet carries the marker bit; each packet
// advances the sequence number by 1 and the timestamp by SamplesPerPacket. If the write
// fails the timestamp still advances, as the audio's time has passed, but the sequence
// number does not.
func (s *Session) Send(pcm []int16) error {
	if len(pcm) != s.spp {
		return fmt.Errorf("send RTP: got %d samples, want %d", len(pcm), s.spp)
	}
	n, err := s.hdr.MarshalTo(s.sendBuf[:])
	if err != nil {
		return fmt.Errorf("send RTP: %w", err)
	}
	n += s.codec.Encode(s.sendBuf[n:], pcm)
	s.hdr.Timestamp += uint32(s.spp)
	if _, err := s.conn.WriteToUDPAddrPort(s.sendBuf[:n], s.remote); err != nil {
		return fmt.Errorf("send RTP to %s: %w", s.remote, err)
	}
	s.hdr.SequenceNumber++
	s.hdr.Marker = false
	s.packetsSent.Add(1)
	s.bytesSent.Add(uint64(n))
	return nil
}

// Receive fills pcm with the audio due now: the next packet from the jitter buffer,
// decoded, and reports true. If no packet is due (none arrived yet, lost, late, or a
// telephone event) it fills concealment, a fade-out of the last packet over three packet
// times or silence, and reports false. pcm should hold SamplesPerPacket samples; all of it
// is written.
func (s *Session) Receive(pcm []int16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind, payload := s.jb.pop()
	switch kind {
	case slotAudio:
		n := s.codec.Decode(pcm, payload)
		clear(pcm[n:])
		copy(s.last, pcm)
		s.fade = 1
		return true
	case slotFiller:
		clear(pcm)
		s.fade = 0
	default:
		s.conceal(pcm)
	}
	s.concealed++
	return false
}

// conceal fills pcm with the last packet faded out linearly over concealPackets packet
// times, continuing the fade of the previous call, and then with silence.
func (s *Session) conceal(pcm []int16) {
	if s.fade <= 0 || len(pcm) == 0 {
		clear(pcm)
		return
	}
	step := 1 / float32(concealPackets*len(s.last))
	g := s.fade
	for i := range pcm {
		pcm[i] = int16(float32(s.last[i%len(s.last)]) * g)
		g = max(0, g-step)
	}
	s.fade = g
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		PacketsSent:     s.packetsSent.Load(),
		BytesSent:       s.bytesSent.Load(),
		PacketsReceived: s.packetsReceived,
		BytesReceived:   s.bytesReceived,
		Lost:            s.jb.lost(),
		Late:            s.jb.late,
		Duplicates:      s.jb.duplicates,
		Discarded:       s.jb.discarded,
		Malformed:       s.malformed,
		Foreign:         s.foreign,
		Events:          s.events,
		OtherPayload:    s.otherPayload,
		Concealed:       s.concealed,
		Resets:          s.jb.resets,
		HighestSeq:      s.jb.highestSeq(),
		Jitter:          time.Duration(s.jb.jitter * float64(time.Second) / float64(s.clockRate)),
	}
}
