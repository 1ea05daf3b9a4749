// Package alert plays ringing, prompts and status tones on the board's own loudspeaker
// through oto (ALSA "default" on Linux). It knows nothing of calls: it queues mono samples.
package alert

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hajimehoshi/oto/v2"
)

// maxQueued bounds the queue at this many seconds of audio, so a runaway caller cannot
// grow memory without limit.
const maxQueued = 30

// A Speaker is the loudspeaker. It implements hw.AlertSpeaker.
type Speaker struct {
	rate   int
	ctx    *oto.Context
	player oto.Player
	q      *queue
	wake   sync.Once // resumes the device at the first Play
}

// Open creates the oto context for mono signed 16-bit audio at sampleRate and a player
// that sounds whatever Play queues (silence in between). The device is held suspended
// until the first Play: a speaker that never sounds costs no CPU and writes nothing.
func Open(sampleRate int) (*Speaker, error) {
	if sampleRate <= 0 {
		return nil, fmt.Errorf("open speaker: sample rate %d", sampleRate)
	}
	ctx, ready, err := oto.NewContext(sampleRate, 1, 2)
	if err != nil {
		return nil, fmt.Errorf("open speaker at %d Hz: %w", sampleRate, err)
	}
	<-ready
	if err := ctx.Suspend(); err != nil {
		return nil, fmt.Errorf("open speaker at %d Hz: %w", sampleRate, err)
	}
	q := &queue{limit: maxQueued * sampleRate}
	p := ctx.NewPlayer(q)
	p.Play()
	return &Speaker{rate: sampleRate, ctx: ctx, player: p, q: q}, nil
}

// Play queues samples behind what is already queued and returns at once. sampleRate must
// be the speaker's rate.
func (s *Speaker) Play(sampleRate int, samples []int16) error {
	if sampleRate != s.rate {
		return fmt.Errorf("play: samples at %d Hz, speaker runs at %d Hz", sampleRate, s.rate)
	}
	if err := s.q.push(samples); err != nil {
		return err
	}
	return s.resume()
}

// resume wakes the device at the first sound queued (Play, Ring).
func (s *Speaker) resume() error {
	var err error
	s.wake.Do(func() {
		if s.ctx != nil { // nil in the tests of the queue alone
			err = s.ctx.Resume()
		}
	})
	if err != nil {
		return fmt.Errorf("play: resume device: %w", err)
	}
	return nil
}

// Close stops the player and suspends the device, which then receives nothing more;
// queued sound is dropped. (oto cannot close its context, so the device stays open.)
func (s *Speaker) Close() error {
	s.q.close()
	if err := s.player.Close(); err != nil {
		return fmt.Errorf("close speaker: %w", err)
	}
	if err := s.ctx.Suspend(); err != nil {
		return fmt.Errorf("close speaker: %w", err)
	}
	return nil
}

// queue is the player's source: Read never blocks and yields silence when empty.
type queue struct {
	limit int // samples

	mu      sync.Mutex // guards following
	samples []int16
	closed  bool
}

var errClosed = errors.New("speaker closed")

func (q *queue) push(s []int16) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("play: %w", errClosed)
	}
	if len(q.samples)+len(s) > q.limit {
		return fmt.Errorf("play: queue full (%d samples queued)", len(q.samples))
	}
	q.samples = append(q.samples, s...)
	return nil
}

// drop empties the queue.
func (q *queue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.samples = nil
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.samples = nil
}

// Read fills p with queued little-endian samples, then silence.
func (q *queue) Read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(p) / 2
	k := min(n, len(q.samples))
	for i, v := range q.samples[:k] {
		p[2*i] = byte(v)
		p[2*i+1] = byte(v >> 8)
	}
	clear(p[2*k : 2*n])
	q.samples = q.samples[k:]
	if len(q.samples) == 0 {
		q.samples = q.samples[:0:0]
	}
	return 2 * n, nil
}
