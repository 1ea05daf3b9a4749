package appliance_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance"
	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/sip/peertest"
)

// provServer is a provisioning server over HTTPS, with a certificate of its own CA (Go's
// test server's): one document, with an ETag, answering 304 to a request that has it.
type provServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     string
	paths   []string // the paths asked for, in order
	agents  []string // their User-Agents
	answers []int    // the status of each answer
}

func startProvServer(t *testing.T, doc string) *provServer {
	s := &provServer{doc: doc}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.paths = append(s.paths, r.URL.Path)
		s.agents = append(s.agents, r.UserAgent())
		sum := sha256.Sum256([]byte(s.doc))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		code := http.StatusOK
		switch {
		case r.URL.Path != "/partyline/dca632010203.json":
			code = http.StatusNotFound
			http.NotFound(w, r)
		case r.Header.Get("If-None-Match") == etag:
			code = http.StatusNotModified
			w.WriteHeader(code)
		default:
			w.Header().Set("ETag", etag)
			io.WriteString(w, s.doc)
		}
		s.answers = append(s.answers, code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *provServer) set(doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = doc
}

// count returns how many answers had status code.
func (s *provServer) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.answers {
		if c == code {
			n++
		}
	}
	return n
}

// piWithLease is a Pi's file system with the wired MAC dc:a6:32:01:02:03 and a dhcpcd
// lease whose option 66 is url.
func piWithLease(url string) fs.FS {
	msg := make([]byte, 236)
	msg = binary.BigEndian.AppendUint32(msg, 0x63825363)
	msg = append(msg, 53, 1, 5, 66, byte(len(url)))
	msg = append(msg, url...)
	msg = append(msg, 255)
	return fstest.MapFS{
		"sys/class/net/eth0/address": {Data: []byte("dc:a6:32:01:02:03\n")},
		"sys/class/net/eth0/device":  {Mode: fs.ModeDir},
		"var/lib/dhcpcd/eth0.lease":  {Data: msg},
	}
}

// fleetDoc is the provisioning document of the device: alice's account at the proxy,
// handset 1 named name on it in conference main.
func fleetDoc(proxy, name string) string {
	return fmt.Sprintf(`{
  "accounts": [{"id": "alice", "user": "alice", "password": %q, "domain": %q, "proxy": %q}],
  "handsets": [
    {"id": "handset-1", "name": %q, "channel": 0, "account": "alice", "conference": "main"},
    {"id": "handset-2", "name": "Handset 2", "channel": 1, "conference": "main"}
  ],
  "conferences": [{"id": "main", "name": "Main", "uri": "sip:conf@%s"}],
  "local_overrides": ["conferences"]
}`, password, domain, proxy, name, domain)
}

