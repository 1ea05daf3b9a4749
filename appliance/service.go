package appliance

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/media"
	"partyline/sip"
)

// The service legs: calls of the appliance's own that join a conference beside its
// handsets, each under a generated identity with Privacy: id, so that the conference lists
// them apart from the handsets and from each other. The recorder writes what it hears to a
// WAV file in the data directory; the announcer plays prompts and tones into the
// conference. Neither uses the audio device: a 20 ms ticker drives each one's media.

// Where the service legs keep their files, inside the data directory.
const (
	recordingsFolder = "recordings"
	promptsFolder    = "prompts"
)

// Timing of the service legs.
const (
	// servicePacketTime is the packet time of a service leg's media session: the
	// session's default, which the far end gets offered.
	servicePacketTime = media.DefaultPacketTime
	// flushInterval is how often the recorder makes its file whole: a crash loses at most
	// this much, and RepairWAV usually recovers even that.
	flushInterval = time.Second
	// diskCheckInterval is how often the recorder looks at the free space. At G.722's
	// 32 kB/s it writes well under 1 MB in between, a small part of any reserve.
	diskCheckInterval = 5 * time.Second
	// reconcileInterval is how often the service legs look at which handsets are in
	// which conference.
	reconcileInterval = 250 * time.Millisecond
	// announceTail is the silence the announcer sends after its last prompt, so that the
	// end of the prompt is played out before it hangs up.
	announceTail = 200 * time.Millisecond
)

// announceToneDBFS is the level of announced tones: loud enough to hear, and quiet
// enough that a mix with two or three talkers does not clip.
const announceToneDBFS = -20

// maxNameTries bounds the names tried for a new recording whose first choice is taken (two
// recordings of one conference in the same second).
const maxNameTries = 100

// Display names of the service legs.
const (
	recorderName  = "Recorder"
	announcerName = "Announcer"
)

// Why a recording stopped, as the status and the recording's Detail say it.
const (
	detailDiskFull    = "stopped: disk nearly full"
	detailRemoteEnded = "stopped: the conference hung up"
)

// A serviceCall is a service leg's call into its conference, with its media.
type serviceCall interface {
	// identity is the From URI the call presents.
	identity() string
	// sampleRate and samplesPerPacket describe the audio of receive and send.
	sampleRate() int
	samplesPerPacket() int
	// receive fills pcm with the audio due now (see media.Session.Receive).
	receive(pcm []int16) bool
	// send sends one packet of audio.
	send(pcm []int16) error
	// done is closed when the far end has hung up or the call broke.
	done() <-chan struct{}
	// hangup ends the call from our side and stops its media.
	hangup(ctx context.Context) error
}

// A servicePlan is what placing a service leg's call needs, taken from the settings.
type servicePlan struct {
	target      string
	displayName string
	account     sip.Account
	identity    sip.Identity
}

// planService says how a service leg with the given display name and identity prefix joins
// conference c, or why it cannot.
func planService(set settings.Settings, c settings.Conference, name, prefix string) (servicePlan, error) {
	if c.URI == "" {
		return servicePlan{}, fmt.Errorf("conference %s has no URI", c.ID)
	}
	acc, ok := findAccount(set, c.ServiceAccount)
	if !ok && c.ServiceAccount == "" && len(set.Accounts) > 0 {
		acc, ok = set.Accounts[0], true
	}
	if !ok {
		return servicePlan{}, fmt.Errorf("conference %s has no account for its %s: add one", c.ID, strings.ToLower(name))
	}
	return servicePlan{
		target:      c.URI,
		displayName: name,
		account:     sipAccount(acc),
		identity:    sip.Identity{Mode: sip.IdentityGenerated, Prefix: prefix, Assert: true, Private: true},
	}, nil
}

// dialService returns the dialer of service legs through agent: it opens an RTP socket,
// places the call, and runs a media session on it for as long as the call lasts.
func dialService(agent *sip.Agent) func(context.Context, servicePlan) (serviceCall, error) {
	return func(ctx context.Context, p servicePlan) (serviceCall, error) {
		conn, err := listenRTP(agent)
		if err != nil {
			return nil, err
		}
		call, err := agent.Join(ctx, sip.JoinRequest{
			Target:      p.target,
			DisplayName: p.displayName,
			Account:     p.account,
			Identity:    p.identity,
			LocalMedia:  localMedia(conn),
		})
		if err != nil {
			conn.Close()
			return nil, err
		}
		sc, err := startServiceMedia(call, conn)
		if err != nil {
			conn.Close()
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
			defer cancel()
			return nil, errors.Join(err, call.Hangup(hctx))
		}
		return sc, nil
	}
}

