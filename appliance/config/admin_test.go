package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

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
	code := prepareCode(t, s)
	if err := s.InitAdminPassword(code, first); err != nil {
		t.Fatalf("InitAdminPassword: %v", err)
	}
	if err := s.InitAdminPassword(code, "another one"); !errors.Is(err, ErrAdminPasswordSet) {
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
	if cost, err := bcrypt.Cost(stored); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("bcrypt cost of the stored hash = %d, %v; want bcrypt's default %d", cost, err, bcrypt.DefaultCost)
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

// TestAdminPasswordCost checks the cost tests lower: a store opened with WithPasswordCost
// hashes at that cost, and a store opened without it checks that hash all the same.
func TestAdminPasswordCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path, WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	const password = "quick to check"
	if err := s.SetAdminPassword(password); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(adminBucket).Get(passwordHashKey))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost(stored); err != nil || cost != bcrypt.MinCost {
		t.Errorf("bcrypt cost with WithPasswordCost(%d) = %d, %v", bcrypt.MinCost, cost, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ok, err := s2.CheckAdminPassword(password); err != nil || !ok {
		t.Errorf("CheckAdminPassword on a default store = %v, %v; want true, nil", ok, err)
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
			code := prepareCode(t, s)
			for name, set := range map[string]func(string) error{
				"InitAdminPassword": func(p string) error { return s.InitAdminPassword(code, p) },
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

// prepareCode makes s's setup code and returns it.
func prepareCode(t *testing.T, s *Store) string {
	t.Helper()
	code, _, err := s.PrepareSetupCode()
	if err != nil || code == "" {
		t.Fatalf("PrepareSetupCode: got %q, %v; want a code", code, err)
	}
	return code
}

// TestSetupCode: the first password needs the code from the file, which only its owner
// can read; a wrong code changes nothing; the code is gone once used, and a cleared
// password needs a new one.
func TestSetupCode(t *testing.T) {
	s, dbPath := openTemp(t)
	dir := filepath.Dir(dbPath)
	code, path, err := s.PrepareSetupCode()
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, SetupCodeFile) {
		t.Errorf("code file %s, want %s", path, filepath.Join(dir, SetupCodeFile))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("code file mode %v, want 0600", fi.Mode().Perm())
	}
	if got, err := ReadSetupCode(dir); err != nil || got != code {
		t.Errorf("ReadSetupCode: got %q, %v; want %q", got, err, code)
	}
	if len(strings.ReplaceAll(code, "-", "")) != setupCodeDigits {
		t.Errorf("code %q: want %d digits", code, setupCodeDigits)
	}
	if again := prepareCode(t, s); again == code {
		t.Errorf("a second start made the same code %q", code)
	} else {
		code = again
	}

	for _, wrong := range []string{"", "000000000000", code + "1"} {
		if err := s.InitAdminPassword(wrong, "correct horse"); !errors.Is(err, ErrWrongSetupCode) {
			t.Errorf("InitAdminPassword with code %q: got %v, want ErrWrongSetupCode", wrong, err)
		}
	}
	if set, err := s.AdminPasswordSet(); err != nil || set {
		t.Fatalf("a wrong code set the password: %v, %v", set, err)
	}
	// Typed without the dashes and with spaces, it is the same code.
	typed := " " + strings.ReplaceAll(code, "-", " ") + " "
	if err := s.InitAdminPassword(typed, "correct horse"); err != nil {
		t.Fatalf("InitAdminPassword with the code: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the used code file is still there: %v", err)
	}
	if c, _, err := s.PrepareSetupCode(); err != nil || c != "" {
		t.Errorf("PrepareSetupCode with a password set: got %q, %v; want no code", c, err)
	}

	// A reset password asks for a new code; the old one no longer works.
	if err := s.ClearAdminPassword(); err != nil {
		t.Fatal(err)
	}
	if set, err := s.AdminPasswordSet(); err != nil || set {
		t.Fatalf("after ClearAdminPassword: set %v, %v", set, err)
	}
	if err := s.InitAdminPassword(code, "another password"); !errors.Is(err, ErrWrongSetupCode) {
		t.Errorf("InitAdminPassword before a new start made a code: got %v, want ErrWrongSetupCode", err)
	}
	fresh := prepareCode(t, s)
	if err := s.InitAdminPassword(fresh, "another password"); err != nil {
		t.Errorf("InitAdminPassword with the new code: %v", err)
	}
}

// TestOpenInUse: a second Open of a file a process holds says that it is in use.
func TestOpenInUse(t *testing.T) {
	_, path := openTemp(t)
	if _, err := Open(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Open of an open file: got %v, want ErrInUse", err)
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

// TestInitAdminPasswordPresent: an owner who proved presence at the device sets the first
// password without the setup code, once; the code file goes.
func TestInitAdminPasswordPresent(t *testing.T) {
	s, _ := openTemp(t)
	prepareCode(t, s)
	if err := s.InitAdminPasswordPresent("at the device"); err != nil {
		t.Fatalf("InitAdminPasswordPresent: %v", err)
	}
	if ok, err := s.CheckAdminPassword("at the device"); err != nil || !ok {
		t.Errorf("CheckAdminPassword = %v, %v; want the password set", ok, err)
	}
	if _, err := os.Stat(s.setupCodePath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the setup code file is still there: %v", err)
	}
	if err := s.InitAdminPasswordPresent("someone else"); !errors.Is(err, ErrAdminPasswordSet) {
		t.Errorf("a second InitAdminPasswordPresent: %v, want ErrAdminPasswordSet", err)
	}
}
