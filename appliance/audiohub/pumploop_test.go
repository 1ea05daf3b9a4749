package audiohub

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"partyline/hw"
)

// beatStream is a VoiceStream of 160-sample packets that records the device period (Hub.Beats)
// of each packet it is sent. Its packet size can be changed, and its Send can be held.
type beatStream struct {
	hub  *Hub
	mu   sync.Mutex
	sent []uint64
	spp  int
	hold chan struct{} // when not nil, Send waits until it is closed
}

func (s *beatStream) Send([]int16) error {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, s.hub.Beats())
	return nil
}

func (s *beatStream) Receive(pcm []int16) bool { clear(pcm); return false }

func (s *beatStream) SamplesPerPacket() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spp == 0 {
		return 160
	}
	return s.spp
}

func (s *beatStream) periods() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.sent...)
}

// runningHub returns a two-channel hub whose pump loop runs until the test's bubble ends.
func runningHub(t *testing.T) *Hub {
	h := New(hw.AudioFormat{SampleRate: 48000, Channels: 2, PeriodFrames: 240})
	go h.Run(t.Context())
	return h
}

// startPump runs the pump between port c of h and s until the test's bubble ends; the
// pump's error, if any, comes on the channel.
func startPump(t *testing.T, h *Hub, c int, s VoiceStream) <-chan error {
	t.Helper()
	p, err := h.Port(c)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := NewPump(p, s, 48000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pu.Run(t.Context()) }()
	return done
}

// TestPumpsShareAPacketTime starts a call on handset 1, and one on handset 2 a device period
// later. The pump loop sends handset 1's packets every fourth period (20 ms of 5 ms
// periods), and takes handset 2's from its next packet time on: from then on both calls'
// packets go out in the same period, in one round of the loop, not in two. Handset 2's
// first packet leaves no later than a packet time after it would have on its own.
func TestPumpsShareAPacketTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runningHub(t)
		one, two := &beatStream{hub: h}, &beatStream{hub: h}
		startPump(t, h, 0, one)
		synctest.Wait()
		feed(h, 1)
		startPump(t, h, 1, two)
		synctest.Wait()
		rounds := h.PumpBeats()
		for range 12 {
			feed(h, 1)
			synctest.Wait()
		}
		rounds = h.PumpBeats() - rounds
		// Handset 1 joined at period 0: its packets are the periods 1-4, 5-8 and 9-12.
		if got, want := one.periods(), []uint64{4, 8, 12}; !slices.Equal(got, want) {
			t.Errorf("handset 1 sent its packets after periods %v, want %v", got, want)
		}
		// Handset 2 joined at period 1: on its own its packets would leave after periods 5,
		// 9 and 13; with handset 1's, after 8 and 12.
		if got, want := two.periods(), []uint64{8, 12}; !slices.Equal(got, want) {
			t.Errorf("handset 2 sent its packets after periods %v, want %v, with handset 1's", got, want)
		}
		if rounds != 3 {
			t.Errorf("the pump loop went round %d times for the two calls' packets, want 3", rounds)
		}
	})
}

// TestPumpThatFailsLeavesTheOthers changes handset 2's stream to packets of a size no
// resampler serves: its pump stops with an error saying so, its port is detached, and
// handset 1's call goes on.
func TestPumpThatFailsLeavesTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runningHub(t)
		one, two := &beatStream{hub: h}, &beatStream{hub: h}
		startPump(t, h, 0, one)
		failed := startPump(t, h, 1, two)
		synctest.Wait()
		feed(h, 4)
		synctest.Wait()
		two.mu.Lock()
		two.spp = 170 // 8.5 kHz
		two.mu.Unlock()
		feed(h, 4)
		synctest.Wait()
		select {
		case err := <-failed:
			if err == nil || !strings.Contains(err.Error(), "follow the codec to 170 samples a packet") {
				t.Errorf("handset 2's pump stopped with %v, want it to say it cannot follow the codec", err)
			}
		default:
			t.Fatal("handset 2's pump goes on with packets it cannot resample")
		}
		if p, _ := h.Port(1); p.attached.Load() {
			t.Error("handset 2's port is still attached after its pump failed")
		}
		feed(h, 4)
		synctest.Wait()
		if got := len(one.periods()); got != 3 {
			t.Errorf("handset 1 sent %d packets in 12 periods, want 3", got)
		}
		if got := len(two.periods()); got != 1 {
			t.Errorf("handset 2 sent %d packets, want only the one before its codec changed", got)
		}
	})
}

// TestSecondPumpOnAPortIsRefused starts two calls' pumps on one port: the second is refused
// and the first goes on.
func TestSecondPumpOnAPortIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runningHub(t)
		one, two := &beatStream{hub: h}, &beatStream{hub: h}
		startPump(t, h, 0, one)
		synctest.Wait()
		if err := <-startPump(t, h, 0, two); !errors.Is(err, errPortBusy) {
			t.Errorf("a second pump on port 1 ran with %v, want %v", err, errPortBusy)
		}
		feed(h, 4)
		synctest.Wait()
		if len(one.periods()) != 1 || len(two.periods()) != 0 {
			t.Errorf("packets sent: first call %d, second %d; want 1 and 0", len(one.periods()), len(two.periods()))
		}
	})
}

// TestPumpBeats checks what the watchdog relies on: the pump loop beats when probed, also
// with no call, and not while a call's stream holds it up, until it lets go.
func TestPumpBeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runningHub(t)
		probe := func() uint64 {
			before := h.PumpBeats()
			h.ProbePumps()
			synctest.Wait()
			return h.PumpBeats() - before
		}
		if n := probe(); n != 1 {
			t.Errorf("with no call, a probe made %d beats, want 1", n)
		}
		hold := make(chan struct{})
		s := &beatStream{hub: h, hold: hold}
		startPump(t, h, 0, s)
		synctest.Wait()
		feed(h, 4) // a packet: its Send holds the loop
		synctest.Wait()
		if n := probe(); n != 0 {
			t.Errorf("with the loop held by a call's stream, a probe made %d beats, want none", n)
		}
		close(hold)
		synctest.Wait()
		if n := probe(); n != 1 {
			t.Errorf("once the stream let go, a probe made %d beats, want 1", n)
		}
		if got := len(s.periods()); got != 1 {
			t.Errorf("the held call sent %d packets, want 1", got)
		}
	})
}
