package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// startCallee runs an Agent on 127.0.0.1 that hands incoming calls to the
// returned channel.
func startCallee(t *testing.T) (*Agent, <-chan *Incoming) {
	t.Helper()
	calls := make(chan *Incoming, 4)
	a, err := NewAgent(Config{ListenAddr: "127.0.0.1:0", Log: testLog(t), OnIncoming: func(in *Incoming) { calls <- in }})
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a, calls
}

// callJoin joins sip:bridge@callee from caller, in a goroutine, as
// "Ann \"A\" Caller" <sip:ann@example.com>.
func callJoin(ctx context.Context, caller, callee *Agent) <-chan joinResult {
	res := make(chan joinResult, 1)
	go func() {
		c, err := caller.Join(ctx, JoinRequest{
			Target:      fmt.Sprintf("sip:bridge@%v", callee.Addr()),
			DisplayName: `Ann "A" Caller`,
			Account:     Account{User: "trunk", Domain: "127.0.0.1"},
			Identity:    Identity{Mode: IdentityImpersonate, URI: "sip:ann@example.com"},
			LocalMedia:  netip.MustParseAddrPort("127.0.0.1:40000"),
		})
		res <- joinResult{c, err}
	}()
	return res
}

type joinResult struct {
	call *Call
	err  error
}

func nextIncoming(t *testing.T, calls <-chan *Incoming) *Incoming {
	t.Helper()
	select {
	case in := <-calls:
		return in
	case <-time.After(failsafe):
		t.Fatalf("no incoming call within %v", failsafe)
		return nil
	}
}

func waitDone(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(failsafe):
		t.Fatalf("%s did not end within %v", what, failsafe)
	}
}

func TestIncomingAnswer(t *testing.T) {
	for _, hangupBy := range []string{"caller", "callee"} {
		t.Run("hangup by "+hangupBy, func(t *testing.T) {
			caller := startAgent(t)
			callee, calls := startCallee(t)
			ctx := t.Context()
			joined := callJoin(ctx, caller, callee)
			in := nextIncoming(t, calls)
			if in.From() != "sip:ann@example.com" || in.DisplayName() != `Ann "A" Caller` || in.User() != "bridge" || in.ToUser() != "bridge" {
				t.Errorf("From %q, display name %q, user %q, To user %q", in.From(), in.DisplayName(), in.User(), in.ToUser())
			}
			if m := in.Media(); m.Codec != "opus" || m.Remote != netip.MustParseAddrPort("127.0.0.1:40000") || m.DTMFPayloadType != 101 {
				t.Errorf("offer: %+v", m)
			}
			if err := in.Ringing(); err != nil {
				t.Fatalf("Ringing: %v", err)
			}
			answered, err := in.Answer(ctx, netip.MustParseAddrPort("127.0.0.1:40002"))
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			r := <-joined
			if r.err != nil {
				t.Fatalf("Join: %v", r.err)
			}
			if m := r.call.Media(); m.Codec != "opus" || m.Remote != netip.MustParseAddrPort("127.0.0.1:40002") || m.DTMFPayloadType != 101 {
				t.Errorf("answer: %+v", m)
			}
			waitDone(t, "the incoming call's context", in.Context().Done())
			if err := in.Reject(486, "Busy Here"); err == nil {
				t.Error("Reject after Answer: got nil error")
			}
			ending, other := r.call, answered
			if hangupBy == "callee" {
				ending, other = answered, r.call
			}
			if err := ending.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			waitDone(t, "the other side's call", other.Done())
			if !errors.Is(other.Err(), ErrRemoteHangup) {
				t.Errorf("other side's Err: %v, want ErrRemoteHangup", other.Err())
			}
		})
	}
}

func TestIncomingReject(t *testing.T) {
	caller := startAgent(t)
	callee, calls := startCallee(t)
	joined := callJoin(t.Context(), caller, callee)
	in := nextIncoming(t, calls)
	if err := in.Ringing(); err != nil {
		t.Fatalf("Ringing: %v", err)
	}
	if err := in.Reject(503, "Conference refused: 486 Busy Here\r\nX: y"); err != nil {
		t.Fatalf("Reject: %v", err)
	}
	r := <-joined
	var je *JoinError
	if !errors.As(r.err, &je) || je.Status != 503 || je.Reason != "Conference refused: 486 Busy HereX: y" {
		t.Fatalf("Join: %v, want 503 Conference refused: 486 Busy HereX: y", r.err)
	}
	if _, err := in.Answer(t.Context(), netip.MustParseAddrPort("127.0.0.1:40002")); err == nil {
		t.Error("Answer after Reject: got nil error")
	}
}

func TestIncomingCanceled(t *testing.T) {
	callee, calls := startCallee(t)
	p := newRawPeer(t, callee)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0\r\n"
	common := fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=%s\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: %s\r\n",
		p.port(), newToken(), newToken(), newToken())
	p.send(fmt.Sprintf("INVITE sip:bridge@%s SIP/2.0\r\n%sCSeq: 1 INVITE\r\nContact: <sip:peer@127.0.0.1:%d>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		p.to, common, p.port(), len(offer), offer))
	in := nextIncoming(t, calls)
	if m := in.Media(); m.Codec != "PCMA" || m.PayloadType != 8 {
		t.Errorf("offer: %+v, want the caller's first codec PCMA", m)
	}
	p.send(fmt.Sprintf("CANCEL sip:bridge@%s SIP/2.0\r\n%sCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n", p.to, common))
	waitDone(t, "the incoming call's context", in.Context().Done())
	if cause := context.Cause(in.Context()); !errors.Is(cause, ErrCallerCanceled) {
		t.Errorf("cause: %v, want ErrCallerCanceled", cause)
	}
	if _, err := in.Answer(t.Context(), netip.MustParseAddrPort("127.0.0.1:40002")); !errors.Is(err, ErrCallerCanceled) {
		t.Errorf("Answer after CANCEL: %v, want ErrCallerCanceled", err)
	}
	for range 3 { // 200 to the CANCEL, 487 to the INVITE, in either order
		if got := statusLine(p.final(failsafe)); got == "SIP/2.0 487 Request Terminated" {
			return
		}
	}
	t.Error("no 487 for the cancelled INVITE")
}

func TestIncomingWithoutOffer(t *testing.T) {
	callee, _ := startCallee(t)
	p := newRawPeer(t, callee)
	p.send(p.request("INVITE"))
	if got := statusLine(p.final(failsafe)); got != "SIP/2.0 488 Not Acceptable Here" {
		t.Errorf("got %q, want 488", got)
	}
}
