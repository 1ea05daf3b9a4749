package media

import "math"

// Jitter buffer sizing, in packets.
const (
	// jitterSlots is the number of packets the buffer can hold. It must be a power of two:
	// slots are indexed by the low bits of the extended sequence number.
	jitterSlots = 32
	// initialTarget is the playout depth before any jitter has been measured: 40 ms at 20 ms
	// per packet.
	initialTarget = 2
	// MaxJitterDepth is the most packets the adaptive jitter buffer aims to hold, however
	// much jitter it measures: 160 ms at 20 ms per packet.
	MaxJitterDepth = 8
	// jitterMargin is how many times the RFC 3550 interarrival jitter the playout delay
	// allows for. For delays spread uniformly over a width W, the jitter estimate is W/3, so
	// 3 covers the whole spread; for a normal spread of deviation σ it is 1.13σ, so 3 covers
	// about 3.4σ.
	jitterMargin = 3
	// jitterDecay is the fraction of the gap by which the jitter envelope falls toward the
	// jitter estimate per packet when the estimate falls: about 5 s at 20 ms per packet. It
	// rises at once.
	jitterDecay = 1.0 / 256
	// shrinkWindow is how many playouts the depth must stay above the target before one
	// packet of delay is given up: 1 s at 20 ms per packet.
	shrinkWindow = 50
	// maxDepth bounds the playout delay in an emergency, such as a burst of packets after a
	// network stall: beyond it, the oldest are discarded down to the target.
	maxDepth = 2 * MaxJitterDepth
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
	ext  int64 // extended sequence number
	kind slotKind
	// spurt marks the first packet of a talkspurt: playout may wait before it, in the
	// silence that precedes it, to bring the buffer to its target depth.
	spurt   bool
	n       int
	payload []byte // the slot's room for a payload (see growPayloads)
}

// A jitterBuffer reorders one RTP stream's packets by sequence number and releases them one
// per pop, at a playout delay that adapts to the measured jitter. It also keeps the receiver
// statistics of RFC 3550 section 6.4.1: extended highest sequence number, cumulative loss and
// interarrival jitter. It allocates only to grow its slots (below). It is not safe for
// concurrent use.
//
// The delay is counted in packets: the depth is the span from the packet due to the newest
// received, both included. The target depth is 1 + jitterMargin*J/packet time, rounded,
// between 1 and MaxJitterDepth (rounded, not up: the phase of playout against arrival
// leaves half a packet of slack on average, and an underrun makes up for the rest), where J follows the RFC 3550 jitter up at once and down
// slowly. The buffer grows only where the listener hears concealment anyway: when the due
// packet is missing (an underrun, or a loss while the buffer is below target), playout
// holds instead of moving on; and before the first packet of a talkspurt, in the silence
// that preceded it. It shrinks by one packet when its depth stayed above the target for
// shrinkWindow playouts, and then only during concealment or when the caller reports
// quiet audio, so speech is never cut with a click.
//
// The slots' payloads are sized for the largest payload seen so far, not for the largest
// a datagram could carry: 160 bytes for a G.711 call rather than 1488, 5 KB a stream
// rather than 47 KB. init gives them that much; a larger payload grows them, which
// allocates, at most a few times a stream.
type jitterBuffer struct {
	slots [jitterSlots]jitterSlot
	count int   // slots not empty
	step  int64 // RTP timestamp units per packet

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
	expBefore  uint64 // packets expected of them

	// The newest audio packet, to tell a timestamp jump (a new talkspurt) from a stream.
	haveAudio bool
	audioExt  int64
	audioTS   uint32

	// Playout. next is the extended sequence number to play next; once played is set,
	// anything older is late. held counts the playouts held back in a row at next, and
	// silent the playouts in a row that released nothing.
	playing bool
	played  bool
	next    int64
	held    int
	silent  int

	// Adaptation.
	target             int
	envelope           float64 // jitter envelope, in clock units
	minDepth, windowed int     // the least depth over the current window, and its length
	shrink             bool    // give up a packet of delay at the next chance
	depth              int     // at the last pop
	meanDepth          float64 // smoothed over pops

	// Interarrival jitter (RFC 3550 section 6.4.1 and appendix A.8), in clock units.
	haveTransit bool
	transit     int32
	jitter      float64

	late, duplicates, discarded, resets, spurts uint64
	// Playouts held back: with nothing buffered, or to grow.
	underruns, grown uint64
}

// init readies the buffer for a stream whose packets each advance the RTP timestamp by
// step.
func (j *jitterBuffer) init(step int) {
	j.step = int64(step)
	j.target = initialTarget
	// Start the envelope where it gives the initial target; it decays from there.
	j.envelope = float64(step) * (initialTarget - 1) / jitterMargin
	j.minDepth = math.MaxInt
	if len(j.slots[0].payload) == 0 {
		j.growPayloads(minSlotPayload) // here, not at the stream's first packet
	}
}

