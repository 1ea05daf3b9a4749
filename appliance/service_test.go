package appliance

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/legs"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/media"
	"partyline/sip"
)

// StartServices prepares the service legs of a for an end-to-end test: free, if not nil,
// stands in for the free space of the file system. It returns the admin page with the
// recordings page. The end-to-end tests call it between New and Run.
func (a *Appliance) StartServices(t testing.TB, dir string, free func(string) (uint64, error)) http.Handler {
	t.Helper()
	if a.services.cfg.dir != dir {
		t.Fatalf("the appliance keeps its data in %s, not %s", a.services.cfg.dir, dir)
	}
	if free != nil {
		a.services.cfg.freeSpace = free // before Run: nothing reads it yet
	}
	return web.Handler(serviceBackend{backend{a}, a.services}, a.log.With("part", "web"))
}

// toneHz is what the fake conference plays to every service leg.
const toneHz = 1000

// fakeServiceCall is a service leg's call into a fake conference at 8 kHz that plays a
// tone of toneHz and keeps what it is sent.
type fakeServiceCall struct {
	plan  legs.Plan
	id    string
	tone  *media.Tone
	ended chan struct{}
	once  sync.Once

	mu     sync.Mutex // guards following
	sent   []int16
	hungUp bool
}

func (c *fakeServiceCall) Identity() string      { return c.id }
func (c *fakeServiceCall) SampleRate() int       { return 8000 }
func (c *fakeServiceCall) SamplesPerPacket() int { return 160 }
func (c *fakeServiceCall) Done() <-chan struct{} { return c.ended }

func (c *fakeServiceCall) Receive(pcm []int16) bool {
	c.tone.Generate(pcm)
	return true
}

func (c *fakeServiceCall) Send(pcm []int16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, pcm...)
	return nil
}

func (c *fakeServiceCall) Hangup(context.Context) error {
	c.mu.Lock()
	c.hungUp = true
	c.mu.Unlock()
	c.end()
	return nil
}

// end ends the call, as the far end's BYE does.
func (c *fakeServiceCall) end() { c.once.Do(func() { close(c.ended) }) }

func (c *fakeServiceCall) samplesSent() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

func (c *fakeServiceCall) isHungUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hungUp
}

// serviceWorld is the service legs of one conference, "main", with fakes around them: the
// handsets in a call, the conference, the free space.
type serviceWorld struct {
	t     *testing.T
	dir   string
	store *config.Store
	svc   *services
	logs  *bytes.Buffer // what the services logged; read once they have stopped
	stop  func()

	mu      sync.Mutex // guards following
	inCall  []int
	told    chan struct{} // closed when inCall changes
	free    uint64
	refuse  error
	calls   []*fakeServiceCall
	changes int
}

// newServiceWorld makes the world with conference main changed by edit, and starts the
// service legs, which stop at the end of the test.
func newServiceWorld(t *testing.T, edit func(*settings.Conference)) *serviceWorld {
	t.Helper()
	dir := t.TempDir()
	store, err := config.Open(filepath.Join(dir, "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	conf := settings.Conference{ID: "main", Name: "Main", URI: "sip:conf@example.org"}
	if edit != nil {
		edit(&conf)
	}
	set := settings.Settings{
		SIP:         settings.SIPSettings{ListenAddr: "127.0.0.1:0"},
		Accounts:    []settings.Account{{ID: "alice", User: "alice", Domain: "example.org"}},
		Handsets:    []settings.Handset{{ID: "h1", Name: "Handset 1", Channel: 0, Account: "alice", Conference: "main"}, {ID: "h2", Name: "Handset 2", Channel: 1, Account: "alice", Conference: "main"}},
		Conferences: []settings.Conference{conf},
	}
	if err := store.Save(set); err != nil {
		t.Fatal(err)
	}
	w := &serviceWorld{t: t, dir: dir, store: store, free: 1 << 40, logs: new(bytes.Buffer)}
	w.svc = newServices(serviceConfig{
		store:         store,
		dir:           dir,
		dial:          w.dial,
		inCall:        w.handsetsInCall,
		inCallChanged: w.inCallChanged,
		freeSpace:     w.freeSpace,
		log:           slog.New(slog.NewTextHandler(w.logs, nil)),
	})
	return w
}

// start runs the service legs until the test's end or stop.
func (w *serviceWorld) start() {
	ctx, cancel := context.WithCancel(context.Background())
	go w.svc.run(ctx)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		w.countChanges(ctx)
	}()
	w.stop = func() {
		cancel()
		<-w.svc.done
		<-counted
	}
	w.t.Cleanup(w.stop)
	synctest.Wait()
}

// countChanges counts the recordings that start or stop, as the handsets' lines see them,
// until ctx is done.
func (w *serviceWorld) countChanges(ctx context.Context) {
	for {
		select {
		case <-w.svc.RecordingChanged():
			w.mu.Lock()
			w.changes++
			w.mu.Unlock()
		case <-ctx.Done():
			return
		}
	}
}

func (w *serviceWorld) dial(ctx context.Context, p legs.Plan) (serviceCall, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refuse != nil {
		return nil, w.refuse
	}
	c := &fakeServiceCall{
		plan:  p,
		id:    fmt.Sprintf("sip:%s-%d@example.org", p.Identity.Prefix, len(w.calls)),
		tone:  media.NewTone(8000, toneHz, -20),
		ended: make(chan struct{}),
	}
	w.calls = append(w.calls, c)
	return c, nil
}

func (w *serviceWorld) handsetsInCall() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.inCall)
}

