package appliance_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/board"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// The ALSA device of TestCallIsSampleExactOverALSA: 8 kHz, the rate of G.711, so that
// neither direction resamples, two handsets, 5 ms periods.
const (
	alsaRate     = 8000
	alsaChannels = 2
	alsaPeriod   = 40
	// alsaTable is how many frames of known microphone samples the test has, 131 s: more
	// than the test runs, failsafe included, so a frame's index in it is its index in the
	// capture.
	alsaTable = 1 << 20
)

// TestCallIsSampleExactOverALSA makes a call through the real audio path: malgo's ALSA
// backend on alsa-lib's file plugin, the appliance's hub, pump and media session, PCMU RTP to
// SIPp's echo and back. Handset 1's microphone gets known samples, and its earpiece must
// play exactly those samples, one round trip later.
//
// Pacing: the file plugin's slave is the null plugin, which does not keep time, so the
// capture's infile is a named pipe that the test writes one period per period time.
// alsa-lib's file plugin reads its infile only in readi (RW access, which miniaudio 0.11
// always uses: its mmap path is compiled out) with a blocking read(2), so the pipe paces
// the duplex device: each period waits for the test's next write, and the playback, which
// the null slave takes at once, follows the capture period by period. The playback goes to
// a plain file, read after the appliance stopped.
//
// Exactness: G.711 is lossy, but a sample that is itself a µ-law code's value encodes to
// that code and decodes back unchanged. The microphone gets µ-law values from a seeded
// random sequence, at 8 kHz (no resampler), with unity gains, no sidetone and no AGC, so
// the tolerance is zero: every sample of a 2 s stretch of the earpiece must equal the
// microphone sample one round trip (measured, not assumed) earlier.
func TestCallIsSampleExactOverALSA(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	mic := mulawSamples(t, seed)
	other := mulawSamples(t, seed+1) // handset 2's microphone: must reach nobody

	dir := t.TempDir()
	w, outPath := alsaFileDevice(t, dir)

	// Not t.Context(): that ends before the cleanups, and the pipe must feed the device
	// until the appliance has stopped.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var written int // frames written to the pipe; read after wg.Wait
	var writeErr error
	wg.Go(func() { written, writeErr = feedMicrophones(ctx, w, mic, other) })
	stopFeed := func() {
		cancel()
		wg.Wait()
	}
	// Cleanups run last first: a test that fails stops the appliance (runAppliance's
	// cleanup) while the pipe still feeds the device thread, which blocks reading it.
	t.Cleanup(stopFeed)

	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String(), func(s *settings.Settings) {
		h := &s.Handsets[0]
		h.MicGainDB, h.EarGainDB, h.SidetonePercent = 0, 0, 0
	})
	r := runAppliance(t, dir, sim.New(alsaChannels), useALSAFileDevice)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	// Let the call play until the earpiece holds a sample-exact 2 s stretch, from 1 s after
	// the echo is first heard on; a failsafe bounds the wait. On an idle machine the first
	// stretch is exact. On a busy one a late period can glitch the audio (the device and the
	// earpiece count it as an overrun or underrun) and shift the round trip: the stretch
	// checked is then the first whole one after the glitch, with its own round trip.
	deadline := time.Now().Add(failsafe)
	for {
		if _, ok := exactStretch(mic, earpieces(t, outPath)[0]); ok {
			break
		}
		if time.Now().After(deadline) {
			break // the checks below say what is wrong
		}
		time.Sleep(500 * time.Millisecond)
	}
	st := r.app.AudioStats()
	if d := st.Device; !st.HasDevice || d.Periods == 0 || d.Restarts != 0 || d.LastError != "" {
		t.Errorf("AudioStats() = %+v; want the ALSA device's, with periods and no failure", st)
	}
	t.Logf("audio stats: %+v", st)
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.stop(); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	stopFeed()
	if writeErr != nil {
		t.Fatalf("feed the microphones: %v", writeErr)
	}
	if written >= alsaTable {
		t.Fatalf("wrote %d frames, more than the %d known samples", written, alsaTable)
	}

	ear := earpieces(t, outPath)
	played := len(ear[0])
	t.Logf("captured %d frames, played %d (%.1f s)", written, played, float64(played)/alsaRate)
	for f, v := range ear[1] {
		if v != 0 {
			t.Fatalf("earpiece 2 (not in a call) plays %d at frame %d, want silence", v, f)
		}
	}
	res, ok := exactStretch(mic[:written], ear[0])
	switch {
	case res.heard < 0:
		t.Fatal("earpiece 1 played only silence")
	case ok:
		t.Logf("round trip (microphone frame to earpiece frame): %d frames, %.1f ms; echo first heard at frame %d; "+
			"the exact 2 s start at frame %d, after %d glitched stretches", res.delay, float64(res.delay)*1000/alsaRate,
			res.heard, res.at, res.glitched)
	case res.at < 0:
		t.Fatalf("echo first heard at frame %d of %d: no 2 s of it from 1 s after that in %v", res.heard, played, failsafe)
	default:
		// Zero tolerance: see the test's comment. Tell a glitch (the round trip changed: a
		// late pump or a re-buffering jitter buffer inserted audio) from corrupted samples.
		t.Errorf("no 2 s of the earpiece are exact in %v; the last stretch checked, from frame %d: %d of %d samples differ "+
			"from the microphone's %d frames earlier, first at frame %d: %d, want %d",
			failsafe, res.at, res.bad, 2*alsaRate, res.delay, res.first, ear[0][res.first], mic[res.first-res.delay])
	}
}

