package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"partyline/appliance/audiohub"
	"partyline/appliance/config"
	"partyline/appliance/handset"
	"partyline/appliance/logs"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/board"
	"partyline/media"
	"partyline/sip"
)

// backend is the appliance as the admin page sees it.
type backend struct{ a *Appliance }

// settings returns the settings in memory, with what the handsets' buttons changed and is
// not saved yet: shared, read only.
func (a *Appliance) settings() settings.Settings {
	return a.saves.overlay(a.store.Current().Settings)
}

// Status implements web.Backend.
func (b backend) Status() web.Status { return b.status(b.a.AudioStats()) }

// status is the status with the audio counters audio.
func (b backend) status(audio audiohub.Stats) web.Status {
	a := b.a
	set := a.settings() // shared: read only
	st := web.Status{Version: a.version, Build: a.build, Calls: a.calls.snapshot(), Board: a.profile.Name, BoardChosen: a.boardFound, BoardFromFlag: a.boardFlag,
		SIP: web.SIPStatus{Listening: a.SIPAddr(), FromFlag: a.sipFlag, Malformed: a.agent.MalformedMessages()}}
	st.Audio = audioStatus(audio)
	for i, l := range a.lines {
		ls := l.Status()
		hs := web.HandsetStatus{
			Index:      i,
			Number:     i + 1,
			ID:         handsetID(set, i),
			Name:       handsetName(set, i),
			State:      ls.State.String(),
			Detail:     ls.Detail,
			OffHook:    ls.OffHook,
			LED:        ls.LED.String(),
			Virtual:    a.hw.sim != nil,
			Busy:       ls.State == handset.Joining || ls.State == handset.InCall || ls.State == handset.LocalOnly,
			InCall:     ls.State == handset.InCall,
			Muted:      ls.Muted,
			Held:       ls.Held,
			CallStart:  a.onWallClock(ls.CallStart),
			Caller:     ls.Caller,
			Waiting:    ls.Waiting,
			Answerable: ls.State == handset.Ringing || ls.Waiting != "",
		}
		if ls.Held {
			hs.State = "on hold"
		}
		if since := a.onWallClock(ls.Unreachable); !since.IsZero() {
			hs.UnreachableSince = since
			hs.LocalOnly = "local only: server unreachable since " + since.Format(time.TimeOnly)
		}
		if ls.State == handset.Idle || ls.State == handset.Failed {
			hs.Detail = a.readiness(set, i, ls)
		}
		channel := i
		if i < len(set.Handsets) {
			h := set.Handsets[i]
			channel = h.Channel
			hs.ID = h.ID
			hs.Identity = handsetIdentity(set, h)
			if c, ok := findConference(set, h.Conference); ok {
				hs.Conference = c.URI
			}
		}
		mic, ear := a.hw.hub.Levels(channel)
		// Whole dB: finer steps would only make the event stream send more.
		hs.MicDBFS, hs.EarDBFS = math.Round(mic), math.Round(ear)
		hs.EarpieceUnderruns = audio.EarpieceUnderrunsOf(channel)
		hs.EarpieceDroppedSamples = audio.EarpieceDroppedOf(channel)
		if ls.State == handset.InCall {
			hs.Quality = callQuality(ls.Quality)
		}
		st.Handsets = append(st.Handsets, hs)
	}
	for _, r := range a.regs.snapshot() {
		st.Registrations = append(st.Registrations, web.RegistrationStatus{
			Account:     r.account,
			AOR:         r.aor,
			State:       r.reg.State.String(),
			Detail:      r.reg.Detail,
			Expires:     a.onWallClock(r.reg.Expires),
			NextAttempt: a.onWallClock(r.reg.NextAttempt),
		})
	}
	st.Rosters = a.rosters.status()
	st.Device = web.DeviceStatus{MAC: a.device.MAC, Serial: a.device.Serial, Model: a.device.Model}
	st.Provisioning = a.provisioningStatus()
	st.UpdateRolledBack = a.rolledBack.Load()
	return st
}

