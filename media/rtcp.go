package media

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pion/rtcp"
)

// DefaultRTCPInterval is the mean interval between RTCP reports when
// SessionConfig.RTCPInterval is 0: RFC 3550 section 6.2's minimum of 5 s, which is what the
// computed interval comes to for a two-party call of one audio stream.
const DefaultRTCPInterval = 5 * time.Second

// ntpEpochOffset is the number of seconds from the NTP epoch (1900) to the Unix epoch.
const ntpEpochOffset = 2208988800

// maxTotalLost is the largest cumulative loss a report block carries: a signed 24-bit field
// (RFC 3550 section 6.4.1).
const maxTotalLost = 1<<23 - 1

// rtcpSchedule is what the RTCP sender alone uses.
type rtcpSchedule struct {
	interval time.Duration // mean; negative: no RTCP
	cname    string
	// packetsSent at the last two reports, newest first: a session that sent RTP since
	// the report before last reports as a sender (RFC 3550 section 6.3.8).
	sentAt [2]uint64
	// enc takes a report protected with SRTCP.
	enc [maxDatagram + srtpOverhead]byte
}

// rtcpState is what RTCP reports told, and what the next report needs of the last ones;
// guarded by Session.mu.
type rtcpState struct {
	sent, received, errors uint64
	rtt                    time.Duration
	remoteFraction         float64
	remoteLost             int64
	remoteJitter           uint32 // in RTP clock ticks

	// The last sender report from the far end: its SSRC, the middle 32 bits of its NTP
	// time, and when it arrived.
	haveSR  bool
	srSSRC  uint32
	lastSR  uint32
	lastSRT time.Time

	// The received stream's expected and received counts at the last report, for the
	// fraction lost over the interval (RFC 3550 appendix A.3); priorOf says which stream.
	priorOf                      uint64 // jitterBuffer.resets when they were taken
	priorExpected, priorReceived uint64
}

// isRTCP reports whether a datagram on the RTP port is RTCP: version 2 and a second octet
// of 192 to 223, which RFC 5761 section 4 reserves for RTCP packet types.
func isRTCP(b []byte) bool {
	return len(b) >= 4 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223
}

// sendReports sends an RTCP report every randomized interval until ctx is done, and then
// a last one with a BYE.
func (s *Session) sendReports(ctx context.Context) {
	if s.rtcp.interval < 0 {
		return
	}
	t := time.NewTimer(rtcpDelay(s.rtcp.interval, true))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.sendReport(time.Now(), true)
			return
		case <-t.C:
			s.sendReport(time.Now(), false)
			t.Reset(rtcpDelay(s.rtcp.interval, false))
		}
	}
}

// rtcpDelay returns the time to the next report: the interval times a random factor of 0.5
// to 1.5 (RFC 3550 section 6.3.1), so that reports from many sessions do not synchronise;
// for the first report, half of that (section 6.2). The division by e-3/2 of section 6.3.1
// compensates for timer reconsideration, which a two-party session does not do, so it is
// left out: the mean interval is the one asked for.
func rtcpDelay(interval time.Duration, first bool) time.Duration {
	d := time.Duration(float64(interval) * (0.5 + rand.Float64()))
	if first {
		d /= 2
	}
	return d
}

// sendReport sends one compound RTCP packet, counting it or its failure.
func (s *Session) sendReport(now time.Time, bye bool) {
	b, err := s.report(now, bye)
	if keys := s.srtp.Load(); err == nil && keys != nil {
		b, err = keys.protectRTCP(s.rtcp.enc[:], b)
	}
	if err == nil {
		err = s.write(b, *s.remote.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.reports.errors++
		return
	}
	s.reports.sent++
}

// report builds the compound RTCP packet due at now: a sender report if the session sent
// RTP since the report before last, else a receiver report, with a report block on the
// received stream if there is one; then the SDES CNAME; then, if bye, a BYE (RFC 3550
// section 6.1). Marshalling allocates: once per report, every few seconds.
func (s *Session) report(now time.Time, bye bool) ([]byte, error) {
	sent := s.packetsSent.Load()
	weSent := sent > s.rtcp.sentAt[1]
	s.rtcp.sentAt[1], s.rtcp.sentAt[0] = s.rtcp.sentAt[0], sent

	var blocks []rtcp.ReceptionReport
	if rr, ok := s.receptionReport(now); ok {
		blocks = []rtcp.ReceptionReport{rr}
	}
	var first rtcp.Packet
	if weSent {
		// The RTP time of now, extrapolated from the newest packet's (section 6.4.1).
		since := now.Sub(s.epoch) - time.Duration(s.lastSend.Load())
		first = &rtcp.SenderReport{
			SSRC:        s.ssrc,
			NTPTime:     s.ntpTime(now),
			RTPTime:     s.lastTS.Load() + uint32(since.Seconds()*float64(s.active.Load().rtpRate)),
			PacketCount: uint32(sent),
			OctetCount:  uint32(s.payloadSent.Load()),
			Reports:     blocks,
		}
	} else {
		first = &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: blocks}
	}
	pkts := []rtcp.Packet{first, rtcp.NewCNAMESourceDescription(s.ssrc, s.rtcp.cname)}
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.ssrc}})
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return nil, fmt.Errorf("marshal RTCP report: %w", err)
	}
	return b, nil
}

