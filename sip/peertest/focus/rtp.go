package focus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// Media: one RTP socket per call, a receive loop per socket that decodes and records, and
// one mixer for the whole focus that sends every call the sum of the others.

const (
	sampleRate   = 8000
	frameSamples = 160 // 20 ms at 8 kHz
	frameTime    = 20 * time.Millisecond
	// inboxMax bounds the audio of a call that waits for the mixer: 200 ms. Older audio
	// is dropped, so a late mixer never builds up delay.
	inboxMax = 10 * frameSamples
	// prebufferSamples is what a call's inbox must hold before the mixer takes from it,
	// at the start and after it ran dry: 40 ms, so that packets a busy machine delivers in
	// bursts still mix as a steady stream rather than as audio with holes.
	prebufferSamples = 2 * frameSamples
	// maxCatchUp bounds the frames the mixer makes up for at once after a late tick.
	maxCatchUp  = 5
	maxDatagram = 1500
	// dtmfKeys are the keys of RFC 4733 events 0 to 15.
	dtmfKeys = "0123456789*#ABCD"
)

// A leg is the media of one call.
type leg struct {
	conn  *net.UDPConn
	local netip.AddrPort

	// Guarded by Focus.mu: what offer/answer settled, and what was received.
	remote     netip.AddrPort
	pt, dtmf   uint8
	ulaw       bool
	send, hear bool    // the focus sends to the call; it mixes what the call sends
	inbox      []int16 // decoded audio for the mixer
	primed     bool    // inbox has reached prebufferSamples since it last ran dry
	recorded   []int16 // decoded audio, up to the record limit
	endTS      uint32  // the RTP timestamp of the last DTMF event that ended
	anyEnd     bool    // whether endTS is set

	// The mixer's own, written under Focus.mu and read by the mixer outside it.
	frame     [frameSamples]int16 // what the call sent for this tick
	payload   [frameSamples]byte
	out       rtp.Packet
	packet    [maxDatagram]byte
	packetLen int
	packetTo  netip.AddrPort
	ssrc      uint32
	seq       uint16
	ts        uint32
	started   bool
}

