package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/handset"
	"partyline/appliance/legs"
	"partyline/appliance/settings"
	"partyline/media"
	"partyline/sip"
)

// The service legs: calls of the appliance's own that join a conference beside its
// handsets, each under a generated identity with Privacy: id, so that the conference lists
// them apart from the handsets and from each other. The recorder (recorder.go) writes what
// it hears to a WAV file in the data directory; the announcer (announcer.go) plays prompts
// and tones into the conference. Neither uses the audio device: a 20 ms ticker drives each
// one's media. This file holds what decides when they join and leave.

const (
	// servicePacketTime is the packet time of a service leg's media session: the
	// session's default, which the far end gets offered.
	servicePacketTime = media.DefaultPacketTime
)

// Display names of the service legs.
const (
	recorderName  = "Recorder"
	announcerName = "Announcer"
)

// A serviceCall is a service leg's call into its conference, with its media: a
// *legs.Leg with its media started.
type serviceCall interface {
	// Identity is the From URI the call presents.
	Identity() string
	// SampleRate and SamplesPerPacket describe the audio of Receive and Send.
	SampleRate() int
	SamplesPerPacket() int
	// Receive fills pcm with the audio due now (see media.Session.Receive).
	Receive(pcm []int16) bool
	// Send sends one packet of audio.
	Send(pcm []int16) error
	// Done is closed when the far end has hung up or the call broke.
	Done() <-chan struct{}
	// Hangup ends the call from our side and stops its media, in bounded time even when
	// ctx is done.
	Hangup(ctx context.Context) error
}

// dialService returns the dialer of service legs through agent: it dials the leg and
// runs a media session on it for as long as the call lasts.
func dialService(agent *sip.Agent, log *slog.Logger) func(context.Context, legs.Plan) (serviceCall, error) {
	return func(ctx context.Context, p legs.Plan) (serviceCall, error) {
		l, err := legs.Dial(ctx, agent, p, log)
		if err != nil {
			return nil, err
		}
		if _, err := l.StartMedia(servicePacketTime); err != nil {
			return nil, errors.Join(err, l.Hangup(ctx))
		}
		return l, nil
	}
}

// serviceConfig is what the service legs need of the appliance.
type serviceConfig struct {
	store *config.Store
	// saves lays what the handsets' buttons changed, not saved yet, over the settings;
	// nil for none.
	saves *handsetSaves
	dir   string // the data directory: recordings and prompts are in folders of it
	dial  func(context.Context, legs.Plan) (serviceCall, error)
	// inCall returns the handsets, by index, that are in a call now.
	inCall func() []int
	// inCallChanged returns a channel closed when what inCall returns next may differ.
	inCallChanged func() <-chan struct{}
	// freeSpace returns the bytes free for us on the file system of dir; nil means
	// statfsFree.
	freeSpace func(dir string) (uint64, error)
	log       *slog.Logger
}

// handsetsInCall is which handsets are in a call now: each Line tells it of its state
// (handset.Config.OnState), and the service legs look at it (serviceConfig.inCall) when it
// tells them of a change (serviceConfig.inCallChanged).
type handsetsInCall struct {
	mu   sync.Mutex // guards in and told
	in   map[int]bool
	told chan struct{} // closed at the next change
}

// set notes the state of handset i.
func (h *handsetsInCall) set(i int, s handset.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.in == nil {
		h.in = make(map[int]bool)
	}
	if in := s == handset.InCall; h.in[i] != in {
		h.in[i] = in
		if h.told != nil {
			close(h.told)
			h.told = nil
		}
	}
}

// changed returns a channel closed at the next change of the handsets in a call.
func (h *handsetsInCall) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.told == nil {
		h.told = make(chan struct{})
	}
	return h.told
}

// list returns the handsets in a call, in order.
func (h *handsetsInCall) list() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var in []int
	for i, ok := range h.in {
		if ok {
			in = append(in, i)
		}
	}
	slices.Sort(in)
	return in
}

