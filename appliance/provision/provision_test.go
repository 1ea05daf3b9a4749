package provision

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"partyline/appliance/settings"
	"partyline/appliance/update"
)

// pi is a Raspberry Pi's file system as the provisioner reads it: a wired eth0, a
// wireless wlan0 listed first, lo, and the device tree's serial number and model.
var pi = fstest.MapFS{
	"sys/class/net/lo/address":                   {Data: []byte("00:00:00:00:00:00\n")},
	"sys/class/net/eth0/address":                 {Data: []byte("DC:A6:32:01:02:03\n")},
	"sys/class/net/eth0/device":                  {Mode: fs.ModeDir},
	"sys/class/net/brwan/address":                {Data: []byte("aa:bb:cc:dd:ee:ff\n")},
	"sys/class/net/a-wlan/address":               {Data: []byte("dc:a6:32:09:09:09\n")},
	"sys/class/net/a-wlan/device":                {Mode: fs.ModeDir},
	"sys/class/net/a-wlan/wireless":              {Mode: fs.ModeDir},
	"sys/firmware/devicetree/base/serial-number": {Data: []byte("10000000ABCDEF12\x00")},
	"sys/firmware/devicetree/base/model":         {Data: []byte("Raspberry Pi 4 Model B Rev 1.4\x00")},
}

func TestReadDevice(t *testing.T) {
	got := ReadDevice(pi)
	want := Device{MAC: "dca632010203", Serial: "10000000abcdef12", Model: "Raspberry Pi 4 Model B Rev 1.4"}
	if got != want {
		t.Errorf("ReadDevice = %+v, want %+v", got, want)
	}
	// An older Pi OS without the device tree's serial: /proc/cpuinfo has it.
	old := fstest.MapFS{"proc/cpuinfo": {Data: []byte("processor\t: 0\nSerial\t\t: 00000000c0ffee00\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n")}}
	if d := ReadDevice(old); d.Serial != "00000000c0ffee00" || d.Model != "Raspberry Pi 3 Model B Rev 1.2" || d.MAC != "" {
		t.Errorf("ReadDevice from /proc/cpuinfo = %+v", d)
	}
	u, err := Fill("https://prov/{model}/{serial}/{mac}.json", got)
	if err != nil || u != "https://prov/Raspberry%20Pi%204%20Model%20B%20Rev%201.4/10000000abcdef12/dca632010203.json" {
		t.Errorf("Fill = %q, %v", u, err)
	}
	if _, err := Fill("https://prov/{serial}.json", Device{MAC: "x"}); err == nil || !strings.Contains(err.Error(), "{serial}") {
		t.Errorf("Fill without a serial = %v, want an error naming {serial}", err)
	}
}

// lease is a DHCP message as dhcpcd keeps it in its lease file, with options opts.
func lease(opts ...[]byte) []byte {
	msg := make([]byte, 236, 512)
	msg[0] = 2 // BOOTREPLY
	msg = binary.BigEndian.AppendUint32(msg, 0x63825363)
	msg = append(msg, 53, 1, 5) // DHCPACK
	for _, o := range opts {
		msg = append(msg, o...)
	}
	return append(msg, 0, 0, 255)
}

func option(code int, v string) []byte { return append([]byte{byte(code), byte(len(v))}, v...) }

