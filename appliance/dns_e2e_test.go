package appliance_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// TestServerNameResolvesLater starts the appliance with an account whose proxy is a name
// that does not resolve yet (a DNS server of the test's own stands in for the network's):
// the admin page shows the registration failed because the name does not resolve, with
// the next attempt, and a handset lifted meanwhile fails saying the same; once the name
// resolves, the account registers and the handset joins, without a restart.
func TestServerNameResolvesLater(t *testing.T) {
	const name = "pbx.partyline.test"
	dns := peertest.StartDNS(t)
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain,
		Realm:  realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), fmt.Sprintf("%s:%d", name, kam.Addr().Port()))
	r := runAppliance(t, dir, sim.New(2), func(cfg *appliance.Config) { cfg.Resolver = dns.Resolver() })

	st := r.waitFor("the registration to fail", func(st web.Status) bool {
		return len(st.Registrations) == 1 && st.Registrations[0].State == "failed"
	})
	if reg := st.Registrations[0]; reg.Detail != "the name "+name+" does not resolve" || reg.NextAttempt.IsZero() {
		t.Errorf("registration %+v, want it to say the name does not resolve, and when it tries again", reg)
	}

	r.board.Hook(0).Set(true)
	st = r.waitFor("handset 1 to fail", handsetState(0, "failed"))
	if h := st.Handsets[0]; h.LED != "fast blink" || !strings.HasSuffix(h.Detail, "the name "+name+" does not resolve") {
		t.Errorf("handset 1 lifted while the name does not resolve: LED %q, detail %q; want fast blink and why", h.LED, h.Detail)
	}
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))

	dns.Set(name, netip.MustParseAddr("127.0.0.1"))
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
}