// receptionReport returns the report block on the received stream (RFC 3550 section 6.4.1
// and appendix A.3), and false if nothing has been received.
func (s *Session) receptionReport(now time.Time) (rtcp.ReceptionReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, st := &s.jb, &s.reports
	if !j.active || j.received == 0 {
		return rtcp.ReceptionReport{}, false
	}
	expected := j.expected()
	if st.priorOf != j.resets {
		st.priorOf, st.priorExpected, st.priorReceived = j.resets, 0, 0
	}
	expInterval := int64(expected) - int64(st.priorExpected)
	lostInterval := expInterval - (int64(j.received) - int64(st.priorReceived))
	st.priorExpected, st.priorReceived = expected, j.received
	var fraction uint8
	if expInterval > 0 && lostInterval > 0 {
		fraction = uint8(lostInterval << 8 / expInterval)
	}
	rr := rtcp.ReceptionReport{
		SSRC:               j.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(min(j.streamLost(), maxTotalLost)),
		LastSequenceNumber: j.highestSeq(),
		Jitter:             uint32(j.jitter),
	}
	if st.haveSR && st.srSSRC == j.ssrc {
		rr.LastSenderReport = st.lastSR
		rr.Delay = uint32(now.Sub(st.lastSRT) * 65536 / time.Second)
	}
	return rr, true
}

// handleRTCP takes in a compound RTCP packet from Remote that arrived at now: the time of a
// sender report, for the next report block's LSR and DLSR, and report blocks on the stream
// we send, for the round-trip time and the far end's loss and jitter. Parsing allocates,
// once per report.
func (s *Session) handleRTCP(buf []byte, now time.Time) {
	pkts, err := rtcp.Unmarshal(buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.reports
	if err != nil {
		st.errors++
		return
	}
	st.received++
	for _, p := range pkts {
		var blocks []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.SenderReport:
			st.haveSR, st.srSSRC, st.lastSR, st.lastSRT = true, p.SSRC, uint32(p.NTPTime>>16), now
			blocks = p.Reports
		case *rtcp.ReceiverReport:
			blocks = p.Reports
		}
		for _, rr := range blocks {
			if rr.SSRC == s.ssrc {
				s.takeReport(rr, now)
			}
		}
	}
}

// takeReport records a report block on the stream we send; s.mu must be held.
func (s *Session) takeReport(rr rtcp.ReceptionReport, now time.Time) {
	st := &s.reports
	st.remoteFraction = float64(rr.FractionLost) / 256
	if la, ok := s.active.Load().codec.(lossAdapter); ok {
		la.ExpectLoss(st.remoteFraction)
	}
	lost := int64(rr.TotalLost & 0xffffff)
	if lost&0x800000 != 0 { // a signed 24-bit field: duplicates can outnumber losses
		lost -= 1 << 24
	}
	st.remoteLost = lost
	st.remoteJitter = rr.Jitter
	if rr.LastSenderReport == 0 {
		return
	}
	// RTT = A - LSR - DLSR, in 1/65536 s (RFC 3550 section 6.4.1, figure 2). A result
	// that wraps negative, as clock resolution can make it on a fast link, is 0.
	rtt := uint32(s.ntpTime(now)>>16) - rr.LastSenderReport - rr.Delay
	st.rtt = 0
	if int32(rtt) > 0 {
		st.rtt = time.Duration(rtt) * time.Second / 65536
	}
}

// ntpTime returns now as the session's NTP timestamp: the wall clock when the session
// started, plus the time since on the monotonic clock. A step of the wall clock in the
// middle of the call (NTP setting it at boot) then moves neither our sender reports nor
// the round-trip time, which an hour's step would otherwise make an hour long for the
// report that spans it, and the MOS with it.
func (s *Session) ntpTime(now time.Time) uint64 { return ntpTime(s.epoch.Add(now.Sub(s.epoch))) }

// ntpTime returns t as a 64-bit NTP timestamp: seconds since 1900 and a binary fraction.
func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// randomCNAME returns a random canonical name of 96 bits, as RFC 7022 section 4.2 asks,
// which does not tell anyone the appliance's address.
func randomCNAME() string {
	var b [12]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return base64.RawStdEncoding.EncodeToString(b[:])
}
