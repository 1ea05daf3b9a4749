package media

import "math"

// Jitter buffer sizing, in packets.
const (
	// jitterSlots is the number of packets the buffer can hold. It must be a power of two:
	// slots are indexed by the low bits of the extended sequence number.
	jitterSlots = 16
	// jitterTarget is how many packets are buffered before playout starts (and restarts
	// after an underrun): 40 ms at 20 ms per packet.
	jitterTarget = 2
	// jitterMaxDepth bounds the playout delay: when more packets than this are waiting, as
	// happens when the sender's clock runs faster than ours, the oldest are discarded.
	jitterMaxDepth = 6
	// maxDropout is the largest sequence number jump, either way, taken as the same stream
	// (RFC 3550 appendix A.1 uses 3000 forward); beyond it the stream is restarted.
	maxDropout = 3000
	// seenWindow is how far behind the highest sequence number duplicates are recognised.
	seenWindow = 64
	// maxPayload is the largest payload a 1500-byte datagram carries after a bare header.
	maxPayload = maxDatagram - rtpHeaderSize
)

// slotKind says what a jitter buffer slot holds.
type slotKind uint8

const (
	// slotEmpty: no packet; popped, it means nothing was due.
	slotEmpty slotKind = iota
	// slotAudio: a packet of the session's codec.
	slotAudio
	// slotFiller: a packet that takes its place in the sequence but carries no audio, such
	// as an RFC 4733 telephone event, which shares the audio's sequence number space.
	slotFiller
)

type jitterSlot struct {
	ext     int64 // extended sequence number
	kind    slotKind
	n       int
	payload [maxPayload]byte
}

// A jitterBuffer reorders one RTP stream's packets by sequence number and releases them one
// per pop at a fixed delay. It also keeps the receiver statistics of RFC 3550 section 6.4.1:
// extended highest sequence number, cumulative loss and interarrival jitter. It never
// allocates. It is not safe for concurrent use.
type jitterBuffer struct {
	slots [jitterSlots]jitterSlot
	count int // slots not empty

	// The stream, per RFC 3550 appendix A.1, since the last reset. Extended sequence
	// numbers start at the first packet's sequence number and count on across wrap-around,
	// so bits 16 and up count the cycles.
	active     bool
	ssrc       uint32
	maxSeq     uint16
	extMax     int64
	extBase    int64
	received   uint64 // distinct packets received
	seen       uint64 // bit i set: extMax-i has been received
	lostBefore uint64 // packets lost by streams before the last reset

	// Playout. next is the extended sequence number to play next; once played is set,
	// anything older is late.
	playing bool
	played  bool
	next    int64

	// Interarrival jitter (RFC 3550 section 6.4.1 and appendix A.8), in clock units.
	haveTransit bool
	transit     int32
	jitter      float64

	late, duplicates, discarded, resets uint64
}

// push offers a packet. arrival is its arrival time on a clock running at the stream's RTP
// clock rate. An audio packet's payload is copied into a slot; a filler's is ignored. A new
// SSRC, or a sequence number more than maxDropout away from the highest so far, restarts the
// stream: the buffer is emptied and playout waits for jitterTarget packets again.
func (j *jitterBuffer) push(ssrc uint32, seq uint16, ts, arrival uint32, kind slotKind, payload []byte) {
	if j.active && ssrc != j.ssrc {
		j.reset()
	}
	delta := int(int16(seq - j.maxSeq))
	if j.active && (delta >= maxDropout || delta <= -maxDropout) {
		j.reset()
	}
	if !j.active {
		j.active, j.ssrc, j.maxSeq = true, ssrc, seq
		j.extMax = int64(seq)
		j.extBase = j.extMax
		delta = 0
	}

	ext := j.extMax + int64(delta)
	if delta > 0 {
		if delta < seenWindow {
			j.seen <<= delta
		} else {
			j.seen = 0
		}
		j.seen |= 1
		j.extMax, j.maxSeq = ext, seq
	} else if back := -delta; back < seenWindow {
		bit := uint64(1) << back
		if j.seen&bit != 0 {
			j.duplicates++
			return
		}
		j.seen |= bit
	}
	j.received++
	if kind == slotAudio {
		// Telephone events repeat their start timestamp, so only audio measures jitter.
		j.updateJitter(ts, arrival)
	}
	j.insert(ext, kind, payload)
}

