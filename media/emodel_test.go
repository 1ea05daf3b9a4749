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
