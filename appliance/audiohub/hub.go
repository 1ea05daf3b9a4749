// Package audiohub is the audio device callback's side of the handsets' calls: one port per
// channel of the duplex device, with lock-free rings between the callback and each call's
// pump, the handsets' gains, sidetone and automatic gain, level meters, and the earpiece's
// fill control. The callback never blocks and never allocates.
package audiohub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"partyline/hw"
	"partyline/media"
)

// ringPeriods is how much audio each direction of a port can hold, in device periods:
// enough to ride out a late pump, small enough never to add noticeable delay.
const ringPeriods = 32

// A Hub connects the channels of the duplex audio device to the handsets' calls.
// The device callback (Process) is the clock: it moves each attached channel's microphone
// samples into a ring, fills its earpiece from another ring, and wakes the hub's pump loop
// (Run) once a channel has a packet's worth of microphone samples in.
type Hub struct {
	format  hw.AudioFormat
	ports   []*Port
	periods atomic.Uint64          // calls of Process, for Beats
	local   localMix               // callback only
	busy    atomic.Pointer[func()] // see OnBusy
	ready   chan struct{}          // the callback wakes Run

	// mu guards pumps, the calls' pumps that Run steps, and each pump's fields marked so.
	// Run holds it while it steps them, so a pump that leaves is never in use after.
	mu    sync.Mutex
	pumps []*Pump
	steps atomic.Uint64 // rounds of Run, for PumpBeats
}

// A Port is one channel of the device: one handset's microphone and earpiece.
type Port struct {
	attached atomic.Bool // a call is using the port
	muted    atomic.Bool // the microphone is muted: the call gets silence
	mic      *media.Ring // written by the callback, read by the pump
	ear      *media.Ring // written by the pump, read by the callback
	pump     *Pump       // the call's pump, under Hub.mu
	// wakeAt is how many microphone samples the pump waits for, a packet's worth: the
	// callback wakes the pump loop only once they are in the ring, not every period.
	wakeAt  atomic.Int64
	scratch []int16 // used by the callback only

	micMeter, earMeter meter // levels for the admin page

	// Gains, as Q16 fixed-point factors (unity = 1<<16) that any goroutine may set with
	// SetLevels: the microphone into the call, the call into the earpiece, and the sidetone,
	// the handset's own microphone mixed into its earpiece during a call.
	micGain, earGain, sidetone atomic.Int32

	// agc, when set, is the microphone's automatic gain control, applied after micGain.
	// setAGC publishes a fresh one; from then on only the callback uses it.
	agc atomic.Pointer[media.AGC]

	// earUnderruns counts the periods in which the earpiece ran dry during a call once its
	// first audio had arrived: the pump was late.
	earUnderruns atomic.Uint64
	// earDropped counts the earpiece samples the fill control dropped to catch up with a
	// backlog, as after a stall of the pump.
	earDropped atomic.Uint64
	// earFill keeps the earpiece ring at its target fill; callback only.
	earFill earFill

	// local is the port's local mix group, 0 for none (see SetLocal); localNow is the
	// group the callback found this period and localMic the port's share of it, callback
	// only.
	local    atomic.Int32
	localNow int
	localMic []int16
	// cue is a sound played once into the earpiece, over the call (see Cue).
	cue cues
	hub *Hub
}

// wake tells the device, through the hub's OnBusy hook, that the port needs its periods
// on time.
func (p *Port) wake() {
	if f := p.hub.busy.Load(); f != nil {
		(*f)()
	}
}

// unityGain is a Q16 gain of 0 dB.
const unityGain = 1 << 16

// Gain limits, in dB, that SetLevels accepts.
const (
	minGainDB = -40
	maxGainDB = 20
	// sidetoneOff is the sidetone setting that turns it off; above it, it is a gain in dB.
	sidetoneOff = -60
)

// q16 turns a gain in dB into a Q16 factor.
func q16(dB float64) int32 { return int32(math.Round(unityGain * math.Pow(10, dB/20))) }

// SidetoneDB turns a sidetone share in percent of the microphone into a level in dB,
// sidetoneOff for 0.
func SidetoneDB(percent int) float64 {
	if percent <= 0 {
		return sidetoneOff
	}
	return max(20*math.Log10(float64(percent)/100), sidetoneOff)
}

