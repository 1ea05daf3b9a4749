package appliance_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance"
	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

const (
	domain     = "partyline.test"
	realm      = "auth.partyline.test" // differs from the domain: the realm must come from the challenge
	password   = "s3cret-Pa55"
	displayOne = `Desk "One" \ Reception`

	adminPassword = "e2e-admin-password"

	// failsafe bounds every wait for the appliance or its peers to get somewhere: only a
	// step that never happens takes that long, however busy the machine is. The tests
	// measure no wall-clock time.
	failsafe = time.Minute
)

// rig is a running appliance on the sim board, with a Kamailio registrar/proxy in front of
// a SIPp conference, all on loopback.
type rig struct {
	t     *testing.T
	app   *appliance.Appliance
	board *sim.Board
	sipp  *peertest.SIPp
	kam   *peertest.Kamailio
	admin string       // base URL of the admin page
	http  *http.Client // logged in to the admin page
	db    string
	stop  func() error // stops the appliance and returns what Run returned
}

// startRig starts the peers and an appliance whose settings are those of seedSettings,
// changed by each of edits.
func startRig(t *testing.T, scenario string, edits ...func(*settings.Settings)) *rig {
	t.Helper()
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: scenario, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain,
		Realm:  realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})

	dir := t.TempDir()
	db := filepath.Join(dir, "partyline.db")
	seedSettings(t, db, kam.Addr().String(), edits...)

	r := runAppliance(t, dir, sim.New(2))
	r.sipp, r.kam = sipp, kam
	return r
}

// runAppliance starts an appliance on board with its settings in dir, its Config changed
// by each of edits, logs in to its admin page, and stops it when the test ends (or at r.stop).
// The log goes to the test's output, through Config.Logs when an edit sets it.
func runAppliance(t *testing.T, dir string, board *sim.Board, edits ...func(*appliance.Config)) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg := appliance.Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", Sim: board}
	for _, edit := range edits {
		edit(&cfg)
	}
	if cfg.Logs != nil {
		log = slog.New(cfg.Logs)
	}
	a, err := appliance.New(cfg, log)
	if err != nil {
		t.Fatalf("appliance.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- a.Run(ctx) }()
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
	r.http = r.login()
	return r
}

// seedSettings writes the settings a user would enter: one account, handset 1 using it
// with its own display name, and the conference URI.
func seedSettings(t *testing.T, path, proxy string, edits ...func(*settings.Settings)) {
	t.Helper()
	st, err := config.Open(path, config.WithPasswordCost(bcrypt.MinCost)) // a quick login
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(adminPassword); err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.SIP.ListenAddr = "127.0.0.1:0"
	set.Accounts = []settings.Account{{ID: "alice", User: "alice", Password: password, Domain: domain, Proxy: proxy}}
	set.Handsets[0].Account = "alice"
	set.Handsets[0].DisplayName = displayOne
	set.Conferences[0].URI = "sip:conf@" + domain
	for _, edit := range edits {
		edit(&set)
	}
	if err := st.Save(set); err != nil {
		t.Fatalf("save settings: %v", err)
	}
}

// login logs in to the admin page as a browser would and returns a client that carries
// the session cookie.
func (r *rig) login() *http.Client {
	r.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: failsafe}
	res, err := c.PostForm(r.admin+"/login", url.Values{"password": {adminPassword}})
	if err != nil {
		r.t.Fatalf("log in to the admin page: %v", err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/" {
		r.t.Fatalf("log in: ended at %s with %d, want /", res.Request.URL, res.StatusCode)
	}
	return c
}

// status reads the admin page's status API.
func (r *rig) status() web.Status {
	r.t.Helper()
	res, err := r.http.Get(r.admin + "/api/status")
	if err != nil {
		r.t.Fatalf("GET /api/status: %v", err)
	}
	defer res.Body.Close()
	var st web.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		r.t.Fatalf("decode status: %v", err)
	}
	return st
}