func (w *serviceWorld) inCallChanged() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.told == nil {
		w.told = make(chan struct{})
	}
	return w.told
}

func (w *serviceWorld) freeSpace(dir string) (uint64, error) {
	if dir != w.dir {
		return 0, fmt.Errorf("free space of %s asked for, want the data directory", dir)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.free, nil
}

// set makes handsets the ones in a call, and lets the service legs see it.
func (w *serviceWorld) set(handsets ...int) {
	w.mu.Lock()
	w.inCall = handsets
	if w.told != nil {
		close(w.told)
		w.told = nil
	}
	w.mu.Unlock()
	w.settle()
}

// settle lets everything settle.
func (w *serviceWorld) settle() {
	synctest.Wait()
}

// dialed returns the calls placed so far.
func (w *serviceWorld) dialed() []*fakeServiceCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

func (w *serviceWorld) recordings() []settings.Recording {
	w.t.Helper()
	recs, err := w.store.Recordings()
	if err != nil {
		w.t.Fatal(err)
	}
	return recs
}

// readRecording reads a recording's file, checks that its header describes its samples
// (or, unless whole, a prefix of them: a recording in progress), and returns what the
// header describes.
func (w *serviceWorld) readRecording(name string, whole bool) []int16 {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, recordingsFolder, name))
	if err != nil {
		w.t.Fatal(err)
	}
	if len(b) < 44 {
		w.t.Fatalf("%s: %d bytes", name, len(b))
	}
	riff, data := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[40:])
	if riff != data+36 || int64(data) > int64(len(b)-44) || (whole && int64(data) != int64(len(b)-44)) {
		w.t.Fatalf("%s: %d bytes, header sizes %d and %d", name, len(b), riff, data)
	}
	rate, samples, err := media.ReadWAV(bytes.NewReader(b))
	if err != nil || rate != 8000 {
		w.t.Fatalf("%s: %d Hz, %v", name, rate, err)
	}
	return samples
}

