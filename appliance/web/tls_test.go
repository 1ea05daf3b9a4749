package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewCertificate(t *testing.T) {
	hosts := []string{"partyline", "partyline.local", "localhost", "127.0.0.1", "::1", "192.0.2.10"}
	certPEM, keyPEM, err := NewCertificate(hosts)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the certificate and key do not make a pair: %v", err)
	}
	cert := pair.Leaf
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key: got %T, want ECDSA P-256", cert.PublicKey)
	}
	if !slices.Equal(cert.DNSNames, []string{"partyline", "partyline.local", "localhost"}) {
		t.Errorf("DNS names: got %q", cert.DNSNames)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1", "192.0.2.10"}) {
		t.Errorf("IP addresses: got %q", ips)
	}
	if err := cert.VerifyHostname("192.0.2.10"); err != nil {
		t.Errorf("VerifyHostname: %v", err)
	}
	if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		t.Errorf("not valid now: %v to %v", cert.NotBefore, cert.NotAfter)
	}
	if cert.IsCA || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("want a server certificate that is no CA: IsCA %v, ExtKeyUsage %v", cert.IsCA, cert.ExtKeyUsage)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("key is not a PKCS #8 PEM block")
	}
	// A second certificate is another one.
	other, _, err := NewCertificate(hosts)
	if err != nil || string(other) == string(certPEM) {
		t.Errorf("second certificate: %v, same as the first: %v", err, string(other) == string(certPEM))
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("not really a certificate")
	sum := sha256.Sum256(der)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	got := Fingerprint(der)
	if strings.ReplaceAll(got, ":", "") != want || len(got) != 32*3-1 {
		t.Errorf("Fingerprint: got %q, want %q with colons", got, want)
	}
}
