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
	// quietPeak is the largest sample magnitude of audio taken as silence, about
	// -54 dBFS: the jitter buffer may drop a packet after it unheard.
	quietPeak = 64
)

// maxPull bounds the datagrams one Receive takes (SessionConfig.ReadOnReceive), a few
// packet times' worth: what a flood sends beyond it waits in the kernel, which drops it
// once the socket's buffer is full.
const maxPull = 16

// maxQueued bounds the datagrams the RTP timeout's watch takes: more than a socket's
// receive buffer holds, so that the newest datagram, not the oldest, says when RTP last
// came. The watch looks once a timeout.
const maxQueued = 1024

// SessionConfig is what a negotiated call leg tells a Session.
type SessionConfig struct {
	// Codec encodes and decodes the audio.
	Codec Codec
	// PayloadType is the negotiated RTP payload type of Codec (0 to 127).
	PayloadType uint8
	// DTMFPayloadType is the negotiated payload type of RFC 4733 telephone-event, or 0 if
	// none was negotiated.
	DTMFPayloadType uint8
	// Remote is where RTP is sent, and the only address and port RTP and RTCP are
	// accepted from.
	Remote netip.AddrPort
	// PacketTime is the audio duration of each packet; 0 means DefaultPacketTime. It must
	// be a whole number of samples and of RTP clock ticks of Codec, and at most
	// MaxPacketTime.
	PacketTime time.Duration
	// RTCPInterval is the mean interval between RTCP reports; 0 means
	// DefaultRTCPInterval, and a negative interval sends none. Each interval is randomized
	// as RFC 3550 section 6.3.1 says, and the first is half as long.
	RTCPInterval time.Duration
	// CNAME is the canonical name RTCP reports carry (RFC 3550 section 6.5.1); empty means
	// a random one per session, as RFC 7022 recommends.
	CNAME string
	// RTPTimeout is how long RTP may stay away, while it is expected (see
	// SetRTPExpected), before TimedOut reports it; 0 means DefaultRTPTimeout, and a
	// negative timeout never reports.
	RTPTimeout time.Duration
	// SRTP, when set, encrypts and authenticates the call's RTP and RTCP with these keys
	// (RFC 3711, AES_CM_128_HMAC_SHA1_80): nothing goes out in clear, and what comes in
	// unauthenticated, or again, is dropped and counted as Unauthenticated.
	SRTP *SRTPKeys
	// Tap, when set, is told of every datagram the session sends and receives.
	Tap Tap
	// ReadOnReceive has Receive take what arrived on the socket, just before it plays,
	// instead of a goroutine of Run's that wakes for each datagram: for an owner that calls
	// Receive every packet time anyway, one thread wakeup a packet fewer. The session then
	// reads and writes a duplicate of the socket, out of Go's network poller, with raw
	// system calls, and takes each datagram's arrival time from the kernel, so that the
	// jitter estimate is that of the network, not of Receive's calls. Where that cannot be
	// done (not Linux, not IPv4), Run reads as without it.
	ReadOnReceive bool
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
	// Discarded counts packets dropped, unplayed, to shrink the playout delay: one at a
	// time in silence or concealment when the jitter buffer stayed deeper than its target,
	// or many at once when a burst overfills it.
	Discarded uint64
	// Malformed counts datagrams from Remote that were not valid RTP.
	Malformed uint64
	// Unauthenticated counts datagrams from Remote that an SRTP session dropped: not
	// authentic under the peer's key, or replayed.
	Unauthenticated uint64
	// Foreign counts datagrams from anywhere but Remote, dropped unread: from another
	// address, or from another port of Remote's.
	Foreign uint64
	// Events counts telephone-event packets (RFC 4733). They are not played.
	Events uint64
	// OtherPayload counts RTP packets of any other payload type, dropped.
	OtherPayload uint64
	// Concealed counts Receive calls that had no packet to play and filled concealment.
	Concealed uint64
	// Held counts the Receive calls among those Concealed that held playout back, so that
	// the jitter buffer grew by a packet: an underrun, a loss while the buffer was below
	// its target depth, or the silence before a talkspurt.
	Held uint64
	// Talkspurts counts the talkspurts that started after the first: a timestamp jump in
	// the same stream, or the marker bit.
	Talkspurts uint64
	// Resets counts restarts of the received stream, on a new SSRC or a sequence jump.
	Resets uint64
	// HighestSeq is the extended highest sequence number received (RFC 3550 section 6.4.1).
	HighestSeq uint32
	// Jitter is the interarrival jitter estimate of RFC 3550 section 6.4.1.
	Jitter time.Duration
	// Depth is the number of packets the jitter buffer held at the last Receive, from the
	// one due to the newest, and TargetDepth the depth it adapts to, from 1 to
	// MaxJitterDepth.
	Depth, TargetDepth int
	// PlayoutDelay estimates the delay the jitter buffer adds: its mean depth, in packet
	// times.
	PlayoutDelay time.Duration

	// RTCPSent and RTCPReceived count compound RTCP packets sent and received;
	// RTCPErrors counts those that could not be sent or parsed.
	RTCPSent, RTCPReceived, RTCPErrors uint64
	// RTT is the round-trip time of the last RTCP report that measured it (RFC 3550
	// section 6.4.1), or 0 before one did.
	RTT time.Duration
	// RemoteFractionLost, RemoteLost and RemoteJitter are what the far end last reported
	// of the audio we send it: the fraction lost since its previous report (0 to 1), the
	// cumulative number lost, and its interarrival jitter.
	RemoteFractionLost float64
	RemoteLost         int64
	RemoteJitter       time.Duration

	// R is the transmission rating of the ITU-T G.107 E-model for the audio received
	// lately, from the codec, the loss (Lost and Late) over the last 10 s of playout (or
	// since the start, for a younger call) and the one-way delay (PlayoutDelay, the packet
	// time and half the RTT), and MOS the mean opinion score it predicts (see EModelR):
	// they drop while the network loses packets and recover once it is over. Both are 0
	// before any audio was received.
	R, MOS float64
}

