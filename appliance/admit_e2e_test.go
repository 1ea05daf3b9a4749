package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/appliance/settings"

	"partyline/sip"
	"partyline/sip/peertest"
	"partyline/sip/peertest/focus"
)

// The attacks on the bridge replayed here came from an attacker on the LAN: anyone who
// dialled a bridge's user was joined to its conference under any identity, through the
// trusted account, without limit. Each test checks that the attack is refused before the
// conference sees anything, and that trusted callers still get in as themselves.

// refusedCall has baresip (from cfg) dial the rig's bridge and checks that the call is
// refused with status and that the conference never saw a join.
func refusedCall(t *testing.T, f *focus.Focus, agent *sip.Agent, cfg peertest.BaresipConfig, status string) {
	t.Helper()
	refusedCallTo(t, f, fmt.Sprintf("sip:lobby@%v", agent.Addr()), cfg, status)
}

// refusedCallTo is refusedCall with baresip dialling uri.
func refusedCallTo(t *testing.T, f *focus.Focus, uri string, cfg peertest.BaresipConfig, status string) {
	t.Helper()
	cfg.Source = sine(callerHz, time.Second)
	b := peertest.StartBaresip(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	if err := b.Dial(uri); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	closed, err := b.Await(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(closed.Param, status) {
		t.Errorf("baresip's call closed with %q, want %s", closed.Param, status)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("the conference saw %d joins, want none: %+v", len(calls), calls)
	}
}

// TestBridgeRefusesCallersNotAllowed: a bridge says who may call it, and nobody else
// gets in, whatever they claim.
func TestBridgeRefusesCallersNotAllowed(t *testing.T) {
	carol := peertest.BaresipConfig{User: "carol", DisplayName: "Carol Caller"}
	for _, tc := range []struct {
		name   string
		edit   func(*settings.Settings)
		caller peertest.BaresipConfig
	}{
		{"no rule: closed by default", func(set *settings.Settings) {
			set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
		}, carol},
		{"no credentials", nil, carol},
		{"wrong password", nil, peertest.BaresipConfig{User: "carol", AuthUser: bridgeAuthUser, Password: "guess"}},
		{"another user's name", nil, peertest.BaresipConfig{User: "carol", AuthUser: "mallory", Password: bridgeSecret}},
		{"network not listed", func(set *settings.Settings) {
			set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
			set.Bridges[0].AllowNetworks = []string{"127.0.0.2"}
		}, carol},
		{"listed network, untrusted identity refused", func(set *settings.Settings) {
			set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
			set.Bridges[0].AllowNetworks = []string{"127.0.0.0/8"}
			set.Bridges[0].Untrusted = settings.UntrustedRefuse
		}, carol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := focus.Start(t, focus.Config{})
			agent := startBridge(t, f, tc.edit)
			refusedCall(t, f, agent, tc.caller, "403")
		})
	}
}

// TestBridgeUntrustedCallerGetsAGeneratedIdentity: a caller admitted for its network, or
// one who claims the address of one of our handsets, joins under a generated identity,
// never as whom it claims to be.
func TestBridgeUntrustedCallerGetsAGeneratedIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*settings.Settings)
		user string
	}{
		{"listed network", func(set *settings.Settings) {
			set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
			set.Bridges[0].AllowNetworks = []string{"127.0.0.0/8"}
		}, "carol"},
		{"a handset's identity", func(set *settings.Settings) {
			set.Handsets = []settings.Handset{{ID: "alice", Name: "Alice", Account: "trunk", Conference: "room",
				Identity: settings.IdentityImpersonate, IdentityURI: "sip:alice@127.0.0.1"}}
		}, "alice"},
		{"an account's address", func(set *settings.Settings) {
			set.Accounts = append(set.Accounts, settings.Account{ID: "own", User: "alice", Domain: "127.0.0.1"})
		}, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := focus.Start(t, focus.Config{})
			agent := startBridge(t, f, tc.edit)
			b := startCaller(t, peertest.BaresipConfig{User: tc.user, DisplayName: "Claimed Name", Source: sine(callerHz, 30*time.Second)})
			ctx, cancel := context.WithTimeout(t.Context(), failsafe)
			defer cancel()
			if err := b.Dial(fmt.Sprintf("sip:lobby@%v", agent.Addr())); err != nil {
				t.Fatalf("baresip dial: %v", err)
			}
			if _, err := b.Await(ctx, "CALL_ESTABLISHED"); err != nil {
				t.Fatal(err)
			}
			leg := f.Calls()[0]
			if !strings.HasPrefix(leg.From, "sip:"+generatedCallerPrefix+"-") || leg.DisplayName != "" {
				t.Errorf("the conference leg presents From %q, display name %q; want a generated sip:%s-… without a name",
					leg.From, leg.DisplayName, generatedCallerPrefix)
			}
			if strings.Contains(leg.From+leg.PAI, tc.user) {
				t.Errorf("the conference leg presents From %q, PAI %q: the claimed %s", leg.From, leg.PAI, tc.user)
			}
		})
	}
}

