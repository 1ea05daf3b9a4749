package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// valid returns settings that pass validation; tests break one field.
func valid() settings.Settings {
	return settings.Settings{
		SIP: settings.SIPSettings{ListenAddr: "0.0.0.0:5060"},
		Accounts: []settings.Account{
			{ID: "alice", User: "alice", Password: "secret", Domain: "example.org", Proxy: "127.0.0.1:5060", ExpiresSeconds: 2},
			{ID: "bob", User: "bob", Domain: "10.0.0.1"},
		},
		Handsets: []settings.Handset{
			{ID: "h1", Name: "Handset 1", Channel: 0, Account: "alice", DisplayName: `Kitchen "the" \ one`, Conference: "main"},
			{ID: "h2", Name: "Handset 2", Channel: 1},
		},
		Conferences: []settings.Conference{{ID: "main", Name: "Main", URI: "sip:conf@example.org:5070", PIN: "12*#",
			Record: true, Announce: []string{"tone:440:1s", "welcome.wav"}, ServiceAccount: "bob", RecorderPrefix: "tape"}},
		Recordings: settings.Recordings{ReserveMB: 250},
	}
}

func TestRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.Settings(); !errors.Is(err, ErrNoSettings) {
		t.Fatalf("Settings on a new file: got %v, want ErrNoSettings", err)
	}
	want := valid()
	if err := s.Save(want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestReopenKeepsSettings(t *testing.T) {
	s, path := openTemp(t)
	want := valid()
	if err := s.Save(want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	got, err := s2.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen got %+v, want %+v", got, want)
	}
}

// TestRestartWritesNothing: starting again on a file that is current (its schema, its
// settings saved) only reads it. Every write transaction costs two fdatasyncs, which an SD
// card makes slow, and wears the card.
func TestRestartWritesNothing(t *testing.T) {
	s, path := openTemp(t)
	if err := s.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	written := func(s *Store) int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	if w := written(s); w == 0 {
		t.Fatalf("the first start wrote %d pages: the count shows nothing", w)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	if w := written(again); w != 0 {
		t.Errorf("a start on a current file wrote %d pages, want none", w)
	}
	if set, err := again.Settings(); err != nil || len(set.Handsets) != 2 {
		t.Errorf("settings after the restart: %+v, %v", set, err)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		field  string
		change func(*settings.Settings)
	}{
		{"sip.listen_addr", func(s *settings.Settings) { s.SIP.ListenAddr = "0.0.0.0" }},
		{"sip.listen_addr", func(s *settings.Settings) { s.SIP.ListenAddr = "0.0.0.0:70000" }},
		{"sip.tls_listen_addr", func(s *settings.Settings) { s.SIP.TLSListenAddr = "5061" }},
		{"sip.tls_listen_addr", func(s *settings.Settings) { s.SIP.TLSListenAddr = "no" }},
		{"accounts[0].id", func(s *settings.Settings) { s.Accounts[0].ID = "" }},
		{"accounts[0].id", func(s *settings.Settings) { s.Accounts[0].ID = "Alice" }},
		{"accounts[1].id", func(s *settings.Settings) { s.Accounts[1].ID = "alice" }},
		{"accounts[0].user", func(s *settings.Settings) { s.Accounts[0].User = "" }},
		{"accounts[0].user", func(s *settings.Settings) { s.Accounts[0].User = "al ice" }},
		{"accounts[0].domain", func(s *settings.Settings) { s.Accounts[0].Domain = "" }},
		{"accounts[0].domain", func(s *settings.Settings) { s.Accounts[0].Domain = "exa mple.org" }},
		{"accounts[0].proxy", func(s *settings.Settings) { s.Accounts[0].Proxy = "proxy.example.org" }},
		{"accounts[0].proxy", func(s *settings.Settings) { s.Accounts[0].Proxy = "proxy.example.org:0" }},
		{"accounts[0].expires_seconds", func(s *settings.Settings) { s.Accounts[0].ExpiresSeconds = -1 }},
		{"accounts[0].expires_seconds", func(s *settings.Settings) { s.Accounts[0].ExpiresSeconds = 86401 }},
		{"handsets[0].id", func(s *settings.Settings) { s.Handsets[0].ID = "h 1" }},
		{"handsets[1].id", func(s *settings.Settings) { s.Handsets[1].ID = "h1" }},
		{"handsets[0].name", func(s *settings.Settings) { s.Handsets[0].Name = "" }},
		{"handsets[0].channel", func(s *settings.Settings) { s.Handsets[0].Channel = 16 }},
		{"handsets[1].channel", func(s *settings.Settings) { s.Handsets[1].Channel = 0 }},
		{"handsets[1].account", func(s *settings.Settings) { s.Handsets[1].Account = "carol" }},
		{"handsets[1].conference", func(s *settings.Settings) { s.Handsets[1].Conference = "side" }},
		{"handsets[0].display_name", func(s *settings.Settings) { s.Handsets[0].DisplayName = "a\nb" }},
		{"handsets[0].identity", func(s *settings.Settings) { s.Handsets[0].Identity = "borrowed" }},
		{"accounts[0].transport", func(s *settings.Settings) { s.Accounts[0].Transport = "sctp" }},
		{"pins[0].hook", func(s *settings.Settings) { s.Pins = []settings.PinOverride{{Handset: 0, Hook: "pin 17"}} }},
		{"pins[0].led", func(s *settings.Settings) { s.Pins = []settings.PinOverride{{Handset: 0, LED: "mcp23017:0x20:C1"}} }},
		{"pins[1].handset", func(s *settings.Settings) { s.Pins = []settings.PinOverride{{Handset: 1, Hook: "GPIO5"}, {Handset: 1}} }},
		{"pins[0].handset", func(s *settings.Settings) { s.Pins = []settings.PinOverride{{Handset: 16}} }},
		{"accounts[0].ca_file", func(s *settings.Settings) { s.Accounts[0].Transport, s.Accounts[0].CAFile = "tls", "ca.pem" }},
		{"accounts[0].ca_file", func(s *settings.Settings) { s.Accounts[0].CAFile = "/etc/ca.pem" }},
		{"handsets[0].mic_gain_db", func(s *settings.Settings) { s.Handsets[0].MicGainDB = 21 }},
		{"handsets[1].ear_gain_db", func(s *settings.Settings) { s.Handsets[1].EarGainDB = -41 }},
		{"handsets[0].sidetone_percent", func(s *settings.Settings) { s.Handsets[0].SidetonePercent = 51 }},
		{"handsets[0].identity_uri", func(s *settings.Settings) { s.Handsets[0].Identity = settings.IdentityImpersonate }},
		{"handsets[0].identity_uri", func(s *settings.Settings) {
			s.Handsets[0].Identity, s.Handsets[0].IdentityURI = settings.IdentityImpersonate, "desk4@example.org"
		}},
		{"handsets[1].account", func(s *settings.Settings) {
			s.Handsets[1].Account, s.Handsets[1].Identity, s.Handsets[1].IdentityURI = "", settings.IdentityImpersonate, "sip:desk@example.org"
		}},
		{"handsets[0].identity_prefix", func(s *settings.Settings) {
			s.Handsets[0].Identity, s.Handsets[0].IdentityPrefix = settings.IdentityGenerated, "rec/1"
		}},
		{"handsets[0].identity_prefix", func(s *settings.Settings) {
			s.Handsets[0].Identity, s.Handsets[0].IdentityPrefix = settings.IdentityGenerated, strings.Repeat("r", 33)
		}},
		{"conferences[0].id", func(s *settings.Settings) { s.Conferences[0].ID = "" }},
		{"conferences[0].uri", func(s *settings.Settings) { s.Conferences[0].URI = "http://example.org" }},
		{"conferences[0].uri", func(s *settings.Settings) { s.Conferences[0].URI = "sip:example.org" }},
		{"conferences[0].uri", func(s *settings.Settings) { s.Conferences[0].URI = "sip:conf@example.org:99999" }},
		{"conferences[0].pin", func(s *settings.Settings) { s.Conferences[0].PIN = "12a" }},
		{"conferences[0].service_account", func(s *settings.Settings) { s.Conferences[0].ServiceAccount = "carol" }},
		{"conferences[0].service_account", func(s *settings.Settings) { s.Accounts, s.Handsets[0].Account, s.Conferences[0].Record = nil, "", true }},
		{"conferences[0].service_account", func(s *settings.Settings) {
			s.Accounts, s.Handsets[0].Account, s.Conferences[0].Announce = nil, "", []string{"tone:440:1s"}
		}},
		{"conferences[0].recorder_prefix", func(s *settings.Settings) { s.Conferences[0].RecorderPrefix = "rec;x" }},
		{"conferences[0].announcer_prefix", func(s *settings.Settings) { s.Conferences[0].AnnouncerPrefix = strings.Repeat("a", 33) }},
		{"conferences[0].announcer_prefix", func(s *settings.Settings) { s.Conferences[0].AnnouncerPrefix = "TAPE" }},
		{"conferences[0].announcer_prefix", func(s *settings.Settings) {
			s.Conferences[0].RecorderPrefix, s.Conferences[0].AnnouncerPrefix = "ann", ""
		}},
		{"conferences[0].announce", func(s *settings.Settings) { s.Conferences[0].Announce = []string{"welcome.wav", "../etc/passwd"} }},
		{"conferences[0].announce", func(s *settings.Settings) { s.Conferences[0].Announce = []string{"tone:99999:1s"} }},
		{"conferences[0].announce", func(s *settings.Settings) { s.Conferences[0].Announce = make([]string, settings.MaxAnnounce+1) }},
		{"recordings.reserve_mb", func(s *settings.Settings) { s.Recordings.ReserveMB = -1 }},
		{"recordings.reserve_mb", func(s *settings.Settings) { s.Recordings.ReserveMB = 1_000_001 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			s, _ := openTemp(t)
			before := valid()
			if err := s.Save(before); err != nil {
				t.Fatalf("Save valid settings: %v", err)
			}
			bad := valid()
			tt.change(&bad)
			err := s.Save(bad)
			var fe *settings.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Save: got %v, want a *settings.FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field: got %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
			got, err := s.Settings()
			if err != nil {
				t.Fatalf("Settings: %v", err)
			}
			if !reflect.DeepEqual(got, before) {
				t.Errorf("rejected Save changed the settings: got %+v, want %+v", got, before)
			}
		})
	}
}

func TestEnsureDefaults(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.EnsureDefaults(2); err != nil {
		t.Fatalf("EnsureDefaults: %v", err)
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if got.SIP.ListenAddr != DefaultListenAddr {
		t.Errorf("listen addr: got %q, want %q", got.SIP.ListenAddr, DefaultListenAddr)
	}
	if len(got.Accounts) != 0 {
		t.Errorf("accounts: got %d, want 0", len(got.Accounts))
	}
	if len(got.Conferences) != 1 || got.Conferences[0].ID != "main" || got.Conferences[0].URI != "" {
		t.Errorf("conferences: got %+v, want one \"main\" with no URI", got.Conferences)
	}
	if len(got.Handsets) != 2 {
		t.Fatalf("handsets: got %d, want 2", len(got.Handsets))
	}
	for i, h := range got.Handsets {
		wantName := []string{"Handset 1", "Handset 2"}[i]
		if h.Name != wantName || h.Channel != i || h.Conference != "main" {
			t.Errorf("handset %d: got %+v, want name %q, channel %d, conference main", i, h, wantName, i)
		}
	}

	// A second call keeps what the user saved.
	changed := got
	changed.Handsets = changed.Handsets[:1]
	if err := s.Save(changed); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := s.EnsureDefaults(2); err != nil {
		t.Fatalf("second EnsureDefaults: %v", err)
	}
	again, err := s.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !reflect.DeepEqual(again, changed) {
		t.Errorf("second EnsureDefaults changed the settings: got %+v, want %+v", again, changed)
	}
}

// lastTx returns the ID of the last write transaction of the store's file.
func lastTx(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestOpenWritesFirstStart opens a new file with WithFirstStart: it has the first-start
// settings of EnsureDefaults, written in the transaction that made its schema, not in one
// more. A file that has settings keeps them, and so does it after a restart.
func TestOpenWritesFirstStart(t *testing.T) {
	plain, _ := openTemp(t)
	if err := plain.EnsureDefaults(3); err != nil {
		t.Fatal(err)
	}
	want := plain.Current().Settings

	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path, WithFirstStart(3))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if cur := s.Current(); !cur.Saved || !reflect.DeepEqual(cur.Settings, want) {
		t.Errorf("a new file opened with WithFirstStart(3) has %+v (saved %v), want the first-start settings %+v", cur.Settings, cur.Saved, want)
	}
	if got, without := lastTx(t, s), lastTx(t, plain)-1; got != without {
		t.Errorf("the first-start settings took the file to transaction %d, want %d as without them: no transaction of their own", got, without)
	}
	if err := s.EnsureDefaults(3); err != nil { // as the appliance then calls it
		t.Fatal(err)
	}
	changed := s.Current().Settings.Clone()
	changed.Handsets = changed.Handsets[:1]
	if err := s.Save(changed); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, WithFirstStart(3))
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	if got := s.Current().Settings; !reflect.DeepEqual(got, changed) {
		t.Errorf("reopened with WithFirstStart, the file has %+v, want what was saved, %+v", got, changed)
	}

	if _, err := Open(filepath.Join(t.TempDir(), "settings.db"), WithFirstStart(-1)); err == nil || !strings.Contains(err.Error(), "-1 handsets") {
		t.Errorf("Open with WithFirstStart(-1) = %v, want the bad count named", err)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		return b.Put(schemaVersionKey, []byte(strconv.Itoa(SchemaVersion+1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a schema %d file: got nil error, want a refusal", SchemaVersion+1)
	}
	if want := fmt.Sprintf("schema version %d is newer", SchemaVersion+1); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestOlderSchemaMigrated(t *testing.T) {
	// A version 0 file: only the meta bucket, no settings bucket yet.
	path := filepath.Join(t.TempDir(), "settings.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		return b.Put(schemaVersionKey, []byte("0"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 0 file: %v", err)
	}
	defer s.Close()
	if err := s.Save(valid()); err != nil {
		t.Errorf("Save after migration: %v", err)
	}
	if got, want := schemaVersion(t, s), strconv.Itoa(SchemaVersion); got != want {
		t.Errorf("schema version after migration: got %q, want %q", got, want)
	}
}

func schemaVersion(t *testing.T, s *Store) string {
	t.Helper()
	var version []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		version = bytes.Clone(tx.Bucket(metaBucket).Get(schemaVersionKey))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(version)
}

// TestSchema1Migrated opens a file as version 1 firmware left it: settings
// saved, no admin bucket. The settings survive and no password is set, so
// the admin page asks for one.
func TestSchema1Migrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	want := valid()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(schemaVersionKey, []byte("1")); err != nil {
			return err
		}
		settings, err := tx.CreateBucket(settingsBucket)
		if err != nil {
			return err
		}
		b, err := json.Marshal(want)
		if err != nil {
			return err
		}
		return settings.Put(settingsKey, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 1 file: %v", err)
	}
	defer s.Close()
	if got, want := schemaVersion(t, s), strconv.Itoa(SchemaVersion); got != want {
		t.Errorf("schema version after migration: got %q, want %q", got, want)
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings after migration: got %+v, want %+v", got, want)
	}
	if set, err := s.AdminPasswordSet(); err != nil || set {
		t.Errorf("AdminPasswordSet after migration: got %v, %v; want false, nil", set, err)
	}
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a corrupt file: got nil error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	t.Logf("error: %v", err)
}
