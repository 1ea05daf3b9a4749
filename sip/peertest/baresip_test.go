package peertest_test

import (
	"context"
	"math"
	"testing"
	"time"

	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// tone returns d of a sine at freq (8 kHz) with the given peak amplitude (of full scale).
func tone(freq, amplitude float64, d time.Duration) []int16 {
	pcm := make([]int16, int(d.Seconds()*8000))
	for i := range pcm {
		pcm[i] = int16(amplitude * math.MaxInt16 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	return pcm
}

// toneShare returns how much of the power of s (8 kHz) lies at freq, in dB: about 0 for a
// pure tone (Goertzel over a Hann window, against the windowed power).
func toneShare(s []int16, freq float64) float64 {
	n := len(s)
	coeff := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, wsum, energy, wenergy float64
	for i, v := range s {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		x := w * float64(v)
		s1, s2 = x+coeff*s1-s2, s1
		wsum += w
		energy += x * x
		wenergy += w * w
	}
	if energy == 0 {
		return math.Inf(-1)
	}
	bin := s1*s1 + s2*s2 - coeff*s1*s2
	return 10 * math.Log10((2*bin/(wsum*wsum))/(energy/wenergy))
}

func TestBaresipCallsAndHears(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	f.Tone("room", 1000, 0.2)
	b := peertest.StartBaresip(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: tone(600, 0.2, 20*time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failsafe
	defer cancel()
	if err := b.Dial(f.URI("room")); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return len(calls) == 1 && calls[0].ReceivedSamples >= 16000 }); err != nil {
		t.Fatal(err)
	}
	call := f.Calls()[0]
	if call.From != b.URI() || call.DisplayName != "Carol Caller" {
		t.Errorf("From %q display name %q, want %q, Carol Caller", call.From, call.DisplayName, b.URI())
	}
	got := f.Received(call.CallID)
	if share := toneShare(got[len(got)-8000:], 600); share < -3 {
		t.Errorf("the focus heard baresip's 600 Hz at %.1f dB of its audio", share)
	}
	if err := b.Hangup(); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	heard, err := b.Heard()
	if err != nil {
		t.Fatalf("Heard: %v", err)
	}
	if len(heard) < 8000 {
		t.Fatalf("baresip recorded %d samples, want over a second", len(heard))
	}
	if share := toneShare(heard[len(heard)-8000:], 1000); share < -3 {
		t.Errorf("baresip heard the conference's 1 kHz at %.1f dB of its audio", share)
	}
}
