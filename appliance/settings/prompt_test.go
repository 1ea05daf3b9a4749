package settings

import (
	"strings"
	"testing"
	"time"
)

func TestParsePrompt(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Prompt
		err  string
	}{
		{"tone:440:1s", Prompt{ToneHz: 440, Duration: time.Second}, ""},
		{"tone:0:250ms", Prompt{Duration: 250 * time.Millisecond}, ""},
		{"tone:697.5:20ms", Prompt{ToneHz: 697.5, Duration: 20 * time.Millisecond}, ""},
		{"welcome.wav", Prompt{File: "welcome.wav"}, ""},
		{"Recorded_2-b.WAV", Prompt{File: "Recorded_2-b.WAV"}, ""},
		{"tone:440", Prompt{}, `tone "tone:440": want tone:<Hz>:<duration>`},
		{"tone:loud:1s", Prompt{}, `"loud" is not a frequency`},
		{"tone:4000:1s", Prompt{}, "is not a frequency of 0 to 3900 Hz"},
		{"tone:-1:1s", Prompt{}, "is not a frequency"},
		{"tone:440:10ms", Prompt{}, "is not a duration of 20ms to 10m0s"},
		{"tone:440:11m", Prompt{}, "is not a duration"},
		{"tone:440:forever", Prompt{}, "is not a duration"},
		{"", Prompt{}, "an empty prompt"},
		{".hidden.wav", Prompt{}, "must not start with a dot"},
		{"welcome.mp3", Prompt{}, "not a .wav file"},
		{"a b.wav", Prompt{}, "may contain only"},
		{"dir/welcome.wav", Prompt{}, "may contain only"},
		{strings.Repeat("a", 101) + ".wav", Prompt{}, "longer than 100"},
	} {
		got, err := ParsePrompt(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParsePrompt(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParsePrompt(%q) error %v, want one saying %q", tt.in, err, tt.err)
		}
	}
}