// onWallClock returns t, an instant read from time.Now with its monotonic reading, on the
// wall clock as it reads now. When the wall clock has stepped since t was read (NTP setting
// it at boot, by an hour or by years), t moves with it, by its monotonic distance from now:
// a call answered ten minutes ago shows ten minutes ago, whatever the clock said then.
// Otherwise t is returned as it was read, so that what the page shows does not jitter.
func (a *Appliance) onWallClock(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	wall := time.Now
	if a.wall != nil {
		wall = a.wall
	}
	moved := wall().Round(0).Add(time.Until(t)) // monotonic, when t has a reading
	if d := moved.Sub(t.Round(0)); d > -time.Second && d < time.Second {
		return t
	}
	return moved
}

// readiness is what the card of handset i, idle or failed, says. The line's last detail
// stands unless it is about settings (a join that failed for want of them), which may have
// changed since: then, and when the line has nothing to say, the card says what set lacks
// for the handset to join now, or that a join failed for want of settings that are complete
// now.
func (a *Appliance) readiness(set settings.Settings, i int, ls handset.Status) string {
	stale := a.conf.failedForSettings(i, ls.Detail)
	if ls.Detail != "" && !stale {
		return ls.Detail
	}
	if problem := notReady(set, i); problem != "" {
		return problem
	}
	if stale && ls.State == handset.Failed {
		return "the settings are complete now: put the handset down and lift it again to join"
	}
	return ""
}

// notReady is what set lacks for handset i to join its conference, "" when nothing.
func notReady(set settings.Settings, i int) string {
	if _, err := planJoin(set, i); err != nil {
		return err.Error()
	}
	return ""
}

// handsetName is the name of handset i in set, or "Handset i+1" if set has none.
func handsetName(set settings.Settings, i int) string {
	if i < len(set.Handsets) {
		return set.Handsets[i].Name
	}
	return fmt.Sprintf("Handset %d", i+1)
}

// One numbering of the handsets everywhere: the human number of handset i is i+1, its
// position on the board and in the settings, which the dashboard, the settings and pins
// forms and the events show; its stable ID is the settings' Handset.ID (changed only with
// a restart), which the logs (attribute "handset") and the metrics (label "handset") use.

// handsetLabel is how the events name handset i of set: its name, with its number when
// the name does not say it ("Kitchen (handset 2)").
func handsetLabel(set settings.Settings, i int) string {
	name := handsetName(set, i)
	if number := fmt.Sprintf("Handset %d", i+1); name != number {
		return fmt.Sprintf("%s (handset %d)", name, i+1)
	}
	return name
}

// handsetID is the stable ID of handset i of set, for the logs and the metrics; a handset
// the settings lack gets "handset-" and its number, as the first-start settings name them.
func handsetID(set settings.Settings, i int) string {
	if i < len(set.Handsets) && set.Handsets[i].ID != "" {
		return set.Handsets[i].ID
	}
	return fmt.Sprintf("handset-%d", i+1)
}

// callQuality turns a call's RTP figures into what the dashboard shows.
func callQuality(s media.Stats) *web.CallQuality {
	q := &web.CallQuality{
		PacketsSent:     s.PacketsSent,
		PacketsReceived: s.PacketsReceived,
		Lost:            s.Lost,
		JitterMS:        round1(float64(s.Jitter) / float64(time.Millisecond)),
		RTTMS:           round1(float64(s.RTT) / float64(time.Millisecond)),
		MOS:             math.Round(s.MOS*100) / 100,
		Foreign:         s.Foreign,
		Late:            s.Late,
		Concealed:       s.Concealed,
	}
	q.LossPercent = lossPercent(s)
	return q
}

