package audiohub

import (
	"fmt"

	"partyline/hw"
)

// The local mix joins handsets to each other without any call: the device callback gives
// each earpiece of a group the sum of the other members' microphones (mix-minus: never its
// own), with the handsets' gains and sidetone, and no delay beyond the device's. It is what
// lifted handsets hear while their conference cannot be reached. A port whose call pump
// runs (attached) leaves the mix at once, whatever its group: the call takes over.

// localMix is the hub's scratch space for the local mix; callback only.
type localMix struct {
	sums [][]int64 // by group-1: the sum of the members' microphones this period
}

func newLocalMix(f hw.AudioFormat, frames int) localMix {
	m := localMix{sums: make([][]int64, f.Channels)}
	for g := range m.sums {
		m.sums[g] = make([]int64, frames)
	}
	return m
}

// SetLocal puts channel c into local mix group (1 to the number of channels), or takes it
// out of the local mix (0). Members of one group hear each other; a channel in a call
// (its pump running) is in no group until the call ends. Safe from any goroutine.
func (h *Hub) SetLocal(c, group int) error {
	p, err := h.Port(c)
	if err != nil {
		return err
	}
	if group < 0 || group > len(h.ports) {
		return fmt.Errorf("local mix group %d is not 0 (none) or 1..%d", group, len(h.ports))
	}
	p.local.Store(int32(group))
	if group != 0 {
		p.wake()
	}
	return nil
}

// Local returns the local mix group of channel c, 0 for none. Safe from any goroutine.
func (h *Hub) Local(c int) int {
	p, err := h.Port(c)
	if err != nil {
		return 0
	}
	return int(p.local.Load())
}

// localGroup returns the group of the port in the local mix, 0 when it is in none.
func (p *Port) localGroup() int {
	if p.attached.Load() {
		return 0
	}
	return int(p.local.Load())
}

// mixLocal sums the microphones of each local group's members for this period, each
// after its gain and automatic gain (silence when muted), keeping each member's own share
// in its localMic. It never allocates.
func (h *Hub) mixLocal(in []int16, frames int) {
	channels := len(h.ports)
	for _, sum := range h.local.sums {
		clear(sum[:frames])
	}
	for c, p := range h.ports {
		p.localNow = p.localGroup()
		g := p.localNow
		if g == 0 {
			continue
		}
		own := p.localMic[:frames]
		if p.muted.Load() {
			clear(own)
		} else {
			gain := p.micGain.Load()
			for f := range frames {
				own[f] = saturate(scale(in[f*channels+c], gain))
			}
			if agc := p.agc.Load(); agc != nil {
				agc.Process(own)
			}
		}
		sum := h.local.sums[g-1]
		for f, v := range own {
			sum[f] += int64(v)
		}
	}
}

// playLocal fills channel c's earpiece from its local group: the others' microphones,
// its earpiece gain and its sidetone.
func (h *Hub) playLocal(p *Port, c int, in, out []int16, frames int) {
	channels := len(h.ports)
	sum, own := h.local.sums[p.localNow-1], p.localMic
	earGain, side := int64(p.earGain.Load()), p.sidetone.Load()
	for f := range frames {
		others := (sum[f] - int64(own[f])) * earGain >> 16
		out[f*channels+c] = saturate(others + scale(in[f*channels+c], side))
	}
}
