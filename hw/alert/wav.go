package alert

import (
	"fmt"
	"io"

	"partyline/media"
)

// PlayWAV queues the prompt in r, a WAV file of mono 16-bit PCM at the speaker's rate, and
// returns once it is read. Other formats are refused with media.ReadWAV's error, which names
// what the file holds; so is a file at another rate or longer than the queue.
func (s *Speaker) PlayWAV(r io.Reader) error {
	rate, samples, err := media.ReadWAV(r)
	if err != nil {
		return fmt.Errorf("play wav: %w", err)
	}
	if rate != s.rate {
		return fmt.Errorf("play wav: file is %d Hz, speaker runs at %d Hz", rate, s.rate)
	}
	if len(samples) > s.q.limit {
		return fmt.Errorf("play wav: %d samples, at most %d fit the queue", len(samples), s.q.limit)
	}
	return s.q.push(samples)
}
