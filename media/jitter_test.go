package media

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

const testSSRC = 0x5eed

// newJitterBuffer returns a buffer for 20 ms packets at 8 kHz.
func newJitterBuffer() *jitterBuffer {
	j := &jitterBuffer{}
	j.init(160)
	return j
}

// pushSeq pushes audio packet seq of testSSRC whose payload is its sequence number, arriving
// exactly on time.
func pushSeq(j *jitterBuffer, seqs ...uint16) {
	for _, seq := range seqs {
		ts := uint32(seq) * 160
		j.push(testSSRC, seq, ts, ts, false, slotAudio, []byte{byte(seq >> 8), byte(seq)})
	}
}

// popAll pops n times and returns the sequence numbers played, -1 where nothing was due.
func popAll(j *jitterBuffer, n int) []int {
	var got []int
	for range n {
		got = append(got, popOne(j, false))
	}
	return got
}

// popOne pops once and returns the sequence number played, -1 where nothing was due and
// -2 for a filler.
func popOne(j *jitterBuffer, quiet bool) int {
	kind, p := j.pop(quiet)
	switch {
	case kind == slotAudio && len(p) == 2:
		return int(p[0])<<8 | int(p[1])
	case kind == slotFiller:
		return -2
	}
	return -1
}

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name string
		// run pushes and pops, returning what was played.
		run  func(j *jitterBuffer) []int
		want []int
		// wantStats is {late, duplicates, lost, resets, discarded, held}.
		wantStats [6]uint64
	}{
		{
			name: "waits for the target depth",
			run: func(j *jitterBuffer) []int {
				got := popAll(j, 1)
				pushSeq(j, 100)
				got = append(got, popAll(j, 1)...)
				pushSeq(j, 101)
				return append(got, popAll(j, 3)...)
			},
			want:      []int{-1, -1, 100, 101, -1},
			wantStats: [6]uint64{0, 0, 0, 0, 0, 1},
		},
		{
			name: "reordered packets play in order",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 11, 10, 13, 12)
				got := popAll(j, 2)
				pushSeq(j, 15, 14)
				return append(got, popAll(j, 4)...)
			},
			want: []int{10, 11, 12, 13, 14, 15},
		},
		{
			name: "duplicates are dropped",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 10, 11, 10)
				got := popAll(j, 1)
				pushSeq(j, 10, 11, 12)
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 11, 12, -1},
			wantStats: [6]uint64{0, 4, 0, 0, 0, 1},
		},
		{
			name: "a packet given up for lost is late when it comes",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 13)
				got := popAll(j, 3) // 12 is missing when due, with 13 behind it
				pushSeq(j, 12, 14)
				return append(got, popAll(j, 2)...)
			},
			want:      []int{10, 11, -1, 13, 14},
			wantStats: [6]uint64{1, 0, 0, 0, 0, 0},
		},
		{
			name: "a lost packet is concealed and counted",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 13, 14)
				return popAll(j, 5)
			},
			want:      []int{10, 11, -1, 13, 14},
			wantStats: [6]uint64{0, 0, 1, 0, 0, 0},
		},
		{
			name: "an underrun holds playout for the packet, so the buffer grows",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11)
				got := popAll(j, 3)
				pushSeq(j, 12) // later than its turn, but playout waited
				pushSeq(j, 13)
				got = append(got, popAll(j, 1)...)
				pushSeq(j, 14)
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 11, -1, 12, 13, 14, -1},
			wantStats: [6]uint64{0, 0, 0, 0, 0, 2},
		},
		{
			name: "sequence wraps at 65535",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 65533, 65534)
				got := popAll(j, 1)
				pushSeq(j, 0, 65535, 1, 2)
				return append(got, popAll(j, 5)...)
			},
			want: []int{65533, 65534, 65535, 0, 1, 2},
		},
		{
			name: "a new SSRC resets",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 12)
				got := popAll(j, 1)
				for _, seq := range []uint16{500, 501} {
					j.push(testSSRC+1, seq, uint32(seq)*160, uint32(seq)*160, false, slotAudio, []byte{byte(seq >> 8), byte(seq)})
				}
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 500, 501, -1},
			wantStats: [6]uint64{0, 0, 0, 1, 0, 1},
		},
		{
			name: "a sequence jump resets",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 12)
				got := popAll(j, 1)
				pushSeq(j, 30000, 30001)
				got = append(got, popAll(j, 3)...)
				pushSeq(j, 29999) // late in the new stream, not another jump
				return got
			},
			want:      []int{10, 30000, 30001, -1},
			wantStats: [6]uint64{1, 0, 0, 1, 0, 1},
		},
		{
			name: "a burst beyond the largest depth is cut to the target",
			run: func(j *jitterBuffer) []int {
				for seq := range uint16(20) {
					pushSeq(j, seq)
				}
				return popAll(j, 3)
			},
			want:      []int{18, 19, -1},
			wantStats: [6]uint64{0, 0, 0, 0, 18, 1},
		},
		{
			name: "telephone events hold their place",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10)
				j.push(testSSRC, 11, 1600, 1760, false, slotFiller, []byte{1, 2, 3, 4})
				pushSeq(j, 12)
				return popAll(j, 4)
			},
			want:      []int{10, -2, 12, -1},
			wantStats: [6]uint64{0, 0, 0, 0, 0, 1},
		},
		{
			name: "a talkspurt waits for the target depth in the silence before it",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11)
				got := popAll(j, 3)
				// The sender was silent for a second: the timestamp jumps, the sequence
				// number does not.
				ts := 12*160 + 8000
				j.push(testSSRC, 12, uint32(ts), 12*160+8000, true, slotAudio, []byte{0, 12})
				got = append(got, popAll(j, 1)...)
				j.push(testSSRC, 13, uint32(ts+160), 13*160+8000, false, slotAudio, []byte{0, 13})
				return append(got, popAll(j, 2)...)
			},
			want:      []int{10, 11, -1, -1, 12, 13},
			wantStats: [6]uint64{0, 0, 0, 0, 0, 2},
		},
		{
			name: "a loss below the target depth holds playout, so the buffer grows",
			run: func(j *jitterBuffer) []int {
				j.envelope = 160 * 2 / 3 // a target of 3
				pushSeq(j, 10, 11, 12)
				got := popAll(j, 1)
				pushSeq(j, 14) // 13 is lost
				got = append(got, popAll(j, 3)...)
				pushSeq(j, 15)
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 11, 12, -1, -1, 14, 15},
			wantStats: [6]uint64{0, 0, 1, 0, 0, 1},
		},
		{
			name: "a long gap resynchronises and refills",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11)
				got := popAll(j, 3)
				pushSeq(j, 24) // 12 to 23 are lost
				got = append(got, popAll(j, 2)...)
				pushSeq(j, 25)
				return append(got, popAll(j, 2)...)
			},
			want:      []int{10, 11, -1, -1, -1, 24, 25},
			wantStats: [6]uint64{0, 0, 12, 0, 0, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJitterBuffer()
			got := tt.run(j)
			if !slices.Equal(got, tt.want) {
				t.Errorf("played %v, want %v", got, tt.want)
			}
			stats := [6]uint64{j.late, j.duplicates, j.lost(), j.resets, j.discarded, j.grown + j.underruns}
			if stats != tt.wantStats {
				t.Errorf("late, duplicates, lost, resets, discarded, held = %v, want %v", stats, tt.wantStats)
			}
		})
	}
}

