package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"partyline/appliance/settings"
)

// ErrAdminPasswordSet is returned by InitAdminPassword when an admin
// password is set already.
var ErrAdminPasswordSet = errors.New("the admin password is set already")

// MaxAdminPasswordBytes is the longest admin password accepted. bcrypt
// reads only the first 72 bytes; refusing longer passwords keeps the rest
// from being ignored without a word.
const MaxAdminPasswordBytes = 72

// passwordCost is the bcrypt cost of the admin password hash, bcrypt's
// default: a check takes about 50 ms on one x86 core of the build machine
// and a few times that on a Raspberry Pi, slow for guessing and quick
// enough for a login.
const passwordCost = bcrypt.DefaultCost

// hashAdminPassword checks that plain can be an admin password and hashes
// it at the store's cost. A password it refuses is reported as a
// *settings.FieldError on "admin_password".
func (s *Store) hashAdminPassword(plain string) ([]byte, error) {
	if plain == "" {
		return nil, &settings.FieldError{Field: "admin_password", Msg: "must not be empty"}
	}
	if len(plain) > MaxAdminPasswordBytes {
		return nil, &settings.FieldError{Field: "admin_password", Msg: fmt.Sprintf("must be at most %d bytes long", MaxAdminPasswordBytes)}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(plain), s.passwordCost)
	if err != nil {
		return nil, fmt.Errorf("hash admin password: %w", err)
	}
	return h, nil
}

// SetAdminPassword sets the admin password, replacing any set before. Only
// its bcrypt hash is stored. An empty password, or one longer than
// MaxAdminPasswordBytes, is refused with a *settings.FieldError.
func (s *Store) SetAdminPassword(plain string) error {
	h, err := s.hashAdminPassword(plain)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(adminBucket).Put(passwordHashKey, h)
	})
	if err != nil {
		return fmt.Errorf("save admin password: %w", err)
	}
	return nil
}

// InitAdminPassword sets the admin password on first start, if setupCode is the code in
// the setup code file (see NewSetupCode): like SetAdminPassword, but if a password is set
// already it changes nothing and returns an error wrapping ErrAdminPasswordSet. Two
// browsers racing to set the first password cannot both win. A wrong code, or none made,
// is an error wrapping ErrWrongSetupCode. Once the password is set, the code file is
// removed.
func (s *Store) InitAdminPassword(setupCode, plain string) error {
	return s.initAdminPassword(func() error { return s.checkSetupCode(setupCode) }, plain)
}

// InitAdminPasswordPresent is InitAdminPassword without the setup code, for an owner who
// proved presence otherwise: by holding a handset's call button (the appliance checks
// that before it calls this).
func (s *Store) InitAdminPasswordPresent(plain string) error {
	return s.initAdminPassword(func() error { return nil }, plain)
}

// initAdminPassword is InitAdminPassword with proof checking the proof of presence.
func (s *Store) initAdminPassword(proof func() error, plain string) error {
	set, err := s.AdminPasswordSet()
	if err != nil {
		return err
	}
	if set { // the common refusal, without hashing first
		return fmt.Errorf("set first admin password: %w", ErrAdminPasswordSet)
	}
	if err := proof(); err != nil {
		return fmt.Errorf("set first admin password: %w", err)
	}
	h, err := s.hashAdminPassword(plain) // slow: outside the write transaction
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(adminBucket)
		if bk.Get(passwordHashKey) != nil {
			return ErrAdminPasswordSet
		}
		return bk.Put(passwordHashKey, h)
	})
	if err != nil {
		return fmt.Errorf("set first admin password: %w", err)
	}
	if err := os.Remove(s.setupCodePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the used setup code: %w", err)
	}
	return nil
}

// ClearAdminPassword forgets the admin password, so that the page asks for a new one,
// with a new setup code, from the next start (see PrepareSetupCode). It is how the owner
// resets a forgotten password on the device itself.
func (s *Store) ClearAdminPassword() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(adminBucket).Delete(passwordHashKey)
	})
	if err != nil {
		return fmt.Errorf("clear admin password: %w", err)
	}
	return nil
}

// AdminPasswordSet reports whether an admin password has been set.
func (s *Store) AdminPasswordSet() (bool, error) {
	var set bool
	err := s.db.View(func(tx *bolt.Tx) error {
		set = tx.Bucket(adminBucket).Get(passwordHashKey) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read admin password: %w", err)
	}
	return set, nil
}

// CheckAdminPassword reports whether plain is the admin password. With no
// password set, nothing matches. It takes as long as one bcrypt hash.
func (s *Store) CheckAdminPassword(plain string) (bool, error) {
	var h []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		// Copy: the value is invalid once the transaction ends.
		h = append([]byte(nil), tx.Bucket(adminBucket).Get(passwordHashKey)...)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read admin password: %w", err)
	}
	if len(h) == 0 {
		return false, nil
	}
	switch err := bcrypt.CompareHashAndPassword(h, []byte(plain)); {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("check admin password: %w", err)
	}
}