func TestLeaseURL(t *testing.T) {
	none := func(context.Context) ([]byte, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		nm   string
		want string
	}{
		{"dhcpcd option 66 URL", fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: lease(option(66, "https://prov.example.com/pl/{mac}.json"))}}, "",
			"https://prov.example.com/pl/{mac}.json"},
		{"dhcpcd option 66 host", fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: lease(option(66, "prov.example.com"))}}, "",
			"https://prov.example.com/partyline/{mac}.json"},
		{"160 before 66", fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: lease(option(66, "tftp.example.com"), option(160, "https://p160/{mac}"))}}, "",
			"https://p160/{mac}"},
		{"NetworkManager", fstest.MapFS{}, "DHCP4.OPTION[1]:broadcast_address = 192.0.2.255\nDHCP4.OPTION[7]:tftp_server_name = https://nm.example.com/{mac}.json\n",
			"https://nm.example.com/{mac}.json"},
		{"none", fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: lease(option(6, "\x01\x02\x03\x04"))}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := DHCPSource{FS: tc.fsys, NMCLI: none}
			if tc.nm != "" {
				src.NMCLI = func(context.Context) ([]byte, error) { return []byte(tc.nm), nil }
			}
			got, from, err := src.LeaseURL(t.Context())
			if err != nil || got != tc.want {
				t.Errorf("LeaseURL = %q (from %q), %v; want %q", got, from, err, tc.want)
			}
		})
	}
	bad := DHCPSource{FS: fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: []byte("garbage")}}, NMCLI: none}
	if _, _, err := bad.LeaseURL(t.Context()); err == nil || !strings.Contains(err.Error(), "eth0.lease") {
		t.Errorf("a broken lease file: %v, want an error naming it", err)
	}
}

// store keeps settings as the appliance's store does: validated, all or nothing, with a
// channel closed at each change.
type store struct {
	mu      sync.Mutex
	set     settings.Settings
	changed chan struct{}
}

func newStore(set settings.Settings) *store { return &store{set: set, changed: make(chan struct{})} }

func (s *store) current() (settings.Settings, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.Clone(), s.changed
}

func (s *store) update(change func(*settings.Settings) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.set.Clone()
	if err := change(&next); err != nil {
		return false, err
	}
	if err := next.Validate(); err != nil {
		return false, err
	}
	s.set = next
	close(s.changed)
	s.changed = make(chan struct{})
	return false, nil
}

// server is a provisioning server over HTTPS with a certificate of its own CA (Go's test
// server's), serving documents by path with ETags and their signatures at path + ".sig".
type server struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string][]byte // by path
	sigs     map[string][]byte
	requests []*http.Request
}

func startServer(t *testing.T) *server {
	s := &server{docs: map[string][]byte{}, sigs: map[string][]byte{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r)
		if sig, ok := s.sigs[r.URL.Path]; ok {
			w.Write(sig)
			return
		}
		doc, ok := s.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(doc)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) put(path, doc string, key ed25519.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = []byte(doc)
	if key != nil {
		s.sigs[path+".sig"] = []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(doc))) + "\n")
	}
}

func (s *server) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

func (s *server) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

const docV1 = `{
  "accounts": [{"id": "alice", "user": "alice", "password": "pw-1", "domain": "example.com"}],
  "conferences": [{"id": "main", "name": "Main", "uri": "sip:room1@example.com"}],
  "local_overrides": ["conferences"]
}`