// push offers a packet. arrival is its arrival time on a clock running at the stream's RTP
// clock rate, and marker its RTP marker bit. An audio packet's payload is copied into a
// slot; a filler's is ignored. A new SSRC, or a sequence number more than maxDropout away
// from the highest so far, restarts the stream: the buffer is emptied and playout waits for
// the target depth again.
func (j *jitterBuffer) push(ssrc uint32, seq uint16, ts, arrival uint32, marker bool, kind slotKind, payload []byte) {
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
	// A packet older than the first one received still counts as expected (RFC 3550
	// appendix A.3 counts from the first, which reordering need not deliver first).
	j.extBase = min(j.extBase, ext)
	j.received++
	spurt := false
	if kind == slotAudio {
		// A timestamp that does not follow from the last audio packet's, or the marker bit,
		// starts a talkspurt (RFC 3551 section 4.1): the sender paused, or another source
		// was spliced in. The transit time starts over, so the jump is not taken for
		// jitter. Telephone events repeat their start timestamp, so only audio counts.
		if j.haveAudio && ext > j.audioExt {
			if ts != j.audioTS+uint32((ext-j.audioExt)*j.step) {
				spurt, j.haveTransit = true, false
			}
		}
		spurt = spurt || marker
		if !j.haveAudio || ext > j.audioExt {
			j.haveAudio, j.audioExt, j.audioTS = true, ext, ts
		}
		j.updateJitter(ts, arrival)
	}
	if spurt {
		j.spurts++
	}
	j.insert(ext, kind, spurt, payload)
}

// insert stores packet ext in its slot, or counts it late.
func (j *jitterBuffer) insert(ext int64, kind slotKind, spurt bool, payload []byte) {
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
	s.ext, s.kind, s.spurt = ext, kind, spurt
	s.n = 0
	if kind == slotAudio {
		if len(payload) > len(s.payload) && len(s.payload) < maxPayload {
			j.growPayloads(len(payload))
		}
		s.n = copy(s.payload, payload)
	}
	if !j.playing && j.extMax-j.next+1 >= int64(j.target) {
		j.playing, j.played = true, true
		j.next = j.lowest()
	}
}

// minSlotPayload is the least room a slot is given for a payload: a 20 ms G.711 packet.
const minSlotPayload = 160

// growPayloads gives every slot room for a payload of n bytes (at most maxPayload), at
// least twice what it had, keeping what the slots hold.
func (j *jitterBuffer) growPayloads(n int) {
	size := min(max(n, 2*len(j.slots[0].payload), minSlotPayload), maxPayload)
	payloads := make([]byte, jitterSlots*size)
	for i := range j.slots {
		s := &j.slots[i]
		next := payloads[i*size : (i+1)*size : (i+1)*size]
		copy(next, s.payload[:s.n])
		s.payload = next
	}
}

// pop releases the packet due now and advances playout by one packet, or holds playout
// back by one packet time to let the buffer grow. It returns slotEmpty if nothing is due:
// before playout starts, during an underrun, for a lost packet, or while playout is held.
// quiet reports that the audio played last was silent, so that a packet may be dropped now
// without being heard. An audio payload aliases the slot: use it before the next push.
func (j *jitterBuffer) pop(quiet bool) (slotKind, []byte) {
	if !j.playing {
		return slotEmpty, nil
	}
	depth := int(max(0, j.extMax-j.next+1))
	if depth > maxDepth {
		// An emergency, such as a burst after a stall: no waiting for a quiet moment.
		j.skipTo(j.extMax - int64(j.target) + 1)
		depth = j.target
	}
	j.observe(depth)

	s := &j.slots[j.next&(jitterSlots-1)]
	if s.kind == slotEmpty || s.ext != j.next {
		j.silent++
		return j.missing(depth)
	}
	if s.spurt && depth < j.target && j.held < j.target {
		// The silence before a talkspurt is the time to grow.
		j.held++
		j.grown++
		j.silent++
		return slotEmpty, nil
	}
	if j.shrink && quiet && depth > 1 {
		if n := &j.slots[(j.next+1)&(jitterSlots-1)]; n.kind != slotEmpty && n.ext == j.next+1 {
			j.drop(s)
			j.shrink = false
			s = n
		}
	}
	j.held, j.silent = 0, 0
	j.next++
	kind := s.kind
	s.kind = slotEmpty
	j.count--
	return kind, s.payload[:s.n]
}

// nextAudio returns the payload of the audio packet due next, if it has arrived: after a
// pop that declared a packet lost, the one after it, which may carry a copy of it (Opus's
// FEC). It aliases the slot: use it before the next push.
func (j *jitterBuffer) nextAudio() []byte {
	if s := &j.slots[j.next&(jitterSlots-1)]; s.kind == slotAudio && s.ext == j.next {
		return s.payload[:s.n]
	}
	return nil
}

