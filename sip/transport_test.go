package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"partyline/sip/peertest"
)

// TestTCP registers and joins over TCP through Kamailio, and takes the
// conference's BYE on the connection we opened (RFC 5626 style).
func TestTCP(t *testing.T) {
	t.Parallel()
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioHangup, RTPEcho: true})
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: testDomain,
		Realm:  testRealm,
		Users:  map[string]string{testUser: testPassword},
		Routes: map[string]netip.AddrPort{"conf": s.Addr()},
		TCP:    true,
	})
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.Addr().String(), Transport: "TCP", KeepAlive: 200 * time.Millisecond}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "registered over TCP", failsafe, func() bool { return k.Registered(testUser) })
	if b := k.Binding(testUser); !strings.Contains(b, ";transport=tcp") || !strings.Contains(b, "tcp:127.0.0.1:") {
		t.Errorf("binding is not a TCP contact that came over TCP:\n%s", b)
	}

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := a.Join(ctx, JoinRequest{Target: testConference, DisplayName: "Desk TCP", Account: acc, LocalMedia: netip.MustParseAddrPort("127.0.0.1:40002")})
	if err != nil {
		t.Fatalf("Join over TCP: %v", err)
	}
	select {
	case <-call.Done():
	case <-time.After(failsafe):
		t.Fatal("the conference's BYE did not end the call")
	}
	if err := call.Err(); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("Err() = %v, want %v", err, ErrRemoteHangup)
	}
	if err := s.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
	invites := s.Received("INVITE ")
	if len(invites) != 1 || !strings.Contains(invites[0], "Via: SIP/2.0/TCP 127.0.0.1:") || !strings.Contains(invites[0], ";transport=tcp>") {
		t.Errorf("the INVITE did not come to Kamailio over TCP with a TCP Contact:\n%s", strings.Join(invites, "\n---\n"))
	}
	if got := rec.last().State; got != Registered {
		t.Errorf("registration %v while the call ran, want %v", got, Registered)
	}
	// A restart closes our connection and forgets the binding; with an
	// hour's lifetime, the keep-alive on a new connection brings it back.
	before := k.Binding(testUser)
	k.Restart(t)
	waitFor(t, "registered again over a new connection", failsafe, func() bool { return k.Registered(testUser) })
	if after := k.Binding(testUser); after == before {
		t.Errorf("the binding after the restart is the one before:\n%s", after)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	if k.Registered(testUser) {
		t.Errorf("still registered after unregistering over TCP:\n%s", k.Binding(testUser))
	}
}

// testCert returns a self-signed certificate for 127.0.0.1, as a TLS
// certificate and as PEM for a CA file.
func testCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "partyline test registrar"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tlsPeer is a registrar and conference in one, a sipgo server on TLS:
// it accepts every REGISTER, and answers an INVITE with 200 and SDP, then
// hangs up once the ACK came.
type tlsPeer struct {
	addr     netip.AddrPort
	mu       sync.Mutex // guards following
	requests []string   // start line and Contact of each request
}

func (p *tlsPeer) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.requests, "\n")
}

func startTLSPeer(t *testing.T, cert tls.Certificate) *tlsPeer {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tls-peer"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsPeer{addr: netip.MustParseAddrPort(l.Addr().String())}
	dialogs := sipgo.NewDialogServerCache(client, sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(p.addr.Port()), UriParams: sipmsg.HeaderParams{{K: "transport", V: "tls"}}}})
	note := func(req *sipmsg.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		c := ""
		if h := req.Contact(); h != nil {
			c = h.Value()
		}
		p.requests = append(p.requests, req.StartLine()+" Contact: "+c)
	}
	var wg sync.WaitGroup
	srv.OnRegister(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		note(req)
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
		if c := req.Contact(); c != nil {
			res.AppendHeader(c.Clone())
		}
		res.AppendHeader(sipmsg.NewHeader("Expires", header(req.String(), "Expires")))
		_ = tx.Respond(res)
	})
	srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		note(req)
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 400, err.Error(), nil))
			return
		}
		answer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7008 RTP/AVP 0\r\n"
		if err := dlg.RespondSDP([]byte(answer)); err != nil {
			return
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), failsafe)
			defer cancel()
			_ = dlg.Bye(ctx)
		})
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = dialogs.ReadBye(req, tx) })
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeTLS(l)
	}()
	t.Cleanup(func() {
		l.Close()
		<-served
		wg.Wait()
		ua.Close()
	})
	return p
}

// TestTLS registers and joins over TLS against a sipgo server with a
// self-signed certificate: accepted with it as the CA file, refused
// without (the system CAs) or with another CA.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert, certPEM := testCert(t)
	_, otherPEM := testCert(t)
	dir := t.TempDir()
	caFile, otherCA := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherCA, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startTLSPeer(t, cert)
	a := startAgent(t)
	acc := Account{User: testUser, Domain: testDomain, Proxy: p.addr.String(), Transport: TransportTLS, CAFile: caFile, KeepAlive: 200 * time.Millisecond}

	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "registered over TLS", failsafe, func() bool { return rec.last().State == Registered })
	if seen := p.seen(); !strings.Contains(seen, "REGISTER sip:"+testDomain+" SIP/2.0 Contact: <sip:alice@127.0.0.1:") || !strings.Contains(seen, ";transport=tls>") {
		t.Errorf("REGISTER over TLS lacks our TLS Contact:\n%s", seen)
	}

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := a.Join(ctx, JoinRequest{Target: testConference, Account: acc, LocalMedia: netip.MustParseAddrPort("127.0.0.1:40004")})
	if err != nil {
		t.Fatalf("Join over TLS: %v", err)
	}
	if m := call.Media(); m.Remote.Port() != 7008 || m.Codec != "PCMU" {
		t.Errorf("Media() = %+v", m)
	}
	// The peer's BYE comes over the connection we opened.
	select {
	case <-call.Done():
	case <-time.After(failsafe):
		t.Fatal("the peer's BYE did not end the call")
	}
	if err := call.Err(); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("Err() = %v, want %v", err, ErrRemoteHangup)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}

	for name, change := range map[string]func(*Account){
		"system CAs": func(a *Account) { a.CAFile = "" },
		"another CA": func(a *Account) { a.CAFile = otherCA },
		// The certificate names 127.0.0.1 only.
		"another name": func(a *Account) { a.Proxy = net.JoinHostPort("localhost", fmt.Sprint(p.addr.Port())) },
	} {
		bad := acc
		change(&bad)
		// An agent of its own: one agent's CAs for a server add up
		// across its accounts.
		a2 := startAgent(t)
		rec := &recorder{}
		stop := keepRegistered(t, a2, bad, rec)
		waitFor(t, name+": Failed reported", failsafe, func() bool { return rec.last().State == Failed })
		if d := rec.last().Detail; !strings.Contains(d, "certificate") {
			t.Errorf("%s: Detail %q, want a certificate error", name, d)
		}
		if err := stop(); err != nil {
			t.Errorf("%s: KeepRegistered = %v, want nil", name, err)
		}
	}

	missing := acc
	missing.CAFile = filepath.Join(dir, "missing.pem")
	rec = &recorder{}
	if err := a.KeepRegistered(t.Context(), missing, rec.report); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("KeepRegistered with a missing CA file = %v, want an error about it", err)
	}
	if got := rec.last(); got.State != Failed || !strings.Contains(got.Detail, "CA file") {
		t.Errorf("missing CA file reported %+v, want Failed saying so", got)
	}
}