// TestBridgeTrustsItsProxyOnly admits the calls that come from the account's proxy as
// the callers they say they are, and refuses the same call from another address.
func TestBridgeTrustsItsProxyOnly(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	agent := startBridge(t, f, func(set *settings.Settings) {
		set.Bridges[0].AuthUser, set.Bridges[0].AuthPassword = "", ""
		set.Bridges[0].AllowProxy = true // the proxy is the focus, on 127.0.0.1
	})
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()

	outsider := startCallerAgent(t, "127.0.0.2:0")
	_, err := callBridge(ctx, outsider, agent, "dave")
	var je *sip.JoinError
	if !errors.As(err, &je) || je.Status != 403 {
		t.Fatalf("a call from 127.0.0.2: %v, want 403", err)
	}
	if n := len(f.Calls()); n != 0 {
		t.Fatalf("the conference saw %d joins from the outsider, want none", n)
	}

	relayed := startCallerAgent(t, "127.0.0.1:0")
	call, err := callBridge(ctx, relayed, agent, "dave")
	if err != nil {
		t.Fatalf("a call from the proxy's address: %v", err)
	}
	defer call.Hangup(context.WithoutCancel(ctx))
	if calls := f.Calls(); len(calls) != 1 || calls[0].From != "sip:dave@127.0.0.1" {
		t.Errorf("the conference saw %+v, want one join as sip:dave@127.0.0.1", calls)
	}
}

// TestBridgeLimitsCallsAtOnce: past a bridge's limit, callers get 503 with Retry-After
// before anything is done for them; once a bridged call ends, the next caller gets in.
func TestBridgeLimitsCallsAtOnce(t *testing.T) {
	f := focus.Start(t, focus.Config{})
	agent := startBridge(t, f, func(set *settings.Settings) { set.Bridges[0].MaxCalls = 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 3*failsafe) // a dozen calls
	defer cancel()

	var calls []*sip.Call
	for i := range 2 {
		c, err := callBridge(ctx, startCallerAgent(t, "127.0.0.1:0"), agent, fmt.Sprintf("caller%d", i))
		if err != nil {
			t.Fatalf("caller %d within the limit: %v", i, err)
		}
		calls = append(calls, c)
	}
	// A burst past the limit: every one refused, none joined.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = callBridge(ctx, startCallerAgent(t, "127.0.0.1:0"), agent, fmt.Sprintf("burst%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		var je *sip.JoinError
		if !errors.As(err, &je) || je.Status != 503 {
			t.Errorf("caller %d past the limit: %v, want 503", i, err)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Fatalf("the conference saw %d joins, want the 2 within the limit", n)
	}

	if err := calls[0].Hangup(ctx); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	if err := f.Await(ctx, func(cs []focus.CallInfo) bool { return cs[0].State == focus.Ended }); err != nil {
		t.Fatal(err)
	}
	// The bridging gives the place back once its relay has ended: the next caller may
	// need a moment, however long the machine takes (ctx is the failsafe).
	var next *sip.Call
	for next == nil {
		c, err := callBridge(ctx, startCallerAgent(t, "127.0.0.1:0"), agent, "next")
		var je *sip.JoinError
		switch {
		case err == nil:
			next = c
		case errors.As(err, &je) && je.Status == 503:
			select {
			case <-ctx.Done():
				t.Fatal("no place freed within the failsafe")
			case <-time.After(100 * time.Millisecond):
			}
		default:
			t.Fatalf("the caller after a hang-up: %v", err)
		}
	}
	next.Hangup(ctx)
	calls[1].Hangup(ctx)
}

// startCallerAgent runs one of our SIP agents on addr as an outside caller.
func startCallerAgent(t *testing.T, addr string) *sip.Agent {
	t.Helper()
	a, err := sip.NewAgent(sip.Config{ListenAddr: addr, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			t.Errorf("caller agent: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// callBridge has caller dial the bridge of agent as sip:user@127.0.0.1, answering a
// challenge with the bridge's credentials.
func callBridge(ctx context.Context, caller, agent *sip.Agent, user string) (*sip.Call, error) {
	return caller.Join(ctx, sip.JoinRequest{
		Target:     fmt.Sprintf("sip:lobby@%v", agent.Addr()),
		Account:    sip.Account{User: user, Domain: "127.0.0.1", AuthUser: bridgeAuthUser, Password: bridgeSecret},
		LocalMedia: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9), // discard: nothing listens
	})
}
