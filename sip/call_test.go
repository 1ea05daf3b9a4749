package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"partyline/sip/peertest"
)

const (
	testConference = "sip:conf@" + testDomain
	displayOne     = `Desk "One" \ Reception`
)

// rig is a SIPp conference behind a Kamailio proxy, and an Agent.
type rig struct {
	agent *Agent
	sipp  *peertest.SIPp
	kam   *peertest.Kamailio
	acc   Account
	rtp   *net.UDPConn // our RTP socket
}

func startRig(t *testing.T, scenario string) *rig {
	t.Helper()
	return startRigWith(t, scenario, nil)
}

// startRigWith is startRig with a Kamailio configuration that change, if
// not nil, adjusts.
func startRigWith(t *testing.T, scenario string, change func(*peertest.KamailioConfig)) *rig {
	t.Helper()
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: scenario, RTPEcho: true})
	cfg := peertest.KamailioConfig{
		Domain: testDomain,
		Realm:  testRealm,
		Users:  map[string]string{testUser: testPassword},
		Routes: map[string]netip.AddrPort{"conf": s.Addr()},
	}
	if change != nil {
		change(&cfg)
	}
	k := peertest.StartKamailio(t, cfg)
	rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtp.Close() })
	return &rig{
		agent: startAgent(t),
		sipp:  s,
		kam:   k,
		acc:   Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.Addr().String()},
		rtp:   rtp,
	}
}

func (r *rig) request() JoinRequest {
	return JoinRequest{
		Target:      testConference,
		DisplayName: displayOne,
		Account:     r.acc,
		LocalMedia:  r.rtp.LocalAddr().(*net.UDPAddr).AddrPort(),
	}
}

func (r *rig) waitSIPp(t *testing.T) {
	t.Helper()
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
}

func TestJoinEcho(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioEcho)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	want := Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101, Remote: r.sipp.MediaAddr()}
	if got := call.Media(); got != want {
		t.Errorf("Media() = %+v, want %+v", got, want)
	}
	if call.ID() == "" {
		t.Error("ID() is empty")
	}

	msgs := r.sipp.Messages()
	wantFrom := `From: "Desk \"One\" \\ Reception" <sip:alice@partyline.test>;tag=`
	if !strings.Contains(msgs, wantFrom) {
		t.Errorf("the INVITE SIPp received lacks %s:\n%s", wantFrom, msgs)
	}
	if !strings.Contains(msgs, "Call-ID: "+call.ID()) {
		t.Errorf("SIPp saw no Call-ID %s", call.ID())
	}
	// Sent from the agent's own socket (Kamailio's rport says where from).
	if want := fmt.Sprintf("rport=%d", r.agent.Addr().Port()); !strings.Contains(msgs, want) {
		t.Errorf("the INVITE did not come from the agent's socket (no %s):\n%s", want, msgs)
	}

	// The SDP addresses are right if RTP sent to Media().Remote comes back.
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		buf := make([]byte, 1500)
		_ = r.rtp.SetReadDeadline(time.Now().Add(failsafe))
		if n, _, err := r.rtp.ReadFromUDP(buf); err != nil || !bytes.Contains(buf[:n], []byte("partyline")) {
			t.Errorf("no RTP echo: %v", err)
		}
	}()
	pkt := append([]byte{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef}, []byte("partyline")...)
	if _, err := r.rtp.WriteToUDP(pkt, net.UDPAddrFromAddrPort(call.Media().Remote)); err != nil {
		t.Fatalf("send RTP: %v", err)
	}
	<-echoed

	select {
	case <-call.Done():
		t.Fatal("Done closed before hanging up")
	default:
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	select {
	case <-call.Done():
	default:
		t.Error("Done not closed after Hangup")
	}
	if err := call.Err(); err != nil {
		t.Errorf("Err() after our hangup = %v, want nil", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
	r.waitSIPp(t)
	msgs = r.sipp.Messages()
	i := strings.Index(msgs, "BYE sip:")
	if i < 0 {
		t.Fatalf("SIPp received no BYE:\n%s", msgs)
	}
	// The BYE followed the route set: Kamailio record-routed the call.
	bye, _, _ := strings.Cut(msgs[i:], "-----")
	if !strings.Contains(bye, "Via: SIP/2.0/UDP "+r.kam.Addr().String()) {
		t.Errorf("the BYE did not come through Kamailio:\n%s", bye)
	}
}

func TestJoinBusy(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioBusy)
	_, err := r.agent.Join(t.Context(), r.request())
	if err == nil || !strings.Contains(err.Error(), "486 Busy Here") {
		t.Fatalf("Join = %v, want an error with 486 Busy Here", err)
	}
	var je *JoinError
	if !errors.As(err, &je) || je.Status != 486 || je.Reason != "Busy Here" {
		t.Errorf("Join error %#v, want a *JoinError{486, Busy Here}", err)
	}
	r.waitSIPp(t)
}

func TestJoinWrongPassword(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioBusy)
	req := r.request()
	req.Account.Password = "wrong"
	_, err := r.agent.Join(t.Context(), req)
	var je *JoinError
	if !errors.As(err, &je) || je.Status != 403 {
		t.Errorf("Join = %v, want a *JoinError with 403", err)
	}
}