// lossPercent is the share of the far end's packets that were lost, in
// percent to two places.
func lossPercent(s media.Stats) float64 {
	expected := s.PacketsReceived + s.Lost
	if expected == 0 {
		return 0
	}
	return math.Round(10000*float64(s.Lost)/float64(expected)) / 100
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// Events implements web.Backend.
func (b backend) Events() []web.Event { return b.a.events.Events() }

// SetHook implements web.Backend: it moves the virtual hook switch of a sim handset.
func (b backend) SetHook(i int, offHook bool) error {
	sb := b.a.hw.sim
	if sb == nil {
		return fmt.Errorf("the %s board has no virtual hooks", b.a.profile.Name)
	}
	if i < 0 || i >= len(b.a.lines) {
		return fmt.Errorf("handset %d does not exist", i+1)
	}
	sb.Hook(i).Set(offHook)
	return nil
}

// Control implements web.Backend: it does what the handset's mapped buttons do, when that
// changes something. Whether it does is decided on the line's state a moment ago: a
// button pressed on the handset at the same instant can still cross it.
func (b backend) Control(i int, action web.Action) error {
	if i < 0 || i >= len(b.a.lines) {
		return fmt.Errorf("handset %d does not exist", i+1)
	}
	l := b.a.lines[i]
	st := l.Status()
	busy := st.State == handset.Joining || st.State == handset.InCall || st.State == handset.LocalOnly
	var do handset.Action
	switch action {
	case web.ActionJoin, web.ActionLeave:
		if busy == (action == web.ActionJoin) {
			return nil // joining or in a call already, or neither
		}
		do = handset.JoinLeave
	case web.ActionMute, web.ActionUnmute:
		if st.State != handset.InCall {
			return errors.New("not in a call: only a call's microphone can be muted")
		}
		if st.Muted == (action == web.ActionMute) {
			return nil
		}
		do = handset.Mute
	case web.ActionAnswer:
		if err := l.Answer(); err != nil {
			return err
		}
		b.a.events.Add(slog.LevelInfo, handsetLabel(b.a.settings(), i), "answered, asked on the admin page")
		return nil
	case web.ActionHold, web.ActionResume:
		if st.State != handset.InCall {
			return errors.New("not in a call: only a call can be held")
		}
		if st.Held == (action == web.ActionHold) {
			return nil
		}
		do = handset.Hold
	default:
		return fmt.Errorf("unknown action %q", action)
	}
	if err := l.Do(do); err != nil {
		return err
	}
	b.a.events.Add(slog.LevelInfo, handsetLabel(b.a.settings(), i), string(action)+", asked on the admin page")
	return nil
}

// digitsTimeout bounds how long the admin page waits for a line to send digits.
const digitsTimeout = 2 * time.Second

// SendDigits implements web.Backend: it sends DTMF digits into the handset's call. The
// event log says how many were sent, not which: they may be a PIN.
func (b backend) SendDigits(i int, digits string) error {
	if i < 0 || i >= len(b.a.lines) {
		return fmt.Errorf("handset %d does not exist", i+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), digitsTimeout)
	defer cancel()
	if err := b.a.lines[i].SendDigits(ctx, digits); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("the handset is busy: try again")
		}
		return err
	}
	b.a.events.Add(slog.LevelInfo, handsetLabel(b.a.settings(), i), fmt.Sprintf("sent %d digits, asked on the admin page", len(digits)))
	return nil
}

// History implements web.Backend.
func (b backend) History() ([]settings.CallRecord, error) { return b.a.store.History(0) }

// TLSFingerprint implements web.Backend.
func (b backend) TLSFingerprint() string { return b.a.adminFingerprint }

// Settings implements web.Backend.
func (b backend) Settings() (settings.Settings, error) { return b.a.store.Settings() }

// Subscribe implements web.Backend: see watch.
func (b backend) Subscribe(ctx context.Context) <-chan struct{} { return b.a.changes.Subscribe(ctx) }