// recorderStatus is what a conference's recorder is doing, for the LEDs and the admin page.
type recorderStatus struct {
	Recording bool      // a recorder is in the conference, writing File
	File      string    // the recording in progress; "" when not recording
	Since     time.Time // when the recording started; zero when not recording
	Detail    string    // why the last recording stopped or could not start; "" = nothing to say
}

// services runs the service legs of every conference. Its state is owned by the goroutine
// in run; other goroutines ask it for things with events and read what it publishes.
//
// Recording follows the handsets: a conference with Record is recorded while any handset of
// ours is in it. A button or the admin page starts a recording of any conference, and
// stops one; a recording stopped that way, by the disk or by a failure stays stopped until
// it is asked for again or the last handset has left. Once the last handset has left, a
// conference is recorded only when asked for again.
//
// The announcer plays a conference's Announce when the first handset of ours joins it,
// after the recorder (if one is due) is in, so that the recording has it; then it leaves,
// or with AnnounceLoop it plays again and again until the last handset leaves.
type services struct {
	cfg    serviceConfig
	events chan any
	done   chan struct{} // closed when run returns

	mu     sync.Mutex // guards following
	status map[string]recorderStatus
	// changed is closed, and replaced, when a conference starts or stops being recorded.
	changed chan struct{}

	// Owned by run's goroutine.
	confs map[string]*conferenceServices
	wg    sync.WaitGroup // the legs' goroutines
}

// conferenceServices is the state of one conference's service legs.
type conferenceServices struct {
	handsets int  // ours in the conference, at the last look
	asked    bool // a recording was asked for (button, admin page)
	held     bool // the recording was stopped, or failed: not restarted while handsets stay
	announce bool // an announcement is due, once the recorder is in
	rec      *serviceLeg
	ann      *serviceLeg
	status   recorderStatus
}

// A serviceLeg is a running recorder or announcer.
type serviceLeg struct {
	conference string
	cancel     context.CancelFunc
	up         bool // in the conference (and, for the recorder, writing its file)
	stopping   bool // cancel was called
}

// stop makes the leg leave; its serviceEnded follows.
func (l *serviceLeg) stop() {
	l.stopping = true
	l.cancel()
}

// Events services.run handles.
type (
	// recordAsk asks for a conference's recording to start (on), to stop, or (toggle) to
	// do whichever it is not doing. result, if not nil, gets the answer.
	recordAsk struct {
		conference string
		on, toggle bool
		result     chan<- error
	}
	// serviceUp says that a leg has joined; file is the recorder's file.
	serviceUp struct {
		leg   *serviceLeg
		file  string
		since time.Time
	}
	// serviceEnded says that a leg has ended, why (detail), and whether the recording is
	// to stay stopped (hold).
	serviceEnded struct {
		leg    *serviceLeg
		detail string
		hold   bool
	}
)

// errServicesStopped is the answer to requests once the service legs have stopped.
var errServicesStopped = errors.New("the recorder is not running")

// settings returns the settings in memory, with the handsets' changes not saved yet: shared,
// read only.
func (s *services) settings() settings.Settings {
	set := s.cfg.store.Current().Settings
	if s.cfg.saves != nil {
		set = s.cfg.saves.overlay(set)
	}
	return set
}

// newServices returns the service legs of cfg, ready to run.
func newServices(cfg serviceConfig) *services {
	if cfg.freeSpace == nil {
		cfg.freeSpace = statfsFree
	}
	return &services{
		cfg:     cfg,
		events:  make(chan any, 8),
		done:    make(chan struct{}),
		status:  make(map[string]recorderStatus),
		changed: make(chan struct{}),
		confs:   make(map[string]*conferenceServices),
	}
}

