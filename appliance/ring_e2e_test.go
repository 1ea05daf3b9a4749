package appliance_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"partyline/appliance"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// callerBob and callerCarol are the Kamailio users baresip calls the handsets as.
const (
	callerBob   = "bob"
	callerCarol = "carol"
)

// callInRig is an appliance whose handset 1 has the account alice, registered at a
// Kamailio that also knows bob, and a baresip that calls as bob through it.
type callInRig struct {
	*rig
	bob *peertest.Baresip
}

// startCallIn starts Kamailio, baresip as bob (sending a tone at callerHz) and the
// appliance, whose handset 1 takes calls as calls says, and waits for alice to register.
func startCallIn(t *testing.T, callerHz float64, calls settings.HandsetCallsIn, edits ...func(*appliance.Config)) *callInRig {
	t.Helper()
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users: map[string]string{"alice": password, callerBob: password, callerCarol: password},
		// No conference: a lifted handset cannot join anything and stays lifted, busy.
		Routes: map[string]netip.AddrPort{},
	})
	source := make([]int16, 60*8000)
	media.NewTone(8000, callerHz, -17).Generate(source)
	bob := peertest.StartBaresip(t, peertest.BaresipConfig{User: callerBob, DisplayName: "Bob Caller", AuthUser: callerBob, Password: password, Source: source})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String(), func(s *settings.Settings) {
		s.Handsets[0].CallsIn = calls
	})
	r := runAppliance(t, dir, sim.New(2), edits...)
	r.kam = kam
	r.waitFor("alice to register", registered)
	return &callInRig{rig: r, bob: bob}
}

// dialAlice has baresip call alice's address of record through Kamailio.
func (c *callInRig) dialAlice() {
	c.t.Helper()
	if err := c.bob.Dial("sip:alice@" + c.kam.Addr().String()); err != nil {
		c.t.Fatalf("baresip dial: %v", err)
	}
}

// closed waits for baresip's call to end and returns why, e.g. "486 Busy Here".
func (c *callInRig) closed() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), failsafe)
	defer cancel()
	ev, err := c.bob.Await(ctx, "CALL_CLOSED")
	if err != nil {
		c.t.Fatal(err)
	}
	return ev.Param
}

// ringingFrom reports whether handset i rings with a call from bob, shown on its card.
func ringingFrom(i int) func(web.Status) bool {
	return func(st web.Status) bool {
		return len(st.Handsets) > i && st.Handsets[i].State == "ringing" && st.Handsets[i].LED == "ringing" &&
			st.Handsets[i].Answerable && strings.Contains(st.Handsets[i].Caller, `"Bob Caller" <sip:bob@`)
	}
}

// TestCallInRingsAndLiftingAnswers calls handset 1's account from baresip through
// Kamailio: the handset rings (state, LED, the alert speaker, the caller on the
// dashboard), baresip hears 180, lifting answers, audio goes both ways, and hanging up
// ends baresip's call; the history has the call with its caller.
func TestCallInRingsAndLiftingAnswers(t *testing.T) {
	const callerHz = 700
	c := startCallIn(t, callerHz, settings.HandsetCallsIn{AllowProxy: true})
	c.dialAlice()
	c.waitFor("handset 1 to ring with bob's call", ringingFrom(0))
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if _, err := c.bob.Await(ctx, "CALL_RINGING"); err != nil {
		t.Errorf("baresip did not hear ringing: %v", err)
	}
	if got := c.board.Speaker().Ringing(); got != "us" {
		t.Errorf("alert speaker rings %q, want the us cadence", got)
	}
	if page := c.page(); !strings.Contains(page, `Ringing: call from &#34;Bob Caller&#34; &lt;sip:bob@`) || !strings.Contains(page, `aria-label="Answer `) {
		t.Errorf("dashboard lacks the caller or the Answer button")
	}

	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 in the call", handsetState(0, "in call"))
	if got := c.board.Speaker().Ringing(); got != "" {
		t.Errorf("alert speaker still rings %q after the answer", got)
	}
	c.hearBothWays(c.bob, callerHz, 8000)

	c.board.Hook(0).Set(false)
	if why := c.closed(); why == "" {
		t.Log("baresip's call closed")
	}
	c.waitFor("handset 1 idle", handsetState(0, "idle"))
	h := c.history()
	if len(h) == 0 || !strings.Contains(h[0].Caller, "sip:bob@") || h[0].End != settings.EndLocal || h[0].Duration == 0 {
		t.Errorf("history = %+v, want the answered call from bob, hung up here", h)
	}
}