func TestJitterBufferTimestampJumpIsNotJitter(t *testing.T) {
	j := newJitterBuffer()
	pushSeq(j, 10, 11)
	// The same stream, its timestamp 10 s ahead: a splice, or a sender that pauses.
	j.push(testSSRC, 12, 12*160+80000, 12*160, false, slotAudio, []byte{0, 12})
	j.push(testSSRC, 13, 13*160+80000, 13*160, false, slotAudio, []byte{0, 13})
	if j.jitter != 0 || j.spurts != 1 || j.resets != 0 {
		t.Errorf("jitter %.1f, talkspurts %d, resets %d; want 0, 1, 0", j.jitter, j.spurts, j.resets)
	}
}

// TestJitterBufferShrinksOnlyWhenQuiet keeps the buffer deeper than its target and checks
// that it gives up a packet after a window of that, and only when told the audio is quiet.
func TestJitterBufferShrinksOnlyWhenQuiet(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		j := newJitterBuffer()
		seq := uint16(0)
		for range 6 {
			pushSeq(j, seq)
			seq++
		}
		var played []int
		for range shrinkWindow + 2 {
			played = append(played, popOne(j, quiet))
			pushSeq(j, seq)
			seq++
		}
		want := uint64(0)
		if quiet {
			want = 1
		}
		if j.discarded != want {
			t.Errorf("quiet %v: discarded %d, want %d", quiet, j.discarded, want)
		}
		for i := 1; i < len(played); i++ {
			if d := played[i] - played[i-1]; d != 1 && !(quiet && d == 2) {
				t.Errorf("quiet %v: played %v, want consecutive packets", quiet, played)
				break
			}
		}
	}
}