// run first recovers the recordings a crash left unfinished, then runs the service legs
// until ctx is done. It returns once every leg has hung up and closed its file.
func (s *services) run(ctx context.Context) {
	defer close(s.done)
	s.recoverRecordings()
	ctx, cancel := context.WithCancel(ctx)
	defer s.wg.Wait()
	defer cancel()
	for {
		// What reconcile looks at tells its changes: the settings, the handsets' changes
		// laid over them, the handsets in a call, and the legs' events.
		settingsChanged, inCallChanged := s.cfg.store.Current().Changed(), s.cfg.inCallChanged()
		var savesChanged <-chan struct{} // none without saves
		if s.cfg.saves != nil {
			savesChanged = s.cfg.saves.changed()
		}
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-settingsChanged:
		case <-inCallChanged:
		case <-savesChanged:
		case ev := <-s.events:
			s.handle(ctx, ev)
		}
	}
}

// handle applies one event.
func (s *services) handle(ctx context.Context, ev any) {
	switch ev := ev.(type) {
	case recordAsk:
		err := s.ask(ctx, ev)
		s.publish() // before the answer, so that the asker sees what it did
		switch {
		case ev.result != nil:
			ev.result <- err
		case err != nil: // a button's: nobody waits for the answer
			s.cfg.log.Warn("recording not started", "conference", ev.conference, "err", err)
		}
	case serviceUp:
		ev.leg.up = true
		if cs := s.confs[ev.leg.conference]; cs.rec == ev.leg {
			cs.status = recorderStatus{Recording: true, File: ev.file, Since: ev.since}
		}
	case serviceEnded:
		switch cs := s.confs[ev.leg.conference]; ev.leg {
		case cs.rec:
			cs.rec = nil
			cs.status = recorderStatus{Detail: ev.detail}
			if ev.hold {
				cs.asked, cs.held = false, true
			}
		case cs.ann:
			cs.ann = nil
		}
	}
}

// ask starts or stops a recording as asked. A recording that cannot start says why.
func (s *services) ask(ctx context.Context, ev recordAsk) error {
	set := s.settings()
	c, ok := findConference(set, ev.conference)
	if !ok {
		return fmt.Errorf("there is no conference %q", ev.conference)
	}
	cs := s.conference(c.ID)
	on := ev.on
	if ev.toggle {
		on = cs.rec == nil || cs.rec.stopping
	}
	if !on {
		cs.asked, cs.held = false, cs.handsets > 0
		if cs.rec != nil && !cs.rec.stopping {
			cs.rec.stop()
		}
		return nil
	}
	cs.asked, cs.held = true, false
	if cs.rec == nil {
		if err := s.startRecorder(ctx, set, c, cs); err != nil {
			cs.asked, cs.held = false, cs.handsets > 0
			return err
		}
	}
	return nil
}

// conference returns the state of conference id, new if need be.
func (s *services) conference(id string) *conferenceServices {
	cs, ok := s.confs[id]
	if !ok {
		cs = &conferenceServices{}
		s.confs[id] = cs
	}
	return cs
}

// reconcile starts and stops legs for what the handsets and the settings are now, and
// publishes the recorders' status.
func (s *services) reconcile(ctx context.Context) {
	set := s.settings()
	present := map[string]int{}
	for _, i := range s.cfg.inCall() {
		if i >= 0 && i < len(set.Handsets) && set.Handsets[i].Conference != "" {
			present[set.Handsets[i].Conference]++
		}
	}
	for _, c := range set.Conferences {
		s.follow(ctx, set, c, s.conference(c.ID), present[c.ID])
	}
	for id, cs := range s.confs {
		if _, ok := findConference(set, id); ok {
			continue
		}
		// Deleted from the settings: its legs leave, then it is forgotten.
		for _, l := range []*serviceLeg{cs.rec, cs.ann} {
			if l != nil && !l.stopping {
				l.stop()
			}
		}
		if cs.rec == nil && cs.ann == nil {
			delete(s.confs, id)
		}
	}
	s.publish()
}