// TestCallInCancelledIsMissed: the caller gives up while the handset rings; the ringing
// stops and the history has a missed call from bob.
func TestCallInCancelledIsMissed(t *testing.T) {
	c := startCallIn(t, 700, settings.HandsetCallsIn{AllowProxy: true})
	c.dialAlice()
	c.waitFor("handset 1 to ring", ringingFrom(0))
	if err := c.bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	c.waitFor("handset 1 idle", handsetState(0, "idle"))
	if got := c.board.Speaker().Ringing(); got != "" {
		t.Errorf("alert speaker still rings %q after the caller gave up", got)
	}
	deadline := time.Now().Add(failsafe)
	for {
		h := c.history()
		if len(h) > 0 && h[0].End == settings.EndMissed && strings.Contains(h[0].Caller, "sip:bob@") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history = %+v, want a missed call from bob", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCallInBusyHandset: a lifted handset is busy: 486, and nothing rings.
func TestCallInBusyHandset(t *testing.T) {
	c := startCallIn(t, 700, settings.HandsetCallsIn{AllowProxy: true})
	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 lifted", func(st web.Status) bool { return st.Handsets[0].OffHook })
	c.dialAlice()
	if why := c.closed(); !strings.HasPrefix(why, "486") {
		t.Errorf("baresip's call closed with %q, want 486 Busy Here", why)
	}
}

// TestCallInRejected: a handset set to reject declines with 603; one whose callers are
// not allowed refuses with 403.
func TestCallInRejected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls settings.HandsetCallsIn
		want  string
	}{
		{"reject", settings.HandsetCallsIn{Mode: settings.CallsInReject, AllowProxy: true}, "603"},
		{"closed by default", settings.HandsetCallsIn{}, "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCallIn(t, 700, tc.calls)
			c.dialAlice()
			if why := c.closed(); !strings.HasPrefix(why, tc.want) {
				t.Errorf("baresip's call closed with %q, want %s", why, tc.want)
			}
			if st := c.status(); st.Handsets[0].State != "idle" {
				t.Errorf("handset 1 is %s, want idle: it never rang", st.Handsets[0].State)
			}
		})
	}
}

// TestCallInAutoAnswer: a handset set to auto-answer takes the call without being lifted,
// and the audio goes both ways.
func TestCallInAutoAnswer(t *testing.T) {
	const callerHz = 700
	c := startCallIn(t, callerHz, settings.HandsetCallsIn{Mode: settings.CallsInAutoAnswer, AllowProxy: true})
	c.dialAlice()
	c.waitFor("handset 1 in the call, on hook", func(st web.Status) bool {
		return st.Handsets[0].State == "in call" && !st.Handsets[0].OffHook
	})
	c.hearBothWays(c.bob, callerHz, 8000)
}

// TestCallInWithDigestCredentials: a handset that asks callers for credentials challenges
// baresip, which calls it directly: with the right ones the handset rings, with wrong
// ones baresip gets 403.
func TestCallInWithDigestCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		rings          bool
	}{
		{"right", password, true},
		{"wrong", "not-" + password, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCallIn(t, 700, settings.HandsetCallsIn{AuthUser: callerBob, AuthPassword: tc.password})
			if err := c.bob.Dial("sip:alice@" + c.app.SIPAddr()); err != nil {
				t.Fatal(err)
			}
			if !tc.rings {
				if why := c.closed(); !strings.HasPrefix(why, "403") {
					t.Errorf("baresip's call closed with %q, want 403", why)
				}
				return
			}
			c.waitFor("handset 1 to ring", ringingFrom(0))
			if err := c.bob.Hangup(); err != nil {
				t.Fatal(err)
			}
			c.waitFor("handset 1 idle", handsetState(0, "idle"))
		})
	}
}

