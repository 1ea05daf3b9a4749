package appliance

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"partyline/appliance/settings"

	"partyline/appliance/legs"
	"partyline/media"
)

// The announcer: a service leg that plays a conference's prompts and tones into it when
// the first handset of ours joins, once or in a loop.

// promptsFolder is where the prompt files are, inside the data directory.
const promptsFolder = "prompts"

// announceTail is the silence the announcer sends after its last prompt, so that the end
// of the prompt is played out before it hangs up.
const announceTail = 200 * time.Millisecond

// announceToneDBFS is the level of announced tones: loud enough to hear, and quiet
// enough that a mix with two or three talkers does not clip.
const announceToneDBFS = -20

// startAnnouncer starts the announcer of conference c.
func (s *services) startAnnouncer(ctx context.Context, set settings.Settings, c settings.Conference, cs *conferenceServices) error {
	plan, err := planService(set, c, announcerName, cmp.Or(c.AnnouncerPrefix, settings.DefaultAnnouncerPrefix))
	if err != nil {
		return err
	}
	legCtx, cancel := context.WithCancel(ctx)
	l := &serviceLeg{conference: c.ID, cancel: cancel}
	cs.ann = l
	log := s.cfg.log.With("conference", c.ID, "leg", "announcer")
	prompts, loop := slices.Clone(c.Announce), c.AnnounceLoop
	s.wg.Go(func() {
		defer cancel()
		ended := s.announce(legCtx, l, plan, prompts, loop, log)
		s.post(ctx, ended)
	})
	return nil
}

// announce plays prompts into the conference, once or (loop) until ctx is done, and hangs
// up; it returns how it ended. Each prompt file is read when its turn comes: one that
// cannot be played is logged, naming it, and skipped.
func (s *services) announce(ctx context.Context, l *serviceLeg, plan legs.Plan, prompts []string, loop bool, log *slog.Logger) serviceEnded {
	joinCtx, cancelJoin := context.WithTimeout(ctx, legs.JoinTimeout)
	call, err := s.cfg.dial(joinCtx, plan)
	cancelJoin()
	switch {
	case err != nil && ctx.Err() != nil:
		return serviceEnded{leg: l}
	case err != nil:
		log.Warn("announcer join failed", "err", err)
		return serviceEnded{leg: l, detail: "failed: " + err.Error()}
	}
	defer hangupService(ctx, call, log)
	log.Info("announcing", "as", call.Identity(), "prompts", prompts, "loop", loop)

	p := player{call: call, pcm: make([]int16, call.SamplesPerPacket()), heard: make([]int16, call.SamplesPerPacket())}
	p.tick = time.NewTicker(servicePacketTime)
	defer p.tick.Stop()
	for {
		played := false
		for _, name := range prompts {
			src, err := openPrompt(promptsDir(s.cfg.dir), name, call.SampleRate(), len(p.pcm))
			if err != nil {
				log.Warn("prompt not played", "prompt", name, "err", err)
				continue
			}
			more, err := p.play(ctx, src)
			if err != nil {
				log.Warn("announcement ended", "err", err)
				return serviceEnded{leg: l, detail: err.Error()}
			}
			if !more {
				return serviceEnded{leg: l}
			}
			played = true
		}
		if !played {
			return serviceEnded{leg: l, detail: "nothing to play"}
		}
		if !loop {
			break
		}
	}
	if _, err := p.play(ctx, &toneSource{tone: media.NewTone(call.SampleRate(), 0, announceToneDBFS), left: int(announceTail * time.Duration(call.SampleRate()) / time.Second)}); err != nil {
		return serviceEnded{leg: l, detail: err.Error()}
	}
	return serviceEnded{leg: l}
}

// A player sends a prompt into a call, one packet per tick.
type player struct {
	call  serviceCall
	tick  *time.Ticker
	pcm   []int16 // the packet to send
	heard []int16 // what the call receives, taken so that its jitter buffer keeps moving
}

// play sends src until it ends (true) or ctx is done (false); an error says why the call
// cannot go on.
func (p *player) play(ctx context.Context, src promptSource) (bool, error) {
	for src.next(p.pcm) {
		select {
		case <-ctx.Done():
			return false, nil
		case <-p.call.Done():
			return false, errors.New("the conference hung up")
		case <-p.tick.C:
		}
		p.call.Receive(p.heard)
		if err := p.call.Send(p.pcm); err != nil {
			return false, err
		}
	}
	return true, nil
}

// A promptSource gives the audio of one prompt, a packet at a time.
type promptSource interface {
	// next fills pcm with the next packet, padded with silence at the end of the
	// prompt, and reports false (leaving pcm alone) once the prompt is over.
	next(pcm []int16) bool
}

// toneSource is a tone of left more samples.
type toneSource struct {
	tone *media.Tone
	left int
}

// next implements promptSource.
func (t *toneSource) next(pcm []int16) bool {
	if t.left <= 0 {
		return false
	}
	n := min(len(pcm), t.left)
	t.tone.Generate(pcm[:n])
	clear(pcm[n:])
	t.left -= n
	return true
}

// fileSource is a prompt file's samples, resampled to the call's rate packet by packet.
type fileSource struct {
	samples []int16
	pos     int
	rs      *media.Resampler
	in      []int16 // one packet at the file's rate
}

// next implements promptSource.
func (f *fileSource) next(pcm []int16) bool {
	if f.pos >= len(f.samples) {
		return false
	}
	n := copy(f.in, f.samples[f.pos:])
	clear(f.in[n:])
	f.pos += n
	f.rs.Process(pcm, f.in)
	return true
}

// openPrompt returns the source of prompt name (see settings.ParsePrompt) at rate Hz in
// packets of spp samples; prompt files are in dir.
func openPrompt(dir, name string, rate, spp int) (promptSource, error) {
	p, err := settings.ParsePrompt(name)
	if err != nil {
		return nil, err
	}
	if p.File == "" {
		return &toneSource{tone: media.NewTone(rate, p.ToneHz, announceToneDBFS), left: int(p.Duration * time.Duration(rate) / time.Second)}, nil
	}
	fileRate, samples, err := loadPrompt(dir, p.File)
	if err != nil {
		return nil, err
	}
	rs, err := media.NewResampler(fileRate, rate)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", p.File, err)
	}
	return &fileSource{samples: samples, rs: rs, in: make([]int16, spp*fileRate/rate)}, nil
}

// loadPrompt reads prompt file name in dir. Its errors name the file; one in a format the
// announcer cannot play wraps a *media.WAVFormatError.
func loadPrompt(dir, name string) (rate int, samples []int16, err error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil, fmt.Errorf("prompt %s: no such file in %s", name, dir)
		}
		return 0, nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	defer f.Close()
	rate, samples, err = media.ReadWAV(bufio.NewReader(f))
	if err != nil {
		return 0, nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	return rate, samples, nil
}

// checkPrompts checks that each prompt file among prompts can be played, and says of the
// first that cannot why, naming it.
func checkPrompts(dir string, prompts []string) error {
	for _, name := range prompts {
		p, err := settings.ParsePrompt(name)
		if err != nil {
			return err
		}
		if p.File == "" {
			continue
		}
		if _, _, err := loadPrompt(dir, p.File); err != nil {
			return err
		}
	}
	return nil
}

// promptsDir is where the prompt files of the data directory dir are.
func promptsDir(dir string) string { return filepath.Join(dir, promptsFolder) }