// provisioner makes a provisioner of the device pi, with st's settings, its state in a
// temporary directory.
func provisioner(t *testing.T, st *store) *Provisioner {
	return New(Config{
		Current: st.current, Update: st.update, Device: ReadDevice(pi),
		DHCP:    DHCPSource{FS: fstest.MapFS{}, NMCLI: func(context.Context) ([]byte, error) { return nil, nil }},
		Version: "1.2.3", StatePath: filepath.Join(t.TempDir(), "provisioning.json"),
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
}

func firstStart() settings.Settings {
	return settings.Settings{SIP: settings.SIPSettings{ListenAddr: "127.0.0.1:5060"}, Conferences: []settings.Conference{{ID: "main", Name: "main"}}}
}

func TestDocumentAppliedThen304ChangesNothing(t *testing.T) {
	srv := startServer(t)
	srv.put("/partyline/dca632010203.json", docV1, nil)
	set := firstStart()
	set.Provisioning = settings.ProvisioningSettings{URL: srv.URL + "/partyline/{mac}.json", CA: srv.caPEM(), User: "fleet", Password: "fleet-pw"}
	st := newStore(set)
	p := provisioner(t, st)

	p.round(t.Context())
	got, _ := st.current()
	if s := p.Status(); s.Result != ResultApplied || len(got.Accounts) != 1 || got.Accounts[0].Password != "pw-1" || got.Conferences[0].URI != "sip:room1@example.com" {
		t.Fatalf("after the first round: status %+v, settings %+v", s, got)
	}
	if s := p.Status(); !slices.Equal(s.Managed, []string{"accounts"}) || !slices.Equal(s.Overridable, []string{"conferences"}) {
		t.Errorf("managed %v, overridable %v; want [accounts], [conferences]", s.Managed, s.Overridable)
	}
	r := srv.last()
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "partyline/1.2.3 ") {
		t.Errorf("User-Agent %q, want the version", ua)
	}
	if u, pw, ok := r.BasicAuth(); !ok || u != "fleet" || pw != "fleet-pw" {
		t.Errorf("basic credentials %q %q %v", u, pw, ok)
	}

	// The user changes the conference, which the document lets the page change; the
	// server answers 304 to the next round, which changes nothing.
	st.update(func(s *settings.Settings) error { s.Conferences[0].URI = "sip:local@example.com"; return nil })
	p.round(t.Context())
	if r := srv.last(); r.Header.Get("If-None-Match") == "" {
		t.Errorf("the second round sent no If-None-Match")
	}
	got, _ = st.current()
	if s := p.Status(); s.Result != ResultNotModified || got.Conferences[0].URI != "sip:local@example.com" {
		t.Errorf("after a 304: result %s, conference %q; want not_modified and the local change kept", s.Result, got.Conferences[0].URI)
	}

	// A changed document applies at the next round; a password it leaves out is kept.
	srv.put("/partyline/dca632010203.json", strings.Replace(strings.Replace(docV1, "room1", "room2", 1), `"password": "pw-1", `, "", 1), nil)
	p.round(t.Context())
	got, _ = st.current()
	if s := p.Status(); s.Result != ResultApplied || got.Conferences[0].URI != "sip:room2@example.com" || got.Accounts[0].Password != "pw-1" {
		t.Errorf("after a change: result %s, conference %q, password kept %v", s.Result, got.Conferences[0].URI, got.Accounts[0].Password == "pw-1")
	}
}

// TestFailuresChangeNothing: an untrusted certificate, a wrong fingerprint, a bad or
// missing signature, an unknown field and settings that do not validate each leave the
// settings as they were and say why.
func TestFailuresChangeNothing(t *testing.T) {
	srv := startServer(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	good := settings.ProvisioningSettings{CA: srv.caPEM()}
	for _, tc := range []struct {
		name   string
		doc    string
		signer ed25519.PrivateKey
		prov   func(*settings.ProvisioningSettings)
		reason string
		says   string
	}{
		{"system CAs do not know the server", docV1, nil, func(p *settings.ProvisioningSettings) { p.CA = "" }, ReasonCertificate, "certificate"},
		{"another certificate pinned", docV1, nil, func(p *settings.ProvisioningSettings) { p.Fingerprint = strings.Repeat("ab", 32) }, ReasonCertificate, "fingerprint"},
		{"signed by another key", docV1, other, func(p *settings.ProvisioningSettings) { p.PublicKey = base64.StdEncoding.EncodeToString(pub) }, ReasonSignature, "does not verify"},
		{"not signed", docV1, nil, func(p *settings.ProvisioningSettings) { p.PublicKey = base64.StdEncoding.EncodeToString(pub) }, ReasonSignature, "signature"},
		{"unknown field", `{"accounts": [{"id": "a", "colour": "red"}]}`, nil, nil, ReasonInvalid, `unknown field "colour"`},
		{"unknown section", `{"acounts": []}`, nil, nil, ReasonInvalid, `"acounts" is not a section`},
		{"not valid", `{"handsets": [{"id": "h1", "name": "Desk", "channel": 0, "account": "nobody"}]}`, nil, nil, ReasonInvalid, "nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + strings.ReplaceAll(tc.name, " ", "-") + "/{mac}.json"
			srv.put(strings.Replace(path, "{mac}", "dca632010203", 1), tc.doc, tc.signer)
			set := firstStart()
			set.Provisioning = good
			set.Provisioning.URL = srv.URL + path
			if tc.prov != nil {
				tc.prov(&set.Provisioning)
			}
			st := newStore(set)
			before, _ := st.current()
			p := provisioner(t, st)
			p.round(t.Context())
			after, _ := st.current()
			s := p.Status()
			if len(Changed(before, after)) > 0 {
				t.Errorf("the settings changed: %v", Changed(before, after))
			}
			if s.Result != ResultFailed || s.Reason != tc.reason || !strings.Contains(s.Error, tc.says) || s.Failures[tc.reason] != 1 {
				t.Errorf("status %+v; want failed for %s, saying %q, counted", s, tc.reason, tc.says)
			}
			if len(s.Managed) > 0 {
				t.Errorf("managed %v after a failure on first start", s.Managed)
			}
		})
	}
}

// TestSignedDocumentApplies: a document signed with the key in the settings applies, and
// a pinned fingerprint of the server's certificate is trusted without a CA.
func TestSignedDocumentApplies(t *testing.T) {
	srv := startServer(t)
	pub, key, _ := ed25519.GenerateKey(nil)
	srv.put("/signed/dca632010203.json", docV1, key)
	sum := sha256.Sum256(srv.Certificate().Raw)
	set := firstStart()
	set.Provisioning = settings.ProvisioningSettings{URL: srv.URL + "/signed/{mac}.json",
		Fingerprint: hex.EncodeToString(sum[:]), PublicKey: base64.StdEncoding.EncodeToString(pub), Token: "fleet-token"}
	st := newStore(set)
	p := provisioner(t, st)
	p.round(t.Context())
	if s := p.Status(); s.Result != ResultApplied {
		t.Fatalf("status %+v, want applied", s)
	}
	if a := srv.last().Header.Get("Authorization"); a != "Bearer fleet-token" {
		t.Errorf("the signature's request had Authorization %q", a)
	}
}

// TestDHCPURLWhenTheSettingsHaveNone: with no URL in the settings, the lease's option 66
// names the document.
func TestDHCPURLWhenTheSettingsHaveNone(t *testing.T) {
	srv := startServer(t)
	srv.put("/dhcp/dca632010203.json", docV1, nil)
	set := firstStart()
	set.Provisioning.CA = srv.caPEM()
	st := newStore(set)
	p := provisioner(t, st)
	p.cfg.DHCP.FS = fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: lease(option(66, srv.URL+"/dhcp/{mac}.json"))}}
	p.round(t.Context())
	if s := p.Status(); s.Result != ResultApplied || !strings.Contains(s.Source, "option 66") {
		t.Errorf("status %+v, want applied from option 66", s)
	}
	// With provisioning off, DHCP is not asked.
	st.update(func(s *settings.Settings) error { s.Provisioning.URL = settings.ProvisioningOff; return nil })
	p.round(t.Context())
	if s := p.Status(); s.Result != ResultOff {
		t.Errorf("status %+v, want off", s)
	}
}

