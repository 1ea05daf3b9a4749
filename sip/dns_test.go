package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"partyline/sip/peertest"
)

// loopback4 is where the names of the tests resolve once they do.
var loopback4 = netip.MustParseAddr("127.0.0.1")

// TestRegistrarNameResolvesLater registers an account whose outbound proxy is a name that
// does not resolve yet: the registration fails saying so and keeps retrying; once the name
// resolves (to Kamailio), the next attempt registers, without a restart. On an agent bound
// to 0.0.0.0, as the appliance's is, finding our own address towards the proxy looks the
// name up first: that failure is retried just the same.
func TestRegistrarNameResolvesLater(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			const name = "pbx.partyline.test"
			dns := peertest.StartDNS(t)
			k := startRegistrar(t)
			a := startAgentWith(t, Config{ListenAddr: listen, Resolver: dns.Resolver()})
			acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: fmt.Sprintf("%s:%d", name, k.Addr().Port())}
			rec := &recorder{}
			stop := keepRegistered(t, a, acc, rec)

			var failed []failure
			waitFor(t, "two failed attempts", failsafe, func() bool {
				failed = registerFailures(rec.all())
				return len(failed) >= 2
			})
			for i, f := range failed {
				if want := "the name " + name + " does not resolve"; f.reg.Detail != want {
					t.Errorf("failure %d: Detail %q, want %q", i+1, f.reg.Detail, want)
				}
			}

			dns.Set(name, loopback4)
			waitFor(t, "registered once the name resolves", failsafe, func() bool {
				return rec.last().State == Registered && k.Registered(testUser)
			})
			if err := stop(); err != nil {
				t.Errorf("KeepRegistered = %v, want nil", err)
			}
		})
	}
}

// TestConferenceNameResolvesLater joins a conference whose URI names a host that does not
// resolve yet: the join fails at once saying so, and nothing is sent; once the name
// resolves (to SIPp), the next join gets through, without a restart.
func TestConferenceNameResolvesLater(t *testing.T) {
	t.Parallel()
	const name = "conf.partyline.test"
	dns := peertest.StartDNS(t)
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	a := startAgentWith(t, Config{ListenAddr: "127.0.0.1:0", Resolver: dns.Resolver()})
	rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	req := JoinRequest{
		Target:     fmt.Sprintf("sip:conf@%s:%d", name, s.Addr().Port()),
		Account:    Account{User: testUser, Password: testPassword, Domain: testDomain},
		LocalMedia: rtp.LocalAddr().(*net.UDPAddr).AddrPort(),
	}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()

	_, err = a.Join(ctx, req)
	if want := "the name " + name + " does not resolve"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("Join before the name resolves: %v, want an error ending %q", err, want)
	}
	if got := s.Received(""); len(got) != 0 {
		t.Errorf("SIPp got %d messages of a join to a name that does not resolve", len(got))
	}

	dns.Set(name, loopback4)
	call, err := a.Join(ctx, req)
	if err != nil {
		t.Fatalf("Join once the name resolves: %v", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := s.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
}