// TestFirstBootProvisionedByMAC: an appliance with no settings (only its admin password)
// finds its provisioning server in DHCP option 66, fetches its document by its MAC over
// HTTPS, registers and joins the conference the document names; a changed document is
// applied at the next poll, a 304 changes nothing, an invalid document changes nothing
// and the page and the metrics say why, and the page keeps the managed sections
// read-only.
func TestFirstBootProvisionedByMAC(t *testing.T) {
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain, Realm: realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipp.Addr()},
	})
	srv := startProvServer(t, fleetDoc(kam.Addr().String(), "Lobby"))
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	dir := t.TempDir()
	st, err := config.Open(filepath.Join(dir, "partyline.db"), config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(adminPassword); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
		c.SIPAddr = "127.0.0.1:0"
		c.Version = "9.8.7"
		c.Fleet = appliance.FleetConfig{
			FS:       piWithLease(srv.URL + "/partyline/{mac}.json"),
			NMCLI:    func(context.Context) ([]byte, error) { return nil, nil },
			Roots:    roots, // the system's CAs, as far as the appliance knows
			Interval: 200 * time.Millisecond,
		}
	})
	r.waitFor("the provisioned account to register", registered)
	st0 := r.waitFor("handset 1 named by the document", func(s web.Status) bool { return len(s.Handsets) > 0 && s.Handsets[0].Name == "Lobby" })
	if p := st0.Provisioning; p == nil || !strings.Contains(p.Source, "option 66") || !strings.HasSuffix(p.URL, "/partyline/dca632010203.json") {
		t.Errorf("provisioning status %+v, want the URL from option 66 with the MAC", p)
	}
	srv.mu.Lock()
	ua := srv.agents[0]
	srv.mu.Unlock()
	if !strings.HasPrefix(ua, "partyline/9.8.7") {
		t.Errorf("User-Agent %q, want the version", ua)
	}

	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the provisioned conference", handsetState(0, "in call"))
	if msgs := sipp.Messages(); !strings.Contains(msgs, "INVITE sip:conf@") {
		t.Errorf("SIPp got no INVITE to the conference:\n%s", firstMessage(msgs, "INVITE"))
	}
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))

	// A 304 changes nothing.
	before := r.export()
	deadline := time.Now().Add(failsafe)
	for n := srv.count(http.StatusNotModified); srv.count(http.StatusNotModified) < n+3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no three 304s within %v", failsafe)
		}
	}
	if after := r.export(); after != before {
		t.Errorf("the settings changed on a 304:\n%s\nthen\n%s", before, after)
	}

	// The page shows the managed sections read-only, and refuses a change to one.
	page := r.get("/settings")
	if !strings.Contains(page, "Managed by provisioning") || !strings.Contains(page, `<fieldset disabled class="managed">`) {
		t.Errorf("the settings page does not mark the managed sections")
	}
	res, err := r.http.PostForm(r.admin+"/settings/handsets/handset-1", url.Values{"name": {"Renamed"}, "channel": {"0"}, "account": {"alice"}, "conference": {"main"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "managed by provisioning") {
		t.Errorf("renaming a managed handset: %s, want 400 saying it is managed", res.Status)
	}
	if r.status().Handsets[0].Name != "Lobby" {
		t.Errorf("the managed handset was renamed on the page")
	}

	// A changed document applies at the next poll.
	srv.set(fleetDoc(kam.Addr().String(), "Gate 4"))
	r.waitFor("handset 1 renamed by the changed document", func(s web.Status) bool { return s.Handsets[0].Name == "Gate 4" })

	// An invalid document changes nothing, and the page and the metrics say why.
	before = r.export()
	srv.set(strings.Replace(fleetDoc(kam.Addr().String(), "Gate 5"), `"account": "alice"`, `"account": "nobody"`, 1))
	r.waitFor("the invalid document reported", func(s web.Status) bool { return s.Provisioning != nil && s.Provisioning.Reason == "invalid" })
	if after := r.export(); after != before {
		t.Errorf("an invalid document changed the settings:\n%s\nthen\n%s", before, after)
	}
	if page := r.get("/settings"); !strings.Contains(page, "The last provisioning round failed and changed nothing") || !strings.Contains(page, "nobody") {
		t.Errorf("the settings page does not say why the document failed")
	}
	m := r.metrics()
	for _, want := range []string{
		`partyline_provisioning_ok 0`,
		`partyline_device_info{board="sim",mac="dca632010203",model="",serial="",version="9.8.7"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(m, `partyline_provisioning_failures_total{reason="invalid"} `) || strings.Contains(m, `partyline_provisioning_failures_total{reason="invalid"} 0`) {
		t.Errorf("metrics do not count the invalid document")
	}
}

// export returns the settings file the page exports, passwords included.
func (r *rig) export() string {
	return r.get("/settings/export?include_passwords=1")
}

// get returns the body of a page of the admin page.
func (r *rig) get(path string) string {
	r.t.Helper()
	res, err := r.http.Get(r.admin + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// TestUntrustedProvisioningChangesNothing: a server whose certificate the appliance does
// not trust, and a document whose signature does not verify, change nothing; the page,
// the events and the metrics say why.
func TestUntrustedProvisioningChangesNothing(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, reason, says string
		prov               func(p *settings.ProvisioningSettings, srv *provServer)
	}{
		{"certificate", "certificate", "certificate", func(p *settings.ProvisioningSettings, srv *provServer) {}},
		{"signature", "signature", "signature", func(p *settings.ProvisioningSettings, srv *provServer) {
			p.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
			p.PublicKey = base64.StdEncoding.EncodeToString(pub) // the server has no .sig
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startProvServer(t, fleetDoc("127.0.0.1:9", "Provisioned"))
			dir := t.TempDir()
			seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9", func(s *settings.Settings) {
				s.Provisioning.URL = srv.URL + "/partyline/{mac}.json"
				tc.prov(&s.Provisioning, srv)
			})
			r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
				c.Fleet = appliance.FleetConfig{FS: piWithLease(""), NMCLI: func(context.Context) ([]byte, error) { return nil, nil }}
			})
			before := r.export()
			st := r.waitFor("the failure reported", func(s web.Status) bool { return s.Provisioning != nil && s.Provisioning.Reason == tc.reason })
			if !strings.Contains(st.Provisioning.Error, tc.says) {
				t.Errorf("the error %q does not say %q", st.Provisioning.Error, tc.says)
			}
			if st.Handsets[0].Name == "Provisioned" || r.export() != before {
				t.Errorf("the settings changed")
			}
			if page := r.get("/settings"); !strings.Contains(page, "The last provisioning round failed and changed nothing") {
				t.Errorf("the settings page does not say that provisioning failed")
			}
			if !slices.ContainsFunc(r.status().Handsets, func(h web.HandsetStatus) bool { return h.Name == "Handset 1" }) {
				t.Errorf("handset 1 lost its name")
			}
			if m := r.metrics(); !strings.Contains(m, `partyline_provisioning_failures_total{reason="`+tc.reason+`"} 1`) {
				t.Errorf("metrics do not count the %s failure", tc.reason)
			}
			if !strings.Contains(r.page(), "provisioning failed, nothing changed") {
				t.Errorf("the dashboard's events do not say that provisioning failed")
			}
		})
	}
}

// TestProvisioningRestartsForWhatWaitsForARestart: a document that changes what applies
// only at a restart (here the handsets' IDs) restarts the appliance by itself, no call
// being up.
func TestProvisioningRestartsForWhatWaitsForARestart(t *testing.T) {
	srv := startProvServer(t, `{"handsets": [
    {"id": "desk-1", "name": "Desk 1", "channel": 0, "conference": "main"},
    {"id": "desk-2", "name": "Desk 2", "channel": 1, "conference": "main"}]}`)
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9", func(s *settings.Settings) {
		s.Provisioning.URL = srv.URL + "/partyline/{mac}.json"
		s.Provisioning.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	})
	r := runAppliance(t, dir, sim.New(2), func(c *appliance.Config) {
		c.Fleet = appliance.FleetConfig{FS: piWithLease(""), NMCLI: func(context.Context) ([]byte, error) { return nil, nil }}
	})
	// Run returns by itself once the document applied: the admin page stops answering.
	deadline := time.Now().Add(failsafe)
	for {
		res, err := r.http.Get(r.admin + "/api/status")
		if err != nil {
			break
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the appliance did not restart within %v", failsafe)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.stop(); !errors.Is(err, appliance.ErrRestart) {
		t.Errorf("Run returned %v, want ErrRestart", err)
	}
}
