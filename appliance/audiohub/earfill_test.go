package audiohub

import (
	"math"
	"slices"
	"testing"
	"time"

	"partyline/hw"
	"partyline/media"
)

// An earRig drives one port of a hub as the device and a pump would, without goroutines:
// each period runs the callback, then, unless the test stalls it, does the pump's work:
// for each packet's worth of microphone audio in the ring, writes a packet of a continuous
// 1 kHz tone into the earpiece ring. It records what channel 0's earpiece played and, per
// period, whether it ran dry and what the ring held just after the callback.
type earRig struct {
	t       *testing.T
	h       *Hub
	p       *Port
	in, out []int16
	mic     []int16 // one packet at the device rate
	pkt     []int16
	tone    *media.Tone
	played  []int16
	dry     []bool
	queued  []int
}

const (
	earTestDBFS = -12 // the tone's level
	earTestRate = 48000
	earTestTone = 1000 // Hz
)

func newEarRig(t *testing.T, packet time.Duration) *earRig {
	f := hw.AudioFormat{SampleRate: earTestRate, Channels: 2, PeriodFrames: 240}
	h := New(f)
	p, _ := h.Port(0)
	p.attached.Store(true)
	n := durationSamples(packet, f.SampleRate)
	return &earRig{
		t: t, h: h, p: p,
		in:   make([]int16, f.PeriodFrames*f.Channels),
		out:  make([]int16, f.PeriodFrames*f.Channels),
		mic:  make([]int16, n),
		pkt:  make([]int16, n),
		tone: media.NewTone(f.SampleRate, earTestTone, earTestDBFS),
	}
}

// period runs one device period, and the pump after it if pump is true.
func (r *earRig) period(pump bool) {
	before := r.p.earUnderruns.Load()
	r.h.Process(r.in, r.out)
	for f := range r.h.format.PeriodFrames {
		r.played = append(r.played, r.out[f*r.h.format.Channels])
	}
	r.dry = append(r.dry, r.p.earUnderruns.Load() != before)
	r.queued = append(r.queued, r.p.ear.Len())
	if pump {
		r.pump()
	}
}

// pump does what the pump does for each packet the callback has captured.
func (r *earRig) pump() {
	for r.p.mic.Len() >= len(r.mic) {
		r.p.mic.Read(r.mic)
		r.tone.Generate(r.pkt)
		if n := r.p.ear.Write(r.pkt); n != len(r.pkt) {
			r.t.Fatalf("the earpiece ring took %d of a packet's %d samples", n, len(r.pkt))
		}
	}
}

// run runs n periods with the pump on time.
func (r *earRig) run(n int) {
	for range n {
		r.period(true)
	}
}

// stall runs the periods up to the next packet with the pump on time, then late periods
// with the pump stalled, the first of them the period that completes the packet, then one
// with the pump catching up with a burst after it: the pump runs late periods late. It
// returns the index of that period.
func (r *earRig) stall(late int) int {
	for r.p.mic.Len()+r.h.format.PeriodFrames < len(r.mic) {
		r.period(true)
	}
	for range late {
		r.period(false)
	}
	r.period(true)
	return len(r.dry) - 1
}

// lowest returns the least the ring held after the callback over the packet's worth of
// periods that ends with period i: the earpiece's slack, its latency beyond the packet's.
func (r *earRig) lowest(i int) int {
	k := len(r.mic) / r.h.format.PeriodFrames
	return slices.Min(r.queued[i-k+1 : i+1])
}

// TestEarpieceSteadyStateIsExact runs 10 s with the pump on time: the earpiece plays the
// tone sample for sample, one target fill later, never running dry, never dropping audio.
func TestEarpieceSteadyStateIsExact(t *testing.T) {
	for _, packet := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		r := newEarRig(t, packet)
		r.run(10 * earTestRate / r.h.format.PeriodFrames)
		target := r.p.earFill.target
		want := make([]int16, len(r.played))
		media.NewTone(earTestRate, earTestTone, earTestDBFS).Generate(want[len(r.mic)+target:])
		if i := firstDifference(r.played, want); i >= 0 {
			t.Fatalf("%v packets: earpiece sample %d is %d, want %d: the tone after a packet and the target fill of %d",
				packet, i, r.played[i], want[i], target)
		}
		if n := r.p.earUnderruns.Load(); n != 0 {
			t.Errorf("%v packets: %d underruns with the pump on time, want 0", packet, n)
		}
		t.Logf("%v packets: the earpiece plays a packet %v after the pump wrote it, its target fill: "+
			"that much on top of the media path's one-way delay (TestPipelineLatency) and the device period at each end",
			packet, time.Duration(target)*time.Second/earTestRate)
		if got := r.lowest(len(r.queued) - 1); got != target {
			t.Errorf("%v packets: the ring keeps %d samples of slack, want the target %d", packet, got, target)
		}
	}
}