// TestSameDocumentAfterRestart: after a restart the same document is fetched again (no
// ETag kept): a section the page may change keeps its local change, and a managed section
// that something else changed (a factory reset) is put back.
func TestSameDocumentAfterRestart(t *testing.T) {
	srv := startServer(t)
	srv.put("/partyline/dca632010203.json", docV1, nil)
	set := firstStart()
	set.Provisioning = settings.ProvisioningSettings{URL: srv.URL + "/partyline/{mac}.json", CA: srv.caPEM()}
	st := newStore(set)
	p := provisioner(t, st)
	p.round(t.Context())
	st.update(func(s *settings.Settings) error {
		s.Conferences[0].URI = "sip:local@example.com" // overridable
		s.Accounts = nil                               // managed
		return nil
	})

	again := New(p.cfg) // the same state file
	again.round(t.Context())
	got, _ := st.current()
	if len(got.Accounts) != 1 || got.Conferences[0].URI != "sip:local@example.com" {
		t.Errorf("after the restart: accounts %+v, conference %q; want the account back and the local conference kept", got.Accounts, got.Conferences[0].URI)
	}
	// Nothing else changed: the next round changes nothing.
	again.round(t.Context())
	if s := again.Status(); s.Result != ResultNotModified {
		t.Errorf("the round after: %s, want not_modified", s.Result)
	}
}