// UpdateSettings implements web.Backend. Handsets and conferences are read
// from the store at each join, so changes to them apply from the next call;
// the handsets' levels also go to the audio hub at once, so that a call in
// progress hears them, and a changed button mapping goes to every line, which
// uses it from its next gesture on. The SIP listener and the registrations
// are set up once, in New and Run, and the lines are bound to their channels
// and their pins opened in New: changes to the SIP settings, the accounts,
// the handsets' IDs and channels or the pins need a restart.
func (b backend) UpdateSettings(change func(*settings.Settings) error) (restart bool, err error) {
	var old, saved settings.Settings
	var mapping handset.Mapping
	b.a.saveMu.Lock()
	defer b.a.saveMu.Unlock()
	err = b.a.store.Update(func(set *settings.Settings) error {
		prev := set.Clone()
		if err := change(set); err != nil {
			return err
		}
		m, err := buttonMapping(set.Buttons)
		if err != nil {
			return err
		}
		if err := checkPins(b.a.profile, set.Pins); err != nil {
			return err
		}
		if err := checkBoard(set.Board); err != nil {
			return err
		}
		restart = settings.NeedsRestart(prev, *set)
		old, saved, mapping = prev, set.Clone(), m
		return nil
	})
	if err == nil {
		b.applyLevels(old, saved)
		if old.Log.Level != saved.Log.Level {
			b.a.applyLogLevel(saved)
		}
		if old.Log.Syslog != saved.Log.Syslog {
			b.a.applySyslog(saved)
		}
		if !slices.Equal(old.Buttons, saved.Buttons) {
			b.a.setMapping(mapping)
		}
	}
	return restart, toWebError(err)
}

// applyLevels sets the levels and the automatic gain of the handsets whose levels changed
// from old to next, and not their channel, in the audio hub: a call in progress hears
// them at once.
func (b backend) applyLevels(old, next settings.Settings) {
	for _, h := range next.Handsets {
		i := slices.IndexFunc(old.Handsets, func(o settings.Handset) bool { return o.ID == h.ID && o.Channel == h.Channel })
		if i < 0 {
			continue
		}
		o := old.Handsets[i]
		if o.MicGainDB != h.MicGainDB || o.EarGainDB != h.EarGainDB || o.SidetonePercent != h.SidetonePercent {
			if err := b.a.hw.hub.SetLevels(h.Channel, h.MicGainDB, h.EarGainDB, audiohub.SidetoneDB(h.SidetonePercent)); err != nil {
				b.a.log.Warn("apply the handset's levels", "handset", h.ID, "err", err)
			}
		}
		if o.MicAGC != h.MicAGC {
			if err := b.a.hw.hub.SetAGC(h.Channel, h.MicAGC); err != nil {
				b.a.log.Warn("apply the handset's automatic gain", "handset", h.ID, "err", err)
			}
		}
	}
}

// AdminPasswordSet implements web.Backend.
func (b backend) AdminPasswordSet() (bool, error) { return b.a.store.AdminPasswordSet() }

// InitAdminPassword implements web.Backend: without a setup code, a proof of presence at
// the device (a call button held) must be under way.
func (b backend) InitAdminPassword(setupCode, password string) error {
	if strings.TrimSpace(setupCode) == "" && b.a.presence.open() {
		return toWebError(b.a.store.InitAdminPasswordPresent(password))
	}
	return toWebError(b.a.store.InitAdminPassword(setupCode, password))
}

// PresenceUntil implements web.Backend.
func (b backend) PresenceUntil() time.Time { return b.a.presence.Until() }

// SetAdminPassword implements web.Backend.
func (b backend) SetAdminPassword(password string) error {
	return toWebError(b.a.store.SetAdminPassword(password))
}

// CheckAdminPassword implements web.Backend.
func (b backend) CheckAdminPassword(password string) (bool, error) {
	return b.a.store.CheckAdminPassword(password)
}

// toWebError turns the store's refusals of a first password into the admin page's.
func toWebError(err error) error {
	switch {
	case errors.Is(err, config.ErrAdminPasswordSet):
		return fmt.Errorf("%w", web.ErrPasswordSet)
	case errors.Is(err, config.ErrWrongSetupCode):
		return fmt.Errorf("%w", web.ErrWrongSetupCode)
	}
	return err
}

