package media

import (
	"math"
	"slices"
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

// newPipeline returns a pipeline for codec with packets of ptime, 0 for DefaultPacketTime.
func newPipeline(tb testing.TB, codec string, ptime time.Duration) *pipeline {
	tb.Helper()
	tx := newPipelineSession(tb, codec, ptime)
	rx := newPipelineSession(tb, codec, ptime)
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
		packetPeriod: tx.ptime,
	}
	NewTone(deviceRate, 440, -12).Generate(p.mic)
	return p
}

// newPipelineSession returns a Session for codec with packets of ptime, sending nowhere
// that answers: the pipeline hands its packets over by hand.
func newPipelineSession(tb testing.TB, codec string, ptime time.Duration) *Session {
	tb.Helper()
	c, ok := CodecByName(codec)
	if !ok {
		tb.Fatalf("no codec %s", codec)
	}
	s, err := NewSession(listen(tb), SessionConfig{Codec: c, PayloadType: c.PayloadType(), DTMFPayloadType: 101,
		Remote: addrOf(listen(tb)), PacketTime: ptime})
	if err != nil {
		tb.Fatalf("NewSession: %v", err)
	}
	return s
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

// pipelineCodecs are the codecs the pipeline tests run: Opus too where libopus is built in.
func pipelineCodecs() []string {
	if _, ok := CodecByName("opus"); ok {
		return []string{"PCMU", "G722", "opus"}
	}
	return []string{"PCMU", "G722"}
}

func TestPipelineDoesNotAllocate(t *testing.T) {
	for _, codec := range pipelineCodecs() {
		p := newPipeline(t, codec, 0)
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
// appliance/audiohub/earfill.go): the slack its earpiece ring keeps for a late pump, which the
// one-way delay includes. devicePeriod is the appliance's ALSA period (PeriodFrames 240 at
// 48 kHz in every board profile in board/board.go): the microphone's audio waits up to one
// period in the device before the callback sees it, and the earpiece's one period in the
// device after. Package media cannot import either, so they are restated here.
const (
	earpieceFill = 5 * time.Millisecond
	devicePeriod = 5 * time.Millisecond
)

// maxResampleDelay bounds the group delay of the two resamplers, the 48 kHz microphone to
// the codec's rate and back, under 2 ms each (Resampler.Process; TestResamplerGroupDelay
// checks it). maxCodecDelay bounds the codec's own: none for G.711; G.722's transmit and
// receive QMFs, 24 taps each, delay it by about 1.4 ms.
const (
	maxResampleDelay = 4 * time.Millisecond
	maxCodecDelay    = 1500 * time.Microsecond
)

// TestPipelineLatency reports what the appliance adds one way on a clean network, with
// packets arriving just before their playout, at 20 ms and 10 ms packets: the device period
// at the microphone, packetization, the resamplers' and codec's delays, the jitter buffer at
// its depth for no jitter, the earpiece's target fill and the device period at the earpiece.
// It finds a click's way through, after 5 s for the jitter buffer to settle. The figure comes
// from sample positions, not from a clock, so it is the same on every run. The issue aims
// at 40 ms for 20 ms packets and 25 ms for 10 ms packets; the test logs whether each figure
// meets its aim, and fails if it exceeds what the parts account for with the jitter buffer
// adding nothing, so that a change which delays the path shows.
func TestPipelineLatency(t *testing.T) {
	aims := map[time.Duration]time.Duration{20 * time.Millisecond: 40 * time.Millisecond, 10 * time.Millisecond: 25 * time.Millisecond}
	for _, ptime := range []time.Duration{20 * time.Millisecond, 10 * time.Millisecond} {
		for _, codec := range []string{"PCMU", "G722"} {
			p := newPipeline(t, codec, ptime)
			clear(p.mic)
			for range 5 * time.Second / ptime {
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
			latency := devicePeriod + p.packetPeriod + path + earpieceFill + devicePeriod
			st := p.rx.Stats()
			verdict := "meets"
			if latency > aims[ptime] {
				verdict = "misses"
			}
			t.Logf("%s at %v packets: the appliance adds %v one way (%s the %v aim): %v of device period, %v of packetization, %v of resampling and coding, "+
				"jitter buffer at depth %d (target %d), %v of earpiece fill, %v of device period; up to a packet time more where packets arrive earlier before playout",
				codec, ptime, latency.Round(100*time.Microsecond), verdict, aims[ptime], devicePeriod, p.packetPeriod, path.Round(100*time.Microsecond),
				st.Depth, st.TargetDepth, earpieceFill, devicePeriod)
			if bound := devicePeriod + p.packetPeriod + maxResampleDelay + maxCodecDelay + earpieceFill + devicePeriod; latency > bound {
				t.Errorf("%s at %v packets: latency %v, want at most %v: the jitter buffer delays a clean path", codec, ptime, latency, bound)
			}
		}
	}
}

// BenchmarkPipeline measures the per-handset path for one 20 ms packet each way, and its
// CPU cost per second of audio.
func BenchmarkPipeline(b *testing.B) {
	for _, codec := range pipelineCodecs() {
		b.Run(codec, func(b *testing.B) {
			p := newPipeline(b, codec, 0)
			b.ReportAllocs()
			for b.Loop() {
				p.step(b)
			}
			reportAudioCost(b, DefaultPacketTime.Seconds())
		})
	}
}

// blindOpus is an Opus codec that conceals a loss by libopus's concealment alone, as if
// the next packet carried no FEC copy.
type blindOpus struct{ Codec }

func (b blindOpus) Conceal(dst []int16, _ []byte) int {
	return b.Codec.(lossConcealer).Conceal(dst, nil)
}

// speechLike fills p, from sample at on (48 kHz), with a voice-like signal: a 200 Hz
// fundamental and its harmonics to 1 kHz, its loudness rising and falling 2.5 times a
// second with silent gaps, so that concealment cannot just go on with what it heard.
func speechLike(p []int16, at int) {
	for i := range p {
		t := float64(at+i) / deviceRate
		env := math.Max(0, math.Sin(2*math.Pi*2.5*t)) * (0.6 + 0.4*math.Sin(2*math.Pi*0.7*t))
		v := 0.0
		for h := 1; h <= 5; h++ {
			v += math.Sin(2*math.Pi*200*float64(h)*t) / float64(h)
		}
		p[i] = int16(9000 * env * v)
	}
}

// TestOpusSessionConcealsFromFEC loses every fifth packet of a speech-like Opus stream:
// each loss is rebuilt from the FEC copy in the packet after it, much closer to what the
// lost packet held than libopus's concealment without the copy gets.
func TestOpusSessionConcealsFromFEC(t *testing.T) {
	if _, ok := CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	// run plays 125 packets through a pipeline whose receiver conceals with rx, losing
	// every fifth after the first 25 if lossy, and returns the earpiece's packets and
	// which of them were concealed.
	run := func(rx func(Codec) Codec, lossy bool) ([][]int16, []bool) {
		p := newPipeline(t, "opus", 0)
		inner, _ := CodecByName("opus")
		if err := p.rx.SetCodec(rx(inner), OpusPayloadType); err != nil {
			t.Fatal(err)
		}
		var (
			ear       [][]int16
			concealed []bool
		)
		for i := range 125 {
			if i == 25 && lossy {
				p.lossEvery = 5
			}
			speechLike(p.mic, i*len(p.mic))
			before := p.rx.Stats().Concealed
			p.step(t)
			ear = append(ear, slices.Clone(p.ear))
			concealed = append(concealed, p.rx.Stats().Concealed > before)
		}
		return ear, concealed
	}
	clean, _ := run(func(c Codec) Codec { return c }, false)
	// snr runs the lossy pipeline and returns the signal-to-error ratio of its concealed
	// packets to the clean run's, in dB.
	snr := func(rx func(Codec) Codec) (float64, int) {
		ear, concealed := run(rx, true)
		var sig, noise float64
		n := 0
		for i := 25; i < len(ear); i++ {
			if !concealed[i] {
				continue
			}
			n++
			for j, v := range clean[i] {
				d := float64(ear[i][j]) - float64(v)
				sig += float64(v) * float64(v)
				noise += d * d
			}
		}
		return 10 * math.Log10(sig/max(noise, 1)), n
	}
	withFEC, n := snr(func(c Codec) Codec { return c })
	blind, _ := snr(func(c Codec) Codec { return blindOpus{c} })
	t.Logf("%d lost packets against the clean run: %.1f dB SNR rebuilt from FEC, %.1f dB by concealment alone", n, withFEC, blind)
	if n < 15 {
		t.Fatalf("%d packets concealed, want 20", n)
	}
	if withFEC < blind+6 {
		t.Errorf("lost packets rebuilt from FEC have an SNR of %.1f dB against the clean run, concealed alone %.1f dB: want FEC 6 dB better", withFEC, blind)
	}
}
