package audiohub

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"partyline/hw"
	"partyline/media"
)

// failsafe bounds the waits of the package's own tests for a goroutine or a peer to get
// somewhere: only what never happens takes that long, however busy the machine is.
const failsafe = time.Minute

// feed runs n device periods through the hub: channel 0's microphone a 1 kHz square wave
// at half of full scale (-6 dBFS), channel 1's silent.
func feed(h *Hub, n int) {
	f := h.format
	in := make([]int16, f.PeriodFrames*f.Channels)
	out := make([]int16, len(in))
	for range n {
		for fr := range f.PeriodFrames {
			v := int16(16384)
			if fr%48 >= 24 {
				v = -16384
			}
			in[fr*f.Channels] = v
		}
		h.Process(in, out)
	}
}

func TestLevelMeters(t *testing.T) {
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	if mic, ear := h.Levels(0); mic != media.FloorDBFS || ear != media.FloorDBFS {
		t.Errorf("levels before any audio = %.1f, %.1f dBFS, want the floor", mic, ear)
	}
	feed(h, meterPeriods)
	mic0, ear0 := h.Levels(0)
	if math.Abs(mic0-(-6.02)) > 0.1 {
		t.Errorf("microphone 1 at %.2f dBFS, want -6.02", mic0)
	}
	if ear0 != media.FloorDBFS {
		t.Errorf("earpiece 1 (no call) at %.1f dBFS, want silence", ear0)
	}
	if mic1, _ := h.Levels(1); mic1 != media.FloorDBFS {
		t.Errorf("microphone 2 (silent) at %.1f dBFS, want the floor", mic1)
	}
	if mic, ear := h.Levels(5); mic != media.FloorDBFS || ear != media.FloorDBFS {
		t.Errorf("levels of a channel that does not exist = %.1f, %.1f", mic, ear)
	}
	if n := testing.AllocsPerRun(10, func() { feed(h, 1) }); n > 2 { // feed's own two buffers
		t.Errorf("the device callback allocates: %.0f allocations per period", n-2)
	}
}

// recordingStream is a VoiceStream that keeps the peak of what it was sent.
type recordingStream struct {
	mu   sync.Mutex
	peak int16
	sent int
}

func (s *recordingStream) Send(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	for _, v := range pcm {
		s.peak = max(s.peak, v, -v)
	}
	return nil
}
func (s *recordingStream) Receive(pcm []int16) bool { clear(pcm); return false }
func (s *recordingStream) SamplesPerPacket() int    { return 160 }

func (s *recordingStream) reset() (peak int16, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peak, sent = s.peak, s.sent
	s.peak, s.sent = 0, 0
	return peak, sent
}

// TestMuteSendsSilence checks that a muted port still sends packets, of silence, and that
// unmuting lets the microphone through again.
func TestMuteSendsSilence(t *testing.T) {
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	p, _ := h.Port(0)
	s := &recordingStream{}
	pu, err := NewPump(p, s, 48000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { h.Run(ctx) })
	wg.Go(func() { _ = pu.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for !p.attached.Load() {
		time.Sleep(time.Millisecond)
	}

	// run feeds half a second of audio and waits until the pump has sent it (a failsafe
	// bounds the wait).
	run := func() (int16, int) {
		t.Helper()
		for range 25 {
			feed(h, 4) // 20 ms
			time.Sleep(2 * time.Millisecond)
		}
		for deadline := time.Now().Add(failsafe); p.mic.Len() >= len(pu.devFrame); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the pump left %d samples of the microphone unsent for %v", p.mic.Len(), failsafe)
			}
		}
		return s.reset()
	}
	run() // let the resampler's filter fill
	if peak, sent := run(); peak < 10000 || sent == 0 {
		t.Fatalf("unmuted: %d packets, peak %d, want the tone", sent, peak)
	}
	p.muted.Store(true)
	run() // what was in flight
	if peak, sent := run(); peak != 0 || sent < 10 {
		t.Errorf("muted: %d packets, peak %d, want packets of silence", sent, peak)
	}
	p.muted.Store(false)
	run()
	if peak, _ := run(); peak < 10000 {
		t.Errorf("unmuted again: peak %d, want the tone", peak)
	}
}