// TestNoURLIsNotAFailure: a device with no URL in its settings, no lease with an option
// and no NetworkManager running is simply not provisioned.
func TestNoURLIsNotAFailure(t *testing.T) {
	st := newStore(firstStart())
	p := provisioner(t, st)
	p.cfg.DHCP = DHCPSource{FS: fstest.MapFS{"var/lib/dhcpcd/eth0.lease": {Data: []byte("garbage")}},
		NMCLI: func(context.Context) ([]byte, error) {
			return nil, errors.New("exit status 8: NetworkManager is not running")
		}}
	p.round(t.Context())
	if s := p.Status(); s.Result != ResultNoURL || len(s.Failures) != 0 {
		t.Errorf("status %+v, want no_url and no failure", s)
	}
}

// TestFirmwareHandedOverWithTheServersTrust: a document with a firmware section hands it
// over once its settings applied, with the settings' key and a fetch that trusts the
// provisioning server and sends its credentials; the User-Agent carries the note (a
// rolled back update). A firmware section of the wrong form is an invalid document.
func TestFirmwareHandedOverWithTheServersTrust(t *testing.T) {
	srv := startServer(t)
	pub, key, _ := ed25519.GenerateKey(nil)
	pkg := "the package of 2.0"
	sum := sha256.Sum256([]byte(pkg))
	doc := strings.Replace(docV1, `"local_overrides"`, `"firmware": {"version": "2.0", "url": "`+srv.URL+`/fw/partyline_2.0.deb", "sha256": "`+hex.EncodeToString(sum[:])+`"},
  "local_overrides"`, 1)
	srv.put("/partyline/dca632010203.json", doc, key)
	srv.put("/fw/partyline_2.0.deb", pkg, nil)
	set := firstStart()
	set.Provisioning = settings.ProvisioningSettings{URL: srv.URL + "/partyline/{mac}.json", CA: srv.caPEM(),
		PublicKey: base64.StdEncoding.EncodeToString(pub), Token: "fleet-token"}
	st := newStore(set)
	p := provisioner(t, st)
	p.cfg.Note = func() string { return "update 1.9 rolled back" }
	var got []string
	p.cfg.Firmware = func(ctx context.Context, fw update.Firmware, k ed25519.PublicKey, fetch update.Fetch) {
		if !k.Equal(pub) {
			t.Errorf("the firmware's key is not the settings'")
		}
		body, err := fetch(ctx, fw.URL)
		if err != nil {
			t.Errorf("fetch the package: %v", err)
			return
		}
		defer body.Close()
		b, _ := io.ReadAll(body)
		got = append(got, fw.Version+": "+string(b))
	}
	p.round(t.Context())
	if s := p.Status(); s.Result != ResultApplied || len(got) != 1 || got[0] != "2.0: "+pkg {
		t.Fatalf("status %+v, firmware handed over %q", s, got)
	}
	r := srv.last()
	if r.URL.Path != "/fw/partyline_2.0.deb" || r.Header.Get("Authorization") != "Bearer fleet-token" {
		t.Errorf("the package's request: %s, Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
	}
	if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "update 1.9 rolled back") {
		t.Errorf("User-Agent %q lacks the note", ua)
	}

	for _, bad := range []string{`"firmware": {"version": "2.0", "url": "http://x/p.deb", "sha256": "` + hex.EncodeToString(sum[:]) + `"}`,
		`"firmware": {"version": "2.0", "url": "https://x/p.deb"}`, `"firmware": {"version": "2.0", "colour": "red"}`} {
		if _, err := Parse([]byte(`{` + bad + `}`)); err == nil {
			t.Errorf("Parse accepted %s", bad)
		}
	}
}
