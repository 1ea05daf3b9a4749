package appliance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest/focus"
)

// servicesPage is the admin page of an appliance's service legs, logged in.
type servicesPage struct {
	t    *testing.T
	url  string
	http *http.Client
	dir  string // the appliance's data directory
}

// startServiceRig runs an appliance with its service legs, whose account alice reaches
// the focus f directly, with its settings changed by edit; free stands in for the free
// space of the file system (nil = the file system's).
func startServiceRig(t *testing.T, f *focus.Focus, edit func(*settings.Settings), free func(string) (uint64, error)) (*rig, *servicesPage) {
	t.Helper()
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), f.Addr().String(), edit)
	return runServiceRig(t, dir, free)
}

// runServiceRig runs the appliance of data directory dir with its service legs, and logs
// in to its admin page and to the service legs' page.
func runServiceRig(t *testing.T, dir string, free func(string) (uint64, error)) (*rig, *servicesPage) {
	t.Helper()
	board := sim.New(2)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	a, err := appliance.New(appliance.Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", Sim: board}, log)
	if err != nil {
		t.Fatalf("appliance.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	r := &rig{t: t, app: a, board: board, admin: "http://" + a.AdminAddr().String(), db: filepath.Join(dir, "partyline.db")}
	r.stop = func() error {
		cancel()
		select {
		case err := <-result:
			return err
		case <-time.After(failsafe):
			t.Fatalf("appliance did not stop within %v", failsafe)
			return nil
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			_ = r.stop()
		}
	})
	// Registered after the appliance's cleanup, so the service legs stop first.
	srv := httptest.NewServer(a.StartServices(t, dir, free))
	t.Cleanup(srv.Close)
	go func() { result <- a.Run(ctx) }()
	r.http = r.login()
	return r, &servicesPage{t: t, url: srv.URL, http: (&rig{t: t, admin: srv.URL}).login(), dir: dir}
}

// state reads GET /api/recordings.
func (p *servicesPage) state() ([]web.ConferenceRecorder, []settings.Recording) {
	p.t.Helper()
	res, err := p.http.Get(p.url + "/api/recordings")
	if err != nil {
		p.t.Fatalf("GET /api/recordings: %v", err)
	}
	defer res.Body.Close()
	var v struct {
		Conferences []web.ConferenceRecorder `json:"conferences"`
		Recordings  []settings.Recording     `json:"recordings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		p.t.Fatalf("decode recordings: %v", err)
	}
	return v.Conferences, v.Recordings
}

// waitFor polls the recordings every 100 ms for at most limit until cond holds.
func (p *servicesPage) waitFor(what string, cond func([]web.ConferenceRecorder, []settings.Recording) bool) ([]web.ConferenceRecorder, []settings.Recording) {
	p.t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		confs, recs := p.state()
		if cond(confs, recs) {
			return confs, recs
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for %s; conferences %+v, recordings %+v", failsafe, what, confs, recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func recording(confs []web.ConferenceRecorder, _ []settings.Recording) bool {
	return len(confs) > 0 && confs[0].Recording
}

// post posts form to path and returns the status and the body.
func (p *servicesPage) post(path string, form url.Values) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest("POST", p.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := *p.http
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// file returns the path of recording name.
func (p *servicesPage) file(name string) string { return filepath.Join(p.dir, "recordings", name) }

// headerSizes reads the RIFF and data sizes of a WAV file's header, and the file's size.
func headerSizes(t *testing.T, path string) (riff, data uint32, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [44]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint32(h[4:]), binary.LittleEndian.Uint32(h[40:]), fi.Size()
}

// callOf returns the call of the focus whose display name is name.
func callOf(calls []focus.CallInfo, name string) (focus.CallInfo, bool) {
	for _, c := range calls {
		if c.DisplayName == name {
			return c, true
		}
	}
	return focus.CallInfo{}, false
}

// TestRecorderAndAnnouncerTogether is the scenario partyline exists for: a handset joins a
// conference set to record and to announce; the appliance's recorder and announcer join it
// too, each under a generated identity of its own, hidden with Privacy: id. The announcer
// plays 700 Hz while another participant plays 1400 Hz and the handset its microphone's
// tone; the recording holds all three, and the 700 Hz only while the announcer was in.
func TestRecorderAndAnnouncerTogether(t *testing.T) {
	const announced, other = 700, 1400
	f := focus.Start(t, focus.Config{UniqueIdentities: true})
	r, page := startServiceRig(t, f, func(set *settings.Settings) {
		set.Handsets[1].Account = "alice"
		set.Conferences[0].Record = true
		set.Conferences[0].Announce = []string{fmt.Sprintf("tone:%d:3s", announced)}
	}, nil)
	f.Tone("conf", other, 0.1)
	r.board.Hook(1).Set(true) // handset 2's microphone plays sim.ToneHz(1), far from both tones
	r.waitFor("handset 2 in the call", handsetState(1, "in call"))
	confs, _ := page.waitFor("the recording to start", recording)
	file := page.file(confs[0].File)

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := f.Await(ctx, func(cs []focus.CallInfo) bool {
		c, ok := callOf(cs, "Announcer")
		return ok && c.State == focus.Ended
	}); err != nil {
		t.Fatalf("the announcer did not play and leave: %v; calls %+v", err, f.Calls())
	}
	// Record on for a second and a half without the announcer, as the flushed header shows.
	_, after, _ := headerSizes(t, file)
	deadline := time.Now().Add(failsafe)
	for _, data, _ := headerSizes(t, file); data < after+24000; _, data, _ = headerSizes(t, file) {
		if time.Now().After(deadline) {
			t.Fatalf("the recording did not grow: %d bytes", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.board.Hook(1).Set(false)
	_, recs := page.waitFor("the recording to finish", func(_ []web.ConferenceRecorder, recs []settings.Recording) bool {
		return len(recs) == 1 && recs[0].State == settings.RecordingFinished
	})

	// The identities on the wire: three distinct ones, the service legs' generated and hidden.
	calls := f.Calls()
	if len(calls) != 3 {
		t.Fatalf("the focus took %d calls, want the handset's, the recorder's and the announcer's: %+v", len(calls), calls)
	}
	rec, _ := callOf(calls, "Recorder")
	ann, _ := callOf(calls, "Announcer")
	hs, _ := callOf(calls, "Handset 2")
	if hs.From != "sip:alice@"+domain || hs.Privacy != "" {
		t.Errorf("the handset on the wire: From %q, Privacy %q; want its account, not hidden", hs.From, hs.Privacy)
	}
	for _, leg := range []struct {
		call   focus.CallInfo
		prefix string
	}{{rec, "sip:rec-"}, {ann, "sip:ann-"}} {
		c := leg.call
		if !strings.HasPrefix(c.From, leg.prefix) || !strings.HasSuffix(c.From, "@"+domain) || c.Privacy != "id" || !strings.Contains(c.PAI, "sip:alice@"+domain) {
			t.Errorf("%s on the wire: From %q, Privacy %q, PAI %q; want a generated %s…@%s, Privacy: id, asserted by alice",
				c.DisplayName, c.From, c.Privacy, c.PAI, leg.prefix, domain)
		}
	}
	if rec.From == ann.From || rec.From == hs.From || ann.From == hs.From {
		t.Errorf("identities not distinct: handset %s, recorder %s, announcer %s", hs.From, rec.From, ann.From)
	}

	// What the recording holds, half a second at a time.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rate, samples, err := media.ReadWAV(bytes.NewReader(b))
	if err != nil || rate != 8000 {
		t.Fatalf("the recording: %d Hz, %v; want 8000 Hz", rate, err)
	}
	if got := time.Duration(len(samples)) * time.Second / 8000; recs[0].Duration != got {
		t.Errorf("recorded duration %v, the file holds %v", recs[0].Duration, got)
	}
	const window = 4000
	if len(samples) < 8*window {
		t.Fatalf("the recording holds %d samples, want at least 4 s", len(samples))
	}
	// The half second where the weakest of the three tones is strongest.
	mine := sim.ToneHz(1)
	best := [3]float64{media.FloorDBFS, media.FloorDBFS, media.FloorDBFS}
	for i := 0; i+window <= len(samples); i += window / 2 {
		w := samples[i : i+window]
		l := [3]float64{media.ToneLevel(w, 8000, announced), media.ToneLevel(w, 8000, other), media.ToneLevel(w, 8000, mine)}
		if min(l[0], l[1], l[2]) > min(best[0], best[1], best[2]) {
			best = l
		}
	}
	if min(best[0], best[1], best[2]) < -15 {
		t.Errorf("no half second of the recording holds the announcer's %d Hz, the other participant's %d Hz and the handset's %.0f Hz together: at best %.1f, %.1f and %.1f dB",
			announced, other, mine, best[0], best[1], best[2])
	}
	t.Logf("the recording holds %.1f dB of %d Hz, %.1f dB of %d Hz and %.1f dB of %.0f Hz together", best[0], announced, best[1], other, best[2], mine)
	last := samples[len(samples)-window:]
	a, o := media.ToneLevel(last, 8000, announced), media.ToneLevel(last, 8000, other)
	if a > -30 || o < -15 {
		t.Errorf("after the announcer left: %.1f dB of %d Hz, %.1f dB of %d Hz; want none of the first, the second still", a, announced, o, other)
	}
	t.Logf("after the announcer left: %.1f dB of %d Hz, %.1f dB of %d Hz", a, announced, o, other)
	wav := filepath.Join(t.ArtifactDir(), "recording.wav")
	if err := os.WriteFile(wav, b, 0o644); err != nil {
		t.Error(err)
	}
}

// recorderHelperEnv names the data directory of the appliance TestRecorderHelperProcess
// runs when the test binary runs as the appliance TestRecordingSurvivesSIGKILL kills.
const recorderHelperEnv = "PARTYLINE_RECORDER_HELPER_DIR"

// TestRecordingSurvivesSIGKILL kills an appliance with SIGKILL while it records: the file
// it leaves is a valid WAV file, its header describing a prefix of what it holds, and the
// next start of the appliance repairs it and marks it recovered with the duration it holds.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), f.Addr().String(), func(set *settings.Settings) {
		set.Conferences[0].Record = true
	})
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecorderHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), recorderHelperEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var file string
	for sc := bufio.NewScanner(stdout); file == "" && sc.Scan(); {
		file, _ = strings.CutPrefix(sc.Text(), "recording ")
	}
	if file == "" {
		t.Fatalf("the appliance never said it was recording; its log:\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	err = cmd.Wait()
	killed = true
	if !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("the appliance ended with %v before it was killed; its log:\n%s", err, stderr.String())
	}

	riff, data, size := headerSizes(t, file)
	if riff != data+36 || int64(data)+44 > size || data%2 != 0 || data < 2*16000 {
		t.Fatalf("after SIGKILL: RIFF size %d, data size %d, %d bytes; want a header describing at least the 2 s flushed, within the file", riff, data, size)
	}
	if p := ffprobe(t, file); p.codec != "pcm_s16le" || p.rate != 8000 || p.samples != int64(data/2) {
		t.Errorf("ffprobe after SIGKILL: %+v, want pcm_s16le at 8000 Hz, %d samples", p, data/2)
	}
	t.Logf("killed with %d bytes of samples in the file, %d of them in the header", size-44, data)

	// The next start repairs it.
	_, page := runServiceRig(t, dir, nil)
	_, recs := page.waitFor("the recording to be recovered", func(_ []web.ConferenceRecorder, recs []settings.Recording) bool {
		return len(recs) == 1 && recs[0].State == settings.RecordingRecovered
	})
	riff, data, size = headerSizes(t, file)
	samples := (size - 44) / 2
	if riff != data+36 || int64(data) != size-44 {
		t.Errorf("after recovery: RIFF size %d, data size %d, %d bytes; want the header to describe every sample", riff, data, size)
	}
	if want := time.Duration(samples) * time.Second / 8000; recs[0].Duration != want {
		t.Errorf("recovered duration %v, want the %v the file holds", recs[0].Duration, want)
	}
	if p := ffprobe(t, file); p.samples != samples {
		t.Errorf("ffprobe after recovery: %+v, want %d samples", p, samples)
	}
}

// TestRecorderHelperProcess is the appliance TestRecordingSurvivesSIGKILL runs and kills:
// handset 1 joins a conference set to record, and once the recording's header describes
// 2 s of audio it says "recording <file>" on stdout and goes on recording. It does nothing
// in an ordinary test run. Were it never killed, it stops after a minute.
func TestRecorderHelperProcess(t *testing.T) {
	dir := os.Getenv(recorderHelperEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, _ := runServiceRig(t, dir, nil)
	r.board.Hook(0).Set(true)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	said := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		files, _ := filepath.Glob(filepath.Join(dir, "recordings", "*.wav"))
		if len(files) != 1 || said {
			continue
		}
		if _, data, _ := headerSizes(t, files[0]); data >= 2*16000 {
			fmt.Printf("recording %s\n", files[0])
			said = true
		}
	}
}

// probe is what ffprobe says of a WAV file's audio stream.
type probe struct {
	codec   string
	rate    int
	samples int64
}

// ffprobe has ffprobe read path, fails the test if ffprobe finds anything wrong with it,
// and returns what it found.
func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("ffprobe is not installed (Debian package ffmpeg): run `make test`, which installs what the tests need")
	}
	cmd := exec.Command(bin, "-v", "error", "-of", "json", "-show_entries", "stream=codec_name,sample_rate,duration_ts", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(path), err, stderr.String())
	}
	var res struct {
		Streams []struct {
			CodecName  string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
			DurationTS int64  `json:"duration_ts"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v, %s", filepath.Base(path), err, out)
	}
	s := res.Streams[0]
	rate, _ := strconv.Atoi(s.SampleRate)
	return probe{codec: s.CodecName, rate: rate, samples: s.DurationTS}
}

// TestDiskNearlyFullStopsTheRecording lets the free space fall below the reserve of the
// settings while a recording runs: it stops, hangs up and says why, and no recording
// starts until there is room again.
func TestDiskNearlyFullStopsTheRecording(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	f := focus.Start(t, focus.Config{})
	r, page := startServiceRig(t, f, func(set *settings.Settings) {
		set.Conferences[0].Record = true
		set.Recordings.ReserveMB = 200
	}, func(string) (uint64, error) { return free.Load(), nil })
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	page.waitFor("the recording to start", recording)

	free.Store(150_000_000)
	confs, recs := page.waitFor("the recording to stop", func(confs []web.ConferenceRecorder, recs []settings.Recording) bool {
		return !confs[0].Recording && len(recs) == 1 && recs[0].State != settings.RecordingInProgress
	})
	if confs[0].Detail != "stopped: disk nearly full" || recs[0].State != settings.RecordingDiskFull || recs[0].Detail != "stopped: disk nearly full" {
		t.Errorf("recorder %+v, recording %+v; want both stopped: disk nearly full", confs[0], recs[0])
	}
	if c, ok := callOf(f.Calls(), "Recorder"); !ok || c.State != focus.Ended {
		t.Errorf("the recorder's call %+v, want ended", c)
	}
	if _, data, size := headerSizes(t, page.file(recs[0].File)); int64(data) != size-44 || time.Duration(data/2)*time.Second/8000 != recs[0].Duration {
		t.Errorf("the stopped recording: %d bytes, header %d; want a whole file of %v", size, data, recs[0].Duration)
	}
	code, body := page.post("/conferences/main/recording", url.Values{"action": {"start"}})
	if code != http.StatusConflict || !strings.Contains(body, "150 MB free, less than the 200 MB kept free") {
		t.Errorf("starting a recording on a full disk: %d, want 409 saying why", code)
	}
}

// TestRecordingFromTheAdminPage starts a recording of a conference with no handset in it
// from the admin page, plays and downloads it, is refused its deletion while it runs,
// stops it and deletes it.
func TestRecordingFromTheAdminPage(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	_, page := startServiceRig(t, f, func(*settings.Settings) {}, nil)
	if code, _ := page.post("/conferences/main/recording", url.Values{"action": {"start"}}); code != http.StatusSeeOther {
		t.Fatalf("start: got %d, want 303", code)
	}
	confs, _ := page.waitFor("the recording to start", recording)
	name := confs[0].File
	if c, ok := callOf(f.Calls(), "Recorder"); !ok || c.State != focus.Up || c.Privacy != "id" || !strings.HasPrefix(c.From, "sip:rec-") {
		t.Errorf("the recorder's call %+v, want up, hidden, generated", c)
	}
	res, err := page.http.Get(page.url + "/recordings")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(html), `<audio controls preload="none" src="/recordings/`+name+`"`) || !strings.Contains(string(html), "Stop recording") {
		t.Errorf("the recordings page lacks the player of %s or the stop button", name)
	}
	if code, body := page.post("/recordings/"+name+"/delete", nil); code != http.StatusConflict || !strings.Contains(body, "stop the recording first") {
		t.Errorf("deleting the recording in progress: %d, want 409", code)
	}
	// Let half a second of audio reach the file before stopping (bounded by failsafe).
	for deadline := time.Now().Add(failsafe); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(page.file(name)); err == nil && fi.Size() > 44+8000 {
			break
		}
	}
	if code, _ := page.post("/conferences/main/recording", url.Values{"action": {"stop"}}); code != http.StatusSeeOther {
		t.Fatalf("stop: got %d, want 303", code)
	}
	page.waitFor("the recording to finish", func(_ []web.ConferenceRecorder, recs []settings.Recording) bool {
		return len(recs) == 1 && recs[0].State == settings.RecordingFinished
	})

	res, err = page.http.Get(page.url + "/recordings/" + name + "?download=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "audio/wav" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d, %q, %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if rate, samples, err := media.ReadWAV(bytes.NewReader(b)); err != nil || rate != 8000 || len(samples) == 0 {
		t.Errorf("the downloaded recording: %d Hz, %d samples, %v", rate, len(samples), err)
	}
	if code, _ := page.post("/recordings/"+name+"/delete", nil); code != http.StatusSeeOther {
		t.Errorf("delete: got %d, want 303", code)
	}
	if _, err := os.Stat(page.file(name)); !os.IsNotExist(err) {
		t.Errorf("the deleted recording's file: %v", err)
	}
	if _, recs := page.state(); len(recs) != 0 {
		t.Errorf("recordings after the delete: %+v", recs)
	}
}