// TestRecordingFollowsTheHandsets records a conference set to record while a handset is
// in it, under a hidden generated identity, and checks the file and its record.
func TestRecordingFollowsTheHandsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.start()
		if calls := w.dialed(); len(calls) != 0 {
			t.Fatalf("%d calls placed with no handset in the conference", len(calls))
		}

		w.set(0)
		calls := w.dialed()
		if len(calls) != 1 {
			t.Fatalf("%d calls placed once a handset joined, want the recorder's", len(calls))
		}
		p := calls[0].plan
		want := legs.Plan{Target: "sip:conf@example.org", DisplayName: recorderName, Account: p.Account,
			Identity: sipIdentityGenerated(settings.DefaultRecorderPrefix), RTPTimeout: -1}
		if !reflect.DeepEqual(p, want) || p.Account.AOR() != "sip:alice@example.org" {
			t.Errorf("recorder's plan %+v, want %+v as alice", p, want)
		}
		st := w.svc.statusOf("main")
		if !st.Recording || !w.svc.recording("main") || !w.svc.HandsetRecorded(1) || w.svc.HandsetRecorded(2) {
			t.Fatalf("status %+v, want recording, seen from handsets 1 and 2 but not a third", st)
		}
		recs := w.recordings()
		if len(recs) != 1 || recs[0].State != settings.RecordingInProgress || recs[0].File != st.File || recs[0].Conference != "main" {
			t.Fatalf("recordings %+v, want %s in progress", recs, st.File)
		}
		if want := "main-20000101T000000Z.wav"; st.File != want {
			t.Errorf("file %s, want %s (conference and UTC start)", st.File, want)
		}

		// A second handset joining and the first leaving change nothing.
		w.set(0, 1)
		time.Sleep(3 * time.Second)
		w.set(1)
		if n := len(w.dialed()); n != 1 || calls[0].isHungUp() {
			t.Fatalf("%d calls, recorder hung up %v; want the one recorder still in", n, calls[0].isHungUp())
		}
		// The flushed file is valid while it is being written.
		if got := len(w.readRecording(st.File, false)); got < 3*8000 {
			t.Errorf("after 3 s the file holds %d samples", got)
		}

		w.set()
		if !calls[0].isHungUp() || w.svc.recording("main") {
			t.Fatalf("after the last handset left: hung up %v, recording %v; want hung up, not recording", calls[0].isHungUp(), w.svc.recording("main"))
		}
		recs = w.recordings()
		if len(recs) != 1 || recs[0].State != settings.RecordingFinished || recs[0].Detail != "" {
			t.Fatalf("recordings %+v, want one finished", recs)
		}
		samples := w.readRecording(st.File, true)
		if got, want := recs[0].Duration, time.Duration(len(samples))*time.Second/8000; got != want || got < 3*time.Second {
			t.Errorf("duration %v, want the file's %v, at least 3 s", got, want)
		}
		if lvl := media.ToneLevel(samples, 8000, toneHz); lvl < -1 {
			t.Errorf("the recording holds %.1f dB of the conference's tone, want all of it", lvl)
		}
		w.mu.Lock()
		changes := w.changes
		w.mu.Unlock()
		if changes != 2 {
			t.Errorf("recording changed %d times, want 2: started, stopped", changes)
		}
	})
}

// sipIdentityGenerated is the identity of a service leg with prefix.
func sipIdentityGenerated(prefix string) sip.Identity {
	return sip.Identity{Mode: sip.IdentityGenerated, Prefix: prefix, Assert: true, Private: true}
}

// TestRecordingAskedFor starts and stops recordings as a button and the admin page do,
// in a conference set to record and in one that is not.
func TestRecordingAskedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, nil)
		w.start()
		ctx := t.Context()

		// Not set to record: recorded only when asked, handsets or not.
		if err := w.svc.setRecording(ctx, "main", true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !w.svc.recording("main") || len(w.dialed()) != 1 {
			t.Fatalf("asked to record with no handset: recording %v, %d calls", w.svc.recording("main"), len(w.dialed()))
		}
		if err := w.svc.setRecording(ctx, "main", true); err != nil || len(w.dialed()) != 1 {
			t.Errorf("asking again: %v, %d calls; want nothing new", err, len(w.dialed()))
		}
		if err := w.svc.toggleRecording("main"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if w.svc.recording("main") || !w.dialed()[0].isHungUp() {
			t.Fatal("toggled off: still recording")
		}

		// A button's recording in a conference of handsets ends with the last of them.
		w.set(0)
		if err := w.svc.ToggleHandsetRecording(0); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !w.svc.recording("main") {
			t.Fatal("toggled on from handset 1: not recording")
		}
		w.set()
		if w.svc.recording("main") || len(w.dialed()) != 2 || !w.dialed()[1].isHungUp() {
			t.Fatal("the last handset left: still recording")
		}
		w.set(0)
		if n := len(w.dialed()); n != 2 {
			t.Errorf("a handset joined again: %d calls, want no new recording (not set to record)", n)
		}

		if err := w.svc.setRecording(ctx, "side", true); err == nil || !strings.Contains(err.Error(), "side") {
			t.Errorf("recording an unknown conference: %v, want an error naming it", err)
		}
		if err := w.svc.ToggleHandsetRecording(5); err == nil {
			t.Error("toggling the recording of handset 6, which does not exist: no error")
		}
		if len(w.recordings()) != 2 {
			t.Errorf("recordings %+v, want the two", w.recordings())
		}
	})
}