// newLeg opens c's RTP socket and starts its receive loop.
func (f *Focus) newLeg(c *call) (*leg, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	l := &leg{
		conn:  conn,
		local: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		ssrc:  rand.Uint32(),
		seq:   uint16(rand.Uint32()),
		ts:    rand.Uint32(),
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || c.info.State == Ended {
		conn.Close()
		return nil, fmt.Errorf("call %s ended", c.info.CallID)
	}
	l.setOffer(c.offer)
	c.leg, c.info.RTP = l, l.local
	f.updatedLocked()
	f.wg.Go(func() { f.receive(c, l) })
	return l, nil
}

// setOffer applies what an offer settled. The caller holds Focus.mu.
func (l *leg) setOffer(o offer) {
	l.remote, l.pt, l.dtmf, l.ulaw = o.remote, o.pt, o.dtmf, o.codec == "PCMU"
	l.send = o.direction == "sendrecv" || o.direction == "recvonly"
	l.hear = o.direction == "sendrecv" || o.direction == "sendonly"
	if !l.hear {
		l.inbox = l.inbox[:0]
	}
}

// receive reads c's RTP until its socket closes: audio of the negotiated payload type is
// decoded, recorded and queued for the mixer, telephone-events are noted as keys, and
// anything else is dropped.
func (f *Focus) receive(c *call, l *leg) {
	buf := make([]byte, maxDatagram)
	pcm := make([]int16, 0, maxDatagram)
	var pkt rtp.Packet
	for {
		n, _, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by endCall or Close
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		f.mu.Lock()
		switch {
		case pkt.PayloadType == l.pt:
			pcm = pcm[:0]
			for _, b := range pkt.Payload {
				if l.ulaw {
					pcm = append(pcm, g711.DecodeUlawFrame(b))
				} else {
					pcm = append(pcm, g711.DecodeAlawFrame(b))
				}
			}
			l.take(pcm, f.recordLimit)
			c.info.ReceivedSamples = len(l.recorded)
			f.changedLocked()
		case l.dtmf != 0 && pkt.PayloadType == l.dtmf && len(pkt.Payload) >= 4:
			// RFC 4733 section 2.3: event, E bit, volume, duration. An event ends with
			// packets that have E set, usually three alike.
			event, end := pkt.Payload[0], pkt.Payload[1]&0x80 != 0
			if end && (!l.anyEnd || l.endTS != pkt.Timestamp) && int(event) < len(dtmfKeys) {
				l.endTS, l.anyEnd = pkt.Timestamp, true
				c.info.Digits += dtmfKeys[event : event+1]
				f.changedLocked()
			}
		}
		f.mu.Unlock()
	}
}

// take records pcm, up to limit samples in all, and queues it for the mixer. The caller
// holds Focus.mu.
func (l *leg) take(pcm []int16, limit int) {
	if room := limit - len(l.recorded); room > 0 {
		l.recorded = append(l.recorded, pcm[:min(room, len(pcm))]...)
	}
	if !l.hear {
		return
	}
	l.inbox = append(l.inbox, pcm...)
	if over := len(l.inbox) - inboxMax; over > 0 {
		l.inbox = append(l.inbox[:0], l.inbox[over:]...)
	}
}

// A tone is a sine that the focus mixes into a conference, as a participant would.
type tone struct {
	step, phase, amplitude float64
}

// Tone makes everyone in conference hear a sine of freqHz at amplitude (a fraction of full
// scale, e.g. 0.1), as if one more participant played it, until Tone is called again for
// conference; a frequency or amplitude of 0 stops it.
func (f *Focus) Tone(conference string, freqHz, amplitude float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if freqHz <= 0 || amplitude <= 0 {
		delete(f.tones, conference)
		return
	}
	f.tones[conference] = &tone{step: 2 * math.Pi * freqHz / sampleRate, amplitude: min(amplitude, 1) * math.MaxInt16}
}

// mixer is the scratch space of mix.
type mixer struct {
	sums  map[string]*[frameSamples]int32 // per conference, the sum of what its calls sent
	up    []*call
	sends []*leg
}

// mix sends every call up its conference's mix each 20 ms, until the focus closes. After
// a late tick it makes up for up to maxCatchUp frames, so calls get audio in real time.
func (f *Focus) mix() {
	tick := time.NewTicker(frameTime)
	defer tick.Stop()
	m := mixer{sums: make(map[string]*[frameSamples]int32)}
	start := time.Now()
	var done int64
	for {
		select {
		case <-f.ctx.Done():
			return
		case now := <-tick.C:
			due := int64(now.Sub(start)/frameTime) - done
			if due > maxCatchUp {
				done += due - maxCatchUp
				due = maxCatchUp
			}
			for range due {
				f.mixFrame(&m)
				done++
			}
		}
	}
}

// mixFrame mixes and sends one 20 ms frame.
func (f *Focus) mixFrame(m *mixer) {
	f.mu.Lock()
	for _, s := range m.sums {
		clear(s[:])
	}
	m.up, m.sends = m.up[:0], m.sends[:0]
	for _, c := range f.order {
		l := c.leg
		if c.info.State != Up || l == nil {
			continue
		}
		l.primed = l.primed && len(l.inbox) >= frameSamples || len(l.inbox) >= prebufferSamples
		if l.hear && l.primed {
			copy(l.frame[:], l.inbox)
			l.inbox = append(l.inbox[:0], l.inbox[frameSamples:]...)
		} else {
			clear(l.frame[:])
		}
		sum := m.sums[c.info.Conference]
		if sum == nil {
			sum = new([frameSamples]int32)
			m.sums[c.info.Conference] = sum
		}
		for i, v := range l.frame {
			sum[i] += int32(v)
		}
		m.up = append(m.up, c)
	}
	for conf, t := range f.tones {
		sum := m.sums[conf]
		if sum == nil {
			continue
		}
		for i := range sum {
			sum[i] += int32(t.amplitude * math.Sin(t.phase))
			t.phase = math.Mod(t.phase+t.step, 2*math.Pi)
		}
	}
	for _, c := range m.up {
		l := c.leg
		if !l.send || !l.remote.IsValid() {
			continue
		}
		sum := m.sums[c.info.Conference]
		for i := range l.payload {
			v := int16(max(math.MinInt16, min(math.MaxInt16, sum[i]-int32(l.frame[i]))))
			if l.ulaw {
				l.payload[i] = g711.EncodeUlawFrame(v)
			} else {
				l.payload[i] = g711.EncodeAlawFrame(v)
			}
		}
		l.out.Header = rtp.Header{Version: 2, Marker: !l.started, PayloadType: l.pt, SequenceNumber: l.seq, Timestamp: l.ts, SSRC: l.ssrc}
		l.out.Payload = l.payload[:]
		n, err := l.out.MarshalTo(l.packet[:])
		if err != nil {
			f.log.Error("marshal RTP", "call", c.info.CallID, "err", err)
			continue
		}
		l.seq, l.ts, l.started = l.seq+1, l.ts+frameSamples, true
		l.packetLen, l.packetTo = n, l.remote
		m.sends = append(m.sends, l)
	}
	f.mu.Unlock()
	for _, l := range m.sends {
		// A call that ended meanwhile has its socket closed: the write fails, harmlessly.
		_, _ = l.conn.WriteToUDPAddrPort(l.packet[:l.packetLen], l.packetTo)
	}
}