// earpieces reads the playback file at path: the samples of each earpiece.
func earpieces(t *testing.T, path string) [][]int16 {
	t.Helper()
	const frameBytes = 2 * alsaChannels
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	played := len(raw) / frameBytes
	ear := make([][]int16, alsaChannels)
	for c := range ear {
		ear[c] = make([]int16, played)
		for f := range played {
			ear[c][f] = int16(binary.LittleEndian.Uint16(raw[f*frameBytes+2*c:]))
		}
	}
	return ear
}

// maxRoundTrip bounds the round trip exactStretch looks for, in frames: 5 s, far more
// than the jitter buffer and the rings hold.
const maxRoundTrip = 5 * alsaRate

// stretch is what exactStretch found: where the echo was first heard (-1 if never), the
// last 2 s stretch it checked (at, -1 if none), its round trip in frames, how many of its
// samples differ and the first of them, and how many stretches before it were glitched.
type stretch struct {
	heard, at, delay, bad, first, glitched int
}

// exactStretch looks in ear for 2 s that play exactly the samples of mic one round trip
// earlier, from 1 s after the echo is first heard on, in steps of half a second. Each
// stretch's round trip is measured: one packet's worth at its start, located in mic. It
// reports whether it found one, and the stretch it checked last.
func exactStretch(mic, ear []int16) (stretch, bool) {
	const probe = 160
	res := stretch{heard: -1, at: -1}
	for f, v := range ear {
		if v != 0 {
			res.heard = f
			break
		}
	}
	if res.heard < 0 {
		return res, false
	}
	for at := res.heard + alsaRate; at+2*alsaRate <= len(ear); at += alsaRate / 2 {
		// The microphone frame is at most maxRoundTrip earlier, and never later.
		lo := max(0, at-maxRoundTrip)
		from := matches(mic[lo:min(at, len(mic))], ear[at:at+probe])
		if len(from) != 1 {
			res.glitched++ // the probe is no stretch of the microphone
			continue
		}
		res.at, res.delay, res.bad = at, at-(lo+from[0]), 0
		for f := at; f < at+2*alsaRate; f++ {
			if ear[f] != mic[f-res.delay] {
				if res.bad == 0 {
					res.first = f
				}
				res.bad++
			}
		}
		if res.bad == 0 {
			return res, true
		}
		res.glitched++
	}
	return res, false
}