func TestJitterBufferExtendedSequence(t *testing.T) {
	j := newJitterBuffer()
	for i := range 70000 {
		pushSeq(j, uint16(65000+i))
		j.pop(false)
	}
	if got, want := j.highestSeq(), uint32(65000+69999); got != want {
		t.Errorf("highest extended sequence number = %d, want %d", got, want)
	}
	if j.lost() != 0 || j.late != 0 || j.duplicates != 0 {
		t.Errorf("lost %d, late %d, duplicates %d over two wrap-arounds, want none", j.lost(), j.late, j.duplicates)
	}
}

func TestJitterEstimate(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	tests := []struct {
		name       string
		delay      func() uint32 // network delay of each packet, in 8 kHz ticks
		min, max   float64
		wantTarget int
	}{
		{"constant delay", func() uint32 { return 400 }, 0, 0, 1},
		// Uniform 0..20 ms: E|D| for the difference of two such delays is 160/3 ticks.
		{"jittered", func() uint32 { return uint32(rng.IntN(160)) }, 30, 80, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJitterBuffer()
			for i := range 1000 {
				ts := 12345 + uint32(i)*160
				j.push(testSSRC, uint16(i), ts, 999+ts+tt.delay(), false, slotAudio, nil)
				j.pop(false)
			}
			if j.jitter < tt.min || j.jitter > tt.max {
				t.Errorf("jitter = %.1f ticks, want %v to %v", j.jitter, tt.min, tt.max)
			}
			if j.target != tt.wantTarget {
				t.Errorf("target depth %d at a jitter of %.1f ticks, want %d", j.target, j.jitter, tt.wantTarget)
			}
		})
	}
}