// A Session sends and receives the RTP audio of one call leg over one UDP socket, and its
// RTCP reports over the same socket (RFC 5761 multiplexing, see Run).
//
// Run receives on its own goroutine, into a jitter buffer, or leaves that to Receive
// (SessionConfig.ReadOnReceive), and sends the RTCP reports. Send and Receive are called
// by another goroutine, or one each, once per packet time; neither allocates. Send must
// not be called concurrently with itself, nor Receive with itself. Stats, SetCodec,
// SetDTMFPayloadType, SetRemote, SetSending and SetRTPExpected may be called from any
// goroutine.
//
// Only datagrams from Remote, its address and its port, are accepted: the session expects
// symmetric RTP, the peer sending from the port its SDP names for receiving, as RFC 4961
// asks of every peer and conference servers do. It does not latch on to the first source
// heard instead: whoever sent first would own the stream. So neither another host nor
// another port of the peer's host can slip audio into the call; what they send is counted
// as Foreign. A peer that sends from another port than it receives on is not heard at
// all, and the RTP timeout (TimedOut) says so. A change of SSRC, which then can come only
// from Remote, restarts the received stream.
type Session struct {
	conn *net.UDPConn
	// tap, when not nil, is told of every datagram; local is conn's address, for it.
	tap   Tap
	local netip.AddrPort
	// active is the codec in use, its payload type and what depends on its sample rate;
	// SetCodec replaces it, holding mu, while the session runs.
	active atomic.Pointer[codecChoice]
	// dtmfPT is the payload type of telephone-event, 0 for none; SetDTMFPayloadType
	// changes it, holding mu, while the session runs.
	dtmfPT atomic.Uint32
	// remote is where RTP goes and the only address and port it is taken from, unmapped;
	// SetRemote moves it while the session runs.
	remote atomic.Pointer[netip.AddrPort]
	// holding stops Send from sending, while the audio's time goes on (SetSending).
	holding atomic.Bool
	ssrc    uint32
	ptime   time.Duration // packet time
	epoch   time.Time     // arrival clock origin

	// The RTP timeout (see watchRTP): none if rtpTimeout is negative. lastRTP is when RTP
	// last arrived, or the wait for it last started afresh, as a time since epoch.
	rtpTimeout time.Duration
	lastRTP    atomic.Int64
	unexpected atomic.Bool   // no RTP is expected now (SetRTPExpected)
	timedOut   chan struct{} // closed when the timeout passed

	// srtp protects what is sent and checks what arrives; nil for plain RTP. SetSRTP
	// replaces it while the session runs.
	srtp atomic.Pointer[srtpPair]

	// Used only by Send, apart from the DTMF queue. encBuf and encHdr take a packet
	// protected with SRTP.
	hdr     rtp.Header
	sendBuf [maxDatagram]byte
	encBuf  [maxDatagram + srtpOverhead]byte
	encHdr  rtp.Header
	dtmf    dtmfSender
	// dtmfQueue carries the digits of SendDTMF, from any goroutine, to Send.
	dtmfQueue chan dtmfDigit
	// Counted by Send, read by Stats and the RTCP reports. lastTS and lastSend (since
	// epoch) date the newest packet, for the RTP time of a sender report.
	packetsSent, bytesSent, payloadSent atomic.Uint64
	lastTS                              atomic.Uint32
	lastSend                            atomic.Int64

	// pulled is the socket's duplicate that Receive reads (ReadOnReceive), nil if Run reads
	// conn.
	pulled *pulledSocket

	// Used only by Run's reader, or by the read of ReadOnReceive under pulled.readMu, and
	// by handlePacket. decBuf and decHdr take a packet that arrived protected with SRTP.
	readBuf [maxDatagram + srtpOverhead]byte
	decBuf  [maxDatagram + srtpOverhead]byte
	decHdr  rtp.Header
	pkt     rtp.Packet

	// Used only by Receive.
	quiet bool // the last audio played was silent

	// Used only by the RTCP sender.
	rtcp rtcpSchedule

	mu                                        sync.Mutex // guards following
	jb                                        jitterBuffer
	packetsReceived, bytesReceived, malformed uint64
	unauthenticated                           uint64
	foreign, events, otherPayload, concealed  uint64
	reports                                   rtcpState
	heard                                     dtmfReceiver
	window                                    lossWindow // sampled by Receive
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
	rate, rtpRate := cfg.Codec.ClockRate(), cfg.Codec.RTPClockRate()
	if rate <= 0 || rtpRate <= 0 {
		return nil, fmt.Errorf("new RTP session: SessionConfig.Codec %s has sample rate %d and RTP clock rate %d", cfg.Codec.Name(), rate, rtpRate)
	}
	ptime := cfg.PacketTime
	if ptime == 0 {
		ptime = DefaultPacketTime
	}
	samples, ticks := int64(ptime)*int64(rate), int64(ptime)*int64(rtpRate)
	if ptime < 0 || ptime > MaxPacketTime || samples%int64(time.Second) != 0 || ticks%int64(time.Second) != 0 {
		return nil, fmt.Errorf("new RTP session: SessionConfig.PacketTime %v is not a whole number of %d Hz samples and %d Hz ticks up to %v",
			cfg.PacketTime, rate, rtpRate, MaxPacketTime)
	}
	interval := cfg.RTCPInterval
	if interval == 0 {
		interval = DefaultRTCPInterval
	}
	cname := cfg.CNAME
	if cname == "" {
		cname = randomCNAME()
	}
	timeout := cfg.RTPTimeout
	if timeout == 0 {
		timeout = DefaultRTPTimeout
	}

	var keys *srtpPair
	if cfg.SRTP != nil {
		var err error
		if keys, err = newSRTPPair(*cfg.SRTP); err != nil {
			return nil, fmt.Errorf("new RTP session: SessionConfig.SRTP: %w", err)
		}
	}
	remote := netip.AddrPortFrom(cfg.Remote.Addr().Unmap(), cfg.Remote.Port())
	s := &Session{
		conn:      conn,
		tap:       cfg.Tap,
		local:     localAddr(conn),
		dtmfQueue: make(chan dtmfDigit, dtmfQueue),
		ssrc:      rand.Uint32(),
		ptime:     ptime,
		epoch:     time.Now(),
		rtcp:      rtcpSchedule{interval: interval, cname: cname},

		rtpTimeout: timeout,
		timedOut:   make(chan struct{}),
	}
	if cfg.ReadOnReceive {
		s.pulled = pull(conn)
	}
	s.remote.Store(&remote)
	s.srtp.Store(keys)
	s.dtmfPT.Store(uint32(cfg.DTMFPayloadType))
	active := newCodecChoice(cfg.Codec, cfg.PayloadType, ptime, nil)
	s.active.Store(active)
	s.jb.init(int(active.tsStep))
	// Random SSRC and initial sequence number and timestamp (RFC 3550 section 5.1).
	s.hdr = rtp.Header{
		Version:        2,
		Marker:         true,
		PayloadType:    cfg.PayloadType,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		SSRC:           s.ssrc,
	}
	// Room for the most CSRCs and a few extensions, so that parsing does not allocate.
	s.pkt.CSRC = make([]uint32, 0, 15)
	s.pkt.Extensions = make([]rtp.Extension, 0, 16)
	return s, nil
}

