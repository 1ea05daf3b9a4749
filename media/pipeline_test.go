package media

import (
	"testing"
	"time"
)

// A pipeline is one handset's whole media path in one process: the microphone at 48 kHz
// resampled to the codec's rate, encoded and packetized by one session; the packet handed
// to another session as if it had crossed the network, through its jitter buffer, decoded,
// and resampled back to 48 kHz for the earpiece. Only the socket is left out: its cost is
// the kernel's.
type pipeline struct {
	tx, rx       *Session
	down, up     *Resampler
	mic, ear     []int16 // one packet at 48 kHz
	send, recv   []int16 // one packet at the codec's rate
	arrival      time.Time
	packetPeriod time.Duration
	// lossEvery, if positive, drops every lossEvery-th packet, so that concealment runs.
	lossEvery, n int
}

const deviceRate = 48000

func newPipeline(tb testing.TB, codec string) *pipeline {
	tb.Helper()
	tx := newSession(tb, listen(tb), codec, addrOf(listen(tb)))
	rx := newSession(tb, listen(tb), codec, addrOf(listen(tb)))
	rate := tx.active.Load().codec.ClockRate()
	down, err := NewResampler(deviceRate, rate)
	if err != nil {
		tb.Fatal(err)
	}
	up, err := NewResampler(rate, deviceRate)
	if err != nil {
		tb.Fatal(err)
	}
	spp := tx.SamplesPerPacket()
	p := &pipeline{
		tx: tx, rx: rx, down: down, up: up,
		mic:          make([]int16, spp*deviceRate/rate),
		ear:          make([]int16, spp*deviceRate/rate),
		send:         make([]int16, spp),
		recv:         make([]int16, spp),
		arrival:      rx.epoch,
		packetPeriod: DefaultPacketTime,
	}
	NewTone(deviceRate, 440, -12).Generate(p.mic)
	return p
}

// step moves one packet time of audio through both directions of the path.
func (p *pipeline) step(tb testing.TB) {
	p.down.Process(p.send, p.mic)
	pkt, err := p.tx.packetize(p.send)
	if err != nil {
		tb.Fatal(err)
	}
	p.tx.sent(len(pkt))
	p.arrival = p.arrival.Add(p.packetPeriod)
	if p.n++; p.lossEvery <= 0 || p.n%p.lossEvery != 0 {
		p.rx.handlePacket(pkt, p.arrival)
	}
	p.rx.Receive(p.recv)
	p.up.Process(p.ear, p.recv)
}

func TestPipelineDoesNotAllocate(t *testing.T) {
	for _, codec := range []string{"PCMU", "G722"} {
		p := newPipeline(t, codec)
		if n := testing.AllocsPerRun(200, func() { p.step(t) }); n != 0 {
			t.Errorf("%s: the per-packet path allocates %v times, want 0", codec, n)
		}
		if st := p.rx.Stats(); st.Lost != 0 || st.Concealed > 1 {
			t.Errorf("%s: lost %d, concealed %d, want a clean path", codec, st.Lost, st.Concealed)
		}
		if lvl := LevelDBFS(p.ear); lvl < -16 || lvl > -10 {
			t.Errorf("%s: the earpiece plays at %.1f dBFS, want the -12 dBFS tone", codec, lvl)
		}
		// Concealment, with its pitch search, allocates no more.
		p.lossEvery = 7
		if n := testing.AllocsPerRun(200, func() { p.step(t) }); n != 0 {
			t.Errorf("%s: the per-packet path with loss allocates %v times, want 0", codec, n)
		}
		if st := p.rx.Stats(); st.Lost == 0 || st.Concealed < st.Lost {
			t.Errorf("%s: lost %d, concealed %d, want losses concealed", codec, st.Lost, st.Concealed)
		}
	}
}

// earpieceFill is the appliance's earpiece target fill at its largest (earTargetMax in
// appliance/earfill.go): the slack its earpiece ring keeps for a late pump, which the
// one-way delay includes.
const earpieceFill = 5 * time.Millisecond

// TestPipelineLatency reports what the media path adds one way on a clean network, with
// packets arriving just before their playout: packetization, the jitter buffer at its
// depth for no jitter, and the resamplers' and codec's delays, and then the earpiece's
// target fill. The device periods at each end come on top. It finds a click's way
// through, after 5 s for the jitter buffer to settle.
func TestPipelineLatency(t *testing.T) {
	for _, codec := range []string{"PCMU", "G722"} {
		p := newPipeline(t, codec)
		clear(p.mic)
		for range 250 {
			p.step(t)
		}
		p.mic[0] = 16000
		var heard []int16
		for range 10 {
			p.step(t)
			heard = append(heard, p.ear...)
			clear(p.mic)
		}
		at := 0
		for i, v := range heard {
			if abs16(v) > abs16(heard[at]) {
				at = i
			}
		}
		// The click entered at the start of a packet, which was sent a packet time later,
		// when the microphone had filled it; it left at sample at of the earpiece audio
		// played from then on.
		path := time.Duration(at) * time.Second / deviceRate
		latency := p.packetPeriod + path + earpieceFill
		st := p.rx.Stats()
		t.Logf("%s: the media path adds %v one way: %v of packetization, %v of resampling and coding, jitter buffer at depth %d (target %d), "+
			"%v of earpiece fill; the device period at each end comes on top, and up to a packet time where packets arrive earlier before playout",
			codec, latency.Round(100*time.Microsecond), p.packetPeriod, path.Round(100*time.Microsecond), st.Depth, st.TargetDepth, earpieceFill)
		if latency > 2*p.packetPeriod {
			t.Errorf("%s: latency %v, want under two packet times", codec, latency)
		}
	}
}

// BenchmarkPipeline measures the per-handset path for one 20 ms packet each way, and its
// CPU cost per second of audio.
func BenchmarkPipeline(b *testing.B) {
	for _, codec := range []string{"PCMU", "G722"} {
		b.Run(codec, func(b *testing.B) {
			p := newPipeline(b, codec)
			b.ReportAllocs()
			for b.Loop() {
				p.step(b)
			}
			reportAudioCost(b, DefaultPacketTime.Seconds())
		})
	}
}
