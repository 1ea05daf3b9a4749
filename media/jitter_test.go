package media

import (
	"math/rand/v2"
	"slices"
	"testing"
)

const testSSRC = 0x5eed

// pushSeq pushes audio packet seq of testSSRC whose payload is its sequence number, arriving
// exactly on time.
func pushSeq(j *jitterBuffer, seqs ...uint16) {
	for _, seq := range seqs {
		ts := uint32(seq) * 160
		j.push(testSSRC, seq, ts, ts, slotAudio, []byte{byte(seq >> 8), byte(seq)})
	}
}

// popAll pops n times and returns the sequence numbers played, -1 where nothing was due.
func popAll(j *jitterBuffer, n int) []int {
	var got []int
	for range n {
		kind, p := j.pop()
		switch {
		case kind == slotAudio && len(p) == 2:
			got = append(got, int(p[0])<<8|int(p[1]))
		case kind == slotFiller:
			got = append(got, -2)
		default:
			got = append(got, -1)
		}
	}
	return got
}

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name string
		// run pushes and pops, returning what was played.
		run  func(j *jitterBuffer) []int
		want []int
		// wantStats is {late, duplicates, lost, resets, discarded}.
		wantStats [5]uint64
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
			want: []int{-1, -1, 100, 101, -1},
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
			wantStats: [5]uint64{0, 4, 0, 0, 0},
		},
		{
			name: "late packets are dropped",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 13)
				got := popAll(j, 3) // 12 is missing when due
				pushSeq(j, 12, 14)
				return append(got, popAll(j, 2)...)
			},
			want:      []int{10, 11, -1, 13, 14},
			wantStats: [5]uint64{1, 0, 0, 0, 0},
		},
		{
			name: "a lost packet is concealed and counted",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11, 13, 14)
				return popAll(j, 5)
			},
			want:      []int{10, 11, -1, 13, 14},
			wantStats: [5]uint64{0, 0, 1, 0, 0},
		},
		{
			name: "underrun rebuffers",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10, 11)
				got := popAll(j, 3)
				pushSeq(j, 12) // too late: 12 was due at the third pop
				pushSeq(j, 13)
				got = append(got, popAll(j, 1)...)
				pushSeq(j, 14)
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 11, -1, -1, 13, 14, -1},
			wantStats: [5]uint64{1, 0, 0, 0, 0},
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
					j.push(testSSRC+1, seq, 0, 0, slotAudio, []byte{byte(seq >> 8), byte(seq)})
				}
				return append(got, popAll(j, 3)...)
			},
			want:      []int{10, 500, 501, -1},
			wantStats: [5]uint64{0, 0, 0, 1, 0},
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
			wantStats: [5]uint64{1, 0, 0, 1, 0},
		},
		{
			name: "the delay stays bounded",
			run: func(j *jitterBuffer) []int {
				for seq := range uint16(20) {
					pushSeq(j, seq)
				}
				// 4 fell out of the 16 slots; 10 more are dropped to keep 6 waiting.
				return popAll(j, 7)
			},
			want:      []int{14, 15, 16, 17, 18, 19, -1},
			wantStats: [5]uint64{0, 0, 0, 0, 14},
		},
		{
			name: "telephone events hold their place",
			run: func(j *jitterBuffer) []int {
				pushSeq(j, 10)
				j.push(testSSRC, 11, 1600, 1760, slotFiller, []byte{1, 2, 3, 4})
				pushSeq(j, 12)
				return popAll(j, 4)
			},
			want: []int{10, -2, 12, -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var j jitterBuffer
			got := tt.run(&j)
			if !slices.Equal(got, tt.want) {
				t.Errorf("played %v, want %v", got, tt.want)
			}
			stats := [5]uint64{j.late, j.duplicates, j.lost(), j.resets, j.discarded}
			if stats != tt.wantStats {
				t.Errorf("late, duplicates, lost, resets, discarded = %v, want %v", stats, tt.wantStats)
			}
		})
	}
}

func TestJitterBufferExtendedSequence(t *testing.T) {
	var j jitterBuffer
	for i := range 70000 {
		pushSeq(&j, uint16(65000+i))
		j.pop()
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
		name     string
		delay    func() uint32 // network delay of each packet, in 8 kHz ticks
		min, max float64
	}{
		{"constant delay", func() uint32 { return 400 }, 0, 0},
		// Uniform 0..20 ms: E|D| for the difference of two such delays is 160/3 ticks.
		{"jittered", func() uint32 { return uint32(rng.IntN(160)) }, 30, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var j jitterBuffer
			for i := range 500 {
				ts := 12345 + uint32(i)*160
				j.push(testSSRC, uint16(i), ts, 999+ts+tt.delay(), slotAudio, nil)
				j.pop()
			}
			if j.jitter < tt.min || j.jitter > tt.max {
				t.Errorf("jitter = %.1f ticks, want %v to %v", j.jitter, tt.min, tt.max)
			}
		})
	}
}

func TestJitterBufferDoesNotAllocate(t *testing.T) {
	var j jitterBuffer
	payload := make([]byte, 160)
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		j.push(testSSRC, seq, uint32(seq)*160, uint32(seq)*160, slotAudio, payload)
		seq++
		j.pop()
	}); n != 0 {
		t.Errorf("push and pop allocate %v times, want 0", n)
	}
}