// insert stores packet ext in its slot, or counts it late.
func (j *jitterBuffer) insert(ext int64, kind slotKind, payload []byte) {
	switch {
	case j.played && ext < j.next:
		j.late++
		return
	case j.count == 0 && !j.played:
		j.next = ext
	case ext < j.next:
		// Reordered ahead of playout start.
		if ext <= j.extMax-jitterSlots {
			j.late++
			return
		}
		j.next = ext
	}
	if ext-j.next >= jitterSlots {
		// The consumer fell behind: make room by dropping the oldest.
		j.skipTo(ext - jitterSlots + 1)
	}
	s := &j.slots[ext&(jitterSlots-1)]
	if s.kind == slotEmpty {
		j.count++
	}
	s.ext, s.kind = ext, kind
	s.n = 0
	if kind == slotAudio {
		s.n = copy(s.payload[:], payload)
	}
	if !j.playing && j.count >= jitterTarget {
		j.playing, j.played = true, true
		j.next = j.lowest()
	}
}

// pop releases the packet due now and advances playout by one packet. It returns slotEmpty
// if nothing is due: before playout starts, during an underrun, or for a lost packet. An
// audio payload aliases the slot: use it before the next push.
func (j *jitterBuffer) pop() (slotKind, []byte) {
	if !j.playing {
		return slotEmpty, nil
	}
	for j.count > jitterMaxDepth {
		j.skipTo(j.next + 1)
	}
	s := &j.slots[j.next&(jitterSlots-1)]
	due := j.next
	j.next++
	if s.kind == slotEmpty || s.ext != due {
		if j.count == 0 {
			// Underrun: rebuffer to the target depth before playing on.
			j.playing = false
		}
		return slotEmpty, nil
	}
	kind := s.kind
	s.kind = slotEmpty
	j.count--
	return kind, s.payload[:s.n]
}

// skipTo moves playout forward to ext, discarding what it passes.
func (j *jitterBuffer) skipTo(ext int64) {
	for ; j.next < ext && j.count > 0; j.next++ {
		s := &j.slots[j.next&(jitterSlots-1)]
		if s.kind != slotEmpty && s.ext == j.next {
			s.kind = slotEmpty
			j.count--
			j.discarded++
		}
	}
	j.next = max(j.next, ext)
}

// lowest returns the lowest extended sequence number buffered; count must be positive.
func (j *jitterBuffer) lowest() int64 {
	low := int64(math.MaxInt64)
	for i := range j.slots {
		if s := &j.slots[i]; s.kind != slotEmpty {
			low = min(low, s.ext)
		}
	}
	return low
}

// updateJitter folds one packet into the interarrival jitter estimate: J += (|D| - J)/16,
// where D is the change in transit time (RFC 3550 section 6.4.1).
func (j *jitterBuffer) updateJitter(ts, arrival uint32) {
	transit := int32(arrival - ts)
	if j.haveTransit {
		// The difference wraps like the 32-bit clocks it comes from.
		d := float64(transit - j.transit)
		j.jitter += (math.Abs(d) - j.jitter) / 16
	}
	j.transit, j.haveTransit = transit, true
}

// reset forgets the current stream, keeping the cumulative counters.
func (j *jitterBuffer) reset() {
	j.lostBefore += j.streamLost()
	for i := range j.slots {
		j.slots[i].kind = slotEmpty
	}
	j.count = 0
	j.active, j.playing, j.played, j.haveTransit = false, false, false, false
	j.received, j.seen, j.jitter = 0, 0, 0
	j.resets++
}

// streamLost returns the packets the current stream lost: expected minus received, never
// negative (RFC 3550 appendix A.3).
func (j *jitterBuffer) streamLost() uint64 {
	if !j.active {
		return 0
	}
	expected := uint64(j.extMax-j.extBase) + 1
	if expected <= j.received {
		return 0
	}
	return expected - j.received
}

// lost returns the cumulative number of packets lost since the buffer was created.
func (j *jitterBuffer) lost() uint64 { return j.lostBefore + j.streamLost() }

// highestSeq returns the extended highest sequence number received, as RTCP reports it.
func (j *jitterBuffer) highestSeq() uint32 { return uint32(j.extMax) }