// SetLevels sets the gains of channel c: microphone and earpiece gains in dB
// (minGainDB..maxGainDB) and the sidetone level in dB relative to the microphone
// (sidetoneOff turns it off, at most 0).
func (h *Hub) SetLevels(c int, micDB, earDB, sideDB float64) error {
	p, err := h.Port(c)
	if err != nil {
		return err
	}
	for _, g := range []struct {
		what string
		dB   float64
	}{{"microphone gain", micDB}, {"earpiece gain", earDB}} {
		if g.dB < minGainDB || g.dB > maxGainDB {
			return fmt.Errorf("%s %.1f dB is not in %d..%d dB", g.what, g.dB, minGainDB, maxGainDB)
		}
	}
	if sideDB < sidetoneOff || sideDB > 0 {
		return fmt.Errorf("sidetone %.1f dB is not in %d..0 dB", sideDB, sidetoneOff)
	}
	side := int32(0)
	if sideDB > sidetoneOff {
		side = q16(sideDB)
	}
	p.micGain.Store(q16(micDB))
	p.earGain.Store(q16(earDB))
	p.sidetone.Store(side)
	return nil
}

// SetAGC turns the automatic gain control of channel c's microphone on, starting at 0 dB,
// or off.
func (h *Hub) SetAGC(c int, on bool) error {
	p, err := h.Port(c)
	if err != nil {
		return err
	}
	if !on {
		p.agc.Store(nil)
		return nil
	}
	agc, err := media.NewAGC(h.format.SampleRate, media.DefaultAGC())
	if err != nil {
		return fmt.Errorf("microphone AGC: %w", err)
	}
	p.agc.Store(agc)
	return nil
}

// scale applies a Q16 gain to one sample; saturate clips the sum back to 16 bits.
func scale(v int16, gain int32) int64 { return int64(v) * int64(gain) >> 16 }

func saturate(v int64) int16 { return int16(max(math.MinInt16, min(math.MaxInt16, v))) }

// meterPeriods is how many device periods a level reading covers (100 ms at 5 ms).
const meterPeriods = 20

// A meter measures the RMS level of one direction of a port. The device callback adds each
// period's samples; every meterPeriods periods it publishes the mean square, which any
// goroutine can read as dBFS. It never allocates or blocks.
type meter struct {
	sum     int64 // squares of the samples, callback only: exact, and cheaper than floats
	n       int   // samples in sum, callback only
	periods int   // callback only
	last    atomic.Uint64
}

func (m *meter) add(samples []int16, channel, channels int) {
	var sum int64
	for i := channel; i < len(samples); i += channels {
		v := int64(samples[i])
		sum += v * v
	}
	m.count(sum, (len(samples)-channel+channels-1)/channels)
}

// addSilence adds a period of n silent samples, as add would, without reading them.
func (m *meter) addSilence(n int) { m.count(0, n) }

// count adds a period of n samples whose squares sum to sum.
func (m *meter) count(sum int64, n int) {
	m.sum += sum
	m.n += n
	m.periods++
	if m.periods < meterPeriods {
		return
	}
	m.last.Store(math.Float64bits(float64(m.sum) / float64(max(m.n, 1))))
	m.sum, m.n, m.periods = 0, 0, 0
}

// dBFS returns the last published level, -120 for silence.
func (m *meter) dBFS() float64 {
	return media.MeanSquareDBFS(math.Float64frombits(m.last.Load()) / (32768 * 32768))
}

// New returns the hub of a device of format f, one port per channel, every port detached
// and at unity gain.
func New(f hw.AudioFormat) *Hub {
	h := &Hub{format: f, ready: make(chan struct{}, 1)}
	for range f.Channels {
		p := &Port{
			mic:     media.NewRing(ringPeriods * f.PeriodFrames),
			ear:     media.NewRing(ringPeriods * f.PeriodFrames),
			earFill: newEarFill(f),
			hub:     h,
		}
		// Room for the samples the earpiece's fill control drops in a period.
		p.scratch = make([]int16, f.PeriodFrames+p.earFill.maxDrop)
		p.localMic = make([]int16, len(p.scratch))
		p.micGain.Store(unityGain)
		p.earGain.Store(unityGain)
		h.ports = append(h.ports, p)
	}
	if len(h.ports) > 0 {
		h.local = newLocalMix(f, len(h.ports[0].scratch))
	}
	return h
}