// TestGainsAndSidetone checks the callback sample by sample: the microphone reaches the
// call with its gain, the call reaches the earpiece with its gain, and the sidetone mixes
// this very period's microphone into the earpiece.
func TestGainsAndSidetone(t *testing.T) {
	f := hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}
	h := New(f)
	p, _ := h.Port(1)
	p.attached.Store(true)
	if err := h.SetLevels(1, 6.0206, -6.0206, -20); err != nil { // x2, x0.5, x0.1
		t.Fatal(err)
	}
	in := make([]int16, f.PeriodFrames*f.Channels)
	out := make([]int16, len(in))
	call := make([]int16, f.PeriodFrames)
	for fr := range f.PeriodFrames {
		in[fr*2+1] = int16(100 * (fr%7 - 3)) // channel 1's microphone
		in[fr*2] = 12345                     // channel 0's must not leak into channel 1
		call[fr] = int16(1000 * (fr%5 - 2))  // what the call plays
	}
	p.ear.Write(call)
	toCall := make([]int16, f.PeriodFrames)
	h.Process(in, out) // the call's audio starts after the earpiece's prime, a period of silence
	p.mic.Read(toCall)
	h.Process(in, out)
	if n := p.mic.Read(toCall); n != f.PeriodFrames {
		t.Fatalf("the call got %d microphone samples, want %d", n, f.PeriodFrames)
	}
	for fr := range f.PeriodFrames {
		mic := int32(in[fr*2+1])
		if want := int16(mic * 2); abs16(toCall[fr]-want) > 1 {
			t.Fatalf("frame %d to the call: %d, want %d (microphone +6 dB)", fr, toCall[fr], want)
		}
		want := int16(int32(call[fr])/2 + mic/10)
		if abs16(out[fr*2+1]-want) > 1 {
			t.Fatalf("frame %d in the earpiece: %d, want %d (call -6 dB + sidetone -20 dB)", fr, out[fr*2+1], want)
		}
	}

	// Full scale with +20 dB saturates instead of wrapping round.
	if err := h.SetLevels(1, 20, 0, sidetoneOff); err != nil {
		t.Fatal(err)
	}
	for fr := range f.PeriodFrames {
		in[fr*2+1] = -30000
	}
	h.Process(in, out)
	p.mic.Read(toCall)
	if toCall[0] != -32768 {
		t.Errorf("a loud microphone with +20 dB gives %d, want -32768", toCall[0])
	}
	// The earpiece has run dry: it fades out the call's last sample, then is silent.
	if last := out[len(out)-1]; last != 0 {
		t.Errorf("sidetone off, no call audio: earpiece %d at the end of the period, want 0", last)
	}

	for _, bad := range [][3]float64{{21, 0, -20}, {0, -41, -20}, {0, 0, 1}, {0, 0, -61}} {
		if err := h.SetLevels(1, bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("setLevels%v accepted", bad)
		}
	}
	if err := h.SetLevels(9, 0, 0, -20); err == nil {
		t.Error("setLevels of a channel that does not exist accepted")
	}
}

func abs16(v int16) int16 { return max(v, -v) }

// rateStream is a VoiceStream whose codec changes sample rate when the test says, as a
// session does after a re-INVITE: it keeps what it was sent and plays a 6 kHz tone at
// 16 kHz, silence at 8 kHz.
type rateStream struct {
	mu         sync.Mutex
	spp        int
	wrongSizes int   // frames sent that were not of spp samples
	wide       int   // frames of 320 samples sent
	peak       int16 // of the 320-sample frames
	tone       *media.Tone
}

func (s *rateStream) Send(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(pcm) != s.spp {
		s.wrongSizes++
		return nil
	}
	if len(pcm) == 320 {
		s.wide++
		for _, v := range pcm {
			s.peak = max(s.peak, v, -v)
		}
	}
	return nil
}

func (s *rateStream) Receive(pcm []int16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(pcm)
	if len(pcm) == s.spp && s.spp == 320 {
		s.tone.Generate(pcm)
	}
	return true
}

func (s *rateStream) SamplesPerPacket() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spp
}

