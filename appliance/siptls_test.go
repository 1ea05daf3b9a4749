package appliance

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"path/filepath"
	"testing"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
)

// TestSIPOverTLSCertificate: SIP over TLS serves the appliance's certificate, the admin
// page's, when the settings file keeps one; without one it serves a certificate made for
// the run and keeps none (the admin page makes its own when it needs it); set off, there
// is no TLS listener.
func TestSIPOverTLSCertificate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stored, on bool
	}{{"kept", true, true}, {"for the run", false, true}, {"off", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := config.Open(filepath.Join(dir, databaseFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.EnsureDefaults(2); err != nil {
				t.Fatal(err)
			}
			set, err := store.Settings()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.on {
				set.SIP.TLSListenAddr = settings.TLSOff
			}
			if err := store.Save(set); err != nil {
				t.Fatal(err)
			}
			var kept []byte
			if tc.stored {
				certPEM, _, err := store.TLSCertificate(func() ([]byte, []byte, error) { return web.NewCertificate([]string{"localhost"}) })
				if err != nil {
					t.Fatal(err)
				}
				block, _ := pem.Decode(certPEM)
				kept = block.Bytes
			}
			store.Close()

			a, err := New(Config{Board: "sim", DataDir: dir, AdminAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			run(t, a)
			addr := a.agent.TLSAddr()
			if addr.IsValid() != tc.on {
				t.Fatalf("TLS listener %v, want one: %v", addr, tc.on)
			}
			if !tc.on {
				return
			}
			c, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true}) // self-signed: compared below
			if err != nil {
				t.Fatalf("TLS handshake with %v: %v", addr, err)
			}
			served := c.ConnectionState().PeerCertificates[0].Raw
			c.Close()
			if tc.stored && !bytes.Equal(served, kept) {
				t.Error("SIP over TLS serves another certificate than the appliance's")
			}
			if certPEM, _, err := a.store.StoredTLSCertificate(); err != nil || certPEM != nil != tc.stored {
				t.Errorf("the settings file keeps a certificate: %v (%v), want %v", certPEM != nil, err, tc.stored)
			}
		})
	}
}