// page reads the admin page as a browser would get it.
func (r *rig) page() string {
	r.t.Helper()
	res, err := r.http.Get(r.admin + "/")
	if err != nil {
		r.t.Fatalf("GET /: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond every 100 ms until it holds, for at most failsafe.
func (r *rig) waitFor(what string, cond func(web.Status) bool) web.Status {
	r.t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		st := r.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waited %v for %s; status: %+v", failsafe, what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func registered(st web.Status) bool {
	return len(st.Registrations) == 1 && st.Registrations[0].State == "registered"
}

func handsetState(i int, state string) func(web.Status) bool {
	return func(st web.Status) bool { return len(st.Handsets) > i && st.Handsets[i].State == state }
}

func TestHandsetJoinsAndHearsItsOwnToneBack(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho)
	r.waitFor("the account to register", registered)
	if !r.kam.Registered("alice") {
		t.Fatal("Kamailio's location table lacks alice after the appliance showed it registered")
	}

	r.board.Hook(0).Set(true)
	st := r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	if h := st.Handsets[0]; h.LED != "on" {
		t.Errorf("LED of handset 1 = %q in the call, want on", h.LED)
	}

	// The conference echoes the handset's RTP: its earpiece must carry its own microphone
	// tone, and not the other handset's.
	own, other := sim.ToneHz(0), sim.ToneHz(1)
	deadline := time.Now().Add(failsafe)
	for {
		heard := r.board.Audio().Earpiece(0, 500*time.Millisecond)
		ownLevel := media.ToneLevel(heard, 48000, own)
		otherLevel := media.ToneLevel(heard, 48000, other)
		if ownLevel > -3 && otherLevel < -30 && media.LevelDBFS(heard) > -30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("earpiece 1 after a minute: %.1f dB of its own tone (%.0f Hz), %.1f dB of %.0f Hz, level %.1f dBFS",
				ownLevel, own, otherLevel, other, media.LevelDBFS(heard))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// What the handset heard, to listen to: go test -artifacts keeps it.
	wav := filepath.Join(t.ArtifactDir(), "earpiece1.wav")
	if err := r.board.Audio().WriteEarpieceWAV(wav, 0, 2*time.Second); err != nil {
		t.Error(err)
	}
	if lvl := r.board.Audio().EarpieceLevel(1); lvl > -60 {
		t.Errorf("earpiece 2 (not in a call) at %.1f dBFS, want silence", lvl)
	}

	// The identity on the wire: the handset's own display name (escaped) and AOR.
	msgs := r.sipp.Messages()
	wantFrom := `"Desk \"One\" \\ Reception" <sip:alice@` + domain + `>`
	if !strings.Contains(msgs, wantFrom) {
		t.Errorf("the INVITE SIPp received lacks From %s:\n%s", wantFrom, firstMessage(msgs, "INVITE"))
	}

	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if calls := r.history(); len(calls) != 1 || calls[0].End != settings.EndLocal || calls[0].Duration <= 0 || calls[0].MOS == 0 {
		t.Errorf("call history: %+v, want one call we hung up, with its duration and MOS", calls)
	}
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
	if msgs := r.sipp.Messages(); !strings.Contains(msgs, "BYE sip:") {
		t.Errorf("SIPp never received BYE:\n%s", msgs)
	}

	if err := r.stop(); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	// Stopped cleanly: the database is closed, so it opens again at once.
	st2, err := config.Open(r.db)
	if err != nil {
		t.Fatalf("reopen settings after stop: %v", err)
	}
	st2.Close()
}

func TestBusyConferenceShowsTheReasonAndReturnsToIdle(t *testing.T) {
	r := startRig(t, peertest.ScenarioBusy)
	r.waitFor("the account to register", registered)

	r.board.Hook(0).Set(true)
	st := r.waitFor("the join to fail", handsetState(0, "failed"))
	if got := st.Handsets[0].Detail; !strings.Contains(got, "486") || !strings.Contains(got, "Busy Here") {
		t.Errorf("detail = %q, want the SIP status 486 Busy Here", got)
	}
	if page := r.page(); !strings.Contains(page, "486 Busy Here") {
		t.Errorf("the admin page does not show 486 Busy Here")
	}

	r.board.Hook(0).Set(false)
	st = r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if got := st.Handsets[0].Detail; !strings.Contains(got, "486 Busy Here") {
		t.Errorf("after replacing the handset, detail = %q, want the reason kept", got)
	}
	if h := st.Handsets[0]; h.LED != "off" {
		t.Errorf("LED of an idle handset = %q, want off", h.LED)
	}
	if calls := r.history(); len(calls) != 1 || calls[0].End != settings.EndFailed || calls[0].Status != 486 {
		t.Errorf("call history: %+v, want one call refused with 486", calls)
	}
}

// history reads the admin page's call history API.
func (r *rig) history() []settings.CallRecord {
	r.t.Helper()
	res, err := r.http.Get(r.admin + "/api/history")
	if err != nil {
		r.t.Fatalf("GET /api/history: %v", err)
	}
	defer res.Body.Close()
	var calls []settings.CallRecord
	if err := json.NewDecoder(res.Body).Decode(&calls); err != nil {
		r.t.Fatalf("decode history: %v", err)
	}
	return calls
}

func TestReplacingWhileRingingCancels(t *testing.T) {
	r := startRig(t, peertest.ScenarioRinging)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 joining", handsetState(0, "joining"))
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(r.sipp.Messages(), "180 Ringing") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp (expects CANCEL): %v", err)
	}
	if msgs := r.sipp.Messages(); !strings.Contains(msgs, "CANCEL sip:") {
		t.Errorf("SIPp never received CANCEL:\n%s", msgs)
	}
}

func TestConferenceHangingUpEndsTheCall(t *testing.T) {
	r := startRig(t, peertest.ScenarioHangup)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	st := r.waitFor("the conference's BYE to end the call", handsetState(0, "failed"))
	if st.Handsets[0].Detail == "" {
		t.Error("no reason shown for the ended call")
	}
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp (sends BYE, expects 200): %v", err)
	}
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if calls := r.history(); len(calls) != 1 || calls[0].End != settings.EndRemote {
		t.Errorf("call history: %+v, want one call the far end hung up", calls)
	}
}

func TestMalformedAnswerFailsTheJoinClearly(t *testing.T) {
	r := startRig(t, peertest.ScenarioBadSDP)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	st := r.waitFor("the join to fail", handsetState(0, "failed"))
	if got := st.Handsets[0].Detail; !strings.Contains(strings.ToLower(got), "sdp") {
		t.Errorf("detail = %q, want it to name the bad SDP", got)
	}
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp (expects ACK and BYE): %v", err)
	}
}