// recordCall adds a call of handset that has ended, answered or not, to the call history
// and the event log. st is the line's status as the call ended, before the line forgot it:
// its CallStart says whether and when the call was answered, its Quality the call's
// figures. err is why it ended: nil when we hung up or gave up the join, sip.ErrRemoteHangup
// when the far end hung up, a *sip.JoinError when the conference refused the join, or any
// other failure. It writes to the settings file, which takes a few milliseconds.
func (a *Appliance) recordCall(i int, st handset.Status, err error) {
	set := a.settings() // shared: read only
	end := time.Now()
	rec := settings.CallRecord{Handset: handsetName(set, i), Start: a.onWallClock(end)}
	if i < len(set.Handsets) {
		h := set.Handsets[i]
		rec.Identity = handsetIdentity(set, h)
		if c, ok := findConference(set, h.Conference); ok {
			rec.Conference = c.URI
		}
	}
	if st.Caller != "" { // a call in: from the caller, not to the conference
		rec.Caller, rec.Conference = st.Caller, ""
	}
	if !st.CallStart.IsZero() {
		rec.Duration = max(end.Sub(st.CallStart), 0).Round(time.Second) // monotonic
		rec.Start = a.onWallClock(st.CallStart)
		rec.MOS = math.Round(st.Quality.MOS*100) / 100
		rec.LossPercent = lossPercent(st.Quality)
	}
	var refused *sip.JoinError
	switch {
	case err == nil && st.CallStart.IsZero(), errors.Is(err, context.Canceled) && st.CallStart.IsZero():
		rec.End = settings.EndCancelled
	case err == nil:
		rec.End = settings.EndLocal
	case errors.Is(err, sip.ErrRemoteHangup):
		rec.End = settings.EndRemote
	case errors.As(err, &refused):
		rec.End, rec.Status, rec.Detail = settings.EndFailed, refused.Status, refused.Error()
	default:
		rec.End, rec.Detail = settings.EndFailed, err.Error()
	}
	level, text := slog.LevelInfo, "call ended: "+rec.Ended()
	if rec.Duration > 0 {
		text = fmt.Sprintf("call ended after %s: %s", rec.Duration, rec.Ended())
	}
	if rec.End == settings.EndFailed {
		level = slog.LevelWarn
	}
	a.events.Add(level, handsetLabel(set, i), text)
	a.calls.add(rec.End)
	if err := a.store.AppendHistory(rec); err != nil {
		a.log.Error("record call", "handset", handsetID(set, i), "err", err)
	}
}

// callCounts counts the handsets' calls that ended, by how they ended (settings.End*).
type callCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *callCounts) add(end string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[end]++
}

