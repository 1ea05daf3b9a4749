package media

import (
	"math"
	"testing"
	"time"
)

func TestEModel(t *testing.T) {
	tests := []struct {
		name       string
		codec      string
		delay      time.Duration
		loss       float64
		minR, maxR float64
		minMOS     float64
		maxMOS     float64
	}{
		{"G.711, no delay, no loss: the G.107 default", "PCMU", 0, 0, 93.1, 93.3, 4.40, 4.42},
		{"G.711 at 40 ms, no loss", "PCMA", 40 * time.Millisecond, 0, 91.5, 93.2, 4.35, 4.42},
		{"G.711 at 40 ms, 1% loss", "PCMU", 40 * time.Millisecond, 1, 87, 90, 4.2, 4.35},
		{"G.711 at 40 ms, 5% loss", "PCMU", 40 * time.Millisecond, 5, 74, 79, 3.7, 4.0},
		{"G.711 at 300 ms, no loss", "PCMU", 300 * time.Millisecond, 0, 70, 78, 3.5, 3.95},
		{"G.711, all lost", "PCMU", 40 * time.Millisecond, 100, -10, 20, 1, 1.5},
		{"G.722 at 40 ms, no loss", "G722", 40 * time.Millisecond, 0, 87, 90, 4.25, 4.4},
		{"G.722 at 40 ms, 5% loss", "G722", 40 * time.Millisecond, 5, 65, 75, 3.3, 3.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := EModelR(tt.codec, tt.delay, tt.loss)
			mos := MOSFromR(r)
			if r < tt.minR || r > tt.maxR || mos < tt.minMOS || mos > tt.maxMOS {
				t.Errorf("R = %.2f, MOS = %.2f; want R %v to %v, MOS %v to %v", r, mos, tt.minR, tt.maxR, tt.minMOS, tt.maxMOS)
			}
		})
	}
}

func TestEModelFallsWithDelayAndLoss(t *testing.T) {
	for _, codec := range []string{"PCMU", "G722"} {
		prev := math.Inf(1)
		for d := time.Duration(0); d <= 600*time.Millisecond; d += 10 * time.Millisecond {
			r := EModelR(codec, d, 0)
			if r > prev+1e-9 {
				t.Errorf("%s: R rises from %.3f to %.3f at %v", codec, prev, r, d)
			}
			prev = r
		}
		prev = math.Inf(1)
		for loss := 0.0; loss <= 100; loss += 0.5 {
			r := EModelR(codec, 20*time.Millisecond, loss)
			if r >= prev {
				t.Errorf("%s: R does not fall from %.3f at %.1f%% loss", codec, r, loss)
			}
			prev = r
		}
	}
}

func TestMOSFromR(t *testing.T) {
	tests := []struct{ r, want float64 }{{-5, 1}, {0, 1}, {50, 2.58}, {70, 3.60}, {80, 4.02}, {93.2, 4.41}, {100, 4.5}, {120, 4.5}}
	for _, tt := range tests {
		if got := MOSFromR(tt.r); math.Abs(got-tt.want) > 0.01 {
			t.Errorf("MOSFromR(%v) = %.3f, want %.2f", tt.r, got, tt.want)
		}
	}
}

func TestSessionStatsMOS(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	if st := s.Stats(); st.MOS != 0 || st.R != 0 {
		t.Errorf("before any audio: MOS %.2f, R %.2f, want 0", st.MOS, st.R)
	}
	t0 := s.epoch
	payload := make([]byte, 160)
	for seq := range uint16(100) {
		if seq%10 == 5 { // 10% lost
			continue
		}
		s.handlePacket(packet(t, 0, seq, payload), t0.Add(time.Duration(seq)*20*time.Millisecond))
		s.Receive(make([]int16, 160))
	}
	st := s.Stats()
	want := EModelR("PCMU", st.PlayoutDelay+20*time.Millisecond, 100*float64(st.Lost+st.Late)/100)
	if st.Lost != 10 || math.Abs(st.R-want) > 1e-9 || math.Abs(st.MOS-MOSFromR(want)) > 1e-9 || st.MOS > 3.8 {
		t.Errorf("lost %d, R %.2f, MOS %.2f; want 10 lost, R %.2f at %v and 10%% loss", st.Lost, st.R, st.MOS, want, st.PlayoutDelay+20*time.Millisecond)
	}
}

// TestSessionStatsMOSRecovers loses a tenth of the packets for 10 s in the middle of a
// call: the MOS drops to what 10 % loss gives while the loss lasts, and once 10 s have
// played without loss it is back where it was before, although the call as a whole lost
// packets.
func TestSessionStatsMOSRecovers(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	t0 := s.epoch
	payload := make([]byte, 160)
	seq := uint16(0)
	play := func(packets int, lossy bool) Stats {
		for range packets {
			if !lossy || seq%10 != 5 {
				s.handlePacket(packet(t, 0, seq, payload), t0.Add(time.Duration(seq)*20*time.Millisecond))
			}
			s.Receive(make([]int16, 160))
			seq++
		}
		return s.Stats()
	}
	before := play(1000, false) // 20 s
	during := play(500, true)   // 10 s, the window
	after := play(500, false)
	t.Logf("MOS %.2f before, %.2f during 10%% loss, %.2f after; %d lost in all", before.MOS, during.MOS, after.MOS, after.Lost)
	lossy := EModelR("PCMU", during.PlayoutDelay+20*time.Millisecond, 10)
	if math.Abs(during.R-lossy) > 1 {
		t.Errorf("during the loss: R %.2f, want about %.2f, that of 10%% loss", during.R, lossy)
	}
	if before.MOS < 4.3 || during.MOS > before.MOS-0.4 {
		t.Errorf("MOS %.2f before the loss, %.2f during it; want above 4.3, then lower by 0.4 at least", before.MOS, during.MOS)
	}
	if after.Lost == 0 || math.Abs(after.MOS-before.MOS) > 0.01 {
		t.Errorf("10 s after the loss (%d packets lost in the call): MOS %.2f, want %.2f again", after.Lost, after.MOS, before.MOS)
	}
}
