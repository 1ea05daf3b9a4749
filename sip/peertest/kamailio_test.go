package peertest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// register sends one REGISTER (with credentials answering challenge, if
// any) and returns the response.
func register(t *testing.T, c *net.UDPConn, k *Kamailio, cseq int, challenge string) string {
	t.Helper()
	port := c.LocalAddr().(*net.UDPAddr).Port
	uri := "sip:" + k.cfg.Domain
	auth := ""
	if challenge != "" {
		realm := regexp.MustCompile(`realm="([^"]*)"`).FindStringSubmatch(challenge)[1]
		nonce := regexp.MustCompile(`nonce="([^"]*)"`).FindStringSubmatch(challenge)[1]
		ha1 := md5hex("alice:" + realm + ":secret")
		ha2 := md5hex("REGISTER:" + uri)
		resp := md5hex(ha1 + ":" + nonce + ":00000001:cafe:auth:" + ha2)
		auth = fmt.Sprintf("Authorization: Digest username=\"alice\", realm=%q, nonce=%q, uri=%q, response=%q, algorithm=MD5, qop=auth, nc=00000001, cnonce=\"cafe\"\r\n", realm, nonce, uri, resp)
	}
	msg := fmt.Sprintf("REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKreg%d\r\nMax-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=r1\r\nTo: <sip:alice@%s>\r\nCall-ID: reg-%d@127.0.0.1\r\nCSeq: %d REGISTER\r\nContact: <sip:alice@127.0.0.1:%d>\r\nExpires: 3\r\n%sContent-Length: 0\r\n\r\n",
		uri, port, cseq, k.cfg.Domain, k.cfg.Domain, port, cseq, port, auth)
	if _, err := c.WriteToUDP([]byte(msg), net.UDPAddrFromAddrPort(k.Addr())); err != nil {
		t.Fatalf("send REGISTER: %v", err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(time.Minute) // a failsafe
	for time.Now().Before(deadline) {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if r := string(buf[:n]); !strings.HasPrefix(r, "SIP/2.0 1") {
			return r
		}
	}
	t.Fatal("no final response to REGISTER")
	return ""
}

func TestKamailioRegister(t *testing.T) {
	k := StartKamailio(t, KamailioConfig{Domain: "partyline.test", Realm: "authrealm", Users: map[string]string{"alice": "secret"}})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	regOnce := func(cseq int) {
		ch := register(t, c, k, cseq, "")
		if !strings.HasPrefix(ch, "SIP/2.0 401") || !strings.Contains(ch, `realm="authrealm"`) {
			t.Fatalf("first REGISTER: got %q, want 401 with realm authrealm", strings.SplitN(ch, "\r\n", 2)[0])
		}
		ok := register(t, c, k, cseq+1, ch)
		if !strings.HasPrefix(ok, "SIP/2.0 200") {
			t.Fatalf("REGISTER with credentials: got %q, want 200", strings.SplitN(ok, "\r\n", 2)[0])
		}
	}
	regOnce(1)
	if got := k.Registrations("alice"); got != 1 {
		t.Errorf("Registrations(alice) = %d, want 1", got)
	}
	if !k.Registered("alice") {
		t.Errorf("Registered(alice) = false, want true")
	}
	regOnce(3)
	if got := k.Registrations("alice"); got != 2 {
		t.Errorf("Registrations(alice) after refresh = %d, want 2", got)
	}

	k.Restart(t)
	if got := k.Registrations("alice"); got != 0 {
		t.Errorf("Registrations(alice) after restart = %d, want 0", got)
	}
	if k.Registered("alice") {
		t.Errorf("Registered(alice) after restart = true, want false")
	}
	regOnce(5)
	if got := k.Registrations("alice"); got != 1 {
		t.Errorf("Registrations(alice) after restart and register = %d, want 1", got)
	}
}

func TestKamailioRoutesAuthenticatedInvite(t *testing.T) {
	s := StartSIPp(t, SIPpConfig{Scenario: ScenarioBusy})
	k := StartKamailio(t, KamailioConfig{Domain: "partyline.test", Realm: "authrealm",
		Users: map[string]string{"alice": "secret"}, Routes: map[string]netip.AddrPort{"conf": s.Addr()}})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	uri := "sip:conf@partyline.test"
	kaddr := net.UDPAddrFromAddrPort(k.Addr())
	send := func(method, branch string, cseq int, extra string) {
		msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:alice@partyline.test>;tag=i1\r\nTo: <%s>%s\r\nCall-ID: inv-%d@127.0.0.1\r\nCSeq: %d %s\r\nContact: <sip:alice@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n",
			method, uri, port, branch, uri, extra, port, cseq, method, port)
		if _, err := c.WriteToUDP([]byte(msg), kaddr); err != nil {
			t.Fatalf("send %s: %v", method, err)
		}
	}
	final := func() string {
		buf := make([]byte, 65535)
		deadline := time.Now().Add(time.Minute) // a failsafe
		for time.Now().Before(deadline) {
			_ = c.SetReadDeadline(deadline)
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if r := string(buf[:n]); !strings.HasPrefix(r, "SIP/2.0 1") {
				return r
			}
		}
		t.Fatal("no final response to INVITE")
		return ""
	}
	send("INVITE", "inv1", 1, "")
	ch := final()
	if !strings.HasPrefix(ch, "SIP/2.0 407") {
		t.Fatalf("INVITE without credentials: got %q, want 407", strings.SplitN(ch, "\r\n", 2)[0])
	}
	totag := regexp.MustCompile(`(?m)^To:.*;tag=([^;\r]+)`).FindStringSubmatch(ch)[1]
	send("ACK", "inv1", 1, ";tag="+totag)

	realm := regexp.MustCompile(`realm="([^"]*)"`).FindStringSubmatch(ch)[1]
	nonce := regexp.MustCompile(`nonce="([^"]*)"`).FindStringSubmatch(ch)[1]
	resp := md5hex(md5hex("alice:"+realm+":secret") + ":" + nonce + ":00000001:beef:auth:" + md5hex("INVITE:"+uri))
	send("INVITE", "inv2", 2, fmt.Sprintf("\r\nProxy-Authorization: Digest username=\"alice\", realm=%q, nonce=%q, uri=%q, response=%q, algorithm=MD5, qop=auth, nc=00000001, cnonce=\"beef\"", realm, nonce, uri, resp))
	busy := final()
	if !strings.HasPrefix(busy, "SIP/2.0 486") {
		t.Fatalf("authenticated INVITE: got %q, want 486 from sipp", strings.SplitN(busy, "\r\n", 2)[0])
	}
	totag = regexp.MustCompile(`(?m)^To:.*;tag=([^;\r]+)`).FindStringSubmatch(busy)[1]
	send("ACK", "inv2", 2, ";tag="+totag)
	if err := s.Wait(10 * time.Second); err != nil {
		t.Errorf("sipp: got %v, want success", err)
	}
}

// TestKamailioOptions starts kamailio with every option on: the config is
// valid, and it serves TCP on its port as well as UDP.
func TestKamailioOptions(t *testing.T) {
	k := StartKamailio(t, KamailioConfig{Domain: "partyline.test", Realm: "authrealm",
		Users: map[string]string{"trunk": "secret"}, Trusted: []string{"trunk"},
		Routes: map[string]netip.AddrPort{"conf": netip.MustParseAddrPort("127.0.0.1:9")}, RefuseDuplicateFrom: true, TCP: true})
	c, err := net.DialTimeout("tcp", k.Addr().String(), time.Minute)
	if err != nil {
		t.Fatalf("kamailio does not serve TCP on %v: %v", k.Addr(), err)
	}
	defer c.Close()
	probe := fmt.Sprintf("OPTIONS sip:%s;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKtcp\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:%s>\r\nCall-ID: tcp-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", k.Addr(), c.LocalAddr(), k.Addr())
	if _, err := c.Write([]byte(probe)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Errorf("OPTIONS over TCP: got %q, %v; want 200", buf[:n], err)
	}
	k.Stop()
	k.Stop() // twice does nothing
	k.Start(t)
	if got := k.Registrations("trunk"); got != 0 {
		t.Errorf("Registrations after Start = %d, want 0", got)
	}
}