// SamplesPerPacket returns the number of samples in each packet: the codec's sample rate
// times the packet time, 160 for G.711, 320 for G.722 and 960 for Opus at 20 ms. It changes when
// SetCodec switches to a codec of another sample rate.
func (s *Session) SamplesPerPacket() int { return s.active.Load().spp }

// Run receives RTP into the jitter buffer, sends and receives RTCP, and watches for the
// RTP timeout, until ctx is done; then it sends an RTCP BYE, closes the socket and returns
// nil. If reading the socket fails first, Run closes it and returns the error.
//
// RTCP goes over the RTP socket, multiplexed as RFC 5761 describes (SDP "a=rtcp-mux"): the
// appliance opens one socket per call leg. Datagrams whose second octet is 192 to 223 are
// RTCP; no RTP payload type the session accepts lies there. A peer that does not multiplex
// sends its RTCP to the port after ours, where nothing listens, and ignores ours as RTP of
// an unknown payload type: the call is unharmed, but RTT and the far end's reports are then
// unknown.
func (s *Session) Run(ctx context.Context) error {
	defer s.conn.Close()
	if s.pulled != nil {
		defer s.pulled.close()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { s.sendReports(ctx) })
	wg.Go(func() { s.watchRTP(ctx) })
	if s.pulled != nil { // Receive reads
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.pulled.failed:
			return fmt.Errorf("receive RTP: %w", err)
		}
	}
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
		s.datagram(s.readBuf[:n], from, time.Now())
	}
}