// TestStoppedRecordingStaysStopped stops the automatic recording of a conference while
// handsets are in it: it stays stopped until the last handset has left and one joins again.
func TestStoppedRecordingStaysStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.start()
		w.set(0)
		if err := w.svc.setRecording(t.Context(), "main", false); err != nil {
			t.Fatal(err)
		}
		w.settle()
		w.set(0, 1)
		if w.svc.recording("main") || len(w.dialed()) != 1 {
			t.Fatalf("stopped, with handsets in: recording %v, %d calls; want stopped", w.svc.recording("main"), len(w.dialed()))
		}
		w.set()
		w.set(1)
		if !w.svc.recording("main") || len(w.dialed()) != 2 {
			t.Fatalf("a handset joined after the last left: recording %v, %d calls; want recording again", w.svc.recording("main"), len(w.dialed()))
		}
	})
}

// TestFailureWithoutHandsetsDoesNotHold asks for a recording with no handset in the
// conference, which fails; the first handset to join still starts the automatic one.
func TestFailureWithoutHandsetsDoesNotHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.refuse = errors.New("503 Service Unavailable")
		w.start()
		if err := w.svc.setRecording(t.Context(), "main", true); err != nil {
			t.Fatal(err)
		}
		w.settle()
		if st := w.svc.statusOf("main"); st.Recording || st.Detail != "failed: 503 Service Unavailable" {
			t.Fatalf("status %+v, want the failure", st)
		}
		w.mu.Lock()
		w.refuse = nil
		w.mu.Unlock()
		w.set(0)
		if !w.svc.recording("main") {
			t.Error("the first handset joined: not recording")
		}
	})
}

// TestRecorderJoinRefused shows why a recording did not start, and does not try again
// while the handsets stay.
func TestRecorderJoinRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.refuse = &sip.JoinError{Status: 403, Reason: "Forbidden"}
		w.start()
		w.set(0)
		w.settle()
		if st := w.svc.statusOf("main"); st.Recording || st.Detail != "failed: 403 Forbidden" {
			t.Errorf("status %+v, want not recording, failed: 403 Forbidden", st)
		}
		if recs := w.recordings(); len(recs) != 0 {
			t.Errorf("recordings %+v, want none", recs)
		}
	})
}

// TestDiskNearlyFull stops a recording before the free space falls below the reserve,
// keeps it stopped, and refuses to start another.
func TestDiskNearlyFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.start()
		w.set(0)
		if !w.svc.recording("main") {
			t.Fatal("not recording")
		}
		w.mu.Lock()
		w.free = settings.DefaultReserveMB*1_000_000 - 1
		w.mu.Unlock()
		time.Sleep(diskCheckInterval)
		w.settle()
		st := w.svc.statusOf("main")
		if st.Recording || st.Detail != "stopped: disk nearly full" {
			t.Fatalf("status %+v, want stopped: disk nearly full", st)
		}
		recs := w.recordings()
		if len(recs) != 1 || recs[0].State != settings.RecordingDiskFull || recs[0].Detail != "stopped: disk nearly full" || recs[0].Duration < time.Second {
			t.Fatalf("recordings %+v, want one stopped-disk-full with its duration", recs)
		}
		if samples := w.readRecording(recs[0].File, true); time.Duration(len(samples))*time.Second/8000 != recs[0].Duration {
			t.Errorf("file holds %d samples, record says %v", len(samples), recs[0].Duration)
		}
		if !w.dialed()[0].isHungUp() {
			t.Error("the recorder did not hang up")
		}
		w.set(0, 1)
		if n := len(w.dialed()); n != 1 {
			t.Errorf("%d calls, want no new recording while the handsets stay", n)
		}
		err := w.svc.setRecording(t.Context(), "main", true)
		if err == nil || !strings.Contains(err.Error(), "kept free") {
			t.Errorf("asking to record on a full disk: %v, want a refusal saying so", err)
		}
		if st := w.svc.statusOf("main"); st.Detail != "not started: disk nearly full" {
			t.Errorf("status %+v, want not started: disk nearly full", st)
		}
	})
}