// Process is the device callback (hw.AudioDevice.Run's). It never blocks and never allocates.
func (h *Hub) Process(in, out []int16) {
	h.periods.Add(1)
	channels := len(h.ports)
	frames := min(len(in), len(out)) / channels
	h.mixLocal(in, frames)
	ready := false // a call has a packet's worth of microphone audio
	for c, p := range h.ports {
		buf := p.scratch[:frames]
		p.micMeter.add(in[:frames*channels], c, channels)
		if !p.attached.Load() {
			p.ear.Read(buf) // drop what a finished call left behind
			p.earFill.reset()
			local := p.localNow > 0
			if local {
				h.playLocal(p, c, in, out, frames)
			} else {
				for f := range frames {
					out[f*channels+c] = 0
				}
			}
			if p.cue.mix(out, c, channels, frames) || local {
				p.earMeter.add(out[:frames*channels], c, channels)
			} else {
				p.earMeter.addSilence(frames) // an idle handset's, mostly
			}
			continue
		}
		micGain, earGain, side := p.micGain.Load(), p.earGain.Load(), p.sidetone.Load()
		for f := range frames {
			buf[f] = saturate(scale(in[f*channels+c], micGain))
		}
		if agc := p.agc.Load(); agc != nil {
			agc.Process(buf)
		}
		p.mic.Write(buf)
		dropped, dry := p.earFill.read(p.ear, buf)
		if dry {
			p.earUnderruns.Add(1)
		}
		if dropped > 0 {
			p.earDropped.Add(uint64(dropped))
		}
		for f := range frames {
			// The sidetone comes straight from this period's microphone: no added delay.
			out[f*channels+c] = saturate(scale(buf[f], earGain) + scale(in[f*channels+c], side))
		}
		p.cue.mix(out, c, channels, frames)
		p.earMeter.add(out[:frames*channels], c, channels)
		ready = ready || int64(p.mic.Len()) >= p.wakeAt.Load()
	}
	if ready {
		h.wake()
	}
}

// wake has Run look at the pumps; it never blocks.
func (h *Hub) wake() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// Idle reports whether no channel is in a call (no pump attached), in a local mix or
// playing a cue: the device may then call Process in bursts (sim.Audio.PaceIdle). Safe
// from any goroutine.
func (h *Hub) Idle() bool {
	for _, p := range h.ports {
		if p.attached.Load() || p.local.Load() != 0 || p.cue.next.Load() != nil {
			return false
		}
	}
	return true
}

// OnBusy has the hub call f when a channel that may have been idle needs the device's
// periods on time again: a call's pump, a local mix or a cue starts. f must not block;
// sim.Audio.Wake is one. Call it before the device runs.
func (h *Hub) OnBusy(f func()) { h.busy.Store(&f) }

// Beats counts the periods the device has handed to Process: it grows while the audio
// runs. Safe from any goroutine.
func (h *Hub) Beats() uint64 { return h.periods.Load() }

// Format is the audio format of the device the hub serves.
func (h *Hub) Format() hw.AudioFormat { return h.format }

// Port returns the port of channel c.
func (h *Hub) Port(c int) (*Port, error) {
	if c < 0 || c >= len(h.ports) {
		return nil, fmt.Errorf("audio channel %d does not exist: the device has %d", c, len(h.ports))
	}
	return h.ports[c], nil
}

// SetMuted mutes the microphone of the port (the call gets silence), or lets it through.
// Safe from any goroutine.
func (p *Port) SetMuted(on bool) { p.muted.Store(on) }

// Gains returns the Q16 gains the callback applies to channel c now (microphone,
// earpiece, sidetone) and whether its automatic gain runs; zeros for a channel that does
// not exist. Safe from any goroutine.
func (h *Hub) Gains(c int) (mic, ear, sidetone int32, agc bool) {
	p, err := h.Port(c)
	if err != nil {
		return 0, 0, 0, false
	}
	return p.micGain.Load(), p.earGain.Load(), p.sidetone.Load(), p.agc.Load() != nil
}