func TestJoinCanceledWhileRinging(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioRinging)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		call, err := r.agent.Join(ctx, r.request())
		if call != nil {
			t.Error("Join returned a call although canceled")
		}
		result <- err
	}()
	waitFor(t, "180 Ringing", failsafe, func() bool { return strings.Contains(r.sipp.Messages(), "180 Ringing") })
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Join = %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(failsafe):
		t.Fatalf("Join did not return within %v of its context ending", failsafe)
	}
	r.waitSIPp(t)
	if msgs := r.sipp.Messages(); !strings.Contains(msgs, "CANCEL sip:") {
		t.Errorf("SIPp received no CANCEL:\n%s", msgs)
	}
}

func TestJoinCanceledBeforeAnyAnswer(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	// A proxy that never answers: nothing to CANCEL, Join must not wait.
	silent := newRawPeer(t, a).conn.LocalAddr().String()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Join(ctx, JoinRequest{
		Target:     testConference,
		Account:    Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: silent},
		LocalMedia: netip.MustParseAddrPort("127.0.0.1:40000"),
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Join = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > stopBound {
		t.Errorf("Join took %v with a deadline of 300 ms, want it to give up without waiting for Timer B", d)
	}
}

func TestRemoteHangup(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioHangup)
	// Listening on 0.0.0.0: the Contact and SDP must still name an address
	// the peers reach (here 127.0.0.1), and LocalMedia's 0.0.0.0 is replaced.
	wild, err := NewAgent(Config{ListenAddr: "0.0.0.0:0", Log: testLog(t)})
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- wild.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	req := r.request()
	req.LocalMedia = netip.AddrPortFrom(netip.IPv4Unspecified(), req.LocalMedia.Port())
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := wild.Join(ctx, req)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if msgs := r.sipp.Messages(); !strings.Contains(msgs, "c=IN IP4 127.0.0.1") || strings.Contains(msgs, "0.0.0.0") {
		t.Errorf("the offer does not name 127.0.0.1, or names 0.0.0.0:\n%s", msgs)
	}
	select {
	case <-call.Done():
	case <-time.After(failsafe):
		t.Fatalf("call not ended within %v of the conference's BYE", failsafe)
	}
	if err := call.Err(); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("Err() = %v, want %v", err, ErrRemoteHangup)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup after the far end hung up: %v", err)
	}
	r.waitSIPp(t)
}

func TestJoinBadSDP(t *testing.T) {
	t.Parallel()
	r := startRig(t, peertest.ScenarioBadSDP)
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := r.agent.Join(ctx, r.request())
	if err == nil || !strings.Contains(err.Error(), "SDP") {
		t.Fatalf("Join = %v, %v; want an error about the SDP", call, err)
	}
	r.waitSIPp(t)
	msgs := r.sipp.Messages()
	if ack, bye := strings.Index(msgs, "ACK sip:"), strings.Index(msgs, "BYE sip:"); ack < 0 || bye < ack {
		t.Errorf("SIPp did not receive ACK then BYE:\n%s", msgs)
	}
}

func TestJoinRejectsBadRequests(t *testing.T) {
	a := startAgent(t)
	good := JoinRequest{
		Target:     testConference,
		Account:    Account{User: testUser, Domain: testDomain, Proxy: "127.0.0.1:9"},
		LocalMedia: netip.MustParseAddrPort("127.0.0.1:40000"),
	}
	tests := []struct {
		name   string
		change func(*JoinRequest)
	}{
		{"no target", func(r *JoinRequest) { r.Target = "" }},
		{"tel target", func(r *JoinRequest) { r.Target = "tel:+15551234" }},
		{"tcp target", func(r *JoinRequest) { r.Target = testConference + ";transport=tcp" }},
		{"no user", func(r *JoinRequest) { r.Account.User = "" }},
		{"no media address", func(r *JoinRequest) { r.LocalMedia = netip.AddrPort{} }},
		{"media port 0", func(r *JoinRequest) { r.LocalMedia = netip.MustParseAddrPort("127.0.0.1:0") }},
		{"IPv6 media", func(r *JoinRequest) { r.LocalMedia = netip.MustParseAddrPort("[::1]:40000") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := good
			tt.change(&req)
			if _, err := a.Join(t.Context(), req); err == nil || !strings.HasPrefix(err.Error(), "join ") {
				t.Errorf("Join = %v, want an error starting with the operation", err)
			}
		})
	}
}