// TestJitterBufferUnderLossAndJitter runs a sender and a receiver on a simulated clock with
// a network between them that drops 5% of the packets at random, duplicates 1%, and delays
// each by a uniform random 0 to 30 ms, so that some arrive out of order. The receiver plays
// out every 20 ms. It checks that every packet is accounted for exactly, and that the
// output is never silent for longer than the concealment fade except where packets were
// really lost in a run.
func TestJitterBufferUnderLossAndJitter(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const (
		packets = 3000 // a minute
		step    = 160  // ticks per packet at 8 kHz
		maxWait = 240  // 30 ms
		phase   = 37   // the receiver's playout clock is not aligned with the sender's
	)
	type arrival struct {
		at  uint32
		seq uint16
	}
	var arrivals []arrival
	dropped := make(map[uint16]bool)
	duplicated := 0
	for i := range packets {
		seq := uint16(60000 + i) // wraps
		// The first and last packets always arrive: RFC 3550 counts loss between them.
		if i > 0 && i < packets-1 && rng.Float64() < 0.05 {
			dropped[seq] = true
			continue
		}
		sent := uint32(i * step)
		arrivals = append(arrivals, arrival{sent + uint32(rng.IntN(maxWait+1)), seq})
		if rng.Float64() < 0.01 {
			arrivals = append(arrivals, arrival{sent + uint32(rng.IntN(maxWait+1)), seq})
			duplicated++
		}
	}
	sort.SliceStable(arrivals, func(a, b int) bool { return arrivals[a].at < arrivals[b].at })

	j := newJitterBuffer()
	// per playout: the packet index played, -1, or where playout held: -3 to grow and -4
	// in an underrun
	var played []int
	drops := make(map[int]uint64) // per playout: packets discarded to shrink the delay
	next := 0
	for clock := uint32(phase); next < len(arrivals) || j.count > 0; clock += step {
		for ; next < len(arrivals) && arrivals[next].at <= clock; next++ {
			a := arrivals[next]
			i := int(a.seq - 60000)
			j.push(testSSRC, a.seq, uint32(i*step), a.at, false, slotAudio, []byte{byte(i >> 8), byte(i)})
		}
		grown, underruns, discarded := j.grown, j.underruns, j.discarded
		p := popOne(j, false)
		switch {
		case j.grown > grown:
			p = -3
		case j.underruns > underruns:
			p = -4
		}
		drops[len(played)] = j.discarded - discarded
		played = append(played, p)
		if len(played) > 2*packets {
			t.Fatal("playout does not end")
		}
	}

	seen := make(map[int]bool)
	prev := -1
	for _, p := range played {
		if p < 0 {
			continue
		}
		if p <= prev || seen[p] {
			t.Fatalf("played packet %d after %d: want each once, in order", p, prev)
		}
		seen[p], prev = true, p
	}
	// Every packet sent is played, lost, late or discarded; duplicates are not played.
	if got := uint64(len(seen)) + j.lost() + j.late + j.discarded; got != packets {
		t.Errorf("played %d + lost %d + late %d + discarded %d = %d, want the %d sent",
			len(seen), j.lost(), j.late, j.discarded, got, packets)
	}
	if j.lost() != uint64(len(dropped)) {
		t.Errorf("lost %d, want the %d dropped", j.lost(), len(dropped))
	}
	if j.duplicates != uint64(duplicated) {
		t.Errorf("duplicates %d, want the %d duplicated", j.duplicates, duplicated)
	}
	// Before the jitter estimate has risen from its initial target of 2 to 3, a packet
	// delayed by more than 20 ms can miss its turn; after that none should.
	if j.late > 3 {
		t.Errorf("late %d, want at most 3, while the target adapts", j.late)
	}
	// 3 allows for the whole spread of 30 ms; the envelope follows the peaks of the
	// estimate, which can round up to 4.
	if j.target < 3 || j.target > 4 {
		t.Errorf("target depth %d at a jitter of %.0f ticks, want 3 or 4", j.target, j.jitter)
	}
	// Playout grows only when the buffer is short: a few times while the target adapts,
	// and after an unlucky run of delays.
	if held := j.grown + j.underruns; held > 20 {
		t.Errorf("playout held back %d times, want at most 20", held)
	}

	// Between two packets played, the concealment lasts one packet time for each packet
	// missed between them, plus one for each time playout was held back, less one for
	// each packet discarded to shrink. It is long enough to fade to silence only where
	// packets were lost in a run, or nothing at all was buffered: holding playout back to
	// grow never makes a loss fall silent.
	run, grows, underruns, shrunk, longest, last := 0, 0, 0, 0, 0, -1
	for i, p := range played {
		shrunk += int(drops[i])
		if p < 0 {
			if last >= 0 { // playout has started
				run++
				switch p {
				case -3:
					grows++
				case -4:
					underruns++
				}
			}
			continue
		}
		missed := p - last - 1
		if last >= 0 && run-grows-underruns+shrunk != missed {
			t.Errorf("between packets %d and %d: %d concealed, %d of them held to grow and %d in underruns, %d discarded, for %d missed",
				last, p, run, grows, underruns, shrunk, missed)
		}
		if last >= 0 && run > concealPackets && run-grows > max(concealPackets, missed+underruns) {
			t.Errorf("silent for %d packet times between packets %d and %d, of which %d were missed, %d underruns",
				run, last, p, missed, underruns)
		}
		if last >= 0 && run > concealPackets && grows > 0 {
			t.Errorf("between packets %d and %d: held back %d times to grow during a concealment of %d packet times",
				last, p, grows, run)
		}
		longest, run, grows, underruns, shrunk, last = max(longest, run), 0, 0, 0, 0, p
	}
	t.Logf("sent %d, dropped %d, duplicated %d; late %d, held %d to grow and %d in underruns, discarded %d, longest concealment %d packets, target %d",
		packets, len(dropped), duplicated, j.late, j.grown, j.underruns, j.discarded, longest, j.target)
}