// Levels returns the microphone and earpiece levels of channel c in dBFS, over the last
// 100 ms, -120 for silence or a channel that does not exist.
func (h *Hub) Levels(c int) (mic, ear float64) {
	p, err := h.Port(c)
	if err != nil {
		return media.FloorDBFS, media.FloorDBFS
	}
	return p.micMeter.dBFS(), p.earMeter.dBFS()
}

// EarUnderruns returns how many periods the earpiece of each channel ran dry during calls.
func (h *Hub) EarUnderruns() []uint64 {
	n := make([]uint64, len(h.ports))
	for c, p := range h.ports {
		n[c] = p.earUnderruns.Load()
	}
	return n
}

// EarDropped returns how many earpiece samples the fill control of each channel dropped to
// catch up after a late pump.
func (h *Hub) EarDropped() []uint64 {
	n := make([]uint64, len(h.ports))
	for c, p := range h.ports {
		n[c] = p.earDropped.Load()
	}
	return n
}

// A VoiceStream is what a pump feeds: one call's media session.
type VoiceStream interface {
	Send(pcm []int16) error
	Receive(pcm []int16) bool
	SamplesPerPacket() int
}

// A Pump moves one call's audio between a port and its media session: each time the
// device has captured a packet's worth of microphone audio, it sends that packet and
// plays out the next received one. Its buffers are made once, and again when the stream's
// packets change size with its codec's sample rate (a re-INVITE from G.711 to G.722);
// otherwise it allocates nothing. The hub's pump loop (Hub.Run) does its work, for every
// call at once, so that a packet time costs one wakeup, not one per call.
type Pump struct {
	port       *Port
	stream     VoiceStream
	deviceRate int
	down, up   *media.Resampler
	devFrame   []int16 // one packet at the device rate
	codecSend  []int16 // one packet at the codec rate
	codecRecv  []int16
	muted      []int16 // what a muted microphone sends: one packet of silence
	// joining is true from Run's start until the pump loop first finds its packet time
	// (see Hub.step); under Hub.mu.
	joining bool
	failed  chan error // the pump loop's reason for dropping the pump
}

// NewPump returns the pump between port p, whose device runs at deviceRate, and stream s,
// whose codec runs at codecRate.
func NewPump(p *Port, s VoiceStream, deviceRate, codecRate int) (*Pump, error) {
	pu := &Pump{port: p, stream: s, deviceRate: deviceRate, failed: make(chan error, 1)}
	n := s.SamplesPerPacket()
	pu.devFrame = make([]int16, n*deviceRate/codecRate)
	if err := pu.resize(n); err != nil {
		return nil, err
	}
	return pu, nil
}

// resize readies the pump for packets of n samples at the codec rate. The packet time, and
// so the device frame, stays as it is: the codec rate follows from n.
func (p *Pump) resize(n int) error {
	codecRate := n * p.deviceRate / len(p.devFrame)
	down, err := media.NewResampler(p.deviceRate, codecRate)
	if err != nil {
		return fmt.Errorf("resample microphone: %w", err)
	}
	up, err := media.NewResampler(codecRate, p.deviceRate)
	if err != nil {
		return fmt.Errorf("resample earpiece: %w", err)
	}
	p.down, p.up = down, up
	p.codecSend, p.codecRecv, p.muted = make([]int16, n), make([]int16, n), make([]int16, n)
	return nil
}

// errPortBusy is Run's error for a port that already has a call's pump.
var errPortBusy = errors.New("the audio channel already carries a call")

// Run attaches the port and has the hub's pump loop (Hub.Run) pump until ctx is done, then
// detaches the port and returns nil. It returns an error, the port detached, if the port
// already has a pump, or if the stream's packets change to a size the pump cannot
// resample to.
func (p *Pump) Run(ctx context.Context) error {
	h := p.port.hub
	if err := h.join(p); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		h.leave(p)
		return nil
	case err := <-p.failed:
		return err
	}
}

// join attaches pump p's port and adds p to the pumps Run steps.
func (h *Hub) join(p *Pump) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	port := p.port
	if port.pump != nil {
		return errPortBusy
	}
	for port.mic.Len() > 0 { // stale microphone audio from before the call
		port.mic.Read(p.devFrame)
	}
	port.pump, p.joining = p, true
	h.pumps = append(h.pumps, p)
	port.wakeAt.Store(int64(len(p.devFrame)))
	port.attached.Store(true)
	port.wake()
	return nil
}