// TestReserveFromSettings keeps the reserve the settings give.
func TestReserveFromSettings(t *testing.T) {
	for _, tt := range []struct {
		mb   int
		want uint64
	}{{0, 100_000_000}, {1, 1_000_000}, {2048, 2_048_000_000}} {
		if got := reserve(settings.Settings{Recordings: settings.Recordings{ReserveMB: tt.mb}}); got != tt.want {
			t.Errorf("reserve of %d MB = %d bytes, want %d", tt.mb, got, tt.want)
		}
	}
}

// TestConferenceHangsUpOnTheRecorder ends the recording with the call.
func TestConferenceHangsUpOnTheRecorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) { c.Record = true })
		w.start()
		w.set(0)
		w.dialed()[0].end()
		w.settle()
		if st := w.svc.statusOf("main"); st.Recording || st.Detail != "stopped: the conference hung up" {
			t.Errorf("status %+v, want stopped: the conference hung up", st)
		}
		if recs := w.recordings(); len(recs) != 1 || recs[0].State != settings.RecordingFinished {
			t.Errorf("recordings %+v, want one finished", recs)
		}
		if n := len(w.dialed()); n != 1 {
			t.Errorf("%d calls: the recorder joined again", n)
		}
	})
}

// writePrompt writes a prompt file of samples at rate Hz into w's prompts folder.
func (w *serviceWorld) writePrompt(name string, rate int, samples []int16) {
	w.t.Helper()
	dir := promptsDir(w.dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		w.t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	ww, err := media.NewWAVWriter(f, rate)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := ww.Write(samples); err != nil {
		w.t.Fatal(err)
	}
	if err := ww.Close(); err != nil {
		w.t.Fatal(err)
	}
}

// tone returns d of a tone of hz at rate Hz.
func tone(rate int, hz float64, d time.Duration) []int16 {
	s := make([]int16, int(d*time.Duration(rate)/time.Second))
	media.NewTone(rate, hz, -20).Generate(s)
	return s
}

// TestAnnouncerPlaysThenLeaves plays a tone, a 48 kHz prompt file (resampled to the call's
// 8 kHz) and a pause, after the recorder is in, under an identity of its own; then it
// leaves. A file in the wrong format is skipped and logged, naming it.
func TestAnnouncerPlaysThenLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) {
			c.Record = true
			c.Announce = []string{"tone:700:400ms", "hello.wav", "stereo.wav", "missing.wav", "tone:0:200ms"}
			c.AnnouncerPrefix = "voice"
		})
		w.writePrompt("hello.wav", 48000, tone(48000, 1500, 600*time.Millisecond))
		writeStereoWAV(t, filepath.Join(promptsDir(w.dir), "stereo.wav"))
		w.start()
		w.set(0)
		w.settle()
		calls := w.dialed()
		if len(calls) != 2 || calls[0].plan.DisplayName != recorderName || calls[1].plan.DisplayName != announcerName {
			t.Fatalf("calls %d, want the recorder's, then the announcer's", len(calls))
		}
		if want := sipIdentityGenerated("voice"); calls[1].plan.Identity != want {
			t.Errorf("announcer's identity %+v, want %+v", calls[1].plan.Identity, want)
		}
		ann := calls[1]
		time.Sleep(5 * time.Second)
		w.settle()
		if !ann.isHungUp() {
			t.Fatal("the announcer did not leave after its prompts")
		}
		sent := ann.samplesSent()
		const ms = 8 // samples per ms at 8 kHz
		wantLen := (400 + 600 + 200 + int(announceTail/time.Millisecond)) * ms
		if len(sent) != wantLen {
			t.Fatalf("sent %d samples, want %d: 400 ms of tone, 600 of prompt, 200 of pause and the tail", len(sent), wantLen)
		}
		if lvl := media.ToneLevel(sent[:400*ms], 8000, 700); lvl < -1 {
			t.Errorf("first 400 ms: %.1f dB of 700 Hz, want the tone", lvl)
		}
		if lvl := media.ToneLevel(sent[410*ms:990*ms], 8000, 1500); lvl < -1 {
			t.Errorf("next 600 ms: %.1f dB of 1500 Hz, want the prompt", lvl)
		}
		if lvl := media.LevelDBFS(sent[1010*ms:]); lvl > media.FloorDBFS {
			t.Errorf("the pause and the tail at %.1f dBFS, want silence", lvl)
		}
		if !w.svc.recording("main") {
			t.Error("the recorder left with the announcer")
		}
		w.stop()
		logs := w.logs.String()
		for _, want := range []string{
			"prompt stereo.wav: 44100 Hz stereo 16-bit PCM; want mono 16-bit PCM at 8000, 16000 or 48000 Hz",
			"prompt missing.wav: no such file in " + promptsDir(w.dir),
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log lacks %q:\n%s", want, logs)
			}
		}
	})
}

