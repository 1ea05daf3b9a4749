package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Prompt is one entry of Conference.Announce: a WAV file to play, or a tone.
type Prompt struct {
	// File is the prompt file's name in the prompts folder; "" for a tone.
	File string
	// ToneHz and Duration describe a tone; a tone of 0 Hz is a pause.
	ToneHz   float64
	Duration time.Duration
}

// Bounds of a tone prompt.
const (
	// MaxToneHz keeps tones below the Nyquist frequency of G.711's 8 kHz.
	MaxToneHz = 3900
	// MinToneDuration is one packet of audio.
	MinToneDuration = 20 * time.Millisecond
	// MaxToneDuration is as long as the longest prompt file the announcer plays.
	MaxToneDuration = 10 * time.Minute
)

// maxPromptName bounds the length of a prompt file's name.
const maxPromptName = 100

// ParsePrompt reads an entry of Conference.Announce: "tone:<Hz>:<duration>" (for example
// "tone:440:1s", or "tone:0:500ms" for a pause) or the name of a WAV file in the prompts
// folder ("welcome.wav": letters, digits, '.', '-' and '_', not starting with '.', ending
// in ".wav"). It says what is wrong with an entry it refuses, naming it.
func ParsePrompt(s string) (Prompt, error) {
	if spec, ok := strings.CutPrefix(s, "tone:"); ok {
		hz, dur, ok := strings.Cut(spec, ":")
		if !ok {
			return Prompt{}, fmt.Errorf("tone %q: want tone:<Hz>:<duration>, e.g. tone:440:1s", s)
		}
		f, err := strconv.ParseFloat(hz, 64)
		if err != nil || f < 0 || f > MaxToneHz {
			return Prompt{}, fmt.Errorf("tone %q: %q is not a frequency of 0 to %d Hz", s, hz, MaxToneHz)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < MinToneDuration || d > MaxToneDuration {
			return Prompt{}, fmt.Errorf("tone %q: %q is not a duration of %v to %v, e.g. 1s", s, dur, MinToneDuration, MaxToneDuration)
		}
		return Prompt{ToneHz: f, Duration: d}, nil
	}
	if err := checkPromptName(s); err != nil {
		return Prompt{}, err
	}
	return Prompt{File: s}, nil
}

// checkPromptName checks that s can only name a WAV file inside the prompts folder.
func checkPromptName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("an empty prompt: give a file name or a tone")
	case len(s) > maxPromptName:
		return fmt.Errorf("prompt %q: the name is longer than %d characters", s[:maxPromptName]+"…", maxPromptName)
	case s[0] == '.':
		return fmt.Errorf("prompt %q: the name must not start with a dot", s)
	case !strings.HasSuffix(strings.ToLower(s), ".wav"):
		return fmt.Errorf("prompt %q: not a .wav file or a tone:<Hz>:<duration>", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("prompt %q: a file name may contain only letters, digits, '.', '-' and '_'", s)
		}
	}
	return nil
}