// sipServiceCall is a serviceCall over SIP and RTP.
type sipServiceCall struct {
	call    *sip.Call
	session *media.Session
	rate    int
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// startServiceMedia binds a negotiated call to a media session on conn.
func startServiceMedia(call *sip.Call, conn *net.UDPConn) (*sipServiceCall, error) {
	session, codec, err := callSession(call, conn, servicePacketTime)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &sipServiceCall{call: call, session: session, rate: codec.ClockRate(), stop: cancel}
	// Run's error is the socket's; the leg notices the call, not the socket, ending.
	sc.wg.Go(func() { _ = session.Run(ctx) })
	sc.wg.Go(func() {
		select {
		case <-call.Done():
			cancel()
		case <-ctx.Done():
		}
	})
	return sc, nil
}

// The methods of sipServiceCall implement serviceCall.

func (c *sipServiceCall) identity() string         { return c.call.Identity() }
func (c *sipServiceCall) sampleRate() int          { return c.rate }
func (c *sipServiceCall) samplesPerPacket() int    { return c.session.SamplesPerPacket() }
func (c *sipServiceCall) receive(pcm []int16) bool { return c.session.Receive(pcm) }
func (c *sipServiceCall) send(pcm []int16) error   { return c.session.Send(pcm) }
func (c *sipServiceCall) done() <-chan struct{}    { return c.call.Done() }
func (c *sipServiceCall) hangup(ctx context.Context) error {
	err := c.call.Hangup(ctx)
	c.stop()
	c.wg.Wait()
	return err
}

// serviceConfig is what the service legs need of the appliance.
type serviceConfig struct {
	store *config.Store
	dir   string // the data directory: recordings and prompts are in folders of it
	dial  func(context.Context, servicePlan) (serviceCall, error)
	// inCall returns the handsets, by index, that are in a call now.
	inCall func() []int
	// freeSpace returns the bytes free for us on the file system of dir; nil means
	// statfsFree.
	freeSpace func(dir string) (uint64, error)
	// onChange, if set, is called (on the services' goroutine, so it must not block) after
	// a conference's recording started or stopped: the handsets' LEDs show it.
	onChange func()
	log      *slog.Logger
}

// linesInCall returns an inCall function that reports which of lines are in a call.
func linesInCall(lines []*Line) func() []int {
	return func() []int {
		var in []int
		for i, l := range lines {
			if l.Status().State == InCall {
				in = append(in, i)
			}
		}
		return in
	}
}

// statfsFree returns the bytes available to unprivileged users on dir's file system.
func statfsFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
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

// newServices returns the service legs of cfg, ready to run.
func newServices(cfg serviceConfig) *services {
	if cfg.freeSpace == nil {
		cfg.freeSpace = statfsFree
	}
	return &services{
		cfg:    cfg,
		events: make(chan any, 8),
		done:   make(chan struct{}),
		status: make(map[string]recorderStatus),
		confs:  make(map[string]*conferenceServices),
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
	tick := time.NewTicker(reconcileInterval)
	defer tick.Stop()
	for {
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
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
	set, err := s.cfg.store.Settings()
	if err != nil {
		return err
	}
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
	set, err := s.cfg.store.Settings()
	if err != nil {
		s.cfg.log.Error("read settings", "err", err)
		return
	}
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

// publish makes the recorders' status visible to other goroutines and tells onChange if a
// conference started or stopped being recorded.
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
	s.mu.Unlock()
	if changed && s.cfg.onChange != nil {
		s.cfg.onChange()
	}
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

// handsetRecorded reports whether the conference handset is set to join is being
// recorded, for its LED. It is safe from any goroutine.
func (s *services) handsetRecorded(handset int) bool {
	set, err := s.cfg.store.Settings()
	if err != nil || handset < 0 || handset >= len(set.Handsets) {
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

// toggleHandsetRecording toggles the recording of the conference handset is set to join,
// as its Record button does.
func (s *services) toggleHandsetRecording(handset int) error {
	set, err := s.cfg.store.Settings()
	if err != nil {
		return err
	}
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

// reserve is the free space a recording leaves, in bytes.
func reserve(set settings.Settings) uint64 {
	return uint64(cmp.Or(set.Recordings.ReserveMB, settings.DefaultReserveMB)) * 1_000_000
}

// startRecorder starts the recorder of conference c, unless the disk is nearly full or the
// settings do not let it join.
func (s *services) startRecorder(ctx context.Context, set settings.Settings, c settings.Conference, cs *conferenceServices) error {
	plan, err := planService(set, c, recorderName, cmp.Or(c.RecorderPrefix, settings.DefaultRecorderPrefix))
	if err != nil {
		cs.status = recorderStatus{Detail: "not started: " + err.Error()}
		return err
	}
	limit := reserve(set)
	if free, err := s.cfg.freeSpace(s.cfg.dir); err != nil {
		cs.status = recorderStatus{Detail: "not started: " + err.Error()}
		return err
	} else if free < limit {
		cs.status = recorderStatus{Detail: "not started: disk nearly full"}
		return fmt.Errorf("not started: %d MB free, less than the %d MB kept free", free/1_000_000, limit/1_000_000)
	}
	legCtx, cancel := context.WithCancel(ctx)
	l := &serviceLeg{conference: c.ID, cancel: cancel}
	cs.rec = l
	cs.status = recorderStatus{}
	log := s.cfg.log.With("conference", c.ID, "leg", "recorder")
	s.wg.Go(func() {
		defer cancel()
		ended := s.record(legCtx, ctx, l, plan, c.ID, limit, log)
		s.post(ctx, ended)
	})
	return nil
}

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

// hangupService hangs up a service leg's call, even when ctx is done already.
func hangupService(ctx context.Context, call serviceCall, log *slog.Logger) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
	defer cancel()
	if err := call.hangup(hctx); err != nil {
		log.Warn("hang up", "err", err)
	}
}

// record runs one recording: it joins, opens the file and records into it until ctx is
// done (the recording was stopped), the conference hangs up, the disk nearly fills or
// writing fails. It reports on runCtx, the services', that it is up, and returns how it
// ended.
func (s *services) record(ctx, runCtx context.Context, l *serviceLeg, plan servicePlan, conference string, limit uint64, log *slog.Logger) serviceEnded {
	joinCtx, cancelJoin := context.WithTimeout(ctx, joinTimeout)
	call, err := s.cfg.dial(joinCtx, plan)
	cancelJoin()
	switch {
	case err != nil && ctx.Err() != nil:
		return serviceEnded{leg: l}
	case err != nil:
		log.Warn("recorder join failed", "err", err)
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	defer hangupService(ctx, call, log)

	start := time.Now().UTC()
	f, name, err := createRecording(filepath.Join(s.cfg.dir, recordingsFolder), conference, start)
	if err != nil {
		log.Error("create recording", "err", err)
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	rec := settings.Recording{File: name, Conference: conference, Start: start, SampleRate: call.sampleRate(), State: settings.RecordingInProgress}
	ww, err := s.beginRecording(f, rec)
	if err != nil {
		log.Error("start recording", "file", name, "err", err)
		f.Close()
		if rerr := os.Remove(f.Name()); rerr != nil {
			log.Warn("remove recording", "file", name, "err", rerr)
		}
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	defer f.Close()
	log.Info("recording", "file", name, "as", call.identity(), "rate", rec.SampleRate)
	s.post(runCtx, serviceUp{leg: l, file: name, since: start})

	ended := s.capture(ctx, call, ww, limit)
	if err := ww.Close(); err != nil && ended.detail == "" {
		ended = serviceEnded{detail: "failed: " + err.Error(), hold: true}
	}
	ended.leg = l
	rec.Duration = ww.Duration()
	switch {
	case ended.detail == detailDiskFull:
		rec.State = settings.RecordingDiskFull
	case ended.hold && ended.detail != detailRemoteEnded:
		rec.State = settings.RecordingFailed
	default:
		rec.State = settings.RecordingFinished
	}
	rec.Detail = ended.detail
	if err := s.cfg.store.SaveRecording(rec); err != nil {
		log.Error("finish recording", "file", name, "err", err)
	}
	log.Info("recording ended", "file", name, "duration", rec.Duration, "state", rec.State, "detail", rec.Detail)
	return ended
}

// beginRecording writes the header of rec's new file f, makes it a valid empty WAV file on
// the disk, and only then adds rec to the store, so that the store never lists a file that
// does not exist.
func (s *services) beginRecording(f *os.File, rec settings.Recording) (*media.WAVWriter, error) {
	ww, err := media.NewWAVWriter(f, rec.SampleRate)
	if err != nil {
		return nil, err
	}
	if err := ww.Flush(); err != nil {
		return nil, err
	}
	if err := s.cfg.store.SaveRecording(rec); err != nil {
		return nil, err
	}
	return ww, nil
}

// capture writes what call receives to ww every packet time, flushes it every
// flushInterval and checks the free space every diskCheckInterval, until ctx is done or
// something stops it. It says why it stopped; the zero serviceEnded means ctx.
func (s *services) capture(ctx context.Context, call serviceCall, ww *media.WAVWriter, limit uint64) serviceEnded {
	pcm := make([]int16, call.samplesPerPacket())
	flushEvery := int(flushInterval / servicePacketTime)
	checkEvery := int(diskCheckInterval / servicePacketTime)
	tick := time.NewTicker(servicePacketTime)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return serviceEnded{}
		case <-call.done():
			return serviceEnded{detail: detailRemoteEnded, hold: true}
		case <-tick.C:
		}
		call.receive(pcm)
		if err := ww.Write(pcm); err != nil {
			return serviceEnded{detail: "failed: " + err.Error(), hold: true}
		}
		if n%flushEvery == 0 {
			if err := ww.Flush(); err != nil {
				return serviceEnded{detail: "failed: " + err.Error(), hold: true}
			}
		}
		if n%checkEvery == 0 {
			free, err := s.cfg.freeSpace(s.cfg.dir)
			if err != nil {
				return serviceEnded{detail: "failed: " + err.Error(), hold: true}
			}
			if free < limit {
				return serviceEnded{detail: detailDiskFull, hold: true}
			}
		}
	}
}

// createRecording creates a new, empty recording of conference in dir, named after the
// conference and the start time in UTC (e.g. "main-20260301T093000Z.wav"), with a number
// added if that name is taken.
func createRecording(dir, conference string, start time.Time) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("create recordings folder: %w", err)
	}
	base := conference + "-" + start.UTC().Format("20060102T150405Z")
	for i := 1; i <= maxNameTries; i++ {
		name := base + ".wav"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.wav", base, i)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("create recording: %w", err)
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("create recording: %d names taken for %s", maxNameTries, base)
}

// recoverRecordings repairs the recordings that a crash or a power loss left in progress,
// so that each is a valid WAV file of what reached the disk, and marks them recovered.
func (s *services) recoverRecordings() {
	recs, err := s.cfg.store.Recordings()
	if err != nil {
		s.cfg.log.Error("recover recordings", "err", err)
		return
	}
	for _, r := range recs {
		if r.State != settings.RecordingInProgress {
			continue
		}
		samples, err := repairRecording(filepath.Join(s.cfg.dir, recordingsFolder, r.File))
		if err != nil {
			s.cfg.log.Error("recover recording", "file", r.File, "err", err)
			r.State, r.Detail = settings.RecordingFailed, "not recovered: "+err.Error()
		} else {
			r.State, r.Detail = settings.RecordingRecovered, "the appliance stopped while recording; repaired when it started again"
			r.Duration = time.Duration(samples) * time.Second / time.Duration(r.SampleRate)
			s.cfg.log.Info("recording recovered", "file", r.File, "duration", r.Duration)
		}
		if err := s.cfg.store.SaveRecording(r); err != nil {
			s.cfg.log.Error("recover recording", "file", r.File, "err", err)
		}
	}
}

// repairRecording repairs the recording at path with media.RepairWAV.
func repairRecording(path string) (samples int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return media.RepairWAV(f)
}

// announce plays prompts into the conference, once or (loop) until ctx is done, and hangs
// up; it returns how it ended. Each prompt file is read when its turn comes: one that
// cannot be played is logged, naming it, and skipped.
func (s *services) announce(ctx context.Context, l *serviceLeg, plan servicePlan, prompts []string, loop bool, log *slog.Logger) serviceEnded {
	joinCtx, cancelJoin := context.WithTimeout(ctx, joinTimeout)
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
	log.Info("announcing", "as", call.identity(), "prompts", prompts, "loop", loop)

	p := player{call: call, pcm: make([]int16, call.samplesPerPacket()), heard: make([]int16, call.samplesPerPacket())}
	p.tick = time.NewTicker(servicePacketTime)
	defer p.tick.Stop()
	for {
		played := false
		for _, name := range prompts {
			src, err := openPrompt(promptsDir(s.cfg.dir), name, call.sampleRate(), len(p.pcm))
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
	if _, err := p.play(ctx, &toneSource{tone: media.NewTone(call.sampleRate(), 0, announceToneDBFS), left: int(announceTail * time.Duration(call.sampleRate()) / time.Second)}); err != nil {
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
		case <-p.call.done():
			return false, errors.New("the conference hung up")
		case <-p.tick.C:
		}
		p.call.receive(p.heard)
		if err := p.call.send(p.pcm); err != nil {
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

// recordingPath returns the path of recording name, which must be a recording's name
// (settings.CheckRecordingName), so that it stays inside the recordings folder.
func (s *services) recordingPath(name string) (string, error) {
	if err := settings.CheckRecordingName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.cfg.dir, recordingsFolder, name), nil
}

// openRecording opens recording name for reading.
func (s *services) openRecording(name string) (*os.File, error) {
	if _, err := s.cfg.store.Recording(name); err != nil {
		return nil, err
	}
	path, err := s.recordingPath(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	return f, nil
}

// deleteRecording removes recording name, file and record, unless it is being recorded.
func (s *services) deleteRecording(name string) error {
	r, err := s.cfg.store.Recording(name)
	if err != nil {
		return err
	}
	if s.statusOf(r.Conference).File == name {
		return fmt.Errorf("%s is being recorded: stop the recording first", name)
	}
	path, err := s.recordingPath(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete recording: %w", err)
	}
	return s.cfg.store.DeleteRecording(name)
}