// writeStereoWAV writes a short 44.1 kHz stereo WAV file: not something the announcer plays.
func writeStereoWAV(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+8))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))
	binary.Write(&b, le, uint16(1))
	binary.Write(&b, le, uint16(2))
	binary.Write(&b, le, uint32(44100))
	binary.Write(&b, le, uint32(44100*4))
	binary.Write(&b, le, uint16(4))
	binary.Write(&b, le, uint16(16))
	b.WriteString("data")
	binary.Write(&b, le, uint32(8))
	b.Write(make([]byte, 8))
	if err := os.WriteFile(path, b.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestAnnouncerLoops plays again and again while handsets are in, and leaves with the last.
func TestAnnouncerLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) {
			c.Announce = []string{"tone:440:100ms"}
			c.AnnounceLoop = true
		})
		w.start()
		w.set(1)
		time.Sleep(time.Second)
		w.set(0)
		calls := w.dialed()
		if len(calls) != 1 || calls[0].isHungUp() {
			t.Fatalf("%d calls; want the announcer's, still in", len(calls))
		}
		if n := len(calls[0].samplesSent()); n < 8000 {
			t.Errorf("after more than a second, %d samples sent", n)
		}
		w.set()
		if !calls[0].isHungUp() {
			t.Error("the last handset left: the announcer stayed")
		}
		// The next handset to join hears it again.
		w.set(0)
		if n := len(w.dialed()); n != 2 {
			t.Errorf("%d calls, want the announcer again", n)
		}
	})
}

// TestAnnouncerWithNothingToPlay leaves at once.
func TestAnnouncerWithNothingToPlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, func(c *settings.Conference) {
			c.Announce = []string{"gone.wav"}
			c.AnnounceLoop = true
		})
		w.start()
		w.set(0)
		w.settle()
		if calls := w.dialed(); len(calls) != 1 || !calls[0].isHungUp() || len(calls[0].samplesSent()) != 0 {
			t.Errorf("calls %d; want the announcer, gone without sending anything", len(calls))
		}
	})
}