func TestSameIdentityTwiceIsRefusedLocally(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho, func(set *settings.Settings) {
		set.Handsets[1].Account = "alice" // both handsets as alice, in the same conference
	})
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.board.Hook(1).Set(true)
	st := r.waitFor("handset 2 to be refused", handsetState(1, "failed"))
	h := st.Handsets[1]
	if !strings.Contains(h.Detail, "sip:alice@"+domain) || !strings.Contains(h.Detail, "Handset 1") {
		t.Errorf("handset 2 detail = %q, want it to name the identity and Handset 1", h.Detail)
	}
	if h.LED != "fast blink" {
		t.Errorf("LED of the refused handset = %q, want fast blink", h.LED)
	}
	if st.Handsets[0].State != "in call" {
		t.Errorf("handset 1 is %q after handset 2 was refused, want still in call", st.Handsets[0].State)
	}
	if n := strings.Count(r.sipp.Messages(), "INVITE sip:conf@"); n != 1 {
		t.Errorf("SIPp received %d INVITEs, want 1: the duplicate must be refused before it is sent", n)
	}

	r.board.Hook(1).Set(false)
	r.board.Hook(0).Set(false)
	r.waitFor("both handsets idle", func(st web.Status) bool {
		return handsetState(0, "idle")(st) && handsetState(1, "idle")(st)
	})
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// TestPINIsSentAsTelephoneEvents sets a conference PIN: once the conference answers, the
// handset sends it as RFC 4733 events. SIPp echoes the RTP it gets, events included, so the
// call hears its own PIN back, each digit once.
func TestPINIsSentAsTelephoneEvents(t *testing.T) {
	const pin = "4711#"
	r := startRig(t, peertest.ScenarioEcho, func(set *settings.Settings) { set.Conferences[0].PIN = pin })
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	deadline := time.Now().Add(failsafe)
	for r.app.HeardDigits(0) != pin && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := r.app.HeardDigits(0); got != pin {
		t.Errorf("the conference echoed the digits %q, want the PIN %q", got, pin)
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// TestConferenceHoldsMovesAndRecodesTheCall has SIPp put the call on hold with a
// re-INVITE, then take it off hold moving its media to another port with PCMA only: the
// handset follows, and hears its own tone again through the new port.
func TestConferenceHoldsMovesAndRecodesTheCall(t *testing.T) {
	r := startRig(t, peertest.ScenarioHold)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	moved := netip.AddrPortFrom(r.sipp.MediaAddr().Addr(), r.sipp.MediaAddr().Port()+2)
	deadline := time.Now().Add(failsafe)
	for {
		remote, codec := r.app.CallMedia(0)
		if remote == moved && codec == "PCMA" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the re-INVITEs the call sends %s to %v, want PCMA to %v", codec, remote, moved)
		}
		time.Sleep(100 * time.Millisecond)
	}
	own := sim.ToneHz(0)
	deadline = time.Now().Add(failsafe)
	for {
		time.Sleep(600 * time.Millisecond) // all that is heard now came through the new port
		heard := r.board.Audio().Earpiece(0, 500*time.Millisecond)
		if media.ToneLevel(heard, 48000, own) > -3 && media.LevelDBFS(heard) > -30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no echo of the handset's tone after the move: %.1f dB, level %.1f dBFS",
				media.ToneLevel(heard, 48000, own), media.LevelDBFS(heard))
		}
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// TestWidebandCallHearsItsOwnTone has the conference answer G.722 only: the handset's
// audio goes out at 16 kHz, comes back through SIPp's echo and reaches the earpiece.
func TestWidebandCallHearsItsOwnTone(t *testing.T) {
	if peertest.ScenarioEchoG722 == peertest.ScenarioEcho {
		t.Fatal("the G.722 scenario answers like the G.711 one")
	}
	r := startRig(t, peertest.ScenarioEchoG722)
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	if _, codec := r.app.CallMedia(0); codec != "G722" {
		t.Fatalf("the call uses %s, want G722", codec)
	}
	own := sim.ToneHz(0)
	deadline := time.Now().Add(failsafe)
	for {
		heard := r.board.Audio().Earpiece(0, 500*time.Millisecond)
		if media.ToneLevel(heard, 48000, own) > -3 && media.LevelDBFS(heard) > -30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("earpiece 1: %.1f dB of its own tone, level %.1f dBFS", media.ToneLevel(heard, 48000, own), media.LevelDBFS(heard))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// TestHandsetLevelsApplyToTheCall sets handset 1's microphone 12 dB down and its earpiece
// 6 dB up: its own tone comes back through SIPp's echo 6 dB below the microphone's level.
func TestHandsetLevelsApplyToTheCall(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho, func(set *settings.Settings) {
		set.Handsets[0].MicGainDB, set.Handsets[0].EarGainDB = -12, 6
	})
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	mic := r.board.Audio().MicLevel(0)
	deadline := time.Now().Add(failsafe)
	for {
		time.Sleep(300 * time.Millisecond)
		heard := r.board.Audio().Earpiece(0, 300*time.Millisecond)
		level := media.LevelDBFS(heard)
		if media.ToneLevel(heard, 48000, sim.ToneHz(0)) > -3 && math.Abs(level-(mic-6)) < 1.5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("earpiece at %.1f dBFS with the microphone at %.1f dBFS, want %.1f", level, mic, mic-6)
		}
	}
	r.board.Hook(0).Set(false)
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// TestButtonsJoinMuteAndLeave drives a handset by its buttons alone, through the same
// gesture code as real hardware: the call button joins, the mute button silences the
// microphone (the echo falls silent, the LED double-blinks) and lets it through again,
// and the call button leaves.
func TestButtonsJoinMuteAndLeave(t *testing.T) {
	r := startRig(t, peertest.ScenarioEcho)
	r.waitFor("the account to register", registered)
	press := func(sw *sim.Switch) {
		sw.Set(true)
		time.Sleep(100 * time.Millisecond) // a short press: released well before the long-press time
		sw.Set(false)
	}
	echo := func() float64 {
		time.Sleep(600 * time.Millisecond) // what is heard now left the microphone after the change
		return media.ToneLevel(r.board.Audio().Earpiece(0, 300*time.Millisecond), 48000, sim.ToneHz(0))
	}
	waitEcho := func(what string, cond func(float64) bool) {
		t.Helper()
		deadline := time.Now().Add(failsafe)
		for {
			lvl := echo()
			if cond(lvl) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: own tone at %.1f dB of the earpiece", what, lvl)
			}
		}
	}
	level := func() float64 { return media.LevelDBFS(r.board.Audio().Earpiece(0, 300*time.Millisecond)) }

	press(r.board.Button(0))
	r.waitFor("the call button to join", handsetState(0, "in call"))
	waitEcho("in the call", func(l float64) bool { return l > -3 && level() > -30 })

	press(r.board.MuteButton(0))
	st := r.waitFor("the mute button to mute", func(st web.Status) bool { return st.Handsets[0].LED == "double blink" })
	if st.Handsets[0].State != "in call" {
		t.Fatalf("muting changed the state to %q", st.Handsets[0].State)
	}
	waitEcho("muted", func(float64) bool { return level() < -60 })

	press(r.board.MuteButton(0))
	r.waitFor("the mute button to unmute", func(st web.Status) bool { return st.Handsets[0].LED == "on" })
	waitEcho("unmuted", func(l float64) bool { return l > -3 && level() > -30 })

	press(r.board.Button(0))
	r.waitFor("the call button to leave", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference (expects BYE): %v", err)
	}
}

// firstMessage returns the first SIP message in a SIPp message log that starts with method.
func firstMessage(log, method string) string {
	i := strings.Index(log, method+" sip:")
	if i < 0 {
		return "(none)"
	}
	end := min(len(log), i+1500)
	return log[i:end]
}
