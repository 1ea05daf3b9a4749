// Package config stores the appliance's settings in a bbolt file: the SIP
// listener, accounts, handsets and conferences, the admin password's hash,
// the call history, the admin page's certificate and the list of recordings.
// It validates settings before saving them and knows nothing of SIP, audio or
// the web page.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultListenAddr is the SIP listen address EnsureDefaults writes.
const DefaultListenAddr = "0.0.0.0:5060"

// DefaultExpiresSeconds is the registration lifetime used when
// Account.ExpiresSeconds is 0.
const DefaultExpiresSeconds = 300

// DefaultConference is the ID of the conference EnsureDefaults creates.
const DefaultConference = "main"

// ErrNoSettings is returned by Settings when nothing has been saved yet.
var ErrNoSettings = errors.New("no settings saved")

// ErrInUse is returned (wrapped) by Open when another process has the settings file open:
// a running appliance.
var ErrInUse = errors.New("the settings file is in use by another process (is partyline running?)")

// A Store is an open settings file. It is safe for concurrent use.
type Store struct {
	db           *bolt.DB
	passwordCost int // bcrypt cost of new admin password hashes
}

// An Option changes how Open sets up a Store.
type Option func(*Store)

// WithPasswordCost makes the Store hash new admin passwords at the given
// bcrypt cost instead of bcrypt's default. Only tests that do not test the
// hash itself use it (with bcrypt.MinCost), so that logging in stays quick
// under the race detector on a busy machine. A password is always checked
// at the cost its hash was made with.
func WithPasswordCost(cost int) Option {
	return func(s *Store) { s.passwordCost = cost }
}

// Open opens the settings file at path, creating it if needed (its
// directory must exist), and migrates it to SchemaVersion. A file written
// by a newer version of the firmware is refused.
func Open(path string, opts ...Option) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) { // the file lock stayed taken
		return nil, fmt.Errorf("open settings %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open settings %s: %w", path, err)
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("open settings %s: %w", path, err)
	}
	s := &Store{db: db, passwordCost: passwordCost}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// migrate brings the file to SchemaVersion step by step.
func migrate(tx *bolt.Tx) error {
	if err := createBucket(tx, metaBucket); err != nil {
		return err
	}
	meta := tx.Bucket(metaBucket)
	version := 0 // a new file
	if v := meta.Get(schemaVersionKey); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			return fmt.Errorf("bad schema version %q", v)
		}
		version = n
	}
	if version > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this firmware's %d: refusing to open", version, SchemaVersion)
	}
	for ; version < SchemaVersion; version++ {
		if err := migrations[version](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", version, version+1, err)
		}
	}
	if err := meta.Put(schemaVersionKey, []byte(strconv.Itoa(version))); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close settings: %w", err)
	}
	return nil
}

// Settings returns the saved settings, or ErrNoSettings if none were saved.
func (s *Store) Settings() (Settings, error) {
	var set Settings
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(settingsBucket).Get(settingsKey)
		if v == nil {
			return ErrNoSettings
		}
		// Unmarshal copies: v is invalid once the transaction ends.
		if err := json.Unmarshal(v, &set); err != nil {
			return fmt.Errorf("decode settings: %w", err)
		}
		return nil
	})
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	return set, nil
}

// Save validates set and writes it in one transaction. If set is invalid
// it returns a *FieldError and the stored settings stay as they were.
func (s *Store) Save(set Settings) error {
	if err := set.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(settingsBucket).Put(settingsKey, b)
	})
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// Update changes the settings in one transaction: it calls change with
// the saved settings (zero Settings if none are saved) and saves what change
// leaves there if that is valid. If change returns an error, Update returns
// it as it is; if the result is invalid, it returns a *FieldError. Either
// way the stored settings stay as they were. change must be quick: it runs
// while the file is locked for writing.
func (s *Store) Update(change func(*Settings) error) error {
	var rejected error // change's error or the validation error, returned unwrapped
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(settingsBucket)
		var set Settings
		if v := bk.Get(settingsKey); v != nil {
			if err := json.Unmarshal(v, &set); err != nil {
				return fmt.Errorf("decode settings: %w", err)
			}
		}
		if err := change(&set); err != nil {
			rejected = err
			return err
		}
		if err := set.Validate(); err != nil {
			rejected = err
			return err
		}
		b, err := json.Marshal(set)
		if err != nil {
			return fmt.Errorf("encode settings: %w", err)
		}
		return bk.Put(settingsKey, b)
	})
	if rejected != nil {
		return rejected
	}
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	return nil
}

// EnsureDefaults writes the first-start settings if none are saved: the SIP
// listener on DefaultListenAddr, handsets "Handset 1".. on channels 0.. all
// in conference DefaultConference, that conference with no URI yet, and no
// account. It does nothing if settings exist.
func (s *Store) EnsureDefaults(handsets int) error {
	if handsets < 0 || handsets > maxChannel+1 {
		return fmt.Errorf("ensure defaults: %d handsets, want 0..%d", handsets, maxChannel+1)
	}
	set := Settings{
		SIP:         SIPSettings{ListenAddr: DefaultListenAddr},
		Conferences: []Conference{{ID: DefaultConference, Name: "Main"}},
	}
	for i := range handsets {
		set.Handsets = append(set.Handsets, Handset{
			ID:         fmt.Sprintf("handset-%d", i+1),
			Name:       fmt.Sprintf("Handset %d", i+1),
			Channel:    i,
			Conference: DefaultConference,
		})
	}
	if err := set.Validate(); err != nil {
		return fmt.Errorf("ensure defaults: %w", err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("ensure defaults: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(settingsBucket)
		if bk.Get(settingsKey) != nil {
			return nil
		}
		return bk.Put(settingsKey, b)
	})
	if err != nil {
		return fmt.Errorf("ensure defaults: %w", err)
	}
	return nil
}
