package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"partyline/appliance/settings"
)

// maxPendingSaves bounds the handset changes waiting to be written; a button pressed while
// that many wait still applies at once, and its save is dropped with a warning.
const maxPendingSaves = 64

// A handsetChange is what a handset's buttons changed of its settings: the earpiece gain,
// the conference, or both (nil: unchanged).
type handsetChange struct {
	earGainDB  *float64
	conference *string
}

// handsetSaves writes what the handsets' buttons change to the settings file behind them,
// in the order the changes were made, and meanwhile lays the changes over the settings in
// memory (overlay), so that the next press, the next join and the page see them at once.
// The handset loops never wait for the file.
type handsetSaves struct {
	store settingsStore
	log   *slog.Logger
	queue chan pendingSave

	mu      sync.Mutex
	pending map[string]handsetChange // by handset ID: changed, not yet saved
	seq     map[string]uint64        // by handset ID: the last change made
	told    chan struct{}            // closed at the next change of the overlay
}

// A pendingSave is one handset's change, the seq-th made to it.
type pendingSave struct {
	id     string
	change handsetChange
	seq    uint64
}

func newHandsetSaves(store settingsStore, log *slog.Logger) *handsetSaves {
	return &handsetSaves{
		store:   store,
		log:     log,
		queue:   make(chan pendingSave, maxPendingSaves),
		pending: map[string]handsetChange{},
		seq:     map[string]uint64{},
	}
}

// save takes change of the handset whose ID is id into the overlay at once and queues it
// for the file. It never blocks.
func (s *handsetSaves) save(id string, change handsetChange) {
	s.mu.Lock()
	p := s.pending[id]
	if change.earGainDB != nil {
		p.earGainDB = change.earGainDB
	}
	if change.conference != nil {
		p.conference = change.conference
	}
	s.pending[id] = p
	s.seq[id]++
	ps := pendingSave{id: id, change: change, seq: s.seq[id]}
	if s.told != nil {
		close(s.told)
		s.told = nil
	}
	s.mu.Unlock()
	select {
	case s.queue <- ps:
	default:
		s.log.Warn("handset setting not saved: too many changes waiting", "handset", id)
	}
}

// changed returns a channel closed at the next change the handsets' buttons make.
func (s *handsetSaves) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.told == nil {
		s.told = make(chan struct{})
	}
	return s.told
}

// overlay returns set with the changes not yet saved laid over its handsets. set is not
// changed: its Handsets slice is copied when there is anything to lay over it.
func (s *handsetSaves) overlay(set settings.Settings) settings.Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return set
	}
	set.Handsets = slices.Clone(set.Handsets)
	for i := range set.Handsets {
		if p, ok := s.pending[set.Handsets[i].ID]; ok {
			apply(&set.Handsets[i], p)
		}
	}
	return set
}

func apply(h *settings.Handset, c handsetChange) {
	if c.earGainDB != nil {
		h.EarGainDB = *c.earGainDB
	}
	if c.conference != nil {
		h.Conference = *c.conference
	}
}

// run writes the queued changes until ctx ends, and then those still queued.
func (s *handsetSaves) run(ctx context.Context) {
	for {
		select {
		case ps := <-s.queue:
			s.write(ps)
		case <-ctx.Done():
			for {
				select {
				case ps := <-s.queue:
					s.write(ps)
				default:
					return
				}
			}
		}
	}
}

// write saves one change to the file. Once the handset's last change is saved, the settings
// in memory say what the overlay said, and the overlay lets go of the handset.
func (s *handsetSaves) write(ps pendingSave) {
	err := s.store.Update(func(set *settings.Settings) error {
		i := slices.IndexFunc(set.Handsets, func(h settings.Handset) bool { return h.ID == ps.id })
		if i < 0 {
			return fmt.Errorf("handset %s is no longer configured", ps.id)
		}
		apply(&set.Handsets[i], ps.change)
		return nil
	})
	if err != nil {
		s.log.Warn("save a handset's setting", "handset", ps.id, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq[ps.id] == ps.seq {
		delete(s.pending, ps.id)
	}
}