// TestCallInWaits: with call waiting on, a second call while handset 1 is in a call gets
// 180 and two beeps in the earpiece; putting the handset down ends the first call and the
// waiting one rings; lifting answers it.
func TestCallInWaits(t *testing.T) {
	const waitingHz = 440 // the call-waiting beeps
	c := startCallIn(t, 700, settings.HandsetCallsIn{AllowProxy: true, CallWaiting: true})
	c.dialAlice()
	c.waitFor("handset 1 to ring", ringingFrom(0))
	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 in the call", handsetState(0, "in call"))

	carol := peertest.StartBaresip(t, peertest.BaresipConfig{User: callerCarol, AuthUser: callerCarol, Password: password})
	if err := carol.Dial("sip:alice@" + c.kam.Addr().String()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if _, err := carol.Await(ctx, "CALL_RINGING"); err != nil {
		t.Fatalf("carol did not hear ringing: %v", err)
	}
	c.waitFor("carol waiting on handset 1's card", func(st web.Status) bool {
		h := st.Handsets[0]
		return h.State == "in call" && strings.Contains(h.Waiting, "sip:carol@") && h.Answerable
	})
	for {
		heard := c.board.Audio().Earpiece(0, time.Second)
		if media.ToneLevel(heard, sim.SampleRate, waitingHz) > -15 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("earpiece 1: %.1f dB of the %d Hz call-waiting beeps", media.ToneLevel(heard, sim.SampleRate, waitingHz), waitingHz)
		case <-time.After(100 * time.Millisecond):
		}
	}

	c.board.Hook(0).Set(false)
	if why := c.closed(); why == "" {
		t.Log("bob's call closed")
	}
	c.waitFor("handset 1 to ring with carol's call", func(st web.Status) bool {
		h := st.Handsets[0]
		return h.State == "ringing" && strings.Contains(h.Caller, "sip:carol@")
	})
	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 in carol's call", func(st web.Status) bool {
		h := st.Handsets[0]
		return h.State == "in call" && strings.Contains(h.Caller, "sip:carol@")
	})
	if _, err := carol.Await(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("carol's call: %v", err)
	}
}

// TestCallInAutoAnswerMutedUntilLifted: an auto-answered call starts with a beep in the
// earpiece and, with "mute until lifted", a muted microphone: baresip hears nothing of the
// handset until it is lifted, then its tone.
func TestCallInAutoAnswerMutedUntilLifted(t *testing.T) {
	const callerHz, beepHz = 700, 1000
	c := startCallIn(t, callerHz, settings.HandsetCallsIn{Mode: settings.CallsInAutoAnswer, MuteUntilLifted: true, AllowProxy: true})
	c.dialAlice()
	c.waitFor("handset 1 in the call, on hook and muted", func(st web.Status) bool {
		h := st.Handsets[0]
		return h.State == "in call" && !h.OffHook && h.Muted
	})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	// The beep is queued for the earpiece with the answer; the sim board plays it when its
	// device loop comes round, which on a busy machine can be after the card says "in call".
	// The board keeps 3 s of each earpiece, so a look every 50 ms cannot miss it.
	for {
		lvl := media.ToneLevel(c.board.Audio().Earpiece(0, 2*time.Second), sim.SampleRate, beepHz)
		if lvl >= -20 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("earpiece 1 has %.1f dB of the %d Hz auto-answer beep", lvl, beepHz)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// A second of what baresip heard, from the call's answer on: not the handset's tone.
	own := sim.ToneHz(0)
	for {
		heard, err := c.bob.Heard()
		if err == nil && len(heard) >= 8000 {
			if lvl := media.LevelDBFS(heard[len(heard)-8000:]); lvl > -50 {
				t.Errorf("baresip heard %.1f dBFS from the muted handset (%.1f dB of its %.0f Hz)", lvl, media.ToneLevel(heard[len(heard)-8000:], 8000, own), own)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("baresip heard %d samples (%v)", len(heard), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.board.Hook(0).Set(true)
	c.waitFor("handset 1 unmuted once lifted", func(st web.Status) bool { return st.Handsets[0].OffHook && !st.Handsets[0].Muted })
	c.hearBothWays(c.bob, callerHz, 8000)
}
