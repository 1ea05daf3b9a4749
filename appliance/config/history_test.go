package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// call returns the n-th test call, which started n minutes after a fixed time.
func call(n int) settings.CallRecord {
	return settings.CallRecord{
		Handset:    "Kitchen",
		Identity:   `"Kitchen" <sip:alice@example.org>`,
		Conference: "sip:conf@example.org",
		Start:      time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute),
		Duration:   time.Duration(n) * time.Second,
		End:        settings.EndRemote,
		MOS:        4.2,
	}
}

func TestHistoryEmpty(t *testing.T) {
	s, _ := openTemp(t)
	got, err := s.History(10)
	if err != nil || len(got) != 0 {
		t.Errorf("History of a new store: got %v, %v; want none", got, err)
	}
}

func TestHistoryNewestFirst(t *testing.T) {
	s, _ := openTemp(t)
	failed := settings.CallRecord{Handset: "Garden", Start: call(0).Start, End: settings.EndFailed, Status: 486, Detail: "486 Busy Here"}
	for _, r := range []settings.CallRecord{call(1), failed, call(3)} {
		if err := s.AppendHistory(r); err != nil {
			t.Fatalf("AppendHistory: %v", err)
		}
	}
	got, err := s.History(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []settings.CallRecord{call(3), failed, call(1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("History(0):\n got %+v\nwant %+v", got, want)
	}
	got, err = s.History(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []settings.CallRecord{call(3), failed}; !reflect.DeepEqual(got, want) {
		t.Errorf("History(2):\n got %+v\nwant %+v", got, want)
	}
}

// TestHistoryBounded appends more than MaxHistory calls: the oldest go, the
// newest stay, and so they do after the file is opened again.
func TestHistoryBounded(t *testing.T) {
	s, path := openTemp(t)
	const extra = 7
	for n := range MaxHistory + extra {
		if err := s.AppendHistory(call(n)); err != nil {
			t.Fatalf("AppendHistory %d: %v", n, err)
		}
	}
	check := func(s *Store, when string) {
		t.Helper()
		got, err := s.History(0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != MaxHistory {
			t.Fatalf("%s: %d calls, want %d", when, len(got), MaxHistory)
		}
		if newest, oldest := got[0], got[len(got)-1]; !reflect.DeepEqual(newest, call(MaxHistory+extra-1)) || !reflect.DeepEqual(oldest, call(extra)) {
			t.Errorf("%s: newest %v, oldest %v; want calls %d and %d", when, newest.Start, oldest.Start, MaxHistory+extra-1, extra)
		}
		var keys int
		s.db.View(func(tx *bolt.Tx) error {
			keys = tx.Bucket(historyBucket).Stats().KeyN
			return nil
		})
		if keys != MaxHistory {
			t.Errorf("%s: the history bucket has %d keys, want %d", when, keys, MaxHistory)
		}
	}
	check(s, "after appending")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after reopening")
	if err := s.AppendHistory(call(1000)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.History(1); got[0].Start != call(1000).Start {
		t.Errorf("after reopening, the newest call is from %v, want the one just appended", got[0].Start)
	}
}

func TestHistoryRefusesBadRecords(t *testing.T) {
	s, _ := openTemp(t)
	for name, change := range map[string]func(*settings.CallRecord){
		"unknown end":       func(r *settings.CallRecord) { r.End = "exploded" },
		"no handset":        func(r *settings.CallRecord) { r.Handset = "" },
		"no start":          func(r *settings.CallRecord) { r.Start = time.Time{} },
		"negative duration": func(r *settings.CallRecord) { r.Duration = -time.Second },
	} {
		r := call(1)
		change(&r)
		if err := s.AppendHistory(r); err == nil {
			t.Errorf("%s: AppendHistory accepted %+v", name, r)
		}
	}
	if got, _ := s.History(0); len(got) != 0 {
		t.Errorf("refused records were stored: %+v", got)
	}
}

// TestSchema2Migrated opens a file as version 2 firmware left it: settings
// and admin password, no history or tls bucket. Both survive, and the
// history works.
func TestSchema2Migrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	want := valid()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for name, kv := range map[string][2]string{
			"meta":     {"schema_version", "2"},
			"settings": {"current", string(must(json.Marshal(want)))},
			"admin":    {"password_hash", "$2a$10$not.a.real.hash.but.present"},
		} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 2 file: %v", err)
	}
	defer s.Close()
	if got, want := schemaVersion(t, s), strconv.Itoa(SchemaVersion); got != want {
		t.Errorf("schema version after migration: got %q, want %q", got, want)
	}
	if got, err := s.Settings(); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("settings after migration: got %+v, %v; want %+v", got, err, want)
	}
	if set, err := s.AdminPasswordSet(); err != nil || !set {
		t.Errorf("AdminPasswordSet after migration: got %v, %v; want true, nil", set, err)
	}
	if err := s.AppendHistory(call(1)); err != nil {
		t.Fatalf("AppendHistory after migration: %v", err)
	}
	if got, err := s.History(0); err != nil || len(got) != 1 {
		t.Errorf("History after migration: got %v, %v; want one call", got, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTLSCertificate(t *testing.T) {
	s, path := openTemp(t)
	calls := 0
	generate := func() ([]byte, []byte, error) {
		calls++
		return fmt.Appendf(nil, "cert %d", calls), fmt.Appendf(nil, "key %d", calls), nil
	}
	cert, key, err := s.TLSCertificate(generate)
	if err != nil || string(cert) != "cert 1" || string(key) != "key 1" {
		t.Fatalf("first TLSCertificate: got %q, %q, %v; want the generated pair", cert, key, err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cert, key, err = s.TLSCertificate(generate)
	if err != nil || string(cert) != "cert 1" || string(key) != "key 1" || calls != 1 {
		t.Errorf("TLSCertificate after reopening: got %q, %q, %v after %d generations; want the stored pair, generated once", cert, key, err, calls)
	}
}

func TestTLSCertificateGenerateFails(t *testing.T) {
	s, _ := openTemp(t)
	broken := errors.New("no entropy")
	for name, generate := range map[string]func() ([]byte, []byte, error){
		"error": func() ([]byte, []byte, error) { return nil, nil, broken },
		"empty": func() ([]byte, []byte, error) { return []byte("cert"), nil, nil },
	} {
		if _, _, err := s.TLSCertificate(generate); err == nil || !strings.Contains(err.Error(), "generate") {
			t.Errorf("%s: got %v, want a generate error", name, err)
		}
	}
	cert, _, err := s.TLSCertificate(func() ([]byte, []byte, error) { return []byte("c"), []byte("k"), nil })
	if err != nil || string(cert) != "c" {
		t.Errorf("after failed generations: got %q, %v; want a new pair stored", cert, err)
	}
}

// TestAppendHistoryNeverWaits holds the file's write lock, as a slow write would, while a
// call is recorded: AppendHistory returns all the same, History shows the call once the
// lock is let go, and Close writes what is still queued.
func TestAppendHistoryNeverWaits(t *testing.T) {
	s, path := openTemp(t)
	tx, err := s.db.Begin(true) // the file's one writer, until Rollback
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	go func() {
		for n := 1; n <= 3; n++ {
			if err := s.AppendHistory(call(n)); err != nil {
				returned <- err
				return
			}
		}
		returned <- nil
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("AppendHistory: %v", err)
		}
	case <-time.After(failsafe):
		t.Fatalf("AppendHistory waited %v for the file's write lock", failsafe)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(0)
	if want := []settings.CallRecord{call(3), call(2), call(1)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("History after the lock was let go: %+v, %v; want %+v", got, err, want)
	}

	for n := 4; n <= 40; n++ {
		if err := s.AppendHistory(call(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err = s2.History(0)
	if err != nil || len(got) != 40 || got[0] != call(40) || got[39] != call(1) {
		t.Errorf("after Close and reopening: %d calls, newest %+v, %v; want the 40 recorded", len(got), got[0], err)
	}
}

// TestHistoryQueueBounded records more calls than the history keeps while the file is
// locked: the queue keeps the newest MaxHistory, as the history would.
func TestHistoryQueueBounded(t *testing.T) {
	s, _ := openTemp(t)
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= MaxHistory+5; n++ {
		if err := s.AppendHistory(call(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(0)
	if err != nil || len(got) != MaxHistory || got[0] != call(MaxHistory+5) || got[MaxHistory-1] != call(6) {
		t.Errorf("History: %d calls, %v; want calls %d down to 6", len(got), err, MaxHistory+5)
	}
}
