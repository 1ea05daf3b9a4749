package media

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestSessionUnderLossAndJitter sends a tone from one session to another through a
// simulated network that drops 5% of the packets at random and delays each by a uniform
// random 0 to 30 ms, with the receiver playing out every 20 ms of simulated time. It checks
// the counters against what was injected and that the audio has no clicks: concealment
// fades, and the audio after it fades in, so no step between samples is much larger than
// the tone's own steepest.
func TestSessionUnderLossAndJitter(t *testing.T) {
	for _, codec := range []string{"PCMU", "G722"} {
		t.Run(codec, func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			sender := newSession(t, listen(t), codec, addrOf(listen(t)))
			receiver := newSession(t, listen(t), codec, addrOf(listen(t)))
			rate := sender.active.Load().codec.ClockRate()
			spp := sender.SamplesPerPacket()
			const (
				packets = 1000
				ptime   = 20 * time.Millisecond
				freq    = 230
				level   = -12
			)
			src := NewTone(rate, freq, level)
			type arrival struct {
				at  time.Duration
				pkt []byte
			}
			var arrivals []arrival
			dropped := 0
			frame := make([]int16, spp)
			for i := range packets {
				src.Generate(frame)
				pkt, err := sender.packetize(frame)
				if err != nil {
					t.Fatal(err)
				}
				sender.sent(len(pkt))
				if i > 0 && i < packets-1 && rng.Float64() < 0.05 {
					dropped++
					continue
				}
				delay := time.Duration(rng.Int64N(int64(30*time.Millisecond) + 1))
				arrivals = append(arrivals, arrival{time.Duration(i)*ptime + delay, append([]byte(nil), pkt...)})
			}
			sort.SliceStable(arrivals, func(a, b int) bool { return arrivals[a].at < arrivals[b].at })

			var out []int16
			pcm := make([]int16, spp)
			next := 0
			for clock := 7 * time.Millisecond; next < len(arrivals) || receiver.jb.count > 0; clock += ptime {
				for ; next < len(arrivals) && arrivals[next].at <= clock; next++ {
					receiver.handlePacket(arrivals[next].pkt, receiver.epoch.Add(arrivals[next].at))
				}
				receiver.Receive(pcm)
				out = append(out, pcm...)
				if len(out) > 2*packets*spp {
					t.Fatal("playout does not end")
				}
			}

			st := receiver.Stats()
			if st.Lost != uint64(dropped) {
				t.Errorf("lost %d, want the %d dropped", st.Lost, dropped)
			}
			if st.PacketsReceived != uint64(packets-dropped) {
				t.Errorf("received %d, want %d", st.PacketsReceived, packets-dropped)
			}
			if st.Late > 3 {
				t.Errorf("late %d, want at most 3 while the target adapts", st.Late)
			}
			// Each Receive plays a packet or conceals; the packets not played were lost,
			// late or discarded.
			played := uint64(len(out)/spp) - st.Concealed
			if played+st.Lost+st.Late+st.Discarded != packets {
				t.Errorf("played %d + lost %d + late %d + discarded %d, want the %d sent", played, st.Lost, st.Late, st.Discarded, packets)
			}

			amp := 32768 * math.Sqrt2 * math.Pow(10, level/20.0)
			slope := amp * 2 * math.Pi * freq / float64(rate)
			// From 100 ms in: an ADPCM codec overshoots while its quantizer scale adapts
			// from its reset value to the tone's sudden start.
			var worst float64
			wi := 0
			for i := 3*spp + rate/10; i < len(out); i++ {
				if d := math.Abs(float64(out[i]) - float64(out[i-1])); d > worst {
					worst, wi = d, i
				}
			}
			t.Logf("lost %d, late %d, concealed %d, held %d, discarded %d, target %d; steepest step %.0f, the tone's %.0f",
				st.Lost, st.Late, st.Concealed, st.Held, st.Discarded, st.TargetDepth, worst, slope)
			if worst > 2*slope {
				t.Errorf("a step of %.0f between samples in packet time %d, the tone's steepest is %.0f: a click", worst, wi/spp, slope)
			}
		})
	}
}
