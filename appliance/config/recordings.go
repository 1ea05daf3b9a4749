package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// MaxRecordings is how many recordings the store keeps track of: SaveRecording refuses a
// new one beyond it, so that old recordings are deleted on purpose, never silently.
const MaxRecordings = 1000

// ErrNoRecording is returned for a recording the store does not know.
var ErrNoRecording = errors.New("no such recording")

// SaveRecording stores r, replacing the recording of the same File if there is one. A new
// recording beyond MaxRecordings is refused.
func (s *Store) SaveRecording(r settings.Recording) error {
	if err := r.Check(); err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordingsBucket)
		if bk.Get([]byte(r.File)) == nil && bk.Stats().KeyN >= MaxRecordings {
			return fmt.Errorf("%d recordings are kept already: delete old ones first", MaxRecordings)
		}
		return bk.Put([]byte(r.File), b)
	})
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	return nil
}

// Recording returns the recording of file name, or an error wrapping ErrNoRecording.
func (s *Store) Recording(name string) (settings.Recording, error) {
	var r settings.Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(recordingsBucket).Get([]byte(name))
		if v == nil {
			return ErrNoRecording
		}
		// Unmarshal copies: v is invalid once the transaction ends.
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return settings.Recording{}, fmt.Errorf("read recording %s: %w", name, err)
	}
	return r, nil
}

// Recordings returns every recording, newest first.
func (s *Store) Recordings() ([]settings.Recording, error) {
	var recs []settings.Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(recordingsBucket).ForEach(func(k, v []byte) error {
			var r settings.Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode recording %s: %w", k, err)
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read recordings: %w", err)
	}
	slices.SortFunc(recs, func(a, b settings.Recording) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(a.File, b.File))
	})
	return recs, nil
}

// DeleteRecording forgets the recording of file name; the file itself is the caller's to
// remove. It returns an error wrapping ErrNoRecording if there is none.
func (s *Store) DeleteRecording(name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordingsBucket)
		if bk.Get([]byte(name)) == nil {
			return ErrNoRecording
		}
		return bk.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete recording %s: %w", name, err)
	}
	return nil
}