// TestPumpFollowsTheSampleRate switches a pump's stream from 8 kHz to 16 kHz packets: the
// pump sends 320-sample frames of the microphone from then on, and the earpiece plays the
// stream's 6 kHz tone, which only the 16 kHz resampler lets through.
func TestPumpFollowsTheSampleRate(t *testing.T) {
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	p, _ := h.Port(0)
	s := &rateStream{spp: 160, tone: media.NewTone(16000, 6000, -6)}
	pu, err := NewPump(p, s, 48000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { h.Run(ctx) })
	wg.Go(func() {
		if err := pu.Run(ctx); err != nil {
			t.Errorf("pump: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	for !p.attached.Load() {
		time.Sleep(time.Millisecond)
	}
	in := make([]int16, 240*2)
	out := make([]int16, len(in))
	// periods runs n device periods of a 1 kHz square wave into microphone 1 and returns
	// what earpiece 1 played. After a period that completes a packet of the microphone it
	// waits until the pump has taken it and put the stream's packet in the earpiece ring,
	// as a device's period time would let it on an idle machine: the ring then holds more
	// than before the period, which reads at most a period and a drop from it.
	periods := func(n int) []int16 {
		var ear []int16
		for range n {
			for fr := range 240 {
				in[fr*2] = 16384
				if fr%48 >= 24 {
					in[fr*2] = -16384
				}
			}
			full := p.mic.Len()+240 >= len(pu.devFrame)
			before := p.ear.Len() // the pump is idle: it has taken every whole packet
			h.Process(in, out)
			for fr := range 240 {
				ear = append(ear, out[fr*2])
			}
			for deadline := time.Now().Add(failsafe); full && (p.mic.Len() >= len(pu.devFrame) || p.ear.Len() <= before); {
				if time.Now().After(deadline) {
					t.Fatalf("the pump did not take a packet of the microphone in %v", failsafe)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		return ear
	}
	periods(40)
	s.mu.Lock()
	s.spp = 320
	s.mu.Unlock()
	periods(40) // the switch, and the resamplers' filters filling
	ear := periods(100)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wide == 0 || s.peak < 10000 {
		t.Errorf("after the switch: %d frames of 320 samples, peak %d; want the microphone's tone", s.wide, s.peak)
	}
	if s.wrongSizes > 1 {
		t.Errorf("%d frames of the wrong size, want at most the one crossing the switch", s.wrongSizes)
	}
	if lvl := media.ToneLevel(ear, 48000, 6000); lvl < -3 || media.LevelDBFS(ear) < -20 {
		t.Errorf("earpiece after the switch: %.1f dB of the 6 kHz tone, level %.1f dBFS", lvl, media.LevelDBFS(ear))
	}
}

// TestMicrophoneAGC runs a quiet microphone (a -40 dBFS tone) through the callback for 5 s
// with the AGC off and on: off, the call gets it as it is; on, raised to the AGC's target.
func TestMicrophoneAGC(t *testing.T) {
	f := hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}
	for _, tt := range []struct {
		on       bool
		wantDBFS float64
	}{{false, -40}, {true, media.DefaultAGCTargetDBFS}} {
		h := New(f)
		if err := h.SetAGC(0, tt.on); err != nil {
			t.Fatal(err)
		}
		p, _ := h.Port(0)
		p.attached.Store(true)
		tone := media.NewTone(f.SampleRate, 1000, -40)
		mono := make([]int16, f.PeriodFrames)
		in, out := make([]int16, f.PeriodFrames*f.Channels), make([]int16, f.PeriodFrames*f.Channels)
		call := make([]int16, f.PeriodFrames)
		for range 5 * f.SampleRate / f.PeriodFrames {
			tone.Generate(mono)
			for i, v := range mono {
				in[i*f.Channels] = v
			}
			h.Process(in, out)
			p.mic.Read(call)
		}
		if got := media.LevelDBFS(call); math.Abs(got-tt.wantDBFS) > 1 {
			t.Errorf("AGC on = %v: the call gets the -40 dBFS microphone at %.1f dBFS after 5 s, want %.1f", tt.on, got, tt.wantDBFS)
		}
		if n := testing.AllocsPerRun(10, func() { h.Process(in, out); p.mic.Read(call) }); n != 0 {
			t.Errorf("AGC on = %v: the device callback allocates %.0f times per period", tt.on, n)
		}
	}
	if err := New(f).SetAGC(2, true); err == nil {
		t.Error("setAGC on channel 3 of 2 succeeded, want an error")
	}
}

// TestEarpieceUnderruns counts the periods a call's earpiece runs dry, but not those before
// the call's first audio.
func TestEarpieceUnderruns(t *testing.T) {
	f := hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}
	h := New(f)
	p, _ := h.Port(0)
	p.attached.Store(true)
	in, out := make([]int16, f.PeriodFrames*f.Channels), make([]int16, f.PeriodFrames*f.Channels)
	h.Process(in, out) // no audio yet: the call is starting
	p.ear.Write(make([]int16, f.PeriodFrames+f.PeriodFrames/2))
	h.Process(in, out) // the prime: a period of silence first
	h.Process(in, out) // a full period
	h.Process(in, out) // half a period: ran dry
	h.Process(in, out) // nothing: ran dry
	if got := h.EarUnderruns(); got[0] != 2 || got[1] != 0 {
		t.Errorf("earUnderruns() = %v, want [2 0]", got)
	}
	p.attached.Store(false)
	h.Process(in, out)
	p.attached.Store(true)
	h.Process(in, out) // a new call, starting
	if got := h.EarUnderruns(); got[0] != 2 {
		t.Errorf("earUnderruns() after a new call started = %v, want still [2 0]", got)
	}
}

// TestCuePlaysOnceOverTheCall checks that a cue sounds in its channel's earpiece once,
// with or without a call, and nowhere else.
func TestCuePlaysOnceOverTheCall(t *testing.T) {
	f := hw.AudioFormat{SampleRate: 8000, Channels: 2, PeriodFrames: 4}
	h := New(f)
	p, err := h.Port(1)
	if err != nil {
		t.Fatal(err)
	}
	p.Cue([]int16{100, 200, 300, 400, 500, 600})
	in := make([]int16, 8)
	var ear0, ear1 []int16
	for range 3 {
		out := make([]int16, 8)
		h.Process(in, out)
		for f := range 4 {
			ear0, ear1 = append(ear0, out[2*f]), append(ear1, out[2*f+1])
		}
	}
	if want := []int16{100, 200, 300, 400, 500, 600, 0, 0, 0, 0, 0, 0}; !slices.Equal(ear1, want) {
		t.Errorf("earpiece 2 = %v, want %v", ear1, want)
	}
	if slices.ContainsFunc(ear0, func(v int16) bool { return v != 0 }) {
		t.Errorf("earpiece 1 = %v, want silence", ear0)
	}
}

// TestEarMeterOfIdlePort checks the earpiece meter of a port with no call: it reads a
// cue played alone, and silence again once the cue has ended.
func TestEarMeterOfIdlePort(t *testing.T) {
	f := hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240}
	h := New(f)
	p, err := h.Port(1)
	if err != nil {
		t.Fatal(err)
	}
	cue := make([]int16, meterPeriods*f.PeriodFrames)
	for i := range cue {
		cue[i] = 8192 // -12.04 dBFS
	}
	p.Cue(cue)
	feed(h, meterPeriods)
	if _, ear := h.Levels(1); math.Abs(ear-(-12.04)) > 0.1 {
		t.Errorf("earpiece 2 playing a cue alone at %.2f dBFS, want -12.04", ear)
	}
	feed(h, meterPeriods)
	if _, ear := h.Levels(1); ear != media.FloorDBFS {
		t.Errorf("earpiece 2 after its cue at %.1f dBFS, want silence", ear)
	}
}

// TestOnBusy checks that the hub tells the device when a port needs its periods on time
// (a call's pump, a local mix, a cue starts) and is idle only when none does.
func TestOnBusy(t *testing.T) {
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	woken := make(chan struct{}, 8)
	h.OnBusy(func() { woken <- struct{}{} })
	expectWoken := func(what string, want bool) {
		t.Helper()
		select {
		case <-woken:
			if !want {
				t.Errorf("%s woke the device", what)
			}
		default:
			if want {
				t.Errorf("%s did not wake the device", what)
			}
		}
	}
	expectIdle := func(what string, want bool) {
		t.Helper()
		if got := h.Idle(); got != want {
			t.Errorf("Idle() %s = %v, want %v", what, got, want)
		}
	}
	p, _ := h.Port(1)
	expectIdle("at the start", true)

	if err := h.SetLocal(1, 1); err != nil {
		t.Fatal(err)
	}
	expectWoken("joining a local mix", true)
	expectIdle("in a local mix", false)
	if err := h.SetLocal(1, 0); err != nil {
		t.Fatal(err)
	}
	expectWoken("leaving a local mix", false)
	expectIdle("after the local mix", true)

	p.Cue(make([]int16, 240))
	expectWoken("a cue", true)
	expectIdle("with a cue to play", false)
	feed(h, 1)
	expectIdle("after the cue", true)

	pu, err := NewPump(p, &recordingStream{}, 48000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { h.Run(ctx) })
	wg.Go(func() { _ = pu.Run(ctx) })
	select {
	case <-woken:
	case <-time.After(failsafe):
		t.Fatalf("a call's pump did not wake the device in %v", failsafe)
	}
	expectIdle("in a call", false)
	cancel()
	wg.Wait()
	expectIdle("after the call", true)
}
