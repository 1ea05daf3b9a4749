package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"partyline/sip/peertest"
)

// testPKI is a certificate authority and a server certificate it signed,
// as PEM files.
type testPKI struct {
	CAFile   string // the CA's certificate
	CertFile string // the server's certificate, for 127.0.0.1
	KeyFile  string // the server's private key (PKCS #8)
}

// newTestPKI writes a new CA and a server certificate for 127.0.0.1 that
// it signed into a folder of t.TempDir().
func newTestPKI(t *testing.T, name string) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name + " test proxy"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	for file, block := range map[string]*pem.Block{
		p.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.CertFile: {Type: "CERTIFICATE", Bytes: der},
		p.KeyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// startTLSKamailio starts Kamailio with a TLS listener serving pki's
// server certificate, routing the conference to conf, challenging
// in-dialog requests if challenge.
func startTLSKamailio(t *testing.T, pki testPKI, conf netip.AddrPort, challenge bool) *peertest.Kamailio {
	t.Helper()
	return peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:            testDomain,
		Realm:             testRealm,
		Users:             map[string]string{testUser: testPassword},
		Routes:            map[string]netip.AddrPort{"conf": conf},
		TLS:               &peertest.KamailioTLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile},
		ChallengeInDialog: challenge,
	})
}

// TestKamailioTLS registers over TLS with Kamailio, whose certificate our
// CA file vouches for, and joins a SIPp conference behind it (on UDP);
// the conference's BYE comes back to us over our TLS connection.
func TestKamailioTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "trusted")
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioHangup, RTPEcho: true})
	k := startTLSKamailio(t, pki, s.Addr(), false)
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.TLSAddr().String(), Transport: TransportTLS, CAFile: pki.CAFile, KeepAlive: -1}
	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "registered over TLS", failsafe, func() bool { return k.Registered(testUser) })
	if b := k.Binding(testUser); !strings.Contains(b, ";transport=tls") || !strings.Contains(b, "tls:127.0.0.1:") {
		t.Errorf("binding is not a TLS contact that came over TLS:\n%s", b)
	}

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := a.Join(ctx, JoinRequest{Target: testConference, DisplayName: "Desk TLS", Account: acc, LocalMedia: netip.MustParseAddrPort("127.0.0.1:40008")})
	if err != nil {
		t.Fatalf("Join over TLS: %v", err)
	}
	if m := call.Media(); m.Remote != s.MediaAddr() {
		t.Errorf("Media() = %+v, want SIPp's media address %v", m, s.MediaAddr())
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
	// Kamailio relayed our INVITE from TLS to UDP: its Via on top, ours
	// (TLS) below; the Contact names TLS.
	invites := s.Received("INVITE ")
	if len(invites) != 1 || !strings.Contains(invites[0], "Via: SIP/2.0/TLS 127.0.0.1:") || !strings.Contains(invites[0], ";transport=tls>") {
		t.Errorf("the INVITE did not come to Kamailio over TLS with a TLS Contact:\n%s", strings.Join(invites, "\n---\n"))
	}
	if got := rec.last().State; got != Registered {
		t.Errorf("registration %v while the call ran, want %v", got, Registered)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}
	if k.Registered(testUser) {
		t.Errorf("still registered after unregistering over TLS:\n%s", k.Binding(testUser))
	}
}

// TestKamailioTLSInDialog holds a call over TLS, sends DTMF in an INFO
// and hangs up, through a Kamailio that relays between TLS and SIPp's UDP
// and challenges each of these requests: each reaches SIPp once.
func TestKamailioTLSInDialog(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "trusted")
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioHeldInfo, RTPEcho: true})
	k := startTLSKamailio(t, pki, s.Addr(), true)
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.TLSAddr().String(), Transport: TransportTLS, CAFile: pki.CAFile}
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := a.Join(ctx, JoinRequest{Target: testConference, Account: acc, LocalMedia: netip.MustParseAddrPort("127.0.0.1:40012")})
	if err != nil {
		t.Fatalf("Join over TLS: %v", err)
	}
	if err := call.Hold(ctx, true); err != nil {
		t.Fatalf("Hold(true): %v", err)
	}
	if err := call.SendInfoDTMF(ctx, '9', 0); err != nil {
		t.Fatalf("SendInfoDTMF: %v", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if err := s.Wait(failsafe); err != nil {
		t.Errorf("SIPp: %v", err)
	}
	for _, m := range []string{"INVITE", "INFO", "BYE"} {
		if n := k.InDialogChallenges(m); n != 1 {
			t.Errorf("Kamailio challenged %d in-dialog %ss, want 1", n, m)
		}
	}
	for _, prefix := range []string{"INFO ", "BYE "} {
		got := s.Received(prefix)
		if len(got) != 1 || !strings.Contains(got[0], "Via: SIP/2.0/TLS 127.0.0.1:") {
			t.Errorf("SIPp received %q requests %q, want one that came to Kamailio over TLS", prefix, got)
		}
	}
	if invites := s.Received("INVITE "); len(invites) != 2 || !strings.Contains(invites[1], "a=sendonly") {
		t.Errorf("SIPp did not get the INVITE and the holding re-INVITE:\n%s", strings.Join(invites, "\n---\n"))
	}
}

// TestKamailioTLSUntrusted refuses Kamailio's certificate when our CA
// file holds another CA than the one that signed it: registering fails,
// and so does joining, each naming the verification failure, and Kamailio
// gets neither request.
func TestKamailioTLSUntrusted(t *testing.T) {
	t.Parallel()
	pki, other := newTestPKI(t, "kamailio"), newTestPKI(t, "other")
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho})
	k := startTLSKamailio(t, pki, s.Addr(), false)
	a := startAgent(t)
	acc := Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: k.TLSAddr().String(), Transport: TransportTLS, CAFile: other.CAFile, KeepAlive: -1}
	const want = "x509: certificate signed by unknown authority"

	rec := &recorder{}
	stop := keepRegistered(t, a, acc, rec)
	waitFor(t, "Failed reported", failsafe, func() bool { return rec.last().State == Failed })
	if d := rec.last().Detail; !strings.Contains(d, want) {
		t.Errorf("Detail %q, want it to say %q", d, want)
	}
	if err := stop(); err != nil {
		t.Errorf("KeepRegistered = %v, want nil", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	call, err := a.Join(ctx, JoinRequest{Target: testConference, Account: acc, LocalMedia: netip.MustParseAddrPort("127.0.0.1:40010")})
	if err == nil {
		_ = call.Hangup(ctx)
		t.Fatal("Join through an untrusted TLS proxy succeeded")
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Join = %v, want an error saying %q", err, want)
	}
	if n := k.Registrations(testUser); n != 0 || k.Registered(testUser) {
		t.Errorf("Kamailio registered %s %d times over an untrusted connection", testUser, n)
	}
	if msgs := s.Messages(); msgs != "" {
		t.Errorf("SIPp got messages through an untrusted connection:\n%s", msgs)
	}
}
