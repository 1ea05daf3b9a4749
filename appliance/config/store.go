// Package config stores the appliance's settings in a bbolt file: the SIP
// listener, accounts, handsets and conferences, the admin password's hash,
// the call history, the admin page's certificate and the list of recordings.
// The types it stores, and their validation, are appliance/settings'; it
// validates settings before saving them and knows nothing of SIP, audio or
// the web page. It serves the settings from memory (Store.Current) and tells
// of their changes (Snapshot.Changed), so that no loop needs to read the file.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"partyline/appliance/settings"
)

// DefaultListenAddr is the SIP listen address EnsureDefaults writes.
const DefaultListenAddr = "0.0.0.0:5060"

// DefaultConference is the ID of the conference EnsureDefaults creates.
const DefaultConference = "main"

// ErrNoSettings is returned by Settings when nothing has been saved yet.
var ErrNoSettings = errors.New("no settings saved")

// ErrInUse is returned (wrapped) by Open when another process has the settings file open:
// a running appliance.
var ErrInUse = errors.New("the settings file is in use by another process (is partyline running?)")

// A Store is an open settings file. It is safe for concurrent use.
//
// It keeps the settings last committed in memory, as an immutable Snapshot that Current
// returns without touching the file; every successful write replaces it, and closes the
// replaced snapshot's Changed channel, so that loops learn of changes without polling.
// Calls are added to the call history by a writer goroutine of the store's own, so that
// AppendHistory never waits for the file.
type Store struct {
	db           *bolt.DB
	passwordCost int // bcrypt cost of new admin password hashes

	// writeMu makes the settings' writes and the snapshots they publish happen in the same
	// order: bbolt orders the writes, but publishing follows the commit.
	writeMu sync.Mutex
	current atomic.Pointer[Snapshot]

	history *historyWriter

	// firstStart is the handsets of WithFirstStart, nil without it; Open only.
	firstStart *int
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

// WithFirstStart has Open write the first-start settings of a board of handsets handsets
// (see EnsureDefaults) in the transaction that gives a new file its schema, rather than in
// a second one: a device's first start then waits for two fdatasyncs fewer. A file that
// has settings keeps them, and one at SchemaVersion is not written.
func WithFirstStart(handsets int) Option {
	return func(s *Store) { s.firstStart = &handsets }
}

// A Snapshot is the settings as one commit left them. Every reader shares it: read it,
// never change it or what its slices hold; Settings.Clone makes a copy to change.
type Snapshot struct {
	// Settings are the saved settings; the zero Settings when Saved is false.
	Settings settings.Settings
	// Saved is false until settings are saved for the first time.
	Saved bool
	// Version counts the commits that changed the settings since Open, from 0.
	Version uint64
	changed chan struct{} // closed when a newer snapshot replaces this one
}

// Changed returns a channel that is closed once a newer snapshot has replaced this one. A
// writer never waits for its readers: those that fall behind see the newest snapshot
// when they look again, and nothing in between.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }

// Open opens the settings file at path, creating it if needed (its
// directory must exist), and migrates it to SchemaVersion. A file written
// by a newer version of the firmware is refused.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{passwordCost: passwordCost}
	for _, opt := range opts {
		opt(s)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) { // the file lock stayed taken
		return nil, fmt.Errorf("open settings %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open settings %s: %w", path, err)
	}
	// A file already at SchemaVersion is only read: a write transaction costs two
	// fdatasyncs even when it changes nothing, which slow every start on an SD card and
	// wear it.
	var current bool
	err = db.View(func(tx *bolt.Tx) error { current = atSchemaVersion(tx); return nil })
	if err == nil && !current {
		err = db.Update(func(tx *bolt.Tx) error {
			if err := migrate(tx); err != nil {
				return err
			}
			return s.writeFirstStart(tx)
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open settings %s: %w", path, err)
	}
	snap := &Snapshot{changed: make(chan struct{})}
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(settingsBucket).Get(settingsKey)
		if v == nil {
			return nil
		}
		snap.Saved = true
		return decode(v, &snap.Settings)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open settings %s: %w", path, err)
	}
	s.db, s.history, s.firstStart = db, newHistoryWriter(db), nil
	s.current.Store(snap)
	return s, nil
}

// writeFirstStart writes the first-start settings of WithFirstStart in tx, unless there
// are settings or no WithFirstStart.
func (s *Store) writeFirstStart(tx *bolt.Tx) error {
	bk := tx.Bucket(settingsBucket)
	if s.firstStart == nil || bk.Get(settingsKey) != nil {
		return nil
	}
	set, err := firstStart(*s.firstStart)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	_, err = put(bk, set)
	return err
}

// put stores set in the settings bucket bk and returns its encoding.
func put(bk *bolt.Bucket, set settings.Settings) ([]byte, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return b, bk.Put(settingsKey, b)
}

// atSchemaVersion reports whether the file is at SchemaVersion, with nothing to migrate.
func atSchemaVersion(tx *bolt.Tx) bool {
	meta := tx.Bucket(metaBucket)
	return meta != nil && string(meta.Get(schemaVersionKey)) == strconv.Itoa(SchemaVersion)
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

// Close writes the calls AppendHistory has queued, stops the history's writer and closes
// the file. The store must not be used afterwards.
func (s *Store) Close() error {
	s.history.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close settings: %w", err)
	}
	return nil
}

// Current returns the settings last committed, without reading the file: cheap enough for
// any loop. The snapshot is shared; see Snapshot.
func (s *Store) Current() *Snapshot { return s.current.Load() }

// Settings returns a copy of the current settings that the caller may change, or
// ErrNoSettings if none were saved. It reads memory, not the file.
func (s *Store) Settings() (settings.Settings, error) {
	snap := s.Current()
	if !snap.Saved {
		return settings.Settings{}, fmt.Errorf("read settings: %w", ErrNoSettings)
	}
	return snap.Settings.Clone(), nil
}

// decode reads stored settings. Unmarshal copies: v may be invalid once its transaction
// ends.
func decode(v []byte, set *settings.Settings) error {
	if err := json.Unmarshal(v, set); err != nil {
		return fmt.Errorf("decode settings: %w", err)
	}
	return nil
}

// commit runs change on the stored settings (the zero Settings if none are stored) in one
// write transaction, and stores the result if change returns true; then it publishes
// what was stored as the new snapshot. The caller holds s.writeMu.
func (s *Store) commit(change func(set *settings.Settings, saved bool) (store bool, err error)) error {
	var next *Snapshot
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(settingsBucket)
		var set settings.Settings
		v := bk.Get(settingsKey)
		if v != nil {
			if err := decode(v, &set); err != nil {
				return err
			}
		}
		ok, err := change(&set, v != nil)
		if err != nil || !ok {
			return err
		}
		b, err := put(bk, set)
		if err != nil {
			return err
		}
		// The snapshot is decoded from what is stored, so that it shares nothing with
		// the caller's change and reads as the file will after a restart.
		next = &Snapshot{Saved: true, changed: make(chan struct{})}
		return decode(b, &next.Settings)
	})
	if err != nil || next == nil {
		return err
	}
	prev := s.Current()
	next.Version = prev.Version + 1
	s.current.Store(next)
	close(prev.changed)
	return nil
}