func TestJitterBufferDoesNotAllocate(t *testing.T) {
	j := newJitterBuffer()
	payload := make([]byte, 160)
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		j.push(testSSRC, seq, uint32(seq)*160, uint32(seq)*160, false, slotAudio, payload)
		seq++
		j.pop(false)
	}); n != 0 {
		t.Errorf("push and pop allocate %v times, want 0", n)
	}
}

// TestJitterSlotsGrowWithThePayloads checks that the slots take a G.711 packet's room
// until a larger payload comes, that growing keeps the packets buffered, byte for byte,
// and that a new buffer's first G.711 packet, payloads of one size, or payloads too large
// for any datagram allocate nothing.
func TestJitterSlotsGrowWithThePayloads(t *testing.T) {
	j := newJitterBuffer()
	payload := func(seq uint16, n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(int(seq)*7 + i)
		}
		return p
	}
	sizes := map[uint16]int{10: 160, 11: 160, 12: 700, 13: 160, 14: 1200}
	for seq := uint16(10); seq <= 14; seq++ {
		ts := uint32(seq) * 160
		j.push(testSSRC, seq, ts, ts, false, slotAudio, payload(seq, sizes[seq]))
		if seq == 11 {
			if got := len(j.slots[0].payload); got != minSlotPayload {
				t.Errorf("after G.711 packets a slot has room for %d bytes, want %d", got, minSlotPayload)
			}
		}
	}
	for seq := uint16(10); seq <= 14; seq++ {
		kind, p := j.pop(false)
		if kind != slotAudio || !slices.Equal(p, payload(seq, sizes[seq])) {
			t.Fatalf("packet %d popped as kind %d with %d bytes, want its %d bytes as sent", seq, kind, len(p), sizes[seq])
		}
	}
	fresh := make([]*jitterBuffer, 11) // AllocsPerRun runs once more than it counts
	for i := range fresh {
		fresh[i] = newJitterBuffer()
	}
	g711 := payload(1, 160)
	if n := testing.AllocsPerRun(len(fresh)-1, func() {
		fresh[0].push(testSSRC, 1, 160, 160, false, slotAudio, g711)
		fresh = fresh[1:]
	}); n != 0 {
		t.Errorf("a new buffer's first G.711 packet allocates %.1f times: the slots should be ready", n)
	}

	seq := uint16(15)
	big := payload(0, maxPayload+40)
	if n := testing.AllocsPerRun(100, func() {
		ts := uint32(seq) * 160
		j.push(testSSRC, seq, ts, ts, false, slotAudio, big[:1000])
		j.push(testSSRC, seq+1, ts+160, ts+160, false, slotAudio, big)
		j.pop(false)
		j.pop(false)
		seq += 2
	}); n != 0 {
		t.Errorf("pushing payloads no larger than before, or too large for a datagram, allocates %.1f times", n)
	}
}