// snapshot returns a copy of the counts.
func (c *callCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// sampleInterval is how often watch looks at what has no change notification of its own.
const sampleInterval = 250 * time.Millisecond

// watch notes in the event log what changes in the handsets and the registrations, and
// tells the admin page's event streams (a.changes) when the dashboard's status or the
// event log changes, until ctx is done. New events and saved settings are told at once.
// The lines, registrations, rosters and levels have no change notification of their own:
// watch looks at them, in memory, every sampleInterval, and works out the whole status only
// while an event stream listens. A change that comes and goes between two looks is not
// seen: the call history and the appliance's log have every call.
func (b backend) watch(ctx context.Context) {
	a := b.a
	added := a.events.Subscribe(ctx)
	a.events.Add(slog.LevelInfo, "appliance", "started on the "+a.profile.Name+" board")
	// From the zero status, so the first look reports what is not plain idle already.
	lines := make([]handset.Status, len(a.lines))
	ready := make([]string, len(a.lines)) // what each handset's settings lack, at the last look
	looked := false
	regs := map[string]sip.Registration{}
	snap := a.store.Current()
	var shown web.Status // the status as the event streams were last told of it
	ticker := time.NewTicker(sampleInterval)
	defer ticker.Stop()
	for {
		for i, l := range a.lines {
			cur := l.Status()
			b.handsetChanged(i, lines[i], cur)
			lines[i] = cur
		}
		set := a.settings()
		for i := range a.lines {
			problem := notReady(set, i)
			if problem != ready[i] || !looked && problem != "" {
				b.readinessChanged(set, i, problem)
			}
			ready[i] = problem
		}
		looked = true
		for _, r := range a.regs.snapshot() {
			if old, ok := regs[r.account]; !ok || old.State != r.reg.State || old.Detail != r.reg.Detail {
				b.registrationChanged(r)
			}
			regs[r.account] = r.reg
		}
		if a.changes.Subscribed() {
			if st := b.Status(); !reflect.DeepEqual(st, shown) {
				shown = st
				a.changes.Notify()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-added:
			a.changes.Notify()
		case <-snap.Changed():
			snap = a.store.Current()
			a.changes.Notify()
		}
	}
}

// handsetChanged adds to the event log what changed from old to cur in handset i.
func (b backend) handsetChanged(i int, old, cur handset.Status) {
	if old.State == cur.State && old.Detail == cur.Detail && old.Muted == cur.Muted && old.OffHook == cur.OffHook && old.Held == cur.Held {
		return
	}
	name := handsetLabel(b.a.store.Current().Settings, i)
	add := func(level slog.Level, text string) { b.a.events.Add(level, name, text) }
	if old.OffHook != cur.OffHook {
		add(slog.LevelInfo, map[bool]string{true: "lifted", false: "put down"}[cur.OffHook])
	}
	switch {
	case old.State != cur.State:
		text := cur.State.String()
		if cur.Detail != "" && cur.State != handset.Joining {
			text += ": " + cur.Detail
		}
		level := slog.LevelInfo
		if cur.State == handset.Failed {
			level = slog.LevelWarn
		}
		add(level, text)
	case old.Detail != cur.Detail && cur.Detail != "":
		add(slog.LevelInfo, cur.Detail)
	}
	if old.Muted != cur.Muted && cur.State == handset.InCall {
		add(slog.LevelInfo, map[bool]string{true: "microphone muted", false: "microphone live"}[cur.Muted])
	}
	if old.Held != cur.Held && cur.State == handset.InCall {
		add(slog.LevelInfo, map[bool]string{true: "call on hold", false: "call resumed"}[cur.Held])
	}
}

// readinessChanged adds to the event log what the settings of handset i lack now to join
// its conference (problem), or that they lack nothing any more.
func (b backend) readinessChanged(set settings.Settings, i int, problem string) {
	name := handsetLabel(set, i)
	if problem != "" {
		b.a.events.Add(slog.LevelWarn, name, problem)
		return
	}
	text := "ready to join"
	h := set.Handsets[i] // planJoin found it
	if c, ok := findConference(set, h.Conference); ok {
		text += " " + c.URI
	}
	if id := handsetIdentity(set, h); id != "" {
		text += " as " + id
	}
	b.a.events.Add(slog.LevelInfo, name, text)
}

// registrationChanged adds an account's new registration state to the event log.
func (b backend) registrationChanged(r accountState) {
	text := r.reg.State.String()
	level := slog.LevelInfo
	switch r.reg.State {
	case sip.Registered:
		text += " as " + r.aor
	case sip.Failed:
		level = slog.LevelWarn
	}
	if r.reg.Detail != "" {
		text += ": " + r.reg.Detail
	}
	b.a.events.Add(level, r.account, text)
}

// serviceBackend is the admin page's backend with the service legs: the recordings page,
// and prompt files checked when the settings name them.
type serviceBackend struct {
	backend
	svc *services
}

// UpdateSettings implements web.Backend, as backend does, and refuses an announcement
// whose prompt files are missing or cannot be played (a *settings.FieldError naming the file).
// Only the announcements that change are checked: a prompt file removed since it was
// configured does not block saving anything else; the announcer logs it when it comes to
// it.
func (b serviceBackend) UpdateSettings(change func(*settings.Settings) error) (restart bool, err error) {
	return b.backend.UpdateSettings(func(set *settings.Settings) error {
		old := set.Clone()
		if err := change(set); err != nil {
			return err
		}
		for i, c := range set.Conferences {
			if prev, ok := findConference(old, c.ID); ok && slices.Equal(prev.Announce, c.Announce) {
				continue
			}
			if err := checkPrompts(promptsDir(b.svc.cfg.dir), c.Announce); err != nil {
				return &settings.FieldError{Field: fmt.Sprintf("conferences[%d].announce", i), Msg: err.Error()}
			}
		}
		return nil
	})
}

// Recordings implements web.Recorder.
func (b serviceBackend) Recordings() ([]settings.Recording, error) { return b.a.store.Recordings() }

// Recorders implements web.Recorder.
func (b serviceBackend) Recorders() ([]web.ConferenceRecorder, error) {
	set := b.a.store.Current().Settings // shared: read only
	var out []web.ConferenceRecorder
	for _, c := range set.Conferences {
		st := b.svc.statusOf(c.ID)
		out = append(out, web.ConferenceRecorder{
			ID: c.ID, Name: c.Name, URI: c.URI, Auto: c.Record,
			Recording: st.Recording, File: st.File, Since: st.Since, Detail: st.Detail,
		})
	}
	return out, nil
}

// SetRecording implements web.Recorder.
func (b serviceBackend) SetRecording(ctx context.Context, conference string, on bool) error {
	if err := b.svc.setRecording(ctx, conference, on); err != nil {
		return err
	}
	text := map[bool]string{true: "recording asked for on the admin page", false: "recording stopped on the admin page"}[on]
	b.a.events.Add(slog.LevelInfo, conference, text)
	return nil
}

// OpenRecording implements web.Recorder.
func (b serviceBackend) OpenRecording(name string) (*os.File, error) {
	f, err := b.svc.openRecording(name)
	return f, toWebRecordingError(err)
}

// DeleteRecording implements web.Recorder.
func (b serviceBackend) DeleteRecording(name string) error {
	if err := b.svc.deleteRecording(name); err != nil {
		return toWebRecordingError(err)
	}
	b.a.events.Add(slog.LevelInfo, "recordings", name+" deleted on the admin page")
	return nil
}

// toWebRecordingError turns the store's "no such recording" into the admin page's.
func toWebRecordingError(err error) error {
	if errors.Is(err, config.ErrNoRecording) {
		return fmt.Errorf("%w: %w", web.ErrNoRecording, err)
	}
	return err
}

// Boards lists the board profiles the firmware knows.
func (b backend) Boards() []string { return board.Names() }

// AudioStats reports the handsets' audio counters. It is safe to call at any time.
func (a *Appliance) AudioStats() audiohub.Stats { return a.hw.hub.Stats(a.hw.audio) }

// audioStatus is what the admin page shows of the audio device: nil when the audio is
// virtual.
func audioStatus(s audiohub.Stats) *web.AudioStatus {
	if !s.HasDevice {
		return nil
	}
	return &web.AudioStatus{
		Overruns:  s.Device.Overruns,
		Underruns: s.Device.Underruns,
		Restarts:  s.Device.Restarts,
		LastError: s.Device.LastError,
	}
}

// PendingRestart implements web.Restarter.
func (b backend) PendingRestart() []string { return b.a.pendingRestart() }

// Restart implements web.Restarter.
func (b backend) Restart() error {
	b.a.events.Add(slog.LevelInfo, "appliance", "restart asked on the admin page")
	b.a.requestRestart()
	return nil
}

// applyLogLevel sets the log's level to what set says, at once.
func (a *Appliance) applyLogLevel(set settings.Settings) {
	if a.logs == nil {
		return
	}
	level, err := logs.ParseLevel(set.Log.Level)
	if err != nil { // the settings were validated: not reached
		a.log.Warn("log level", "err", err)
		return
	}
	if level != a.logs.Level() {
		a.logs.SetLevel(level)
		a.log.Info("log level", "level", level)
	}
}

// applySyslog sends the log's lines to the remote syslog target set says, from now on;
// none when it says none.
func (a *Appliance) applySyslog(set settings.Settings) {
	if a.logs == nil {
		return
	}
	network, addr, err := settings.SyslogTarget(set.Log.Syslog)
	if err == nil {
		err = a.logs.SetSyslog(network, addr)
	}
	if err != nil { // the settings were validated: not reached
		a.log.Warn("remote syslog", "err", err)
		return
	}
	if set.Log.Syslog != "" {
		a.log.Info("remote syslog", "target", set.Log.Syslog)
	}
}

// LogLines implements web.LogSource.
func (b backend) LogLines(min slog.Level) []web.LogLine {
	if b.a.logs == nil {
		return nil
	}
	lines := b.a.logs.Lines(min)
	out := make([]web.LogLine, len(lines))
	for i, l := range lines {
		out[i] = web.LogLine{Time: l.Time, Level: l.Level, Text: l.Text}
	}
	return out
}