// firstStart returns the settings of a first start on a board of handsets handsets.
func firstStart(handsets int) (settings.Settings, error) {
	if handsets < 0 || handsets > settings.MaxChannel+1 {
		return settings.Settings{}, fmt.Errorf("%d handsets, want 0..%d", handsets, settings.MaxChannel+1)
	}
	set := settings.Settings{
		SIP:         settings.SIPSettings{ListenAddr: DefaultListenAddr},
		Conferences: []settings.Conference{{ID: DefaultConference, Name: "Main"}},
	}
	for i := range handsets {
		set.Handsets = append(set.Handsets, settings.Handset{
			ID:         fmt.Sprintf("handset-%d", i+1),
			Name:       fmt.Sprintf("Handset %d", i+1),
			Channel:    i,
			Conference: DefaultConference,
		})
	}
	return set, set.Validate()
}

// Save validates set and writes it in one transaction. If set is invalid
// it returns a *settings.FieldError and the stored settings stay as they were.
func (s *Store) Save(set settings.Settings) error {
	if err := set.Validate(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.commit(func(stored *settings.Settings, _ bool) (bool, error) {
		*stored = set
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// Update changes the settings in one transaction: it calls change with
// the saved settings (zero Settings if none are saved) and saves what change
// leaves there if that is valid. If change returns an error, Update returns
// it as it is; if the result is invalid, it returns a *settings.FieldError. Either
// way the stored settings stay as they were. change must be quick: it runs
// while the file is locked for writing.
func (s *Store) Update(change func(*settings.Settings) error) error {
	var rejected error // change's error or the validation error, returned unwrapped
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.commit(func(set *settings.Settings, _ bool) (bool, error) {
		if err := change(set); err != nil {
			rejected = err
			return false, err
		}
		if err := set.Validate(); err != nil {
			rejected = err
			return false, err
		}
		return true, nil
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
	set, err := firstStart(handsets)
	if err != nil {
		return fmt.Errorf("ensure defaults: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.Current().Saved {
		return nil // without a write transaction: see Open
	}
	err = s.commit(func(stored *settings.Settings, saved bool) (bool, error) {
		if saved {
			return false, nil
		}
		*stored = set
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("ensure defaults: %w", err)
	}
	return nil
}