// leave detaches pump p's port and drops p from the pumps Run steps, unless Run dropped it
// already.
func (h *Hub) leave(p *Pump) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(p)
}

// drop detaches pump p's port and drops p from the pumps; under mu.
func (h *Hub) drop(p *Pump) {
	if i := slices.Index(h.pumps, p); i >= 0 {
		h.pumps = slices.Delete(h.pumps, i, i+1)
		p.detach()
	}
}

// detach detaches p's port: the callback stops feeding it, and another pump may join.
// Under Hub.mu.
func (p *Pump) detach() {
	p.port.attached.Store(false)
	p.port.pump = nil
}

// Run is the pump loop: each time the callback has a packet's worth of microphone audio in
// for a call, it steps every call's pump that has one, until ctx is done. Start it with
// the device; the pumps (Pump.Run) wait for it.
func (h *Hub) Run(ctx context.Context) {
	// One channel to wait on: a select on two costs the calls a context switch more per
	// wakeup (see sim.Audio.Run).
	stop := context.AfterFunc(ctx, h.wake)
	defer stop()
	for ctx.Err() == nil {
		<-h.ready
		h.step()
	}
}

// PumpBeats counts the rounds of the pump loop (Run): it grows while the loop is alive,
// once a packet time during calls, and once for each ProbePumps. Safe from any goroutine.
func (h *Hub) PumpBeats() uint64 { return h.steps.Load() }

// ProbePumps has the pump loop go round once more, so that PumpBeats grows if it is alive.
// It never blocks.
func (h *Hub) ProbePumps() { h.wake() }

// step runs every pump that has a packet's worth of microphone audio.
//
// A pump that is joining first finds its packet time: the calls' packets are then due in
// the same device period, and take one wakeup of the loop, not one each. Once any pump has
// a packet, a joining pump drops the samples that do not make a whole packet and runs from
// then on.
func (h *Hub) step() {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.steps.Add(1)
	stepped, failed := false, false
	for _, p := range h.pumps {
		if !p.joining {
			moved, err := p.move()
			stepped = stepped || moved
			failed = failed || p.fail(err)
		}
	}
	for _, p := range h.pumps {
		stepped = stepped || (p.joining && p.port.mic.Len() >= len(p.devFrame))
	}
	for _, p := range h.pumps {
		if !p.joining || !stepped {
			continue
		}
		p.joining = false
		if extra := p.port.mic.Len() % len(p.devFrame); extra > 0 {
			p.port.mic.Read(p.devFrame[:extra])
		}
		_, err := p.move()
		failed = failed || p.fail(err)
	}
	if failed {
		h.pumps = slices.DeleteFunc(h.pumps, func(p *Pump) bool { return p.port.pump != p })
	}
}

// fail, for a non-nil err, detaches p's port and hands err to p's Run, and reports that it
// did; the pump loop then drops p. Under Hub.mu.
func (p *Pump) fail(err error) bool {
	if err == nil {
		return false
	}
	p.detach()
	p.failed <- err
	return true
}

// move moves the packets of the pump that the microphone has in: it sends each and plays
// out the next received one. It reports whether there was one, and an error if the
// stream's packets changed to a size it cannot resample to. Under Hub.mu.
func (p *Pump) move() (bool, error) {
	port := p.port
	moved := false
	for port.mic.Len() >= len(p.devFrame) {
		moved = true
		port.mic.Read(p.devFrame)
		if n := p.stream.SamplesPerPacket(); n != len(p.codecSend) {
			// The codec changed its sample rate.
			if err := p.resize(n); err != nil {
				return moved, fmt.Errorf("follow the codec to %d samples a packet: %w", n, err)
			}
		}
		p.down.Process(p.codecSend, p.devFrame)
		send := p.codecSend
		if port.muted.Load() {
			send = p.muted // the conference hears silence; the packet clock goes on
		}
		// A failed send (network down) is counted by the session; the call goes on.
		_ = p.stream.Send(send)
		p.stream.Receive(p.codecRecv)
		p.up.Process(p.devFrame, p.codecRecv)
		port.ear.Write(p.devFrame)
	}
	return moved, nil
}
