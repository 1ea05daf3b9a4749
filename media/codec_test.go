package media

import (
	"math"
	"testing"

	"partyline/media/opus"
)

func TestCodecByName(t *testing.T) {
	tests := []struct {
		name          string
		wantName      string
		wantPT        uint8
		wantRate      int
		wantRTPRate   int
		wantFreshEach bool // the codec has state, so each call returns another
	}{
		{"PCMU", "PCMU", 0, 8000, 8000, false},
		{"pcmu", "PCMU", 0, 8000, 8000, false},
		{"PCMA", "PCMA", 8, 8000, 8000, false},
		{"pcmA", "PCMA", 8, 8000, 8000, false},
		{"G722", "G722", 9, 16000, 8000, true},
		{"g722", "G722", 9, 16000, 8000, true},
	}
	if opus.Available {
		tests = append(tests, struct {
			name          string
			wantName      string
			wantPT        uint8
			wantRate      int
			wantRTPRate   int
			wantFreshEach bool
		}{"opus", "opus", 111, 48000, 48000, true}, struct {
			name          string
			wantName      string
			wantPT        uint8
			wantRate      int
			wantRTPRate   int
			wantFreshEach bool
		}{"OPUS", "opus", 111, 48000, 48000, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := CodecByName(tt.name)
			if !ok {
				t.Fatalf("CodecByName(%q) not found", tt.name)
			}
			if c.Name() != tt.wantName || c.PayloadType() != tt.wantPT || c.ClockRate() != tt.wantRate || c.RTPClockRate() != tt.wantRTPRate {
				t.Errorf("CodecByName(%q) = %s PT %d at %d Hz, RTP clock %d Hz; want %s PT %d at %d Hz, RTP clock %d Hz",
					tt.name, c.Name(), c.PayloadType(), c.ClockRate(), c.RTPClockRate(), tt.wantName, tt.wantPT, tt.wantRate, tt.wantRTPRate)
			}
			if again, _ := CodecByName(tt.name); tt.wantFreshEach && again == c {
				t.Errorf("CodecByName(%q) returned the same stateful codec twice", tt.name)
			}
		})
	}
	for _, name := range []string{"", "G7221", "opus/48000", "PCM", "telephone-event"} {
		if c, ok := CodecByName(name); ok {
			t.Errorf("CodecByName(%q) = %s, want not found", name, c.Name())
		}
	}
}

func TestG711RoundTrip(t *testing.T) {
	for _, name := range []string{"PCMU", "PCMA"} {
		t.Run(name, func(t *testing.T) {
			c, _ := CodecByName(name)
			in := tone(8000, 1000, -10, 0.02)
			payload := make([]byte, len(in))
			out := make([]int16, len(in))
			if n := c.Encode(payload, in); n != len(in) {
				t.Fatalf("Encode = %d bytes, want %d", n, len(in))
			}
			if n := c.Decode(out, payload); n != len(in) {
				t.Fatalf("Decode = %d samples, want %d", n, len(in))
			}
			noise := make([]int16, len(in))
			for i := range in {
				noise[i] = in[i] - out[i]
			}
			// G.711 keeps a signal-to-quantisation-noise ratio of about 38 dB.
			if snr := LevelDBFS(in) - LevelDBFS(noise); snr < 30 {
				t.Errorf("SNR = %.1f dB, want at least 30", snr)
			}
			if d := math.Abs(LevelDBFS(out) - LevelDBFS(in)); d > 0.2 {
				t.Errorf("level changed by %.2f dB, want at most 0.2", d)
			}
		})
	}
}

func TestG711StopsAtShorterBuffer(t *testing.T) {
	c, _ := CodecByName("PCMU")
	if n := c.Encode(make([]byte, 10), make([]int16, 160)); n != 10 {
		t.Errorf("Encode into 10 bytes = %d, want 10", n)
	}
	if n := c.Decode(make([]int16, 160), make([]byte, 20)); n != 20 {
		t.Errorf("Decode of 20 bytes = %d, want 20", n)
	}
}

func TestG711DoesNotAllocate(t *testing.T) {
	for _, name := range []string{"PCMU", "PCMA"} {
		c, _ := CodecByName(name)
		pcm, payload := make([]int16, 160), make([]byte, 160)
		if n := testing.AllocsPerRun(100, func() {
			c.Encode(payload, pcm)
			c.Decode(pcm, payload)
		}); n != 0 {
			t.Errorf("%s Encode and Decode allocate %v times, want 0", name, n)
		}
	}
}