// datagram takes in buf, a datagram that arrived from from at now: RTP or RTCP from
// Remote, checked and decrypted under SRTP; anything else is counted and dropped.
func (s *Session) datagram(buf []byte, from netip.AddrPort, now time.Time) {
	if s.tap != nil {
		s.tap.Datagram(false, s.local, from, buf)
	}
	if remote := s.remote.Load(); from.Addr().Unmap() != remote.Addr() || from.Port() != remote.Port() {
		s.mu.Lock()
		s.foreign++
		s.mu.Unlock()
		return
	}
	control := isRTCP(buf)
	if keys := s.srtp.Load(); keys != nil {
		var err error
		if buf, err = s.unprotect(keys, buf, control); err != nil {
			s.mu.Lock()
			s.unauthenticated++
			s.mu.Unlock()
			return
		}
	}
	if control {
		s.handleRTCP(buf, now)
		return
	}
	s.handlePacket(buf, now)
}

// unprotect checks and decrypts an SRTP or SRTCP datagram into decBuf.
func (s *Session) unprotect(keys *srtpPair, buf []byte, control bool) ([]byte, error) {
	if control {
		return keys.unprotectRTCP(s.decBuf[:], buf)
	}
	return keys.unprotectRTP(s.decBuf[:], buf, &s.decHdr)
}

// SetSRTP changes the SRTP keys of the running session, when a re-INVITE changed them
// (RFC 4568 section 6.4); nil turns SRTP off. Packets in flight under the old keys are
// dropped as Unauthenticated.
func (s *Session) SetSRTP(keys *SRTPKeys) error {
	if keys == nil {
		s.srtp.Store(nil)
		return nil
	}
	p, err := newSRTPPair(*keys)
	if err != nil {
		return fmt.Errorf("set SRTP keys: %w", err)
	}
	s.srtp.Store(p)
	return nil
}