func firstDifference(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestEarpieceCatchesUpAfterStalls stalls the pump again and again, a burst after each
// stall, and checks (a) that the earpiece runs dry at most for the periods it had no audio
// for, once for a pump two periods late, and never after the pump catches up; (b) that the
// ring's slack, the earpiece's added latency, comes back to the target within a bound; and
// (c) that the tone played across each catch-up has no step larger than a bound.
func TestEarpieceCatchesUpAfterStalls(t *testing.T) {
	for _, packet := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		for _, late := range []int{1, 2, 5, 12} { // periods: 5 to 60 ms
			r := newEarRig(t, packet)
			frames := r.h.format.PeriodFrames
			target, drop := r.p.earFill.target, r.p.earFill.maxDrop
			r.run(50)
			// The earpiece plays the late audio late by the silence played meanwhile: late
			// periods less the target's.
			excess := late*frames - target
			// (b): the drop starts at most two windows after the stall, and takes a period
			// for each maxDrop samples of excess.
			bound := 2*r.p.earFill.window/frames + (excess+drop-1)/drop + len(r.mic)/frames
			for stall := range 3 {
				burst := r.stall(late)
				// The earpiece can have gone dry only while the pump stalled.
				wantDry := max(0, excess+frames-1) / frames
				gotDry := 0
				for _, d := range r.dry[burst-late+1 : burst+1] {
					if d {
						gotDry++
					}
				}
				if gotDry > wantDry || late == 2 && gotDry > 1 {
					t.Errorf("%v packets, pump %d periods late, stall %d: ran dry in %d periods, want at most %d",
						packet, late, stall, gotDry, wantDry)
				}
				for i := range 4 * bound {
					r.period(true)
					if r.dry[burst+1+i] {
						t.Fatalf("%v packets, pump %d periods late, stall %d: ran dry %d periods after the pump caught up",
							packet, late, stall, i+1)
					}
				}
				// The periods after the burst until the slack is the target for good.
				back := len(r.queued) - 1
				for back > burst && r.lowest(back) == target {
					back--
				}
				if back -= burst; stall == 0 {
					t.Logf("%v packets, pump %d periods late: dry %d periods, slack back to the target %d periods (%v) after the burst",
						packet, late, gotDry, back, time.Duration(back*frames)*time.Second/earTestRate)
				}
				if back > bound {
					t.Errorf("%v packets, pump %d periods late, stall %d: the slack came back to the target %d after %d periods, want at most %d (it is %d)",
						packet, late, stall, target, back, bound, r.lowest(len(r.queued)-1))
				}
				// (c): from the second sample the pump's audio is back, the steps are the
				// tone's, give or take what the crossfade adds.
				maxStep := 1.25 * 2 * 32768 * math.Sqrt2 * math.Pow(10, earTestDBFS/20.) * math.Sin(math.Pi*earTestTone/earTestRate)
				from := (burst + 1) * frames
				for i := from + 1; i < len(r.played); i++ {
					if step := math.Abs(float64(r.played[i]) - float64(r.played[i-1])); step > maxStep {
						t.Fatalf("%v packets, pump %d periods late, stall %d: the tone steps by %.0f at sample %d (%d periods after the catch-up began), want at most %.0f",
							packet, late, stall, step, i, (i-from)/frames, maxStep)
					}
				}
			}
		}
	}
}

// TestEarpieceDropDoesNotAllocate measures the callback while it drops a backlog.
func TestEarpieceDropDoesNotAllocate(t *testing.T) {
	r := newEarRig(t, 20*time.Millisecond)
	r.run(50)
	r.stall(8)
	for r.p.earFill.drop == 0 {
		r.period(true)
	}
	n := testing.AllocsPerRun(4, func() {
		r.h.Process(r.in, r.out)
		r.pump()
	})
	if r.p.earFill.drop == 0 {
		t.Fatal("the drop ended while measured: measure fewer periods")
	}
	if n != 0 {
		t.Errorf("the device callback allocates %.0f times per period while it drops audio, want 0", n)
	}
}

