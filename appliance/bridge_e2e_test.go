package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/media"
	"partyline/sip"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// bridgeDomain is the domain of the bridge rig's trusted account.
const bridgeDomain = "partyline.test"

// The digest credentials the rig's bridge asks its callers for.
const (
	bridgeAuthUser = "lobby-caller"
	bridgeSecret   = "lobby-s3cret"
)

// startCaller starts baresip as a caller that holds the bridge's credentials: the bridge
// trusts it to call in as itself.
func startCaller(t *testing.T, cfg peertest.BaresipConfig) *peertest.Baresip {
	t.Helper()
	cfg.AuthUser, cfg.Password = bridgeAuthUser, bridgeSecret
	return peertest.StartBaresip(t, cfg)
}

// startBridge runs a SIP agent on 127.0.0.1 whose incoming calls go to a bridging with
// one bridge, "lobby", into the conference "room" on f, through a trusted account; the
// bridge admits callers with its digest credentials (see startCaller). edit changes the
// settings first. It stops at the end of the test, the bridging first, as
// the appliance stops its work before SIP.
func startBridge(t *testing.T, f *focus.Focus, edit func(*settings.Settings), agentEdits ...func(*sip.Config)) *sip.Agent {
	t.Helper()
	agent, _ := startBridgeReporting(t, f, edit, agentEdits...)
	return agent
}

// reports are what the bridging told the admin page of failed calls, as "source: text".
type reports struct {
	mu   sync.Mutex
	list []string
}

func (r *reports) add(source, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, source+": "+text)
}