// silence turns the audio packets buffered into fillers: they keep their places in the
// sequence and play as silence, as after a change of codec, which their payloads are not
// of.
func (j *jitterBuffer) silence() {
	for i := range j.slots {
		if s := &j.slots[i]; s.kind == slotAudio {
			s.kind, s.n = slotFiller, 0
		}
	}
}

// missing handles a pop whose packet has not arrived.
func (j *jitterBuffer) missing(depth int) (slotKind, []byte) {
	if j.count == 0 {
		// An underrun: wait for the packet, one packet time more of delay.
		j.underruns++
		return slotEmpty, nil
	}
	if depth < j.target && j.held < j.target && j.silent < concealPackets-1 {
		// A gap while below target: the same, but bounded, as a lost packet never comes,
		// and only while the concealment, with the gap's own packet time after the wait,
		// still fits in the fade: growing must not make a loss fall silent.
		j.held++
		j.grown++
		return slotEmpty, nil
	}
	j.held = 0
	low := j.lowest()
	if low-j.next > MaxJitterDepth {
		// A long gap, such as after a stall: resynchronise on what came after it, and let
		// the buffer fill before it plays, as at a talkspurt.
		j.next = low
		j.slots[low&(jitterSlots-1)].spurt = true
		return slotEmpty, nil
	}
	j.next++
	if j.shrink && depth > j.target {
		// Concealment is playing: give up the packet after the missing one too.
		if s := &j.slots[j.next&(jitterSlots-1)]; s.kind != slotEmpty && s.ext == j.next {
			j.drop(s)
			j.shrink = false
		}
	}
	return slotEmpty, nil
}

// drop discards the packet in slot s, unplayed.
func (j *jitterBuffer) drop(s *jitterSlot) {
	s.kind = slotEmpty
	j.count--
	j.discarded++
	j.next = s.ext + 1
}

// observe records the depth at a pop: it smooths it for the playout delay, and decides
// whether the buffer holds more than it needs.
func (j *jitterBuffer) observe(depth int) {
	j.depth = depth
	j.meanDepth += (float64(depth) - j.meanDepth) / 16
	j.minDepth = min(j.minDepth, depth)
	j.windowed++
	if j.windowed >= shrinkWindow {
		if j.minDepth > j.target {
			j.shrink = true
		}
		j.minDepth, j.windowed = math.MaxInt, 0
	}
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
// where D is the change in transit time (RFC 3550 section 6.4.1), and adapts the target
// depth to it.
func (j *jitterBuffer) updateJitter(ts, arrival uint32) {
	transit := int32(arrival - ts)
	if j.haveTransit {
		// The difference wraps like the 32-bit clocks it comes from.
		d := float64(transit - j.transit)
		j.jitter += (math.Abs(d) - j.jitter) / 16
	}
	j.transit, j.haveTransit = transit, true

	if j.jitter > j.envelope {
		j.envelope = j.jitter
	} else {
		j.envelope -= (j.envelope - j.jitter) * jitterDecay
	}
	if j.step > 0 {
		want := 1 + int(math.Round(jitterMargin*j.envelope/float64(j.step)))
		j.target = max(1, min(MaxJitterDepth, want))
	}
}

// reset forgets the current stream, keeping the cumulative counters and the jitter
// envelope: the network has not changed.
func (j *jitterBuffer) reset() {
	j.lostBefore += j.streamLost()
	j.expBefore += j.expected()
	for i := range j.slots {
		j.slots[i].kind = slotEmpty
	}
	j.count = 0
	j.active, j.playing, j.played, j.haveTransit, j.haveAudio = false, false, false, false, false
	j.received, j.seen, j.jitter, j.held = 0, 0, 0, 0
	j.resets++
}

// streamLost returns the packets the current stream lost: expected minus received, never
// negative (RFC 3550 appendix A.3).
func (j *jitterBuffer) streamLost() uint64 {
	expected := j.expected()
	if expected <= j.received {
		return 0
	}
	return expected - j.received
}

// expected returns the number of packets the current stream should have delivered: from
// the lowest to the highest sequence number received.
func (j *jitterBuffer) expected() uint64 {
	if !j.active {
		return 0
	}
	return uint64(j.extMax-j.extBase) + 1
}

// totalExpected returns the cumulative number of packets expected since the buffer was
// created.
func (j *jitterBuffer) totalExpected() uint64 { return j.expBefore + j.expected() }

// lost returns the cumulative number of packets lost since the buffer was created.
func (j *jitterBuffer) lost() uint64 { return j.lostBefore + j.streamLost() }

// highestSeq returns the extended highest sequence number received, as RTCP reports it.
func (j *jitterBuffer) highestSeq() uint32 { return uint32(j.extMax) }