// TestEarpieceGapDoesNotClick stalls the pump until the earpiece runs dry, and checks that
// no sample-to-sample step around the gap exceeds the tone's own largest step, 2A·sin(πf/fs)
// for its peak A, plus 2A/fade: going into the gap, the last sample falls to zero by at most
// A/fade per sample; coming out, the audio's gain rises by 1/fade per sample, which adds at
// most A/fade to the tone's step, while what is left of the fall adds at most another A/fade.
// The 2 covers rounding. A hard cut would step by up to A. The callback allocates nothing
// while the earpiece runs dry and fades back in.
func TestEarpieceGapDoesNotClick(t *testing.T) {
	peak := 32768 * math.Sqrt2 * math.Pow(10, earTestDBFS/20.)
	toneStep := 2 * peak * math.Sin(math.Pi*earTestTone/earTestRate)
	for _, packet := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		for _, late := range []int{2, 3, 5, 12} { // periods: 10 to 60 ms, long enough to run dry
			r := newEarRig(t, packet)
			// Packets hold whole cycles of the tone: a quarter cycle ahead, each starts and
			// ends at the tone's peak, where a gap would click the loudest.
			r.tone.Generate(make([]int16, earTestRate/earTestTone/4))
			r.run(50)
			from := len(r.played)
			burst := r.stall(late)
			r.run(10)
			if !slices.Contains(r.dry[burst-late+1:burst+1], true) {
				t.Fatalf("%v packets, pump %d periods late: the earpiece never ran dry", packet, late)
			}
			bound := toneStep + 2*peak/float64(r.p.earFill.fade) + 2
			worst, at := 0., 0
			for i := from + 1; i < len(r.played); i++ {
				if step := math.Abs(float64(r.played[i]) - float64(r.played[i-1])); step > worst {
					worst, at = step, i
				}
			}
			if worst > bound {
				t.Errorf("%v packets, pump %d periods late: the earpiece steps by %.0f at sample %d, want at most %.0f (the tone's own steps are up to %.0f)",
					packet, late, worst, at, bound, toneStep)
			}
			if late == 5 {
				t.Logf("%v packets, pump %d periods late: largest step %.0f, bound %.0f, the tone's own %.0f, a hard cut's up to %.0f",
					packet, late, worst, bound, toneStep, peak)
			}
		}
	}
	r := newEarRig(t, 20*time.Millisecond)
	r.run(50)
	n := testing.AllocsPerRun(4, func() {
		for range 4 { // dry, fading out
			r.h.Process(r.in, r.out)
		}
		r.pump()
		r.h.Process(r.in, r.out) // back, fading in
		r.pump()
	})
	if n != 0 {
		t.Errorf("the device callback allocates %.0f times while the earpiece runs dry and comes back, want 0", n)
	}
	if r.p.earUnderruns.Load() == 0 {
		t.Error("the earpiece never ran dry while allocations were measured")
	}
}

// TestEarpieceCountsDroppedSamples counts what the fill control drops: nothing in steady
// state, and after a stall the backlog it caught up with, which is the silence the
// earpiece played while the pump stalled less the target fill's slack that silence used up.
func TestEarpieceCountsDroppedSamples(t *testing.T) {
	for _, packet := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		for _, late := range []int{2, 5, 12} { // periods
			r := newEarRig(t, packet)
			frames := r.h.format.PeriodFrames
			r.run(10 * earTestRate / frames)
			if got := r.h.EarDropped(); got[0] != 0 || got[1] != 0 {
				t.Fatalf("%v packets: %v samples dropped in steady state, want none", packet, got)
			}
			r.stall(late)
			// Four times the periods TestEarpieceCatchesUpAfterStalls gives the drop to end.
			excess, drop := late*frames-r.p.earFill.target, r.p.earFill.maxDrop
			r.run(4 * (2*r.p.earFill.window/frames + (excess+drop-1)/drop + len(r.mic)/frames))
			if got := r.h.EarDropped(); got[0] != uint64(excess) || got[1] != 0 {
				t.Errorf("%v packets, pump %d periods late: %v samples dropped, want [%d 0]", packet, late, got, excess)
			}
		}
	}
}