func (r *reports) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// startBridgeReporting is startBridge, with what the bridging reports for the admin page.
func startBridgeReporting(t *testing.T, f *focus.Focus, edit func(*settings.Settings), agentEdits ...func(*sip.Config)) (*sip.Agent, *reports) {
	t.Helper()
	reported := &reports{}
	store, err := config.Open(filepath.Join(t.TempDir(), "partyline.db"))
	if err != nil {
		t.Fatal(err)
	}
	set := settings.Settings{
		SIP:         settings.SIPSettings{ListenAddr: "127.0.0.1:0"},
		Accounts:    []settings.Account{{ID: "trunk", User: "trunk", Domain: bridgeDomain, Proxy: f.Addr().String()}},
		Conferences: []settings.Conference{{ID: "room", Name: "Room", URI: "sip:room@" + bridgeDomain}},
		Bridges: []settings.Bridge{{ID: "lobby", User: "lobby", Conference: "room", Account: "trunk", AssertIdentity: true,
			AuthUser: bridgeAuthUser, AuthPassword: bridgeSecret}},
	}
	if edit != nil {
		edit(&set)
	}
	if err := store.Save(set); err != nil {
		t.Fatalf("save settings: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	incoming := newIncomingQueue(store, nil, log.With("part", "bridge"))
	cfg := sip.Config{ListenAddr: "127.0.0.1:0", Log: log.With("part", "sip"), OnIncoming: incoming.offer}
	for _, e := range agentEdits {
		e(&cfg)
	}
	agent, err := sip.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, stopBase := context.WithCancel(context.Background())
	work, stopWork := context.WithCancel(context.Background())
	var baseWG, workWG sync.WaitGroup
	baseWG.Go(func() {
		if err := agent.Run(base); err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	rosters := newRosters(agent, log.With("part", "roster"))
	workWG.Go(func() { rosters.run(work) })
	br := &bridging{agent: agent, store: store, claims: &identityClaims{}, rosters: rosters, queue: incoming, log: log.With("part", "bridge"),
		problem: reported.add}
	workWG.Go(func() { br.run(work) })
	t.Cleanup(func() {
		stopWork()
		workWG.Wait()
		stopBase()
		baseWG.Wait()
		store.Close()
	})
	return agent, reported
}

// sine returns d of a sine at freq (8 kHz), peak amplitude 0.2 of full scale.
func sine(freq float64, d time.Duration) []int16 {
	pcm := make([]int16, int(d.Seconds()*8000))
	media.NewTone(8000, freq, -17).Generate(pcm)
	return pcm
}

const (
	callerHz     = 600  // what the caller says
	conferenceHz = 1000 // what the conference's other participant says
)

// bridgedCall has baresip dial the bridge and waits until the conference leg is up and
// both sides heard two seconds of each other. It returns the focus's record of the leg.
func bridgedCall(t *testing.T, ctx context.Context, f *focus.Focus, agent *sip.Agent, b *peertest.Baresip) focus.CallInfo {
	t.Helper()
	return bridgedCallTo(t, ctx, f, fmt.Sprintf("sip:lobby@%v", agent.Addr()), b)
}

// bridgedCallTo is bridgedCall with baresip dialling uri.
func bridgedCallTo(t *testing.T, ctx context.Context, f *focus.Focus, uri string, b *peertest.Baresip) focus.CallInfo {
	t.Helper()
	if err := b.Dial(uri); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool {
		return len(calls) == 1 && calls[0].State == focus.Up && calls[0].ReceivedSamples >= 2*8000
	}); err != nil {
		t.Fatal(err)
	}
	leg := f.Calls()[0]
	if leg.From != b.URI() || leg.DisplayName != "Carol Caller" || !strings.Contains(leg.PAI, b.URI()) {
		t.Errorf("the conference leg presents From %q, display name %q, PAI %q; want the caller's %s, Carol Caller",
			leg.From, leg.DisplayName, leg.PAI, b.URI())
	}
	if leg.RequestURI != "sip:room@"+bridgeDomain {
		t.Errorf("the conference leg went to %s, want the conference", leg.RequestURI)
	}
	heard := f.Received(leg.CallID)
	if lvl := media.ToneLevel(heard[len(heard)-8000:], 8000, callerHz); lvl < -3 {
		t.Errorf("the conference hears the caller's %d Hz at %.1f dB of what it hears", callerHz, lvl)
	}
	return leg
}

// checkCallerHeard checks that baresip heard the conference's tone.
func checkCallerHeard(t *testing.T, b *peertest.Baresip) {
	t.Helper()
	heard, err := b.Heard()
	if err != nil {
		t.Fatalf("baresip's recording: %v", err)
	}
	if len(heard) < 8000 {
		t.Fatalf("baresip recorded %d samples, want over a second", len(heard))
	}
	if lvl := media.ToneLevel(heard[len(heard)-8000:], 8000, conferenceHz); lvl < -3 {
		t.Errorf("the caller hears the conference's %d Hz at %.1f dB of what it hears", conferenceHz, lvl)
	}
}

// TestBridgeCallerIntoConference bridges baresip into the focus as itself: the leg that
// joins the conference carries the caller's URI and display name, each side hears the
// other's tone, and hanging up either side ends both calls.
func TestBridgeCallerIntoConference(t *testing.T) {
	for _, side := range []string{"caller", "conference"} {
		t.Run(side+" hangs up", func(t *testing.T) {
			f := focus.Start(t, focus.Config{UniqueIdentities: true})
			f.Tone("room", conferenceHz, 0.2)
			agent := startBridge(t, f, nil)
			b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, 2*time.Minute)})
			ctx, cancel := context.WithTimeout(t.Context(), failsafe)
			defer cancel()
			leg := bridgedCall(t, ctx, f, agent, b)
			if side == "caller" {
				if err := b.Hangup(); err != nil {
					t.Fatalf("baresip hangup: %v", err)
				}
			} else if err := f.Kick(leg.CallID); err != nil {
				t.Fatalf("kick: %v", err)
			}
			if _, err := b.Await(ctx, "CALL_CLOSED"); err != nil {
				t.Fatal(err)
			}
			if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"caller": "BYE from caller", "conference": "kicked"}[side]
			if got := f.Calls()[0].EndReason; got != want {
				t.Errorf("the conference leg ended by %q, want %q", got, want)
			}
			checkCallerHeard(t, b)
		})
	}
}

