package audiohub

import (
	"fmt"
	"slices"
	"testing"

	"partyline/hw"
)

// localPeriod runs one device period of 4 channels through h, each microphone with samples
// of its own (channel c, frame f: (c+1)*1000 + f), and returns each channel's earpiece.
func localPeriod(h *Hub) [][]int16 {
	f := h.format
	in := make([]int16, f.PeriodFrames*f.Channels)
	out := make([]int16, len(in))
	for fr := range f.PeriodFrames {
		for c := range f.Channels {
			in[fr*f.Channels+c] = int16((c+1)*1000 + fr)
		}
	}
	h.Process(in, out)
	ears := make([][]int16, f.Channels)
	for c := range ears {
		for fr := range f.PeriodFrames {
			ears[c] = append(ears[c], out[fr*f.Channels+c])
		}
	}
	return ears
}

// micSum is what an earpiece hears of the microphones of channels in one period of
// localPeriod: their sum, sample by sample.
func micSum(frames int, channels ...int) []int16 {
	sum := make([]int16, frames)
	for fr := range sum {
		for _, c := range channels {
			sum[fr] += int16((c+1)*1000 + fr)
		}
	}
	return sum
}

// TestLocalMixMinus checks the local mix sample by sample: each member of a group hears
// the sum of the other members' microphones and never its own, groups do not hear each
// other, a muted member adds nothing, a member whose call takes over (its pump attached)
// leaves the mix, and the callback allocates nothing.
func TestLocalMixMinus(t *testing.T) {
	const frames = 240
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 4, PeriodFrames: frames})
	for c, g := range []int{1, 1, 1, 2} {
		if err := h.SetLocal(c, g); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, want [][]int16) {
		t.Helper()
		ears := localPeriod(h)
		for c := range want {
			if !slices.Equal(ears[c], want[c]) {
				t.Errorf("%s: earpiece %d hears %v…, want %v…", what, c+1, ears[c][:4], want[c][:4])
			}
		}
	}
	silence := make([]int16, frames)
	check("three in group 1, one in group 2", [][]int16{
		micSum(frames, 1, 2), micSum(frames, 0, 2), micSum(frames, 0, 1), silence,
	})

	p1, _ := h.Port(1)
	p1.SetMuted(true)
	check("handset 2 muted", [][]int16{micSum(frames, 2), micSum(frames, 0, 2), micSum(frames, 0), silence})
	p1.SetMuted(false)

	if err := h.SetLocal(3, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.SetLocal(2, 0); err != nil {
		t.Fatal(err)
	}
	check("handset 3 out, handset 4 in group 1", [][]int16{
		micSum(frames, 1, 3), micSum(frames, 0, 3), silence, micSum(frames, 0, 1),
	})

	p0, _ := h.Port(0)
	p0.attached.Store(true) // its call's pump runs: the call takes over
	ears := localPeriod(h)
	if !slices.Equal(ears[1], micSum(frames, 3)) || !slices.Equal(ears[3], micSum(frames, 1)) {
		t.Errorf("handset 1 in a call: the others hear %v…, %v…; want each other only", ears[1][:4], ears[3][:4])
	}
	if !slices.Equal(ears[0], silence) {
		t.Errorf("handset 1 in a call whose pump sent nothing hears %v…, want silence", ears[0][:4])
	}
	p0.attached.Store(false)

	in, out := make([]int16, frames*4), make([]int16, frames*4)
	if n := testing.AllocsPerRun(10, func() { h.Process(in, out) }); n != 0 {
		t.Errorf("the device callback allocates %.0f times a period with the local mix", n)
	}
	for _, bad := range []struct{ c, g int }{{4, 1}, {0, 5}, {0, -1}} {
		if err := h.SetLocal(bad.c, bad.g); err == nil {
			t.Errorf("SetLocal(%d, %d) = nil, want an error", bad.c, bad.g)
		}
	}
	if got := fmt.Sprint(h.Local(0), h.Local(3), h.Local(2)); got != "1 1 0" {
		t.Errorf("groups of handsets 1, 4 and 3: %s, want 1 1 0", got)
	}
}

// TestLocalMixGains checks that a member's earpiece gain applies to what it hears and its
// microphone gain to what the others hear of it.
func TestLocalMixGains(t *testing.T) {
	const frames = 240
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 4, PeriodFrames: frames})
	for c := range 2 {
		if err := h.SetLocal(c, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Handset 1's microphone +6 dB (x1.995), handset 2's earpiece -6 dB (x0.501).
	if err := h.SetLevels(0, 6.0206, 0, sidetoneOff); err != nil {
		t.Fatal(err)
	}
	if err := h.SetLevels(1, 0, -6.0206, sidetoneOff); err != nil {
		t.Fatal(err)
	}
	ears := localPeriod(h)
	for fr := range frames {
		mic0 := int64(1000 + fr)
		heard := mic0 * int64(q16(6.0206)) >> 16
		want := int16(heard * int64(q16(-6.0206)) >> 16)
		if ears[1][fr] != want {
			t.Fatalf("frame %d: handset 2 hears %d, want %d", fr, ears[1][fr], want)
		}
	}
}