// handlePacket parses one datagram from Remote that arrived at now and buffers it for
// Receive. It counts, and otherwise ignores, anything that is not RTP of the session's
// payload types; RTP of any payload type keeps the RTP timeout away.
func (s *Session) handlePacket(buf []byte, now time.Time) {
	arrival := s.arrivalClock(now)
	// pion/rtp does not check the version, and its errors for short headers allocate.
	if len(buf) < rtpHeaderSize || buf[0]>>6 != 2 || len(buf) < rtpHeaderSize+4*int(buf[0]&0x0f) || s.pkt.Unmarshal(buf) != nil {
		s.mu.Lock()
		s.malformed++
		s.mu.Unlock()
		return
	}
	s.lastRTP.Store(int64(now.Sub(s.epoch)))
	h := &s.pkt.Header
	// Under mu, so that a packet of the codec SetCodec replaces is not buffered as audio
	// of the new one, nor an event of the payload type SetDTMFPayloadType replaces taken.
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := slotAudio
	dtmfPT := uint8(s.dtmfPT.Load())
	switch {
	case h.PayloadType == s.active.Load().pt:
	case dtmfPT != 0 && h.PayloadType == dtmfPT:
		// Telephone events share the audio's sequence numbers (RFC 4733 section 2.1), so
		// they hold their place in the jitter buffer, as silence.
		kind = slotFiller
	default:
		s.otherPayload++
		return
	}
	if kind == slotFiller {
		s.events++
		s.heard.event(s.pkt.Payload, h.Timestamp)
	}
	s.packetsReceived++
	s.bytesReceived += uint64(len(buf))
	s.jb.push(h.SSRC, h.SequenceNumber, h.Timestamp, arrival, h.Marker, kind, s.pkt.Payload)
}

// arrivalClock converts t to the RTP clock rate, counting from the session's creation, for
// the jitter estimate.
func (s *Session) arrivalClock(t time.Time) uint32 {
	d := t.Sub(s.epoch)
	sec, frac := int64(d/time.Second), int64(d%time.Second)
	rtpRate := s.active.Load().rtpRate
	return uint32(sec*rtpRate + frac*rtpRate/int64(time.Second))
}

// A codecChoice is a codec with the payload type it was negotiated with, and what depends
// on its sample rate. It is not changed once stored in Session.active, apart from plc.
type codecChoice struct {
	codec      Codec
	pt         uint8
	spp        int        // samples per packet
	rtpRate    int64      // the RTP clock rate
	tsStep     uint32     // RTP timestamp units per packet
	plc        *concealer // used only by Receive
	impairment codecImpairment
}

// newCodecChoice returns the choice of codec on payload type pt with packets of ptime,
// which the caller checked is a whole number of its samples and RTP clock ticks. It
// conceals with plc, or with a concealer of its own if plc is nil.
func newCodecChoice(codec Codec, pt uint8, ptime time.Duration, plc *concealer) *codecChoice {
	spp := int(int64(ptime) * int64(codec.ClockRate()) / int64(time.Second))
	if plc == nil {
		plc = newConcealer(codec.ClockRate(), spp)
	}
	return &codecChoice{
		codec: codec, pt: pt, spp: spp, plc: plc, impairment: impairmentOf(codec.Name()),
		rtpRate: int64(codec.RTPClockRate()),
		tsStep:  uint32(int64(ptime) * int64(codec.RTPClockRate()) / int64(time.Second)),
	}
}

// SetCodec switches the session to codec on payload type pt, as a re-INVITE can, from the
// next packet on. When the new codec has the RTP clock rate of the old (PCMU, PCMA and
// G722 all count at 8000 Hz), the timestamps, the jitter buffer and the RTCP reports go on
// as they were; when it has another (Opus counts at 48000 Hz), the timestamps go on from
// where they were in the new clock's ticks, and the received stream starts afresh, as on a
// new SSRC. Its sample rate may differ. Then SamplesPerPacket changes (from 160 to 320
// going from G.711 to G.722 at 20 ms, to 960 going to Opus) and the caller of Send and
// Receive must follow: a frame of the old size that crosses the switch is refused by Send and
// comes back from Receive as silence. Packets of the old codec still buffered play as
// silence too. Codec must be one of the session's own, not shared with another.
func (s *Session) SetCodec(codec Codec, pt uint8) error {
	if err := s.setCodec(codec, pt); err != nil {
		return fmt.Errorf("switch codec to %s: %w", codecName(codec), err)
	}
	return nil
}