// TestRecoverRecordings repairs a recording a crash left in progress: a file whose header
// says less than it holds, and an odd byte at the end.
func TestRecoverRecordings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, nil)
		dir := filepath.Join(w.dir, recordingsFolder)
		start := time.Now().UTC()
		f, name, err := createRecording(dir, "main", start)
		if err != nil {
			t.Fatal(err)
		}
		ww, err := media.NewWAVWriter(f, 8000)
		if err != nil {
			t.Fatal(err)
		}
		if err := ww.Write(tone(8000, 500, time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := ww.Flush(); err != nil {
			t.Fatal(err)
		}
		// What came after the last flush: half a second and a torn sample.
		if err := ww.Write(tone(8000, 500, 500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		rec := settings.Recording{File: name, Conference: "main", Start: start, SampleRate: 8000, State: settings.RecordingInProgress}
		finished := settings.Recording{File: "main-old.wav", Conference: "main", Start: start.Add(-time.Hour), Duration: time.Minute, SampleRate: 8000, State: settings.RecordingFinished}
		lost := settings.Recording{File: "main-lost.wav", Conference: "main", Start: start.Add(-2 * time.Hour), SampleRate: 8000, State: settings.RecordingInProgress}
		for _, r := range []settings.Recording{rec, finished, lost} {
			if err := w.store.SaveRecording(r); err != nil {
				t.Fatal(err)
			}
		}

		w.start()
		recs := w.recordings()
		if len(recs) != 3 {
			t.Fatalf("recordings %+v", recs)
		}
		got := recs[0]
		if got.State != settings.RecordingRecovered || got.Duration != 1500*time.Millisecond {
			t.Errorf("recovered %+v, want recovered, 1.5 s", got)
		}
		if samples := w.readRecording(name, true); len(samples) != 12000 {
			t.Errorf("repaired file holds %d samples, want 12000", len(samples))
		}
		if recs[1] != finished {
			t.Errorf("a finished recording changed: %+v", recs[1])
		}
		if recs[2].State != settings.RecordingFailed || !strings.Contains(recs[2].Detail, "not recovered") {
			t.Errorf("a recording whose file is gone: %+v, want failed, not recovered", recs[2])
		}
	})
}

// TestDeleteRecording refuses to delete the recording in progress, and deletes a finished
// one, file and record.
func TestDeleteRecording(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newServiceWorld(t, nil)
		w.start()
		if err := w.svc.setRecording(t.Context(), "main", true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		first := w.svc.statusOf("main").File
		if err := w.svc.deleteRecording(first); err == nil || !strings.Contains(err.Error(), "stop the recording first") {
			t.Errorf("deleting the recording in progress: %v, want a refusal", err)
		}
		if err := w.svc.setRecording(t.Context(), "main", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		f, err := w.svc.openRecording(first)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := w.svc.deleteRecording(first); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(w.dir, recordingsFolder, first)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the file is still there: %v", err)
		}
		for _, name := range []string{first, "../partyline.db", "nothing.wav"} {
			if err := w.svc.deleteRecording(name); !errors.Is(err, config.ErrNoRecording) {
				t.Errorf("delete %s: %v, want ErrNoRecording", name, err)
			}
			if _, err := w.svc.openRecording(name); !errors.Is(err, config.ErrNoRecording) {
				t.Errorf("open %s: %v, want ErrNoRecording", name, err)
			}
		}
	})
}

// TestPromptsCheckedWhenSaved refuses an announcement whose prompt file is missing or in
// a format the announcer cannot play, naming the file, when the settings are saved.
func TestPromptsCheckedWhenSaved(t *testing.T) {
	w := newServiceWorld(t, nil)
	w.writePrompt("ok.wav", 16000, tone(16000, 440, 100*time.Millisecond))
	writeStereoWAV(t, filepath.Join(promptsDir(w.dir), "stereo.wav"))
	b := serviceBackend{backend{&Appliance{store: w.store}}, w.svc}
	for _, tt := range []struct {
		announce []string
		want     string // in the error; "" = saved
	}{
		{[]string{"tone:440:1s", "ok.wav"}, ""},
		{[]string{"ok.wav", "stereo.wav"}, "prompt stereo.wav: 44100 Hz stereo 16-bit PCM; want mono 16-bit PCM"},
		{[]string{"missing.wav"}, "prompt missing.wav: no such file"},
		{[]string{"../partyline.db"}, "must not start with a dot"},
		{[]string{"tone:440"}, "want tone:<Hz>:<duration>"},
	} {
		_, err := b.UpdateSettings(func(s *settings.Settings) error {
			s.Conferences[0].Announce = tt.announce
			return nil
		})
		var fe *settings.FieldError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("announce %q: %v, want it saved", tt.announce, err)
		case tt.want == "":
		case !errors.As(err, &fe) || fe.Field != "conferences[0].announce" || !strings.Contains(fe.Msg, tt.want):
			t.Errorf("announce %q: %v, want a field error on conferences[0].announce saying %q", tt.announce, err, tt.want)
		}
	}
	// A prompt file that went away since does not block other changes.
	if err := os.Remove(filepath.Join(promptsDir(w.dir), "ok.wav")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdateSettings(func(s *settings.Settings) error {
		s.Conferences[0].Name = "Renamed"
		return nil
	}); err != nil {
		t.Errorf("renaming the conference once its prompt went away: %v", err)
	}
}