// TestBridgeConferenceRefuses has the focus refuse the bridged join: the caller gets a
// final answer that names the conference's.
func TestBridgeConferenceRefuses(t *testing.T) {
	f := focus.Start(t, focus.Config{Refuse: func(focus.CallInfo) (int, string) { return 486, "Busy Here" }})
	agent, reported := startBridgeReporting(t, f, nil)
	b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:lobby@%v", agent.Addr())); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	closed, err := b.Await(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(closed.Param, "503") || !strings.Contains(closed.Param, "486 Busy Here") {
		t.Errorf("baresip's call closed with %q, want 503 naming the conference's 486 Busy Here", closed.Param)
	}
	for _, e := range b.Events() {
		if e.Type == "CALL_ESTABLISHED" {
			t.Error("the caller was answered although the conference refused")
		}
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Status != 486 || calls[0].From != b.URI() {
		t.Errorf("the focus saw %+v, want one refused join from %s", calls, b.URI())
	}
	// The admin page's events have it.
	for deadline := time.Now().Add(failsafe); ; time.Sleep(20 * time.Millisecond) {
		got := strings.Join(reported.all(), "\n")
		if strings.Contains(got, "bridge lobby: the call from "+b.URI()) && strings.Contains(got, "486 Busy Here") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reported for the admin page: %q, want the refused call from %s through bridge lobby", got, b.URI())
		}
	}
}

// TestBridgeUnknownUser refuses a call that dials no bridge's user.
func TestBridgeUnknownUser(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	agent := startBridge(t, f, nil)
	b := startCaller(t, peertest.BaresipConfig{Source: sine(callerHz, time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:nobody@%v", agent.Addr())); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	closed, err := b.Await(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(closed.Param, "404") {
		t.Errorf("baresip's call closed with %q, want 404", closed.Param)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("the focus took %d calls, want none", n)
	}
}

// TestBridgeCallerCancelsWhileJoining has baresip give up while the conference still
// rings: the caller's CANCEL cancels the join, and nobody is left in the conference.
func TestBridgeCallerCancelsWhileJoining(t *testing.T) {
	f := focus.Start(t, focus.Config{AnswerDelay: time.Minute})
	agent := startBridge(t, f, nil)
	b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:lobby@%v", agent.Addr())); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_RINGING"); err != nil {
		t.Fatal(err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return len(calls) == 1 && calls[0].State == focus.Ringing }); err != nil {
		t.Fatal(err)
	}
	if err := b.Hangup(); err != nil {
		t.Fatalf("baresip hangup: %v", err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls()[0].EndReason; got != "cancelled" {
		t.Errorf("the conference leg ended by %q, want cancelled", got)
	}
	if _, err := b.Await(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
}

// TestBridgeIdentityInUse bridges a caller, then has a second caller with the same
// address dial in: the appliance refuses it itself, as it would a handset with an
// identity already in the conference, and the conference never sees it.
func TestBridgeIdentityInUse(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	f.Tone("room", conferenceHz, 0.2)
	agent := startBridge(t, f, nil)
	first := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, 2*time.Minute)})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	bridgedCall(t, ctx, f, agent, first)

	second := startCaller(t, peertest.BaresipConfig{User: "carol", Source: sine(callerHz, time.Second)})
	if err := second.Dial(fmt.Sprintf("sip:lobby@%v", agent.Addr())); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	closed, err := second.Await(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(closed.Param, "486") {
		t.Errorf("the second caller's call closed with %q, want 486", closed.Param)
	}
	if n := len(f.Calls()); n != 1 {
		t.Errorf("the focus took %d calls, want only the first caller's", n)
	}
}

// TestBridgeGeneratedIdentity bridges a caller under a generated identity: the
// conference sees neither the caller's address nor its name.
func TestBridgeGeneratedIdentity(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	agent := startBridge(t, f, func(set *settings.Settings) {
		set.Bridges[0].Identity, set.Bridges[0].IdentityPrefix = settings.BridgeGenerated, "guest"
	})
	b := startCaller(t, peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller", Source: sine(callerHz, 2*time.Minute)})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := b.Dial(fmt.Sprintf("sip:lobby@%v", agent.Addr())); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	if _, err := b.Await(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	leg := f.Calls()[0]
	if !strings.HasPrefix(leg.From, "sip:guest-") || !strings.HasSuffix(leg.From, "@"+bridgeDomain) || leg.DisplayName != "" {
		t.Errorf("the conference leg presents From %q, display name %q; want a generated sip:guest-…@%s without a name", leg.From, leg.DisplayName, bridgeDomain)
	}
	if strings.Contains(leg.PAI, "carol") {
		t.Errorf("the conference leg asserts %q, the caller's identity", leg.PAI)
	}
	if err := b.Hangup(); err != nil {
		t.Fatalf("baresip hangup: %v", err)
	}
	if err := f.Await(ctx, func(calls []focus.CallInfo) bool { return calls[0].State == focus.Ended }); err != nil {
		t.Fatal(err)
	}
}
