package config

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

func TestAdminPassword(t *testing.T) {
	s, path := openTemp(t)
	if set, err := s.AdminPasswordSet(); err != nil || set {
		t.Fatalf("AdminPasswordSet on a new file: got %v, %v; want false, nil", set, err)
	}
	if ok, err := s.CheckAdminPassword(""); err != nil || ok {
		t.Errorf("CheckAdminPassword with none set: got %v, %v; want false, nil", ok, err)
	}
	const first = "correct horse"
	if err := s.InitAdminPassword(first); err != nil {
		t.Fatalf("InitAdminPassword: %v", err)
	}
	if err := s.InitAdminPassword("another one"); !errors.Is(err, ErrAdminPasswordSet) {
		t.Errorf("second InitAdminPassword: got %v, want ErrAdminPasswordSet", err)
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{{first, true}, {"correct horsE", false}} {
		if ok, err := s.CheckAdminPassword(tt.password); err != nil || ok != tt.want {
			t.Errorf("CheckAdminPassword(%q): got %v, %v; want %v, nil", tt.password, ok, err, tt.want)
		}
	}

	// Only a hash is stored.
	var stored []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(adminBucket).Get(passwordHashKey))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(first)) || !bytes.HasPrefix(stored, []byte("$2a$")) {
		t.Errorf("stored value %q is not a bcrypt hash of the password", stored)
	}

	// SetAdminPassword replaces it, and the new one survives a reopen.
	const second = "battery staple"
	if err := s.SetAdminPassword(second); err != nil {
		t.Fatalf("SetAdminPassword: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ok, err := s2.CheckAdminPassword(second); err != nil || !ok {
		t.Errorf("CheckAdminPassword(new) after reopen: got %v, %v; want true, nil", ok, err)
	}
}

func TestAdminPasswordRefused(t *testing.T) {
	for _, tt := range []struct {
		name, password, msg string
	}{
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("x", MaxAdminPasswordBytes+1), "at most 72 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			for name, set := range map[string]func(string) error{
				"InitAdminPassword": s.InitAdminPassword,
				"SetAdminPassword":  s.SetAdminPassword,
			} {
				err := set(tt.password)
				var fe *settings.FieldError
				if !errors.As(err, &fe) || fe.Field != "admin_password" || !strings.Contains(fe.Msg, tt.msg) {
					t.Errorf("%s: got %v, want a *settings.FieldError on admin_password saying %q", name, err, tt.msg)
				}
			}
			if set, err := s.AdminPasswordSet(); err != nil || set {
				t.Errorf("AdminPasswordSet after a refusal: got %v, %v; want false, nil", set, err)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	s, _ := openTemp(t)
	before := valid()
	if err := s.Save(before); err != nil {
		t.Fatal(err)
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		got, err := s.Settings()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, before) {
			t.Errorf("a rejected Update changed the settings: got %+v, want %+v", got, before)
		}
	}

	t.Run("change refused", func(t *testing.T) {
		refusal := errors.New("no such handset")
		err := s.Update(func(set *settings.Settings) error {
			set.Handsets[0].Name = "changed"
			return refusal
		})
		if err != refusal {
			t.Errorf("got %v, want change's error as it is", err)
		}
		unchanged(t)
	})
	t.Run("invalid result", func(t *testing.T) {
		err := s.Update(func(set *settings.Settings) error {
			set.Handsets[0].Name = "changed"
			set.Conferences[0].URI = "http://example.org"
			return nil
		})
		var fe *settings.FieldError
		if !errors.As(err, &fe) || fe.Field != "conferences[0].uri" {
			t.Errorf("got %v, want a *settings.FieldError on conferences[0].uri", err)
		}
		unchanged(t)
	})
	t.Run("valid", func(t *testing.T) {
		err := s.Update(func(set *settings.Settings) error {
			set.Handsets[1].Conference = "main"
			return nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err := s.Settings()
		if err != nil {
			t.Fatal(err)
		}
		if got.Handsets[1].Conference != "main" || got.Handsets[0] != before.Handsets[0] {
			t.Errorf("after Update: got handsets %+v, want only handset 2's conference changed", got.Handsets)
		}
	})
}

func TestUpdateEmptyStore(t *testing.T) {
	s, _ := openTemp(t)
	err := s.Update(func(set *settings.Settings) error {
		if len(set.Handsets) != 0 {
			t.Errorf("settings of an empty store: got %+v, want zero", set)
		}
		set.SIP.ListenAddr = "127.0.0.1:5060"
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := s.Settings()
	if err != nil || got.SIP.ListenAddr != "127.0.0.1:5060" {
		t.Errorf("after Update: got %+v, %v", got, err)
	}
}