func (s *Session) setCodec(codec Codec, pt uint8) error {
	if codec == nil {
		return errors.New("nil codec")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dtmfPT := uint8(s.dtmfPT.Load()); pt > 127 || (dtmfPT != 0 && pt == dtmfPT) {
		return fmt.Errorf("payload type %d is not in 0..127 apart from telephone-event's %d", pt, dtmfPT)
	}
	old := s.active.Load()
	rate, rtpRate := codec.ClockRate(), codec.RTPClockRate()
	samples, ticks := int64(s.ptime)*int64(rate), int64(s.ptime)*int64(rtpRate)
	if rate <= 0 || rtpRate <= 0 || samples%int64(time.Second) != 0 || ticks%int64(time.Second) != 0 {
		return fmt.Errorf("the packet time %v is not a whole number of %d Hz samples and %d Hz RTP ticks", s.ptime, rate, rtpRate)
	}
	plc := old.plc
	if rate != old.codec.ClockRate() {
		plc = nil // its history is at the old rate
	}
	next := newCodecChoice(codec, pt, s.ptime, plc)
	s.active.Store(next)
	switch {
	case next.rtpRate != old.rtpRate:
		// The buffered packets, the sequence and the jitter estimate are in the old
		// clock's ticks.
		s.jb.reset()
		s.jb.init(int(next.tsStep))
	case codec != old.codec || pt != old.pt:
		s.jb.silence()
	}
	return nil
}

// SetDTMFPayloadType makes pt the payload type of RFC 4733 telephone-event, as a
// re-INVITE can renumber it, or 0 when the call no longer has it. Events are sent, and
// recognized on receipt, on pt from the next packet on; those of the old payload type are
// counted as OtherPayload from then on. A digit sounding goes on on pt; when pt is 0, it
// and the digits still queued are dropped and SendDTMF returns ErrNoTelephoneEvent.
func (s *Session) SetDTMFPayloadType(pt uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if codecPT := s.active.Load().pt; pt > 127 || (pt != 0 && pt == codecPT) {
		return fmt.Errorf("switch telephone-event to payload type %d: not in 0..127 apart from the codec's %d", pt, codecPT)
	}
	s.dtmfPT.Store(uint32(pt))
	return nil
}

// DTMFPayloadType returns the payload type of telephone-event now, 0 for none.
func (s *Session) DTMFPayloadType() uint8 { return uint8(s.dtmfPT.Load()) }

// codecName is the name of codec, or "nil" for none.
func codecName(codec Codec) string {
	if codec == nil {
		return "nil"
	}
	return codec.Name()
}

// Remote returns where the session sends RTP now.
func (s *Session) Remote() netip.AddrPort { return *s.remote.Load() }

// Codec returns the codec the session uses now.
func (s *Session) Codec() Codec { return s.active.Load().codec }

// SetRemote moves the far end of the session to remote, as a re-INVITE can: RTP goes
// there from the next packet on, and is taken only from there, its address and port.
func (s *Session) SetRemote(remote netip.AddrPort) {
	r := netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	s.remote.Store(&r)
}

// SetSending stops sending (false), as when the far end puts the call on hold, or starts
// again (true). While stopped, Send sends nothing but the timestamps go on, so that the
// audio after the hold is dated right.
func (s *Session) SetSending(on bool) { s.holding.Store(!on) }

// Send encodes pcm, which must hold exactly SamplesPerPacket samples, into the next RTP
// packet and sends it to Remote. The first packet carries the marker bit; each packet
// advances the sequence number by 1 and the timestamp by the packet time in RTP clock
// ticks (160 at 20 ms, for G.711 and for G.722 alike). If the write fails the timestamp
// still advances, as the audio's time has passed, but the sequence number does not.
func (s *Session) Send(pcm []int16) error {
	if s.holding.Load() {
		if spp := s.SamplesPerPacket(); len(pcm) != spp {
			return fmt.Errorf("send RTP: got %d samples, want %d", len(pcm), spp)
		}
		s.hdr.Timestamp += s.active.Load().tsStep // the far end does not want our audio; time goes on
		return nil
	}
	pkt, err := s.packetize(pcm)
	if err != nil {
		return err
	}
	plainLen := len(pkt)
	if keys := s.srtp.Load(); keys != nil {
		if pkt, err = keys.protectRTP(s.encBuf[:], pkt, &s.encHdr); err != nil {
			return fmt.Errorf("send RTP: %w", err)
		}
	}
	remote := *s.remote.Load()
	if err := s.write(pkt, remote); err != nil {
		return fmt.Errorf("send RTP to %s: %w", remote, err)
	}
	s.sent(plainLen)
	return nil
}

// write sends the datagram b to remote, and tells the tap of it.
func (s *Session) write(b []byte, remote netip.AddrPort) error {
	if s.pulled != nil {
		if err := s.pulled.send(b, remote); err != nil {
			return err
		}
	} else if _, err := s.conn.WriteToUDPAddrPort(b, remote); err != nil {
		return err
	}
	if s.tap != nil {
		s.tap.Datagram(true, s.local, remote, b)
	}
	return nil
}

// packetize encodes pcm into the next RTP packet, in sendBuf, and advances the timestamp.
func (s *Session) packetize(pcm []int16) ([]byte, error) {
	active := s.active.Load()
	if len(pcm) != active.spp {
		return nil, fmt.Errorf("send RTP: got %d samples, want %d", len(pcm), active.spp)
	}
	s.hdr.PayloadType = active.pt
	var event [4]byte
	dtmfPT := uint8(s.dtmfPT.Load())
	if dtmfPT == 0 {
		s.dtmf.drop(s.dtmfQueue) // telephone-event went away while digits were queued
	} else if ts, first, ok := s.dtmf.next(s.dtmfQueue, event[:], s.hdr.Timestamp, active.tsStep); ok {
		// A telephone event in place of this packet's audio: the codec still encodes the
		// audio, so that a stateful codec (G.722) stays in step with the microphone.
		h := s.hdr
		h.PayloadType, h.Timestamp, h.Marker = dtmfPT, ts, first
		n, err := h.MarshalTo(s.sendBuf[:])
		if err != nil {
			return nil, fmt.Errorf("send RTP event: %w", err)
		}
		active.codec.Encode(s.sendBuf[n:], pcm)
		n += copy(s.sendBuf[n:], event[:])
		s.lastTS.Store(s.hdr.Timestamp)
		s.lastSend.Store(int64(time.Since(s.epoch)))
		s.hdr.Timestamp += active.tsStep
		return s.sendBuf[:n], nil
	}
	n, err := s.hdr.MarshalTo(s.sendBuf[:])
	if err != nil {
		return nil, fmt.Errorf("send RTP: %w", err)
	}
	n += active.codec.Encode(s.sendBuf[n:], pcm)
	s.lastTS.Store(s.hdr.Timestamp)
	s.lastSend.Store(int64(time.Since(s.epoch)))
	s.hdr.Timestamp += active.tsStep
	return s.sendBuf[:n], nil
}

// sent counts a packet of n bytes as sent and moves on to the next sequence number.
func (s *Session) sent(n int) {
	s.hdr.SequenceNumber++
	s.hdr.Marker = false
	s.packetsSent.Add(1)
	s.bytesSent.Add(uint64(n))
	s.payloadSent.Add(uint64(n - rtpHeaderSize))
}

// Receive fills pcm with the audio due now: the next packet from the jitter buffer,
// decoded, and reports true. If no packet is due (none arrived yet, lost, late, or playout
// held back for the jitter buffer to grow) it fills concealment and reports false: the last
// pitch period repeated and faded out over three packet times, then silence. A telephone
// event plays as silence. The packet after concealment or silence fades in from it. pcm should
// hold SamplesPerPacket samples; all of it is written. If it holds another number, as when
// SetCodec changed the sample rate since the caller looked, the packet due is played as
// silence.
func (s *Session) Receive(pcm []int16) bool {
	if s.pulled != nil {
		s.pulled.read(s, maxPull)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.active.Load()
	kind, payload := s.jb.pop(s.quiet)
	s.window.played(int(time.Second/s.ptime), s.lossSample())
	if len(pcm) != active.spp {
		clear(pcm)
		s.quiet = true
		s.concealed++
		return false
	}
	if kind == slotAudio {
		n := active.codec.Decode(pcm, payload)
		clear(pcm[n:])
		active.plc.played(pcm)
		s.quiet = peak(pcm) <= quietPeak
		return true
	}
	switch lc, ok := active.codec.(lossConcealer); {
	case kind == slotFiller:
		active.plc.mute(pcm)
	case ok:
		n := lc.Conceal(pcm, s.jb.nextAudio())
		clear(pcm[n:])
	default:
		active.plc.conceal(pcm)
	}
	s.quiet = peak(pcm) <= quietPeak
	s.concealed++
	return false
}

// A lossAdapter is a codec that protects what it sends against the loss the far end
// reports, as Opus does with its FEC copy.
type lossAdapter interface {
	// ExpectLoss tells it the fraction (0 to 1) of its packets lost lately.
	ExpectLoss(fraction float64)
}

// A lossConcealer is a codec that conceals a lost packet better than waveform
// substitution can: Opus, from the FEC copy the next packet carries, or by its own model.
type lossConcealer interface {
	// Conceal fills dst with the audio of a lost packet, from next, the packet after it,
	// if it has arrived (nil if not), and returns the number of samples written.
	Conceal(dst []int16, next []byte) int
}

// peak returns the largest sample magnitude of pcm.
func peak(pcm []int16) int {
	m := 0
	for _, v := range pcm {
		m = max(m, abs16(v))
	}
	return m
}

func abs16(v int16) int {
	if v < 0 {
		return -int(v)
	}
	return int(v)
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		PacketsSent:        s.packetsSent.Load(),
		BytesSent:          s.bytesSent.Load(),
		PacketsReceived:    s.packetsReceived,
		BytesReceived:      s.bytesReceived,
		Lost:               s.jb.lost(),
		Late:               s.jb.late,
		Duplicates:         s.jb.duplicates,
		Discarded:          s.jb.discarded,
		Malformed:          s.malformed,
		Unauthenticated:    s.unauthenticated,
		Foreign:            s.foreign,
		Events:             s.events,
		OtherPayload:       s.otherPayload,
		Concealed:          s.concealed,
		Held:               s.jb.grown + s.jb.underruns,
		Talkspurts:         s.jb.spurts,
		Resets:             s.jb.resets,
		HighestSeq:         s.jb.highestSeq(),
		Jitter:             s.ticks(s.jb.jitter),
		Depth:              s.jb.depth,
		TargetDepth:        s.jb.target,
		PlayoutDelay:       time.Duration(s.jb.meanDepth * float64(s.ptime)),
		RTCPSent:           s.reports.sent,
		RTCPReceived:       s.reports.received,
		RTCPErrors:         s.reports.errors,
		RTT:                s.reports.rtt,
		RemoteFractionLost: s.reports.remoteFraction,
		RemoteLost:         s.reports.remoteLost,
		RemoteJitter:       s.ticks(float64(s.reports.remoteJitter)),
	}
	if now := s.lossSample(); s.packetsReceived > 0 && now.expected > 0 {
		st.R = s.active.Load().impairment.rating(st.PlayoutDelay+s.ptime+st.RTT/2, s.window.lossPercent(now))
		st.MOS = MOSFromR(st.R)
	}
	return st
}

// lossSample returns the packets expected so far and those lost or late. Call it holding
// s.mu.
func (s *Session) lossSample() lossSample {
	return lossSample{expected: s.jb.totalExpected(), impaired: s.jb.lost() + s.jb.late}
}

// ticks converts a duration in RTP clock ticks to a time.Duration.
func (s *Session) ticks(v float64) time.Duration {
	return time.Duration(v * float64(time.Second) / float64(s.active.Load().rtpRate))
}