// follow applies the rules of services to conference c, which has n handsets of ours in it.
func (s *services) follow(ctx context.Context, set settings.Settings, c settings.Conference, cs *conferenceServices, n int) {
	switch {
	case n > 0 && cs.handsets == 0: // the first handset joined: a fresh start
		cs.held, cs.announce = false, len(c.Announce) > 0
	case n == 0 && cs.handsets > 0: // the last one left
		cs.asked, cs.held, cs.announce = false, false, false
	}
	cs.handsets = n

	record := cs.asked || (c.Record && n > 0 && !cs.held)
	switch {
	case record && cs.rec == nil:
		if err := s.startRecorder(ctx, set, c, cs); err != nil {
			s.cfg.log.Warn("recording not started", "conference", c.ID, "err", err)
			cs.asked, cs.held = false, true
		}
	case !record && cs.rec != nil && !cs.rec.stopping:
		cs.rec.stop()
	}

	switch {
	case n == 0 && cs.ann != nil && !cs.ann.stopping:
		cs.ann.stop()
	case cs.announce && cs.ann == nil && (cs.rec == nil || cs.rec.up):
		cs.announce = false
		if err := s.startAnnouncer(ctx, set, c, cs); err != nil {
			s.cfg.log.Warn("announcement not played", "conference", c.ID, "err", err)
		}
	}
}

// publish makes the recorders' status visible to other goroutines and closes changed if
// a conference started or stopped being recorded.
func (s *services) publish() {
	changed := false
	s.mu.Lock()
	for id := range s.status {
		if _, ok := s.confs[id]; !ok {
			changed = changed || s.status[id].Recording
			delete(s.status, id)
		}
	}
	for id, cs := range s.confs {
		changed = changed || s.status[id].Recording != cs.status.Recording
		s.status[id] = cs.status
	}
	if changed {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
}

// RecordingChanged implements handset.Recorder: the channel is closed when a conference
// next starts or stops being recorded. It is safe from any goroutine.
func (s *services) RecordingChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// recording reports whether conference id is being recorded. It is safe from any
// goroutine.
func (s *services) recording(id string) bool {
	return s.statusOf(id).Recording
}

// statusOf returns what the recorder of conference id is doing. It is safe from any
// goroutine.
func (s *services) statusOf(id string) recorderStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[id]
}

// HandsetRecorded implements handset.Recorder: it reports whether the conference handset is set to join is being
// recorded, for its LED. It is safe from any goroutine.
func (s *services) HandsetRecorded(handset int) bool {
	set := s.settings()
	if handset < 0 || handset >= len(set.Handsets) {
		return false
	}
	return s.recording(set.Handsets[handset].Conference)
}

// toggleRecording starts recording conference id, or stops its recording, as a button
// does. It returns at once: the recorder's status says what came of it. It fails only when
// the service legs are too busy to take the request.
func (s *services) toggleRecording(id string) error {
	select {
	case s.events <- recordAsk{conference: id, toggle: true}:
		return nil
	default:
		return errors.New("the recorder is busy: try again")
	}
}

// ToggleHandsetRecording implements handset.Recorder: it toggles the recording of the conference handset is set to join,
// as its Record button does.
func (s *services) ToggleHandsetRecording(handset int) error {
	set := s.settings()
	if handset < 0 || handset >= len(set.Handsets) || set.Handsets[handset].Conference == "" {
		return fmt.Errorf("handset %d has no conference to record", handset+1)
	}
	return s.toggleRecording(set.Handsets[handset].Conference)
}

// setRecording starts (on) or stops the recording of conference id and waits for the
// answer: an error says why a recording cannot start. Whether the recorder then gets into
// the conference, its status says.
func (s *services) setRecording(ctx context.Context, id string, on bool) error {
	result := make(chan error, 1)
	select {
	case s.events <- recordAsk{conference: id, on: on, result: result}:
	case <-s.done:
		return errServicesStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-result:
		return err
	case <-s.done:
		return errServicesStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post delivers ev to run, or drops it once run is shutting down.
func (s *services) post(ctx context.Context, ev any) {
	select {
	case s.events <- ev:
	case <-ctx.Done():
	}
}

// hangupService hangs up a service leg's call, even when ctx is done already.
func hangupService(ctx context.Context, call serviceCall, log *slog.Logger) {
	if err := call.Hangup(ctx); err != nil {
		log.Warn("hang up", "err", err)
	}
}