// alsaFileDevice sets up, in dir, the ALSA device "partyline_e2e" that useALSAFileDevice
// names (see TestCallIsSampleExactOverALSA): its capture reads the named pipe whose write
// end it returns, its playback writes the file at outPath. The pipe is closed when the test
// ends.
func alsaFileDevice(t *testing.T, dir string) (w *os.File, outPath string) {
	t.Helper()
	fifo, outPath := filepath.Join(dir, "mic.fifo"), filepath.Join(dir, "ear.raw")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// Read-write, so that neither this open nor alsa-lib's read-only one waits for the
	// other end; the pipe is non-blocking here, so writes take deadlines.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	conf := fmt.Sprintf(`pcm.partyline_e2e {
	type asym
	playback.pcm "partyline_e2e_play"
	capture.pcm "partyline_e2e_cap"
	hint { show on description "partyline e2e" }
}
pcm.partyline_e2e_cap { type file slave.pcm "partyline_e2e_null" file "/dev/null" infile "%s" format "raw" }
pcm.partyline_e2e_play { type file slave.pcm "partyline_e2e_null" file "%s" format "raw" }
pcm.partyline_e2e_null { type null }
`, fifo, outPath)
	confPath := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:"+confPath)
	return w, outPath
}

// useALSAFileDevice has the appliance use the ALSA device of alsaFileDevice.
func useALSAFileDevice(c *appliance.Config) {
	c.Audio = &board.AudioProfile{Device: "partyline_e2e", SampleRate: alsaRate, Channels: alsaChannels, PeriodFrames: alsaPeriod}
}

// mulawSamples returns alsaTable samples that G.711 µ-law codes exactly: the values of
// random µ-law codes.
func mulawSamples(t *testing.T, seed uint64) []int16 {
	t.Helper()
	codec, ok := media.CodecByName("PCMU")
	if !ok {
		t.Fatal("no PCMU codec")
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	codes := make([]byte, alsaTable)
	for i := range codes {
		codes[i] = byte(rng.Uint32())
	}
	s := make([]int16, alsaTable)
	codec.Decode(s, codes)
	back := make([]byte, alsaTable)
	codec.Encode(back, s)
	again := make([]int16, alsaTable)
	codec.Decode(again, back)
	for i := range s {
		if again[i] != s[i] {
			t.Fatalf("PCMU codes sample %d (%d) as %d: the samples are not exact under µ-law", i, s[i], again[i])
		}
	}
	return s
}

// feedMicrophones writes the microphones' samples into the capture pipe, interleaved, one
// period per tick of a period-time ticker, until ctx is done, and returns how many frames it
// wrote. It never writes more than one period a tick: a late tick (the ticker drops them)
// or a full pipe (the device is not reading yet) loses time, never samples, so the device
// never gets a burst of periods to run through at once, as real hardware would not.
func feedMicrophones(ctx context.Context, w *os.File, mics ...[]int16) (int, error) {
	period := time.Duration(alsaPeriod) * time.Second / alsaRate
	buf := make([]byte, alsaPeriod*len(mics)*2) // one period, under PIPE_BUF: written whole or not at all
	tick := time.NewTicker(period)
	defer tick.Stop()
	frames := 0
	for {
		select {
		case <-ctx.Done():
			return frames, nil
		case <-tick.C:
		}
		if frames+alsaPeriod > len(mics[0]) {
			return frames, errors.New("out of microphone samples")
		}
		for f := range alsaPeriod {
			for c, m := range mics {
				binary.LittleEndian.PutUint16(buf[(f*len(mics)+c)*2:], uint16(m[frames+f]))
			}
		}
		if err := w.SetWriteDeadline(time.Now().Add(period)); err != nil {
			return frames, err
		}
		if _, err := w.Write(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			continue // the pipe is full: try again next tick
		} else if err != nil {
			return frames, fmt.Errorf("write capture pipe: %w", err)
		}
		frames += alsaPeriod
	}
}

// matches returns every index at which want occurs in s.
func matches(s, want []int16) []int {
	var at []int
	for i := 0; i+len(want) <= len(s); i++ {
		if s[i] == want[0] && slices.Equal(s[i:i+len(want)], want) {
			at = append(at, i)
		}
	}
	return at
}

func TestAudioStatsOnVirtualAudio(t *testing.T) {
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9") // discard port: nobody answers
	r := runAppliance(t, dir, sim.New(2))
	if st := r.app.AudioStats(); st.HasDevice || len(st.EarpieceUnderruns) != 2 || len(st.EarpieceDropped) != 2 {
		t.Errorf("AudioStats() on the sim board's virtual audio = %+v; want no device, two earpieces", st)
	}
	if st := r.status(); st.Audio != nil {
		t.Errorf("the admin page's status on virtual audio has an audio device: %+v", *st.Audio)
	}
	if m := r.metrics(); strings.Contains(m, "partyline_audio_") || !strings.Contains(m, `partyline_earpiece_underruns_total{handset="handset-2"}`) ||
		!strings.Contains(m, `partyline_earpiece_dropped_samples_total{handset="handset-2"}`) {
		t.Errorf("metrics on virtual audio: want no audio device's counters, each earpiece's underruns and samples dropped; got\n%s", m)
	}
}

// TestAudioDeviceCountersReachStatus runs the appliance on the ALSA device of
// TestCallIsSampleExactOverALSA, starves its capture for a moment, and finds the overruns
// and underruns that caused, with the device's other counters and each earpiece's, in the
// admin page's status and its metrics.
func TestAudioDeviceCountersReachStatus(t *testing.T) {
	dir := t.TempDir()
	w, _ := alsaFileDevice(t, dir)
	silence := make([]int16, alsaTable)
	// feed starts feeding the microphones; stopFeed stops the current feed. The device
	// thread blocks reading the pipe while nobody feeds it, so the cleanup that stops the
	// feed, registered before runAppliance's, runs after the appliance has stopped.
	var stopFeed func() error
	feed := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := feedMicrophones(ctx, w, silence, silence)
			done <- err
		}()
		stopFeed = func() error {
			cancel()
			return <-done
		}
	}
	feed()
	t.Cleanup(func() {
		if err := stopFeed(); err != nil {
			t.Errorf("feed the microphones: %v", err)
		}
	})
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9") // discard port: nobody answers
	r := runAppliance(t, dir, sim.New(alsaChannels), useALSAFileDevice)

	deadline := time.Now().Add(failsafe)
	for r.app.AudioStats().Device.Periods < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the device ran %d periods in a minute, want 100", r.app.AudioStats().Device.Periods)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A stall of 100 periods: the device falls that far behind its clock, far more than the
	// two periods it may, for every pace window after it.
	before := r.app.AudioStats().Device
	if err := stopFeed(); err != nil {
		t.Fatalf("feed the microphones: %v", err)
	}
	time.Sleep(100 * alsaPeriod * time.Second / alsaRate)
	feed()
	r.waitFor("the stall's overruns", func(st web.Status) bool {
		return st.Audio != nil && st.Audio.Overruns > before.Overruns && st.Audio.Underruns > before.Underruns
	})

	// The counters only grow: what the status says lies between what the device said just
	// before and just after.
	lo := r.app.AudioStats()
	st := r.status()
	hi := r.app.AudioStats()
	if a := st.Audio; a == nil || a.Overruns < lo.Device.Overruns || a.Overruns > hi.Device.Overruns ||
		a.Underruns < lo.Device.Underruns || a.Underruns > hi.Device.Underruns ||
		a.Restarts != 0 || hi.Device.Restarts != 0 || a.LastError != "" || hi.Device.LastError != "" {
		t.Errorf("status's audio device %+v; want between the device's %+v and %+v, with no reopen or error", a, lo.Device, hi.Device)
	}
	if len(st.Handsets) != alsaChannels {
		t.Fatalf("status has %d handsets, want %d", len(st.Handsets), alsaChannels)
	}
	for i, h := range st.Handsets {
		if h.EarpieceUnderruns < lo.EarpieceUnderruns[i] || h.EarpieceUnderruns > hi.EarpieceUnderruns[i] {
			t.Errorf("handset %d's earpiece underruns %d; want between the audio's %d and %d", i+1, h.EarpieceUnderruns, lo.EarpieceUnderruns[i], hi.EarpieceUnderruns[i])
		}
	}
	m := r.metrics()
	for _, want := range []string{"partyline_audio_overruns_total ", "partyline_audio_underruns_total ", "partyline_audio_restarts_total 0\n",
		`partyline_earpiece_underruns_total{handset="handset-1"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	t.Logf("audio stats: %+v", hi)
}

// metrics reads the admin page's Prometheus metrics.
func (r *rig) metrics() string {
	r.t.Helper()
	res, err := r.http.Get(r.admin + "/metrics")
	if err != nil {
		r.t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		r.t.Fatalf("GET /metrics: %s\n%s", res.Status, b)
	}
	return string(b)
}
